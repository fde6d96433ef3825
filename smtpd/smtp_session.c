/*
 * smtp_session.c - the session's life (open, input, TLS, timeout,
 * shutdown, close), its state, and command dispatch through one static
 * table. The commands themselves live in smtp_cmd.c, smtp_envelope.c,
 * smtp_body.c and smtp_auth.c.
 */
#include "smtp_session.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "smtp_parse.h"
#include "smtp_session_private.h"
#include "smtp_txn.h"

/*
 * Command flags. Checks that every command shares are made here, before
 * the handler runs; BDAT makes them itself (smtp_session_check) because a
 * refused BDAT must still read its chunk.
 */
#define CMD_NEEDS_HELO 0x01 /* 503 before EHLO/HELO (RFC 5321 4.1.4) */
#define CMD_NEEDS_AUTH 0x02 /* 530 on the submission roles before AUTH (RFC 4954 6, RFC 6409 4.3) */
#define CMD_SELF_CHECK 0x04 /* the handler calls smtp_session_check itself */

struct command_def {
	smtp_cmd_fn *handler;
	unsigned flags;
};

/* Indexed by enum smtp_verb; SMTP_VERB_UNKNOWN never reaches the table. */
static const struct command_def commands[SMTP_VERB_COUNT] = {
	[SMTP_VERB_EHLO] = { smtp_cmd_ehlo, 0 },
	[SMTP_VERB_HELO] = { smtp_cmd_helo, 0 },
	[SMTP_VERB_MAIL] = { smtp_cmd_mail, CMD_NEEDS_HELO | CMD_NEEDS_AUTH },
	[SMTP_VERB_RCPT] = { smtp_cmd_rcpt, CMD_NEEDS_HELO },
	[SMTP_VERB_DATA] = { smtp_cmd_data, CMD_NEEDS_HELO },
	[SMTP_VERB_BDAT] = { smtp_cmd_bdat, CMD_NEEDS_HELO | CMD_SELF_CHECK },
	[SMTP_VERB_RSET] = { smtp_cmd_rset, 0 },
	[SMTP_VERB_NOOP] = { smtp_cmd_noop, 0 },
	[SMTP_VERB_QUIT] = { smtp_cmd_quit, 0 },
	[SMTP_VERB_VRFY] = { smtp_cmd_vrfy, 0 },
	[SMTP_VERB_EXPN] = { smtp_cmd_expn, 0 },
	[SMTP_VERB_HELP] = { smtp_cmd_help, 0 },
	[SMTP_VERB_STARTTLS] = { smtp_cmd_starttls, 0 },
	[SMTP_VERB_AUTH] = { smtp_cmd_auth, CMD_NEEDS_HELO },
};

static const char *const state_names[] = {
	[SMTP_STATE_INIT] = "init",
	[SMTP_STATE_READY] = "ready",
	[SMTP_STATE_MAIL] = "mail",
	[SMTP_STATE_DATA] = "data",
	[SMTP_STATE_BDAT] = "bdat",
	[SMTP_STATE_AUTH] = "auth",
	[SMTP_STATE_CLOSING] = "closing",
};

/* Which state may follow which (session_enter_state logs any other change as a bug). */
#define TO(state) (1u << SMTP_STATE_##state)
static const unsigned next_states[] = {
	/*
	 * BDAT is read even when refused, also before EHLO, and returns to
	 * the state it came from; a DATA body is committed in MAIL; STARTTLS
	 * starts over at INIT.
	 */
	[SMTP_STATE_INIT] = TO(READY) | TO(BDAT) | TO(CLOSING),
	[SMTP_STATE_READY] = TO(INIT) | TO(MAIL) | TO(BDAT) | TO(AUTH) | TO(CLOSING),
	[SMTP_STATE_MAIL] = TO(INIT) | TO(READY) | TO(DATA) | TO(BDAT) | TO(CLOSING),
	[SMTP_STATE_DATA] = TO(MAIL) | TO(READY) | TO(CLOSING),
	[SMTP_STATE_BDAT] = TO(INIT) | TO(READY) | TO(MAIL) | TO(CLOSING),
	[SMTP_STATE_AUTH] = TO(READY) | TO(CLOSING),
	[SMTP_STATE_CLOSING] = 0,
};
#undef TO

