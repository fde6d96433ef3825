/*
 * bench.h - mailbench's options and its three modes.
 *
 * mailbench is a load generator for our own smtpd and pop3d (and, for
 * comparison, Postfix and Dovecot). It only ever connects to loopback
 * addresses: bench_opts_parse() refuses any other host, so a mistyped
 * address can never turn it into a load test of someone else's server.
 *
 * Every run is bounded: a fixed number of messages or connections, a
 * timeout on each protocol step (--timeout) and a deadline for the whole
 * run (--deadline). Each run prints one JSON line on stdout and a
 * human-readable summary on stderr.
 */
#ifndef MAILBENCH_BENCH_H
#define MAILBENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes: the project's convention (DESIGN.md). */
#define BENCH_EXIT_OK 0
#define BENCH_EXIT_RUNTIME 1   /* a run finished with errors, or could not run */
#define BENCH_EXIT_USAGE 2

enum bench_mode {
	BENCH_MODE_SMTP,
	BENCH_MODE_POP3,
	BENCH_MODE_IDLE,
};

enum bench_tls_mode {
	BENCH_TLS_NONE,
	BENCH_TLS_STARTTLS,    /* SMTP STARTTLS (RFC 3207) or POP3 STLS (RFC 2595) */
	BENCH_TLS_IMPLICIT,    /* TLS from the first byte (RFC 8314) */
};

#define BENCH_MAX_RCPTS 256     /* --to list entries */
#define BENCH_MAX_USERS 100000  /* --users file lines */
#define BENCH_MAX_ADDR 256      /* one address or USER:PASS credential */

struct bench_cred {
	char user[BENCH_MAX_ADDR];
	char pass[BENCH_MAX_ADDR];
};

struct bench_opts {
	enum bench_mode mode;
	char host[64];              /* numeric loopback address */
	unsigned port;
	unsigned concurrency;       /* sessions (smtp, pop3) */
	unsigned connections;       /* idle connections */
	enum bench_tls_mode tls;
	unsigned timeout_ms;        /* per protocol step; data in progress re-arms it */
	unsigned deadline_s;        /* whole run */
	char label[64];             /* copied into the JSON line, for run.sh */
	bool quiet;                 /* no summary on stderr */

	/* smtp */
	uint64_t messages;
	size_t size;                /* whole message, headers included */
	bool pipelining;            /* RFC 2920: MAIL, RCPT, DATA in one write */
	bool auth;
	struct bench_cred auth_cred;
	char from[BENCH_MAX_ADDR];
	char rcpt[BENCH_MAX_RCPTS][BENCH_MAX_ADDR]; /* message i goes to rcpt[i % nrcpt] */
	size_t nrcpt;

	/* pop3 */
	struct bench_cred *users;   /* session i logs in as users[i]; owned, bench_opts_free */
	size_t nusers;
	bool dele;
	bool list_only;             /* time PASS, STAT, LIST, UIDL; no RETR */

	/* idle */
	unsigned hold_s;            /* 0: until SIGINT/SIGTERM (still bounded by --deadline) */
};

/*
 * Parses argv (argv[1] is the mode) into *o. Returns 0, or BENCH_EXIT_USAGE
 * after printing a one-line message (or the help, with exit status 0 for
 * --help: *help_r is then set).
 */
int bench_opts_parse(int argc, char **argv, struct bench_opts *o, bool *help_r);
void bench_opts_free(struct bench_opts *o);

/* The modes: each returns a BENCH_EXIT_* code. */
int bench_smtp_run(const struct bench_opts *o);
int bench_pop3_run(const struct bench_opts *o);
int bench_idle_run(const struct bench_opts *o);

/* Human name of the TLS mode, as used in the JSON line ("none", "starttls", "tls"). */
const char *bench_tls_name(enum bench_tls_mode tls);

#endif
