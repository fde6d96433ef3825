/*
 * smtp_session_private.h - the session object shared by the files that
 * implement the SMTP session: smtp_session.c (lifecycle, dispatch, state),
 * smtp_cmd.c (EHLO, HELO, RSET, NOOP, QUIT, VRFY, EXPN, HELP, STARTTLS),
 * smtp_envelope.c (MAIL, RCPT), smtp_body.c (DATA, BDAT, commit),
 * smtp_auth.c (AUTH), smtp_spool.c (spilling large bodies) and
 * smtp_reply.c (every reply). Nothing outside smtpd/ includes it.
 *
 * All of it runs on the loop thread. Off-loop work (recipient resolution
 * when the loop's no-wait lookup handle cannot answer at once, password
 * checks, body spills, commits) pauses the connection's input while it runs,
 * so commands are handled strictly one after the other even when the
 * client pipelines them (RFC 2920), and at most one piece of work is in
 * flight per session: the session core does that, and the error budget,
 * delays and stopping (common/session.h).
 */
#ifndef SMTP_SESSION_PRIVATE_H
#define SMTP_SESSION_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "session.h"
#include "smtp_address.h"
#include "smtp_parse.h"
#include "smtp_metrics.h"
#include "smtp_refusal.h"
#include "smtp_reply.h"
#include "smtp_session.h"
#include "smtp_txn.h"

/*
 * RFC 4954 4: an AUTH command line with its initial response, and each
 * SASL response line, may be up to 12288 octets. This is the connection's
 * line limit; other command lines are held to SMTP_COMMAND_LINE_MAX and
 * SMTP_MAIL_LINE_MAX (smtp_parse.h) by the session.
 */
#define SMTP_AUTH_LINE_MAX 12288

/* RFC 5321 4.1.1.1: the EHLO/HELO argument is a domain or address literal. */
#define SMTP_HELO_MAX 255

/*
 * The session states. Input is commands in INIT, READY and MAIL; message
 * bytes (raw mode) in DATA and BDAT; one SASL response line in AUTH.
 * Change only through smtp_session_enter_state(); which state may follow
 * which is the table in smtp_session.c.
 */
enum smtp_state {
	SMTP_STATE_INIT,    /* connected (or just after STARTTLS): no EHLO/HELO yet */
	SMTP_STATE_READY,   /* greeted, no mail transaction */
	SMTP_STATE_MAIL,    /* MAIL accepted: RCPT, DATA, BDAT expected */
	SMTP_STATE_DATA,    /* reading the DATA body up to <CRLF>.<CRLF> */
	SMTP_STATE_BDAT,    /* reading the octets of one BDAT chunk */
	SMTP_STATE_AUTH,    /* waiting for a SASL response line */
	SMTP_STATE_CLOSING, /* final reply sent: input is ignored */
};

struct smtp_sasl; /* smtp_auth.c: the SASL exchange in progress */

/*
 * One BDAT chunk (RFC 3030 2). Its octets are read whatever the verdict
 * on the command: a refused chunk is read and dropped, and the refusal is
 * the reply once it is complete, so the client and we stay in step.
 */
struct smtp_chunk {
	uint64_t remaining;          /* octets still to read */
	bool last;                   /* BDAT ... LAST */
	bool reset_after;            /* the refusal ends the transaction (552) */
	enum smtp_state resume;      /* the state to return to when the chunk is read */
	const struct smtp_refusal *refusal; /* non-NULL: drop the octets, then send it */
};

/* The addresses an authenticated user may send as (store_user_sender_addresses). */
struct smtp_senders {
	char (*addr)[SMTP_MAILBOX_MAX + 1];
	size_t count;
};

struct smtp_session {
	struct session core;             /* first: conn, id, state (enum smtp_state), busy, errors */
	struct smtp_env *env;
	enum smtp_role role;
	bool quit;      /* the client said QUIT: how the session ended, for the metrics */
	bool timed_out; /* an idle or login deadline ended it */

	/* Greeting: cleared by STARTTLS (RFC 3207 4.2). */
	bool esmtp;                      /* EHLO, not HELO: enhanced status codes on replies */
	char helo[SMTP_HELO_MAX + 1];    /* the EHLO/HELO argument, as sent (printable ASCII) */
	bool helo_valid;                 /* ... and it is a Domain or address-literal */

	/* Authentication: cleared by STARTTLS. */
	bool authenticated;
	char auth_user[256];             /* the login's address as stored (struct store_user) */
	struct smtp_senders senders;
	unsigned auth_failures;
	struct smtp_sasl *sasl;          /* while state is AUTH (freed when the check starts) */