static bool session_may_stop(const struct session *core);
static void session_stop_reply(struct session *core);

static const struct session_def smtp_session_def = {
	.protocol = "smtp",
	.state_names = state_names,
	.next_states = next_states,
	.state_count = SMTP_STATE_CLOSING + 1,
	.closing_state = SMTP_STATE_CLOSING,
	.may_stop = session_may_stop,
	.stop = session_stop_reply,
	.too_many_errors = smtp_reply_too_many_errors,
};

static const char *const role_names[] = {
	[SMTP_ROLE_MX] = "mx",
	[SMTP_ROLE_SUBMISSION] = "submission",
	[SMTP_ROLE_SMTPS] = "smtps",
};

void smtp_session_enter_state(struct smtp_session *s, enum smtp_state state)
{
	session_enter_state(&s->core, state);
}

void smtp_session_reject(struct smtp_session *s, enum smtp_reject reason)
{
	s->env->metrics.rejections[reason]++;
}

void smtp_session_local_error(struct smtp_session *s)
{
	smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_LOCAL_ERROR));
}

bool smtp_session_needs_auth(const struct smtp_session *s)
{
	return s->role == SMTP_ROLE_SUBMISSION || s->role == SMTP_ROLE_SMTPS;
}

void smtp_session_reset_txn(struct smtp_session *s)
{
	smtp_txn_free(s->core.conn, &s->txn);
	enum smtp_state state = smtp_session_state(s);

	if (state == SMTP_STATE_MAIL || state == SMTP_STATE_DATA || state == SMTP_STATE_BDAT)
		smtp_session_enter_state(s, SMTP_STATE_READY);
}

/* A BDAT transaction is under way: more chunks may follow its replies. */
static bool session_in_bdat(const struct smtp_session *s)
{
	return s->txn != NULL && s->txn->body == SMTP_TXN_BODY_BDAT;
}

/*
 * On SIGTERM a message being received or committed is finished first, and
 * a BDAT transaction may send its remaining chunks; then the 421.
 */
static bool session_may_stop(const struct session *core)
{
	const struct smtp_session *s = (const struct smtp_session *)core;
	enum smtp_state state = smtp_session_state(s);

	return state != SMTP_STATE_DATA && state != SMTP_STATE_BDAT && !session_in_bdat(s);
}

/* RFC 5321 3.8: on shutdown a server replies 421 to the next command and closes. */
static void session_stop_reply(struct session *core)
{
	struct smtp_session *s = (struct smtp_session *)core;

	smtp_reply(s, 421, "4.3.2", "%s Service shutting down, closing transmission channel",
	           s->env->cfg->hostname);
}

const struct smtp_refusal *smtp_session_check(const struct smtp_session *s, enum smtp_verb verb)
{
	unsigned flags = commands[verb].flags;

	if ((flags & CMD_NEEDS_HELO) && smtp_session_state(s) == SMTP_STATE_INIT)
		return smtp_refusal(SMTP_REFUSAL_NEED_HELO);
	if ((flags & CMD_NEEDS_AUTH) && smtp_session_needs_auth(s) && !s->authenticated)
		return smtp_refusal(SMTP_REFUSAL_AUTH_REQUIRED);
	return NULL;
}

void smtp_session_refuse(struct smtp_session *s, const struct smtp_refusal *r)
{
	assert(strchr(r->text, '%') == NULL);
	smtp_session_reject(s, r->reason);
	smtp_reply(s, r->code, r->esc, "%s", r->text);
}

void smtp_session_refuse_quote(struct smtp_session *s, const struct smtp_refusal *r,
                               const char *value)
{
	/* Filled in here rather than used as a format: no text is ever a format string. */
	const char *hole = strstr(r->text, "%s");

	assert(hole != NULL && strchr(hole + 2, '%') == NULL);
	smtp_session_reject(s, r->reason);
	smtp_reply(s, r->code, r->esc, "%.*s%s%s", (int)(hole - r->text), r->text, value, hole + 2);
}

void smtp_session_refuse_parse(struct smtp_session *s, enum smtp_parse_result result)
{
	const struct smtp_parse_error *e = smtp_parse_error(result);

	smtp_session_reject(s, result == SMTP_PARSE_LINE_TOO_LONG ? SMTP_REJECT_LINE_TOO_LONG
	                                                          : SMTP_REJECT_SYNTAX);
	smtp_reply(s, e->code, e->enh, "%s", e->text);
}

