/*
 * pop3_auth.c - the AUTHORIZATION state: CAPA, STLS, USER/PASS (RFC 1939
 * 7) and AUTH PLAIN (RFC 5034, RFC 4616). Knows nothing about maildrops:
 * a successful login hands the canonical address to pop3_mailbox_open().
 *
 * Every login attempt costs the same (common/login.h: the check runs on
 * a worker thread, unknown and disabled users and store failures pay for
 * one hash check too), and a failure is answered only after a delay that
 * grows with the client address's recent failures (common/authlimit.h).
 * An address that used up its budget is refused with [SYS/TEMP] before
 * any password is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "login.h"
#include "pop3_session.h"
#include "sasl.h"

bool pop3_auth_allowed(const struct pop3_session *s)
{
	return conn_tls_active(s->core.conn) || s->ctx->cfg->allow_plaintext_auth;
}

/* ---- CAPA (RFC 2449 5) --------------------------------------------------- */

void pop3_cmd_capa(struct pop3_session *s, const struct pop3_command *cmd)
{
	bool authorization = pop3_session_state(s) == POP3_STATE_AUTHORIZATION;
	/* RFC 2595 4: a server may hide mechanisms it would refuse before STLS. */
	bool login = authorization && pop3_auth_allowed(s);
	conn_t *conn = s->core.conn;

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
	if (conn_tls_active(s->core.conn)) {
		pop3_reply(s, POP3_ERR, "TLS is already active");
		return;
	}
	if (!conn_tls_available(s->core.conn)) {
		pop3_reply(s, POP3_ERR, "TLS is not available");
		return;
	}
	pop3_reply(s, POP3_OK, "begin TLS negotiation");
	/* Input received before the handshake is discarded by conn_starttls (RFC 2595 4). */
	s->tls_starting = true;
	s->have_user = false;
	conn_starttls(s->core.conn);
}

/* ---- failures ---------------------------------------------------------- */

/*
 * A failed login, or with `refused` one refused because the address is
 * locked out (RFC 3206 4: our policy, passing with time: [SYS/TEMP]):
 * counted (common/login.h) and answered after its delay; the last one
 * allowed on this connection hangs up. The session must be busy.
 */
static void auth_failed(struct pop3_session *s, bool refused, const char *method,
                        const char *user, const char *why)
{
	struct login_verdict v = login_failed(s->ctx->authlimit, s->ctx->cfg,
	                                      s->core.conn, &s->auth_failures, refused, method, user,
	                                      why);
	enum pop3_resp resp = refused ? POP3_ERR_SYS_TEMP : POP3_ERR_AUTH;
	s->ctx->metrics->login_failures++;
	const char *text = refused ? "too many failed logins from your address, try again later"
	                           : "authentication failed";

	session_delay_next(&s->core, v.delay_ms);
	if (v.hang_up) {
		pop3_reply(s, resp, "%s; too many failures", text);
		session_close(&s->core);
	} else {
		pop3_reply(s, resp, "%s", text);
	}
	session_done(&s->core);
}

/* ---- the check, off the loop (common/login.h) ------------------------- */

static void login_done_cb(conn_t *conn, struct login *login)
{
	struct pop3_session *s = pop3_session_of(conn);

	if (s == NULL)
		return;
	if (login->timed)
		pop3_metrics_count_store(s->ctx->metrics, POP3_STORE_LOGIN, login->store_micros);
	if (login->result == LOGIN_TEMPFAIL) {
		log_error(s->core.id, "auth_error", "error=\"%s\"", login->error);
		pop3_reply(s, pop3_store_resp(login->store_err), "authentication unavailable");
		session_done(&s->core);
	} else if (login->result == LOGIN_FAIL) {
		auth_failed(s, false, login->method, login->user, "credentials");
	} else {
		char esc[300];
		s->ctx->metrics->logins++;
		log_info(s->core.id, "pop3_login", "method=%s user=%s tls=%d", login->method,
		         log_escape(esc, sizeof(esc), login->address, strlen(login->address)),
		         conn_tls_active(conn));
		pop3_mailbox_open(s, login->address);
	}
}

/* Starts the check for user/password; the session must be busy. */
static void auth_start(struct pop3_session *s, const char *method, const char *user,
                       const char *password, size_t pwlen)
{
	if (login_locked_ms(s->ctx->authlimit, s->core.conn) > 0) {
		auth_failed(s, true, method, user, "lockout");
		return;
	}
	int r = login_start(s->core.conn, s->ctx->pool, method, user, password, pwlen, NULL,
	                    NULL, login_done_cb);
	if (r != 0) {
		log_error(s->core.id, "auth_error", "error=\"%s\"", conn_strerror(r));
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
		auth_failed(s, false, "USER", s->user, "malformed");
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
		auth_failed(s, false, "PLAIN", "", sasl_strerror(r));
	else if (!sasl_plain_authzid_ok(&plain))
		auth_failed(s, false, "PLAIN", plain.authcid, "authzid");
	else
		auth_start(s, "PLAIN", plain.authcid, plain.passwd, strlen(plain.passwd));
	sasl_plain_clear(&plain);
}

void pop3_cmd_auth(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (cmd->argc == 0) {
		/* The mechanism list of RFC 1734, still asked for by old clients. */
		pop3_reply(s, POP3_OK, "SASL mechanisms follow");
		conn_write(s->core.conn, "PLAIN\r\n.\r\n", 10);
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
	conn_write(s->core.conn, "+ \r\n", 4);
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
