/* log.c - one key=value line per event on stderr; see log.h. */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/*
 * A line is built on the stack and written with a single write(2). Lines up
 * to PIPE_BUF (4096 on Linux) are written atomically to a pipe, which is
 * what stderr usually is under docker and systemd, so lines from several
 * threads never interleave.
 */
#define LOG_LINE_MAX 2048

static atomic_int log_min_level = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_min_level, (int)level, memory_order_relaxed);
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcasecmp(name, log_level_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof(log_level_names) / sizeof(log_level_names[0]))
		return "unknown";
	return log_level_names[level];
}

/* Writes "ts=... level=... [sid=...] event=..." into line; returns its length. */
static size_t log_header(char *line, size_t cap, enum log_level level, uint64_t sid,
                         const char *event)
{
	struct timespec now;
	struct tm tm;
	char ts[32];

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

	int n;
	if (sid != 0)
		n = snprintf(line, cap, "ts=%s.%03ldZ level=%s sid=%" PRIx64 " event=%s", ts,
		             now.tv_nsec / 1000000, log_level_name(level), sid, event);
	else
		n = snprintf(line, cap, "ts=%s.%03ldZ level=%s event=%s", ts,
		             now.tv_nsec / 1000000, log_level_name(level), event);
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

static void log_write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(STDERR_FILENO, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* Nowhere left to report a failing stderr. */
		}
		buf += w;
		len -= (size_t)w;
	}
}

void log_event(enum log_level level, uint64_t sid, const char *event, const char *fmt, ...)
{
	if ((int)level < atomic_load_explicit(&log_min_level, memory_order_relaxed))
		return;

	int saved_errno = errno; /* Callers often log and then report errno. */
	char line[LOG_LINE_MAX];
	const size_t cap = sizeof(line) - 1; /* the last byte is kept for '\n' */
	size_t n = log_header(line, cap, level, sid, event != NULL ? event : "-");

	if (fmt != NULL && fmt[0] != '\0' && n + 8 < cap) {
		size_t start = n + 1;
		line[n] = ' ';
		va_list ap;
		va_start(ap, fmt);
		int r = vsnprintf(line + start, cap - start, fmt, ap);
		va_end(ap);
		if (r > 0) {
			if ((size_t)r >= cap - start) {
				n = cap - 1;
				memcpy(line + n - 3, "...", 3);
			} else {
				n = start + (size_t)r;
			}
			/* Keep one event on one line even if a caller forgot log_escape(). */
			for (size_t i = start; i < n; i++) {
				unsigned char c = (unsigned char)line[i];
				if (c < 0x20 || c == 0x7f)
					line[i] = '?';
			}
		}
	}
	line[n++] = '\n';
	log_write_all(line, n);
	errno = saved_errno;
}

/* Appends one escaped unit (up to 4 bytes) for byte c into unit; returns its length. */
static size_t log_escape_unit(unsigned char c, char unit[4])
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		unit[0] = '\\';
		unit[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		unit[0] = (char)c;
		return 1;
	}
	unit[0] = '\\';
	unit[1] = 'x';
	unit[2] = hex[c >> 4];
	unit[3] = hex[c & 0xf];
	return 4;
}

char *log_escape(char *out, size_t outlen, const char *in, size_t len)
{
	if (outlen == 0)
		return out;

	int quoted = len == 0 || memchr(in, ' ', len) != NULL;
	size_t need = quoted ? 2 : 0;
	char unit[4];
	for (size_t i = 0; i < len; i++)
		need += log_escape_unit((unsigned char)in[i], unit);

	/* When everything fits, no room is reserved for the "..." marker. */
	const int truncate = need + 1 > outlen;
	const char *tail = truncate ? (quoted ? "...\"" : "...") : (quoted ? "\"" : "");
	const size_t taillen = strlen(tail);
	size_t limit = outlen - 1; /* bytes we may write before the NUL */
	size_t pos = 0;

	if (quoted && pos < limit)
		out[pos++] = '"';
	for (size_t i = 0; i < len; i++) {
		size_t ulen = log_escape_unit((unsigned char)in[i], unit);
		if (pos + ulen + taillen > limit)
			break;
		memcpy(out + pos, unit, ulen);
		pos += ulen;
	}
	for (size_t i = 0; i < taillen && pos < limit; i++)
		out[pos++] = tail[i];
	out[pos] = '\0';
	return out;
}