/* The longest line this command may have, CRLF included (RFC 5321 4.5.3.1.4). */
static size_t session_line_limit(enum smtp_verb verb)
{
	switch (verb) {
	case SMTP_VERB_MAIL:
		return SMTP_MAIL_LINE_MAX;
	case SMTP_VERB_AUTH:
		return SMTP_AUTH_LINE_MAX + 2;
	default:
		return SMTP_COMMAND_LINE_MAX;
	}
}

static void session_log_command(struct smtp_session *s, const struct smtp_command *cmd)
{
	char arg[256];

	/* AUTH arguments carry credentials (RFC 4954 initial response): never logged. */
	if (cmd->verb == SMTP_VERB_AUTH || cmd->arg_len == 0) {
		log_debug(s->core.id, "command", "verb=%s", smtp_verb_name(cmd->verb));
		return;
	}
	log_debug(s->core.id, "command", "verb=%s arg=%s", smtp_verb_name(cmd->verb),
	          log_escape(arg, sizeof(arg), cmd->arg, cmd->arg_len));
}

static void session_command(struct smtp_session *s, const char *line, size_t len, bool too_long)
{
	struct smtp_command cmd;
	const struct smtp_refusal *refusal;
	enum smtp_parse_result r = smtp_parse_command(line, len, &cmd);

	if (too_long || (cmd.verb == SMTP_VERB_UNKNOWN && len + 2 > SMTP_COMMAND_LINE_MAX) ||
	    (cmd.verb != SMTP_VERB_UNKNOWN && len + 2 > session_line_limit(cmd.verb))) {
		smtp_session_refuse_parse(s, SMTP_PARSE_LINE_TOO_LONG);
		return;
	}
	if (r != SMTP_PARSE_OK) {
		char text[64];

		/* An AUTH line may carry credentials even when it is malformed. */
		log_debug(s->core.id, "bad_command", "verb=%s line=%s", smtp_verb_name(cmd.verb),
		          cmd.verb == SMTP_VERB_AUTH ? "(masked)"
		                                     : log_escape(text, sizeof(text), line, len));
		smtp_session_refuse_parse(s, r);
		return;
	}
	session_log_command(s, &cmd);
	if (s->core.stopping && !(cmd.verb == SMTP_VERB_BDAT && session_in_bdat(s))) {
		session_stop_reply(&s->core);
		return;
	}
	const struct command_def *def = &commands[cmd.verb];
	if (!(def->flags & CMD_SELF_CHECK) && (refusal = smtp_session_check(s, cmd.verb)) != NULL) {
		smtp_session_refuse(s, refusal);
		return;
	}
	def->handler(s, cmd.arg, cmd.arg_len);
}

/* ---- conn_handler callbacks ------------------------------------------ */

static void session_open_cb(conn_t *conn)
{
	struct smtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		log_error(conn_id(conn), "session_failed", "error=\"out of memory\"");
		conn_close(conn);
		return;
	}
	s->env = conn_context(conn);
	s->role = (enum smtp_role)conn_role(conn);
	struct session_limits limits = session_limits_from_config(s->env->cfg);
	session_init(&s->core, conn, &smtp_session_def, &limits, SMTP_STATE_INIT);
	conn_set_data(conn, s);
	conn_set_line_max(conn, SMTP_AUTH_LINE_MAX);
	conn_set_idle_timeout(conn, s->env->cfg->idle_timeout);
	smtp_metrics_count_session(&s->env->metrics, s->role, +1);
	if (conn_tls_active(conn))
		tls_metrics_handshake(&s->env->metrics.tls, conn_tls_version(conn));
	log_info(s->core.id, "session_start", "role=%s", role_names[s->role]);
	/* RFC 5321 4.2: the greeting has no enhanced status code (RFC 2034 applies after EHLO). */
	smtp_reply(s, 220, NULL, "%s ESMTP ready", s->env->cfg->hostname);
}

