/*
 * pop3_auth.c - the AUTHORIZATION state: CAPA, STLS, USER/PASS (RFC 1939
 * 7) and AUTH PLAIN (RFC 5034, RFC 4616). Knows nothing about maildrops:
 * a successful login hands the canonical address to pop3_mailbox_open().
 *
 * Every login attempt costs the same: the hash check runs on a worker
 * thread, with the dummy hash for unknown and disabled users, and a
 * failure is answered only after a delay that grows with the client
 * address's recent failures (common/authlimit.h). An address that used up
 * its budget is refused with [SYS/TEMP] before any password is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authlimit.h"
#include "log.h"
#include "password.h"
#include "pop3_session.h"
#include "sasl.h"

bool pop3_auth_allowed(const struct pop3_session *s)
{
	return conn_tls_active(s->conn) || pop3_context()->cfg->allow_plaintext_auth;
}

/* ---- CAPA (RFC 2449 5) --------------------------------------------------- */

void pop3_cmd_capa(struct pop3_session *s, const struct pop3_command *cmd)
{
	bool authorization = pop3_session_state(s) == POP3_STATE_AUTHORIZATION;
	/* RFC 2595 4: a server may hide mechanisms it would refuse before STLS. */
	bool login = authorization && pop3_auth_allowed(s);
	conn_t *conn = s->conn;

	pop3_reply(s, POP3_OK, "capability list follows");
	conn_write(conn, "TOP\r\n", 5);
	if (login)
		conn_write(conn, "USER\r\n", 6);
	conn_write(conn, "UIDL\r\nRESP-CODES\r\nPIPELINING\r\n", 30);
	if (login)
		conn_write(conn, "SASL PLAIN\r\n", 12);
	if (authorization && conn_tls_available(conn) && !conn_tls_active(conn))
		conn_write(conn, "STLS\r\n", 6);
	/* We never expire messages on our own (RFC 2449 6.7). */
	static const char tail[] = "AUTH-RESP-CODE\r\nEXPIRE NEVER\r\nIMPLEMENTATION mail-pop3d\r\n.\r\n";
	conn_write(conn, tail, sizeof(tail) - 1);
}

/* ---- STLS (RFC 2595 4) ---------------------------------------------------- */

void pop3_cmd_stls(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (conn_tls_active(s->conn)) {
		pop3_reply(s, POP3_ERR, "TLS is already active");
		return;
	}
	if (!conn_tls_available(s->conn)) {
		pop3_reply(s, POP3_ERR, "TLS is not available");
		return;
	}
	pop3_reply(s, POP3_OK, "begin TLS negotiation");
	/* Input received before the handshake is discarded by conn_starttls (RFC 2595 4). */
	s->tls_starting = true;
	s->have_user = false;
	conn_starttls(s->conn);
}

/* ---- failures ---------------------------------------------------------- */

static void auth_delay_cb(conn_t *conn)
{
	struct pop3_session *s = pop3_session_of(conn);

	if (s == NULL)
		return;
	/* RFC 3206 4: a lockout is our policy and passes with time: SYS/TEMP. */
	enum pop3_resp resp = s->delayed_locked ? POP3_ERR_SYS_TEMP : POP3_ERR_AUTH;
	const char *text = s->delayed_locked ? "too many failed logins from your address, "
	                                       "try again later"
	                                     : "authentication failed";
	if (s->delayed_close) {
		pop3_reply(s, resp, "%s; too many failures", text);
		session_close(&s->core);
	} else {
		pop3_reply(s, resp, "%s", text);
	}
	session_done(&s->core);
}

/* Counts a failed or refused login and answers it after delay_ms; the last
 * one allowed on this connection hangs up. The session must be busy. */
static void auth_answer_later(struct pop3_session *s, unsigned delay_ms, bool locked)
{
	s->auth_failures++;
	s->delayed_close = s->auth_failures >= pop3_context()->cfg->max_auth_failures;
	s->delayed_locked = locked;
	conn_after(s->conn, delay_ms, auth_delay_cb);
}

/*
 * A failed login: counted against the connection and the client's
 * address, logged, answered after the address's delay. The session must
 * be busy (input paused).
 */
