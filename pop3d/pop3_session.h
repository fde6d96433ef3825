/*
 * pop3_session.h - internals shared by the pop3d modules (not for main.c,
 * which uses pop3.h).
 *
 *   pop3_session.c  the connection handler, the state table, the command
 *                   table and dispatch, the reply helper
 *   pop3_auth.c     AUTHORIZATION: CAPA, USER, PASS, AUTH PLAIN, STLS
 *   pop3_mailbox.c  the maildrop: lease, snapshot, STAT, LIST, UIDL, DELE,
 *                   RSET, NOOP, QUIT and the UPDATE state
 *   pop3_retr.c     RETR and TOP streamed from the store with backpressure
 *   pop3_metrics.c  the counters on GET /metrics (pop3_metrics.h)
 *
 * Threading: everything here runs on the loop thread. Store calls happen
 * inside conn_queue_work() jobs (also the clean-up queued from the close
 * callback), except the read of a small message, tried first on the
 * loop's no-wait handle when the store says it may (pop3_retr.c); a job
 * never touches the session, it carries copies in and results out, and
 * its done callback finds the session through the conn (conn == NULL: the
 * session is gone, the job frees itself and drops the result).
 *
 * Commands and asynchronous work go through the session core
 * (common/session.h): a command either replies at once, or calls
 * session_busy() (input is paused, so pipelined commands wait their turn,
 * RFC 2449 6.6) and later session_done() when its last reply is queued;
 * session_close() ends the session after its queued output.
 */
#ifndef MAIL_POP3_SESSION_H
#define MAIL_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "conn.h"
#include "pop3_command.h"
#include "pop3_metrics.h"
#include "session.h"
#include "store.h"

/*
 * Line limit, CRLF excluded. RFC 2449 4 limits commands to 255 octets,
 * but SASL responses may be longer (RFC 5034 4) and clients differ in
 * when they send PLAIN as an initial response: a PLAIN response with a
 * 255-octet name and password is about 700 octets of base64. One generous
 * limit serves both; longer lines get "-ERR line too long".
 */
#define POP3_LINE_MAX 1024

/* Maildrop lease (RFC 1939 8 exclusive access): renewed every third of its life. */
#define POP3_LEASE_TTL_DEFAULT 60

/* A mailbox name: a user's canonical address (struct store_user's address). */
#define POP3_MAILBOX_MAX 256
/* A lease owner: "hostname:pid:start:session", hostname at most 255 octets. */
#define POP3_OWNER_MAX 320

enum pop3_state {
	POP3_STATE_AUTHORIZATION, /* RFC 1939 4 */
	POP3_STATE_SASL,          /* AUTHORIZATION, waiting for a SASL response (RFC 5034 4) */
	POP3_STATE_TRANSACTION,   /* RFC 1939 5: the maildrop is leased and snapshotted */
	POP3_STATE_UPDATE,        /* RFC 1939 6: QUIT is deleting the marked messages */
	POP3_STATE_CLOSING,       /* the last reply is queued; input is ignored */
};

/* Response codes, RFC 2449 8 and RFC 3206. */
enum pop3_resp {
	POP3_OK,
	POP3_ERR,          /* a client mistake: counts against the error budget (session.h) */
	POP3_ERR_IN_USE,   /* [IN-USE]: the maildrop is leased by another session */
	POP3_ERR_AUTH,     /* [AUTH]: credentials or login policy */
	POP3_ERR_SYS_TEMP, /* [SYS/TEMP]: our problem, try again later */
	POP3_ERR_SYS_PERM, /* [SYS/PERM]: our problem, ask the administrator */
};

struct pop3_stream; /* pop3_retr.c */

struct authlimit;

/* The daemon's context (pop3_context_new), the server's: sessions find it with conn_context. */
struct pop3_context {
	const struct mail_config *cfg;
	struct pop3_metrics *metrics; /* mutable through the sessions' const context */
	struct authlimit *authlimit; /* per-address login failures; owned by the start-up */
	char owner_prefix[POP3_OWNER_MAX - 24]; /* hostname:pid:start; 24 left for ":session" */
	unsigned lease_ttl;     /* seconds */
	store_pool_t *pool;     /* the daemon's (daemon.h): worker jobs take their handles here */
	store_t *loop_store;    /* the loop's no-wait read handle, or NULL (then reads use the pool) */
};

struct pop3_session {
	struct session core; /* first: conn, id (logs, lease owners), state (enum pop3_state), busy */
	const struct pop3_context *ctx;