	/* The mail transaction, from MAIL to the end of its DATA/BDAT LAST or RSET. */
	struct smtp_txn *txn;
	unsigned txn_seq;
	struct smtp_chunk chunk;         /* the BDAT chunk being read (state BDAT) */
};

/* ---- smtp_session.c -------------------------------------------------- */

/* The session's state (s->core.state). */
static inline enum smtp_state smtp_session_state(const struct smtp_session *s)
{
	return (enum smtp_state)s->core.state;
}
/* The only way to change the state: session_enter_state checks it against the table. */
void smtp_session_enter_state(struct smtp_session *s, enum smtp_state state);

/*
 * Off-loop work and the end of a command go through the core:
 * session_queue_work(&s->core, ...) pauses input, session_done(&s->core)
 * resumes it when the command is answered (or sends the shutdown 421 when
 * SIGTERM arrived meanwhile; it may close the connection, and the session
 * stays valid until the close callback).
 */

/* Ends the transaction (RSET, end of DATA, STARTTLS) and returns to READY. */
void smtp_session_reset_txn(struct smtp_session *s);

/* Counts a refusal in the metrics. */
void smtp_session_reject(struct smtp_session *s, enum smtp_reject reason);
/* A failure on our side (memory, spool, store): counted, and 451 4.3.0 so the client retries. */
void smtp_session_local_error(struct smtp_session *s);


/*
 * The checks every command of this verb shares (EHLO first, AUTH first on
 * the submission roles). Returns NULL when they pass, else the refusal
 * (smtp_refusal.h). The dispatcher runs them, except for BDAT (it must
 * read its chunk whatever the answer).
 */
const struct smtp_refusal *smtp_session_check(const struct smtp_session *s, enum smtp_verb verb);

/*
 * Counts and sends a refusal (smtp_refusal.h) whose text quotes nothing.
 * May close the connection, as smtp_reply() may.
 */
void smtp_session_refuse(struct smtp_session *s, const struct smtp_refusal *r);
/* Likewise for a refusal whose text quotes a value: `value` fills its "%s". */
void smtp_session_refuse_quote(struct smtp_session *s, const struct smtp_refusal *r,
                               const char *value);
/*
 * Counts and sends the parser's reply to `result` (smtp_parse_error),
 * counted as a syntax error, or as an over-long line.
 */
void smtp_session_refuse_parse(struct smtp_session *s, enum smtp_parse_result result);

/* True on the roles that require AUTH before MAIL (submission, smtps). */
bool smtp_session_needs_auth(const struct smtp_session *s);

/* ---- smtp_envelope.c ------------------------------------------------- */

/* True when DSN (RFC 3461) is offered: on submission, where our users' own
 * mail starts (the MX listener delivers locally and reports nothing). */
bool smtp_dsn_offered(const struct smtp_session *s);

/* ---- command handlers ------------------------------------------------ */

/*
 * Every handler gets the argument text after the verb and its separating
 * space (possibly empty, not NUL-terminated, may contain any byte) and
 * must send exactly one reply, now or from the done callback of the
 * off-loop work it starts.
 */
typedef void smtp_cmd_fn(struct smtp_session *s, const char *args, size_t len);

smtp_cmd_fn smtp_cmd_ehlo, smtp_cmd_helo, smtp_cmd_rset, smtp_cmd_noop, smtp_cmd_quit,
	smtp_cmd_vrfy, smtp_cmd_expn, smtp_cmd_help, smtp_cmd_starttls;
smtp_cmd_fn smtp_cmd_mail, smtp_cmd_rcpt;
smtp_cmd_fn smtp_cmd_data, smtp_cmd_bdat;
smtp_cmd_fn smtp_cmd_auth;

/* ---- smtp_auth.c ----------------------------------------------------- */

/* One SASL response line in state AUTH (never logged: it carries credentials). */
void smtp_auth_response(struct smtp_session *s, const char *line, size_t len);
/* Forgets the login and any exchange in progress (STARTTLS, close). */
void smtp_auth_reset(struct smtp_session *s);
/* True when AUTH is offered on this session now (EHLO keyword, AUTH command). */
bool smtp_auth_offered(const struct smtp_session *s);

/* ---- smtp_body.c ----------------------------------------------------- */

/*
 * Raw bytes in state DATA or BDAT. Returns the octets consumed: fewer than
 * len when the body or chunk ended inside buf; the rest is the next
 * command, and the connection is back in line mode.
 */
size_t smtp_body_input(struct smtp_session *s, const char *buf, size_t len);

#endif
