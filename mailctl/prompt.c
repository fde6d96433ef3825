/* prompt.c - a new password from stdin or from the terminal without echo. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <termios.h>
#include <unistd.h>

#include "prompt.h"

enum line_result {
	LINE_OK,
	LINE_EOF,      /* end of input before any byte */
	LINE_ERROR,    /* read error, errno set */
	LINE_TOO_LONG,
	LINE_NUL,      /* a NUL byte: crypt(3) would silently cut the password there */
	LINE_SIGNAL,   /* a signal we caught ended the wait */
};

static volatile sig_atomic_t caught_signal;

static void on_signal(int sig)
{
	caught_signal = sig;
}

/*
 * Waits until fd is readable with the signal mask `waitmask` in force, so
 * a signal blocked everywhere else can only arrive here, where it ends the
 * wait. Blocking plus pselect closes the race of a signal landing just
 * before a read(2) that would then block forever.
 */
static int wait_readable(int fd, const sigset_t *waitmask)
{
	for (;;) {
		fd_set rfds;

		FD_ZERO(&rfds);
		FD_SET(fd, &rfds);
		if (pselect(fd + 1, &rfds, NULL, NULL, NULL, waitmask) >= 0)
			return 0;
		if (errno != EINTR || caught_signal != 0)
			return -1;
	}
}

/*
 * Reads one line from fd a byte at a time, so nothing past the newline is
 * consumed: the rest of stdin stays for whoever reads it next, and a long
 * line typed on a terminal is drained rather than left for the shell.
 * With a waitmask, each read waits in wait_readable() first.
 */
static enum line_result read_line(int fd, const sigset_t *waitmask, char *buf, size_t bufsize,
                                  size_t *len_r)
{
	size_t len = 0;
	enum line_result res = LINE_OK;
	bool any = false;

	for (;;) {
		char c;
		ssize_t n;

		if (waitmask != NULL && wait_readable(fd, waitmask) != 0) {
			res = caught_signal != 0 ? LINE_SIGNAL : LINE_ERROR;
			break;
		}
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			res = LINE_ERROR;
			break;
		}
		if (n == 0) {
			if (!any)
				res = LINE_EOF;
			break;
		}
		any = true;
		if (c == '\n')
			break;
		if (res != LINE_OK)
			continue; /* drain the rest of a bad line */
		if (c == '\0')
			res = LINE_NUL;
		else if (len + 1 >= bufsize || len >= PROMPT_PASSWORD_MAX)
			res = LINE_TOO_LONG;
		else
			buf[len++] = c;
	}
	if (res == LINE_OK && len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	*len_r = len;
	return res;
}

/* Turns a read_line outcome into prompt_password's status and message. */
static int line_status(enum line_result res, int errnum, size_t len, const char *source,
                       char *err, size_t errlen)
{
	switch (res) {
	case LINE_OK:
		if (len > 0)
			return 0;
		snprintf(err, errlen, "empty password");
		return 2;
	case LINE_EOF:
		snprintf(err, errlen, "no password on %s", source);
		return 2;
	case LINE_TOO_LONG:
		snprintf(err, errlen, "password longer than %d octets", PROMPT_PASSWORD_MAX);
		return 2;
	case LINE_NUL:
		snprintf(err, errlen, "password contains a NUL byte");
		return 2;
	case LINE_SIGNAL:
		snprintf(err, errlen, "interrupted");
		return 1;
	case LINE_ERROR:
		break;
	}
	snprintf(err, errlen, "reading %s: %s", source, strerror(errnum));
	return 1;
}

static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define N_PROMPT_SIGNALS (sizeof(prompt_signals) / sizeof(prompt_signals[0]))

/*
 * Asks once on the terminal fd with echo off. Signals that would stop or
 * end the program are blocked while echo is off, except while waiting for
 * input, where they are caught and end the wait. The terminal is restored
 * first and then the signal takes effect with its old disposition.
 */
static int ask_tty(int fd, const char *prompt, char *buf, size_t bufsize, char *err,
                   size_t errlen)
{
	struct sigaction sa, old[N_PROMPT_SIGNALS];
	sigset_t block, oldmask;
	struct termios saved, noecho;
	size_t len = 0;
	enum line_result res;
	int errnum = 0;

	if (tcgetattr(fd, &saved) != 0) {
		snprintf(err, errlen, "terminal: %s", strerror(errno));
		return 1;
	}
	sigemptyset(&block);
	for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
		sigaddset(&block, prompt_signals[i]);
	sigprocmask(SIG_BLOCK, &block, &oldmask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	caught_signal = 0;
	for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &sa, &old[i]);

	noecho = saved;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/* Echo goes off before the prompt appears, so nothing typed after the
	 * prompt is echoed or discarded by the flush of earlier typeahead. */
	if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0) {
		res = LINE_ERROR;
		errnum = errno;
	} else {
		if (write(fd, prompt, strlen(prompt)) < 0) {
			res = LINE_ERROR;
			errnum = errno;
		} else {
			res = read_line(fd, &oldmask, buf, bufsize, &len);
			errnum = errno;
		}
		tcsetattr(fd, TCSANOW, &saved);
		/* The newline the user typed was not echoed. */
		if (write(fd, "\n", 1) < 0 && res == LINE_OK) {
			res = LINE_ERROR;
			errnum = errno;
		}
	}

	/* Old dispositions back first, then unblock: a signal still pending
	 * is delivered the way it would have been without the prompt. */
	for (size_t i = 0; i < N_PROMPT_SIGNALS; i++)
		sigaction(prompt_signals[i], &old[i], NULL);
	if (caught_signal != 0) {
		explicit_bzero(buf, bufsize);
		raise(caught_signal);
	}
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	int rc = line_status(res, errnum, len, "the terminal", err, errlen);
	if (rc != 0)
		explicit_bzero(buf, bufsize);
	return rc;
}

static int read_tty(const char *address, char *buf, size_t bufsize, char *err, size_t errlen)
{
	char again[PROMPT_PASSWORD_MAX + 2];
	char prompt[512];
	int fd, rc;

	if (!isatty(STDIN_FILENO)) {
		snprintf(err, errlen, "standard input is not a terminal; use --password-stdin");
		return 2;
	}
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "/dev/tty: %s", strerror(errno));
		return 1;
	}
	snprintf(prompt, sizeof(prompt), "New password for %s: ", address);
	rc = ask_tty(fd, prompt, buf, bufsize, err, errlen);
	if (rc == 0)
		rc = ask_tty(fd, "Retype new password: ", again, sizeof(again), err, errlen);
	if (rc == 0 && strcmp(buf, again) != 0) {
		snprintf(err, errlen, "passwords do not match");
		rc = 2;
	}
	explicit_bzero(again, sizeof(again));
	if (rc != 0)
		explicit_bzero(buf, bufsize);
	close(fd);
	return rc;
}

int prompt_password(bool from_stdin, const char *address, char *buf, size_t bufsize, char *err,
                    size_t errlen)
{
	enum line_result res;
	size_t len;

	if (!from_stdin)
		return read_tty(address, buf, bufsize, err, errlen);
	res = read_line(STDIN_FILENO, NULL, buf, bufsize, &len);
	int rc = line_status(res, errno, len, "standard input", err, errlen);
	if (rc != 0)
		explicit_bzero(buf, bufsize);
	return rc;
}