	/* Long output waiting for the write queue to drain (LIST, UIDL, RETR). */
	void (*on_drain)(struct pop3_session *s);
	/* Shutdown or a lost lease: say stop_reply and close at the next command boundary. */
	const char *stop_reply;

	/* Output drained since the last idle timeout: a client reading a long
	 * RETR slowly is not idle (RFC 1939 3 times out inactivity). */
	bool progress;

	unsigned auth_failures;
	bool tls_starting; /* STLS accepted: nothing is read until tls_ready */

	/* AUTHORIZATION (pop3_auth.c) */
	char user[POP3_MAILBOX_MAX]; /* the USER argument, waiting for PASS */
	bool have_user;

	/* TRANSACTION (pop3_mailbox.c) */
	char mailbox[POP3_MAILBOX_MAX]; /* the user's canonical address, as stored */
	char owner[POP3_OWNER_MAX];     /* lease owner: owner_prefix:session id */
	bool lease_held;
	bool renewing; /* a lease renewal job is in flight */
	struct store_entry *entries; /* the snapshot taken at login, oldest first */
	bool *deleted;               /* marked by DELE, one per entry */
	size_t count;
	size_t live_count;  /* entries not marked deleted, for STAT */
	uint64_t live_size; /* their octets */
	size_t list_next; /* LIST/UIDL continuation: next index */
	bool list_uidl;

	/* RETR/TOP (pop3_retr.c) */
	struct pop3_stream *stream; /* RETR/TOP streaming; only while the command runs */
};

/* The session's state (s->core.state; changed with session_enter_state, checked against
 * the table in pop3_session.c). */
static inline enum pop3_state pop3_session_state(const struct pop3_session *s)
{
	return (enum pop3_state)s->core.state;
}

/*
 * Queues one reply line: "+OK text" or "-ERR [CODE] text". POP3_ERR
 * counts against the error budget (session.h): beyond soft_error_limit it
 * is delayed, at hard_error_limit the session ends after it. fmt may be
 * NULL for a bare status.
 */
void pop3_reply(struct pop3_session *s, enum pop3_resp resp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The reply code for a failed store call: [SYS/PERM] for a damaged or too
 * new database, which needs the administrator (RFC 3206 4), [SYS/TEMP]
 * for everything else (busy, I/O, memory), which may pass.
 */
enum pop3_resp pop3_store_resp(int store_err);

/* Asks the session to stop at the next command boundary (now if idle): `reply`, then close. */
void pop3_session_stop(struct pop3_session *s, const char *reply);

/*
 * For done callbacks of conn_queue_work: the session to continue, or NULL
 * when the connection is gone (conn == NULL) or closing, in which case the
 * callback only releases what its job holds.
 */
struct pop3_session *pop3_session_of(conn_t *conn);

/* ---- pop3_auth.c ---- */
void pop3_cmd_capa(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_user(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_pass(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_stls(struct pop3_session *s, const struct pop3_command *cmd);
/* A line in POP3_STATE_SASL: the client's SASL response or "*" to cancel. */
void pop3_auth_response(struct pop3_session *s, const char *line, size_t len);
/* True when USER/PASS/AUTH may be used on this connection now (TLS or allowed plaintext). */
bool pop3_auth_allowed(const struct pop3_session *s);

/* ---- pop3_mailbox.c ---- */
/*
 * Called by pop3_auth.c after a successful login (the session is busy):
 * takes the lease and the snapshot, replies +OK (TRANSACTION) or -ERR
 * [IN-USE] / [SYS/TEMP] (stays in AUTHORIZATION), then session_done.
 */
void pop3_mailbox_open(struct pop3_session *s, const char *mailbox);
/* The session is going away (its close callback, conn still valid): release
 * the lease off-loop. */
void pop3_mailbox_close(struct pop3_session *s, conn_t *conn);
/*
 * Validates a message-number argument; on failure replies -ERR and
 * returns false. On success *index_r is the zero-based index.
 */
bool pop3_mailbox_msgno(struct pop3_session *s, const char *arg, size_t len, size_t *index_r);
void pop3_cmd_stat(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_list(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_uidl(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_dele(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_rset(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_noop(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_quit(struct pop3_session *s, const struct pop3_command *cmd);

/* ---- pop3_retr.c ---- */
void pop3_cmd_retr(struct pop3_session *s, const struct pop3_command *cmd);
void pop3_cmd_top(struct pop3_session *s, const struct pop3_command *cmd);
/* The session is going away: free its stream (a job in flight frees it when done). */
void pop3_retr_close(struct pop3_session *s);

#endif