static void session_line_cb(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct smtp_session *s = conn_data(conn);

	if (s == NULL || s->core.closing)
		return;
	if (!crlf && !too_long) {
		/*
		 * RFC 5321 2.3.8: lines end in CRLF only. A server that also ends
		 * them at a bare LF sees other commands than a proxy or filter in
		 * front of it that does not, and whatever follows cannot be
		 * trusted to be in step: refuse and hang up, as Postfix's
		 * smtpd_forbid_bare_newline does. (DATA never ends at one either,
		 * smtp_data.h.)
		 */
		log_info(s->core.id, "bare_lf", "state=%s", session_state_name(&s->core));
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_BARE_LF));
		session_close(&s->core);
		return;
	}
	if (smtp_session_state(s) == SMTP_STATE_AUTH) {
		if (too_long) {
			/* RFC 4954 4: the exchange is over. */
			smtp_auth_reset(s);
			smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_AUTH_LINE_TOO_LONG));
			return;
		}
		smtp_auth_response(s, line, len);
		return;
	}
	session_command(s, line, len, too_long);
}

static void session_data_cb(conn_t *conn, const char *buf, size_t len)
{
	struct smtp_session *s = conn_data(conn);

	if (s == NULL || s->core.closing)
		return;
	/* Bytes after the end of the body are pipelined commands: leave them
	 * to the connection, now back in line mode. */
	conn_data_consumed(conn, smtp_body_input(s, buf, len));
}

static void session_tls_ready_cb(conn_t *conn)
{
	struct smtp_session *s = conn_data(conn);

	/* RFC 3207 4.2: forget everything learnt before TLS: EHLO, transaction, login. */
	smtp_session_reset_txn(s);
	smtp_auth_reset(s);
	s->esmtp = false;
	s->helo[0] = '\0';
	s->helo_valid = false;
	smtp_session_enter_state(s, SMTP_STATE_INIT);
	tls_metrics_handshake(&s->env->metrics.tls, conn_tls_version(conn));
	log_info(s->core.id, "tls", "version=%s cipher=%s", conn_tls_version(conn), conn_tls_cipher(conn));
}

/* Counted on the daemon's context: on the smtps listener no session exists yet. */
static void session_tls_failed_cb(conn_t *conn, enum conn_tls_failure why)
{
	struct smtp_env *env = conn_context(conn);

	tls_metrics_failure(&env->metrics.tls, why);
}

static void session_timeout_cb(conn_t *conn)
{
	struct smtp_session *s = conn_data(conn);

	s->timed_out = true;
	log_info(s->core.id, "timeout", "state=%s", session_state_name(&s->core));
	smtp_session_refuse_quote(s, smtp_refusal(SMTP_REFUSAL_TIMEOUT), s->env->cfg->hostname);
	session_close(&s->core);
}

static void session_shutdown_cb(conn_t *conn)
{
	struct smtp_session *s = conn_data(conn);

	session_stop(&s->core);
}

static void session_close_cb(conn_t *conn, const char *reason)
{
	struct smtp_session *s = conn_data(conn);

	if (s == NULL)
		return;
	log_info(s->core.id, "session_end", "errors=%u txns=%u auth_failures=%u", s->core.errors,
	         s->txn_seq, s->auth_failures);
	smtp_txn_free(s->core.conn, &s->txn);
	smtp_auth_reset(s);
	smtp_metrics_count_session(&s->env->metrics, s->role, -1);
	enum smtp_session_end end = s->quit ? SMTP_SESSION_END_QUIT
	                            : s->core.errors >= s->core.limits.hard_errors
	                                ? SMTP_SESSION_END_TOO_MANY_ERRORS
	                            : s->timed_out      ? SMTP_SESSION_END_TIMEOUT
	                            : conn_draining(conn) ? SMTP_SESSION_END_SHUTDOWN
	                                                  : SMTP_SESSION_END_DROPPED;
	s->env->metrics.sessions_ended[end]++;
	conn_set_data(conn, NULL);
	free(s);
}

const struct conn_handler smtp_session_handler = {
	.open = session_open_cb,
	.line = session_line_cb,
	.data = session_data_cb,
	.drain = NULL,
	.tls_ready = session_tls_ready_cb,
	.tls_failed = session_tls_failed_cb,
	.timeout = session_timeout_cb,
	.shutdown = session_shutdown_cb,
	.close = session_close_cb,
};