static void auth_failed(struct pop3_session *s, const char *user, const char *method,
                        const char *why)
{
	struct authlimit_result limit;
	char esc[300];

	authlimit_fail(pop3_context()->authlimit, conn_peer_ip(s->conn), &limit);
	log_info(s->id, "pop3_auth_failed", "method=%s user=%s reason=%s failures=%u "
	         "ip_failures=%u delay_ms=%u", method,
	         log_escape(esc, sizeof(esc), user, strlen(user)), why, s->auth_failures + 1,
	         limit.failures, limit.delay_ms);
	if (limit.locked)
		log_info(s->id, "pop3_auth_lockout", "ip=%s failures=%u seconds=%u",
		         conn_peer_ip(s->conn), limit.failures, pop3_context()->cfg->auth_lockout);
	auth_answer_later(s, limit.delay_ms, false);
}

/* ---- the hash check, off the loop ----------------------------------- */

enum auth_result { AUTH_OK, AUTH_FAIL, AUTH_TEMPFAIL };

struct auth_job {
	const char *method;          /* "USER" or "PLAIN", for logs */
	char user[SASL_FIELD_MAX + 1];
	char password[POP3_LINE_MAX + 1];
	enum auth_result result;
	int store_err; /* AUTH_TEMPFAIL: what failed */
	char mailbox[POP3_MAILBOX_MAX]; /* the canonical address, on success */
	char error[256];
};

static void auth_work(void *arg)
{
	struct auth_job *job = arg;
	struct store_user user;
	const char *hash = NULL;

	memset(&user, 0, sizeof(user));
	store_t *store = pop3_worker_store(job->error, sizeof(job->error));
	if (store == NULL) {
		job->result = AUTH_TEMPFAIL;
		job->store_err = STORE_EIO;
	} else {
		int r = store_user_get(store, job->user, &user);
		if (r == STORE_OK && !user.disabled)
			hash = user.hash;
		else if (r != STORE_OK && r != STORE_ENOTFOUND && r != STORE_EINVAL)
			job->store_err = r;
		if (job->store_err != STORE_OK)
			snprintf(job->error, sizeof(job->error), "%s", store_errmsg(store));
		/* Unknown, disabled and store failures all pay for one hash check. */
		int ok = password_verify(job->password, hash);
		if (job->store_err != STORE_OK)
			job->result = AUTH_TEMPFAIL;
		else
			job->result = ok == 1 && hash != NULL ? AUTH_OK : AUTH_FAIL;
		if (job->result == AUTH_OK)
			snprintf(job->mailbox, sizeof(job->mailbox), "%s", user.address);
	}
	explicit_bzero(job->password, sizeof(job->password));
	explicit_bzero(&user, sizeof(user));
}

static void auth_done(conn_t *conn, void *arg, int status)
{
	struct auth_job *job = arg;
	struct pop3_session *s = pop3_session_of(conn);

	if (s == NULL) {
		explicit_bzero(job->password, sizeof(job->password)); /* a cancelled job never ran */
		free(job);
		return;
	}
	if (status != 0 || job->result == AUTH_TEMPFAIL) {
		log_error(s->id, "pop3_auth_error", "error=\"%s\"",
		          status != 0 ? conn_strerror(status) : job->error);
		pop3_reply(s, status != 0 ? POP3_ERR_SYS_TEMP : pop3_store_resp(job->store_err),
		           "authentication unavailable");
		session_done(&s->core);
	} else if (job->result == AUTH_FAIL) {
		auth_failed(s, job->user, job->method, "credentials");
	} else {
		char esc[300];
		log_info(s->id, "pop3_login", "method=%s user=%s tls=%d", job->method,
		         log_escape(esc, sizeof(esc), job->mailbox, strlen(job->mailbox)),
		         conn_tls_active(conn));
		pop3_mailbox_open(s, job->mailbox);
	}
	explicit_bzero(job->password, sizeof(job->password));
	free(job);
}

