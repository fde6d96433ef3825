/*
 * session.h - what every protocol session does the same way, whatever it
 * speaks: one command at a time with input paused around off-loop work,
 * stopping at a command boundary (SIGTERM, a lost lease), an error budget
 * with delayed error replies and a hang-up, and checked state changes.
 *
 * A daemon embeds a struct session in its own session object and
 * describes itself once in a struct session_def: its state names, which
 * state may follow which, its stop reply and its "too many errors" reply.
 * The daemon keeps only its protocol: commands, reply texts, state table.
 *
 *   static const struct session_def pop3_def = { ... };
 *   session_init(&s->core, conn, &pop3_def, &limits);
 *   ...
 *   session_send(&s->core, line, len, SESSION_REPLY_ERROR);   a -ERR reply
 *   session_queue_work(&s->core, work, done, job);              input paused
 *   ... done callback: reply, then session_done(&s->core);
 *
 * Everything here runs on the loop thread and reaches libuv only through
 * conn.h.
 */
#ifndef MAIL_SESSION_H
#define MAIL_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct mail_config;

/* The longest reply the core holds back for a delay: one reply line and the hang-up line. */
#define SESSION_PENDING_MAX 1024

/* The error budget (config keys soft_error_limit, hard_error_limit, error_delay_ms). */
struct session_limits {
	unsigned soft_errors; /* beyond this many errors, each error reply waits delay_ms */
	unsigned hard_errors; /* at this many, the too-many-errors reply and a hang-up */
	unsigned delay_ms;
};

/* The limits as configured. */
struct session_limits session_limits_from_config(const struct mail_config *cfg);

struct session;

struct session_def {
	const char *protocol;           /* "smtp", "pop3": in logs */
	const char *const *state_names; /* indexed by the daemon's state enum */
	/* Per state, a bit mask of the states that may follow it (1u << state). */
	const unsigned *next_states;
	unsigned state_count;
	unsigned closing_state;         /* final: nothing may follow it */
	/* False while the session must finish what it is doing before it may stop. */
	bool (*may_stop)(const struct session *core);
	/* Sends the daemon's stop reply (421, -ERR [SYS/TEMP] ...) and closes. */
	void (*stop)(struct session *core);
	/*
	 * Formats the reply that ends a session at the hard error limit into
	 * buf (CRLF included) and returns its length; counts it as the daemon
	 * counts refusals.
	 */
	size_t (*too_many_errors)(struct session *core, char *buf, size_t cap);
};

struct session {
	conn_t *conn;
	uint64_t id;
	const struct session_def *def;
	struct session_limits limits;
	unsigned state;

	bool busy;      /* off-loop work for the current command is in flight */
	bool stopping;  /* stop at the next command boundary */
	bool closing;   /* the final reply is queued: input is ignored */

	unsigned errors;        /* error replies so far */
	unsigned delay_next_ms; /* the next reply waits this long (a failed login) */
	bool delayed;           /* a reply waits for its timer; input is paused */
	char pending[SESSION_PENDING_MAX];
	size_t pending_len;
};

void session_init(struct session *s, conn_t *conn, const struct session_def *def,
                  const struct session_limits *limits, unsigned initial_state);

/*
 * Changes the state. Every change is logged at debug level. Leaving the
 * closing state never happens (a late completion cannot revive a closed
 * session); a change the def's table does not allow is logged as
 * "state_bug" (an error, in every build), and made anyway.
 */
void session_enter_state(struct session *s, unsigned state);
const char *session_state_name(const struct session *s);

/* How a reply counts. */
enum session_reply_kind {
	SESSION_REPLY_OK,    /* success or a reply that is not the client's mistake */
	SESSION_REPLY_ERROR, /* the client's mistake: counts against the error budget */
	SESSION_REPLY_FINAL, /* the last reply: the connection closes after it */
};

/*
 * Queues one complete reply (CRLF included, at most SESSION_PENDING_MAX / 2
 * octets). An error reply beyond the soft limit, or any reply after
 * session_delay_next, is held and written by a timer with input paused;
 * at the hard limit the too-many-errors reply follows it and the
 * connection closes. Ignored once closing.
 */
void session_send(struct session *s, const char *line, size_t len, enum session_reply_kind kind);
/* The next reply waits `ms` (a failed login); the longer of it and the error delay wins. */
void session_delay_next(struct session *s, unsigned ms);
/*
 * Ends the session: it enters its closing state, input is ignored, and the
 * connection closes once the reply just sent is written (at once, or when
 * its delay ends).
 */
void session_close(struct session *s);
/* A delayed reply or a close is pending: input must stay paused. */
bool session_blocked(const struct session *s);

/* Marks the session busy and pauses input until session_done. */
void session_busy(struct session *s);
/* Starts off-loop work for the current command with input paused (conn_queue_work). */
int session_queue_work(struct session *s, conn_work_fn *work, conn_done_fn *done, void *arg);
/*
 * The current command is answered: resumes input, unless a delayed reply
 * or a close is pending, or a stop was asked for and may happen now, in
 * which case def->stop runs.
 */
void session_done(struct session *s);
/* Asks the session to stop at the next command boundary: now if idle and def->may_stop allows. */
void session_stop(struct session *s);

#endif