/* Starts the hash check for user/password; the session must be busy. */
static void auth_start(struct pop3_session *s, const char *method, const char *user,
                       const char *password, size_t pwlen)
{
	uint64_t locked_ms = authlimit_locked_ms(pop3_context()->authlimit, conn_peer_ip(s->conn));
	if (locked_ms > 0) {
		char esc[300];
		log_info(s->id, "pop3_auth_refused", "method=%s user=%s reason=lockout retry_in_ms=%llu",
		         method, log_escape(esc, sizeof(esc), user, strlen(user)),
		         (unsigned long long)locked_ms);
		/* After the base delay, so a refused guesser cannot spin faster than a failing one. */
		auth_answer_later(s, pop3_context()->cfg->auth_failure_delay_ms, true);
		return;
	}
	struct auth_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		pop3_reply(s, POP3_ERR_SYS_TEMP, "out of memory");
		session_done(&s->core);
		return;
	}
	job->method = method;
	snprintf(job->user, sizeof(job->user), "%s", user);
	memcpy(job->password, password, pwlen);
	job->password[pwlen] = '\0';
	int r = conn_queue_work(s->conn, auth_work, auth_done, job);
	if (r != 0) {
		explicit_bzero(job->password, sizeof(job->password));
		free(job);
		log_error(s->id, "pop3_auth_error", "error=\"%s\"", conn_strerror(r));
		pop3_reply(s, POP3_ERR_SYS_TEMP, "authentication unavailable");
		session_done(&s->core);
	}
}

/* ---- USER / PASS (RFC 1939 7) ---------------------------------------- */

void pop3_cmd_user(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t len = cmd->argl[0];

	if (len > SASL_FIELD_MAX || memchr(cmd->argv[0], '\0', len) != NULL) {
		pop3_reply(s, POP3_ERR, "invalid user name");
		return;
	}
	memcpy(s->user, cmd->argv[0], len);
	s->user[len] = '\0';
	s->have_user = true;
	/* The same answer for every name: USER must not tell who exists. */
	pop3_reply(s, POP3_OK, "send PASS");
}

void pop3_cmd_pass(struct pop3_session *s, const struct pop3_command *cmd)
{
	/*
	 * RFC 1939 7: the argument is everything after "PASS ", so "PASS  "
	 * is the password " ". Only an empty one is no argument; the
	 * dispatcher's words for it, and the USER stays.
	 */
	if (cmd->restlen == 0) {
		pop3_reply(s, POP3_ERR, "wrong number of arguments for PASS");
		return;
	}
	if (!s->have_user) {
		pop3_reply(s, POP3_ERR, "send USER first");
		return;
	}
	/* RFC 1939 4: after a failed PASS the client starts again with USER. */
	s->have_user = false;
	session_busy(&s->core);
	if (memchr(cmd->rest, '\0', cmd->restlen) != NULL)
		auth_failed(s, s->user, "USER", "malformed");
	else
		auth_start(s, "USER", s->user, cmd->rest, cmd->restlen);
}

/* ---- AUTH PLAIN (RFC 5034 4, RFC 4616) ---------------------------------- */

/* Decodes one PLAIN response and starts the check, or fails the attempt. */
static void auth_plain(struct pop3_session *s, const char *b64, size_t len)
{
	struct sasl_plain plain;
	int r = sasl_plain_decode(b64, len, &plain);

	if (r == SASL_EBASE64) {
		/* RFC 5034 4: an undecodable response rejects the AUTH command. */
		pop3_reply(s, POP3_ERR, "invalid base64 in the SASL response");
		return;
	}
	session_busy(&s->core);
	if (r != SASL_OK)
		auth_failed(s, "", "PLAIN", sasl_strerror(r));
	else if (!sasl_plain_authzid_ok(&plain))
		auth_failed(s, plain.authcid, "PLAIN", "authzid");
	else
		auth_start(s, "PLAIN", plain.authcid, plain.passwd, strlen(plain.passwd));
	sasl_plain_clear(&plain);
}

void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (cmd->argc == 0) {
		/* The mechanism list of RFC 1734, still asked for by old clients. */
		pop3_reply(s, POP3_OK, "SASL mechanisms follow");
		conn_write(s->conn, "PLAIN\r\n.\r\n", 10);
		return;
	}
	if (cmd->argl[0] != 5 || strncasecmp(cmd->argv[0], "PLAIN", 5) != 0) {
		pop3_reply(s, POP3_ERR, "unsupported authentication mechanism");
		return;
	}
	if (cmd->argc == 2) {
		auth_plain(s, cmd->argv[1], cmd->argl[1]);
		return;
	}
	/* RFC 5034 4: PLAIN has an empty server challenge. */
	session_enter_state(&s->core, POP3_STATE_SASL);
	conn_write(s->conn, "+ \r\n", 4);
}

void pop3_auth_response(struct pop3_session *s, const char *line, size_t len)
{
	session_enter_state(&s->core, POP3_STATE_AUTHORIZATION);
	if (sasl_is_cancel(line, len)) {
		pop3_reply(s, POP3_ERR, "authentication cancelled");
		return;
	}
	auth_plain(s, line, len);
}
