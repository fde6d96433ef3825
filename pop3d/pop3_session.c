/*
 * pop3_session.c - the POP3 connection handler: session lifetime, the
 * state table, the command table and dispatch, and the reply helper.
 * Commands themselves live in pop3_auth.c, pop3_mailbox.c and pop3_retr.c;
 * busy/done, stopping and the error budget are the session core's
 * (common/session.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pop3.h"
#include "pop3_session.h"

int pop3_context_new(struct pop3_context **ctx_r, const struct mail_config *cfg,
                     store_pool_t *pool, struct authlimit *authlimit, char *err, size_t errlen)
{
#ifdef MAIL_TEST_HOOKS
	const char *ttl = getenv("MAILTEST_POP3_LEASE_TTL");
#else
	const char *ttl = NULL;
#endif
	struct pop3_context *ctx = calloc(1, sizeof(*ctx));
	char msg[256];

	*ctx_r = ctx;
	if (ctx != NULL && (ctx->metrics = calloc(1, sizeof(*ctx->metrics))) == NULL) {
		free(ctx);
		*ctx_r = ctx = NULL;
	}
	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctx->cfg = cfg;
	ctx->pool = pool;
	ctx->authlimit = authlimit;
	ctx->lease_ttl = POP3_LEASE_TTL_DEFAULT;
	if (ttl != NULL && *ttl != '\0') {
		char *end;
		unsigned long v = strtoul(ttl, &end, 10);
		if (*end != '\0' || v < 3 || v > 3600) {
			snprintf(err, errlen, "MAILTEST_POP3_LEASE_TTL: expected 3 to 3600 seconds, got '%s'",
			         ttl);
			return -1;
		}
		ctx->lease_ttl = (unsigned)v;
	}
	/*
	 * The start time tells apart two processes that got the same pid on
	 * one host (a restarted container is always pid 1), so a new process
	 * never mistakes a dead one's lease for its own. The random part tells
	 * apart replicas that share the hostname setting, the pid (each
	 * container's own pid 7) and the second they started in: without it
	 * the second replica's first session would "renew" the first one's
	 * lease instead of getting [IN-USE].
	 */
	uint64_t nonce = 0;
	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce))
		nonce = (uint64_t)(uintptr_t)ctx ^ ((uint64_t)clock() << 32);
	snprintf(ctx->owner_prefix, sizeof(ctx->owner_prefix), "%.200s:%ld:%lld:%016" PRIx64,
	         cfg->hostname, (long)getpid(), (long long)time(NULL), nonce);
	/* Without it (it logs why), every read goes through the pool: slower, not wrong. */
	if (store_pool_open_loop(pool, &ctx->loop_store, msg, sizeof(msg)) != STORE_OK)
		log_warn(0, "loop_store", "error=\"%s\"", msg);
	return 0;
}

void pop3_context_free(struct pop3_context **ctx)
{
	if (*ctx == NULL)
		return;
	store_close(&(*ctx)->loop_store);
	free((*ctx)->metrics);
	free(*ctx);
	*ctx = NULL;
}

/* ---- state ------------------------------------------------------------ */

static const char *const state_names[] = {
	[POP3_STATE_AUTHORIZATION] = "AUTHORIZATION",
	[POP3_STATE_SASL] = "SASL",
	[POP3_STATE_TRANSACTION] = "TRANSACTION",
	[POP3_STATE_UPDATE] = "UPDATE",
	[POP3_STATE_CLOSING] = "CLOSING",
};

/* Which state may follow which (session_enter_state logs any other change as a bug). */
#define TO(state) (1u << POP3_STATE_##state)
static const unsigned next_states[] = {
	[POP3_STATE_AUTHORIZATION] = TO(SASL) | TO(TRANSACTION) | TO(CLOSING),
	[POP3_STATE_SASL] = TO(AUTHORIZATION) | TO(TRANSACTION) | TO(CLOSING),
	[POP3_STATE_TRANSACTION] = TO(UPDATE) | TO(CLOSING),
	[POP3_STATE_UPDATE] = TO(CLOSING),
	[POP3_STATE_CLOSING] = 0,
};
#undef TO

/* An UPDATE in progress finishes and closes by itself (RFC 1939 6). */
static bool session_may_stop(const struct session *core)
{
	return core->state != POP3_STATE_UPDATE;
}

static void session_stop_reply(struct session *core)
{
	struct pop3_session *s = (struct pop3_session *)core;

	session_send(core, s->stop_reply, strlen(s->stop_reply), SESSION_REPLY_FINAL);
}

static size_t session_too_many_errors(struct session *core, char *buf, size_t cap)
{
	static const char line[] = "-ERR too many errors, closing connection\r\n";

	(void)core;
	if (cap < sizeof(line) - 1)
		return 0;
	memcpy(buf, line, sizeof(line) - 1);
	return sizeof(line) - 1;
}

static const struct session_def pop3_session_def = {
	.protocol = "pop3",
	.state_names = state_names,
	.next_states = next_states,
	.state_count = POP3_STATE_CLOSING + 1,
	.closing_state = POP3_STATE_CLOSING,
	.may_stop = session_may_stop,
	.stop = session_stop_reply,
	.too_many_errors = session_too_many_errors,
};

/* ---- replies ---------------------------------------------------------- */

static const char *const resp_prefix[] = {
	[POP3_OK] = "+OK",
	[POP3_ERR] = "-ERR",
	[POP3_ERR_IN_USE] = "-ERR [IN-USE]",
	[POP3_ERR_AUTH] = "-ERR [AUTH]",
	[POP3_ERR_SYS_TEMP] = "-ERR [SYS/TEMP]",
	[POP3_ERR_SYS_PERM] = "-ERR [SYS/PERM]",
};

void pop3_reply(struct pop3_session *s, enum pop3_resp resp, const char *fmt, ...)
{
	/* RFC 2449 4: a response line is at most 512 octets including CRLF. */
	char line[512];
	const size_t cap = sizeof(line) - 2; /* CRLF always fits after the text */
	size_t len = (size_t)snprintf(line, cap, "%s", resp_prefix[resp]);

	if (fmt != NULL) {
		line[len++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		int r = vsnprintf(line + len, cap - len, fmt, ap);
		va_end(ap);
		if (r > 0)
			len += (size_t)r < cap - len ? (size_t)r : cap - len - 1;
	}
	line[len++] = '\r';
	line[len++] = '\n';
	session_send(&s->core, line, len, resp == POP3_ERR ? SESSION_REPLY_ERROR : SESSION_REPLY_OK);
}

enum pop3_resp pop3_store_resp(int store_err)
{
	return store_err == STORE_ECORRUPT ? POP3_ERR_SYS_PERM : POP3_ERR_SYS_TEMP;
}

/* ---- stopping ---------------------------------------------------------- */

void pop3_session_stop(struct pop3_session *s, const char *reply)
{
	if (s->core.closing || s->core.stopping)
		return;
	s->stop_reply = reply;
	session_stop(&s->core);
}

struct pop3_session *pop3_session_of(conn_t *conn)
{
	struct pop3_session *s = conn != NULL ? conn_data(conn) : NULL;

	return s != NULL && pop3_session_state(s) != POP3_STATE_CLOSING ? s : NULL;
}

/* ---- command table ----------------------------------------------------- */

typedef void pop3_cmd_fn(struct pop3_session *s, const struct pop3_command *cmd);

#define IN_AUTHORIZATION (1u << POP3_STATE_AUTHORIZATION)
#define IN_TRANSACTION (1u << POP3_STATE_TRANSACTION)

/* Refused before TLS unless allow_plaintext_auth (RFC 2595 2.1; RFC 8314 3). */
#define POP3_CMD_LOGIN 0x1
/* Carries credentials: the arguments are never logged. */
#define POP3_CMD_SECRET 0x2

#define ARGS_ANY SIZE_MAX

struct pop3_cmd_def {
	const char *verb;
	pop3_cmd_fn *fn;
	unsigned states; /* IN_* bits */
	unsigned flags;  /* POP3_CMD_* */
	size_t min_args, max_args;
};

/* RFC 1939 4-7, RFC 2449 5 (CAPA), RFC 2595 4 (STLS), RFC 5034 4 (AUTH). */
static const struct pop3_cmd_def pop3_commands[] = {
	{ "CAPA", pop3_cmd_capa, IN_AUTHORIZATION | IN_TRANSACTION, 0, 0, 0 },
	{ "USER", pop3_cmd_user, IN_AUTHORIZATION, POP3_CMD_LOGIN, 1, 1 },
	/* RFC 1939 7: a password may contain spaces, or be one; the handler takes
	 * the rest of the line and refuses an empty one. */
	{ "PASS", pop3_cmd_pass, IN_AUTHORIZATION, POP3_CMD_LOGIN | POP3_CMD_SECRET, 0, ARGS_ANY },
	/* AUTH without arguments lists the mechanisms (RFC 1734 clients). */
	{ "AUTH", pop3_cmd_auth, IN_AUTHORIZATION, POP3_CMD_LOGIN | POP3_CMD_SECRET, 0, 2 },
	{ "STLS", pop3_cmd_stls, IN_AUTHORIZATION, 0, 0, 0 },
	{ "STAT", pop3_cmd_stat, IN_TRANSACTION, 0, 0, 0 },
	{ "LIST", pop3_cmd_list, IN_TRANSACTION, 0, 0, 1 },
	{ "UIDL", pop3_cmd_uidl, IN_TRANSACTION, 0, 0, 1 },
	{ "RETR", pop3_cmd_retr, IN_TRANSACTION, 0, 1, 1 },
	{ "TOP", pop3_cmd_top, IN_TRANSACTION, 0, 2, 2 },
	{ "DELE", pop3_cmd_dele, IN_TRANSACTION, 0, 1, 1 },
	{ "RSET", pop3_cmd_rset, IN_TRANSACTION, 0, 0, 0 },
	{ "NOOP", pop3_cmd_noop, IN_TRANSACTION, 0, 0, 0 },
	{ "QUIT", pop3_cmd_quit, IN_AUTHORIZATION | IN_TRANSACTION, 0, 0, 0 },
};

static const struct pop3_cmd_def *command_find(const char *verb)
{
	for (size_t i = 0; i < sizeof(pop3_commands) / sizeof(pop3_commands[0]); i++) {
		if (strcmp(pop3_commands[i].verb, verb) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

static void command_log(struct pop3_session *s, const struct pop3_cmd_def *def,
                        const char *line, size_t len)
{
	char esc[160];

	if (def->flags & POP3_CMD_SECRET)
		log_debug(s->core.id, "pop3_command", "verb=%s args=masked", def->verb);
	else
		log_debug(s->core.id, "pop3_command", "line=%s", log_escape(esc, sizeof(esc), line, len));
}

static void command_dispatch(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_command cmd;
	const struct pop3_cmd_def *def = NULL;

	if (pop3_command_parse(line, len, &cmd))
		def = command_find(cmd.verb);
	if (def == NULL) {
		char esc[64];
		log_info(s->core.id, "pop3_unknown_command", "verb=%s",
		         log_escape(esc, sizeof(esc), line, len < 8 ? len : 8));
		pop3_reply(s, POP3_ERR, "unknown command");
		return;
	}
	command_log(s, def, line, len);
	if (!(def->states & (1u << pop3_session_state(s)))) {
		pop3_reply(s, POP3_ERR, "%s not valid in the %s state", def->verb,
		           session_state_name(&s->core));
		return;
	}
	if (cmd.argc < def->min_args || cmd.argc > def->max_args) {
		pop3_reply(s, POP3_ERR, "wrong number of arguments for %s", def->verb);
		return;
	}
	if ((def->flags & POP3_CMD_LOGIN) && !pop3_auth_allowed(s)) {
		/*
		 * RFC 3206 5: [AUTH] covers "an attempt to authenticate in
		 * violation of policy"; sending a password in the clear is one.
		 */
		pop3_reply(s, POP3_ERR_AUTH,
		           "plaintext authentication disallowed on an unencrypted connection; use STLS");
		return;
	}
	def->fn(s, &cmd);
}

/* ---- connection handler ------------------------------------------------ */

static void handle_open(conn_t *conn)
{
	struct pop3_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		static const char oom[] = "-ERR [SYS/TEMP] out of memory\r\n";
		log_error(conn_id(conn), "pop3_open_failed", "error=\"out of memory\"");
		conn_write(conn, oom, sizeof(oom) - 1);
		conn_close(conn);
		return;
	}
	s->ctx = conn_context(conn);
	s->ctx->metrics->connections++;
	s->ctx->metrics->sessions_open++;
	if (conn_tls_active(conn)) /* pop3s: the handshake came before open */
		tls_metrics_handshake(&s->ctx->metrics->tls, conn_tls_version(conn));
	struct session_limits limits = session_limits_from_config(s->ctx->cfg);

	session_init(&s->core, conn, &pop3_session_def, &limits, POP3_STATE_AUTHORIZATION);
	conn_set_data(conn, s);
	conn_set_line_max(conn, POP3_LINE_MAX);
	conn_set_idle_timeout(conn, s->ctx->cfg->idle_timeout);
	/* No timestamp: we do not offer APOP (RFC 1939 7), which needs one. */
	pop3_reply(s, POP3_OK, "%s POP3 server ready", s->ctx->cfg->hostname);
}

static void output_drained(struct pop3_session *s)
{
	session_done(&s->core);
}

static void handle_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct pop3_session *s = conn_data(conn);

	if (s == NULL || s->core.closing || s->tls_starting)
		return;
	if (s->core.busy) {
		/* conn_pause() stops input callbacks; reaching this is a conn bug. */
		log_error(s->core.id, "pop3_input_while_busy", "state=%s", session_state_name(&s->core));
		session_close(&s->core);
		return;
	}
	if (!crlf && !too_long) {
		/* RFC 1939 3: commands end in CRLF. A bare LF would let us split
		 * lines where a proxy in front does not: refuse and hang up. */
		log_info(s->core.id, "pop3_bare_lf", "state=%s", session_state_name(&s->core));
		pop3_reply(s, POP3_ERR, "bare LF received, lines must end in CRLF");
		session_close(&s->core);
		return;
	}
	if (too_long) {
		/* Within AUTH the over-long line was the response: the exchange fails. */
		if (pop3_session_state(s) == POP3_STATE_SASL)
			session_enter_state(&s->core, POP3_STATE_AUTHORIZATION);
		pop3_reply(s, POP3_ERR, "line too long");
		return;
	}
	if (pop3_session_state(s) == POP3_STATE_SASL)
		pop3_auth_response(s, line, len);
	else
		command_dispatch(s, line, len);

	/* Pipelined commands with a lot of output: read nothing more until it drains. */
	if (!s->core.busy && !s->core.closing && conn_output_full(conn)) {
		s->on_drain = output_drained;
		session_busy(&s->core);
	}
}

static void handle_drain(conn_t *conn)
{
	struct pop3_session *s = conn_data(conn);
	void (*fn)(struct pop3_session *) = s != NULL ? s->on_drain : NULL;

	if (s != NULL)
		s->progress = true;
	if (fn != NULL) {
		s->on_drain = NULL;
		fn(s);
	}
}

static void handle_tls_ready(conn_t *conn)
{
	struct pop3_session *s = conn_data(conn);

	if (s == NULL)
		return;
	/* RFC 2595 4: the session starts over; nothing said in the clear counts. */
	s->tls_starting = false;
	s->have_user = false;
	tls_metrics_handshake(&s->ctx->metrics->tls, conn_tls_version(conn));
	log_info(s->core.id, "pop3_tls", "version=%s cipher=%s", conn_tls_version(conn),
	         conn_tls_cipher(conn));
}

/* Counted on the daemon's context: on pop3s no session exists yet. */
static void handle_tls_failed(conn_t *conn, enum conn_tls_failure why)
{
	const struct pop3_context *ctx = conn_context(conn);

	tls_metrics_failure(&ctx->metrics->tls, why);
}

static void handle_timeout(conn_t *conn)
{
	struct pop3_session *s = conn_data(conn);

	/*
	 * RFC 1939 3: on the autologout timer the session does not enter
	 * UPDATE, and the server closes without removing messages or sending
	 * a response.
	 */
	if (s == NULL) {
		conn_close(conn);
		return;
	}
	/* Long output still moving: stay open for another period. */
	if (s->core.busy && s->progress) {
		s->progress = false;
		return;
	}
	log_info(s->core.id, "pop3_timeout", "state=%s", session_state_name(&s->core));
	/* An UPDATE in progress finishes and closes by itself. */
	if (pop3_session_state(s) != POP3_STATE_UPDATE)
		session_close(&s->core);
}

static void handle_shutdown(conn_t *conn)
{
	struct pop3_session *s = conn_data(conn);

	if (s == NULL) {
		conn_close(conn);
		return;
	}
	pop3_session_stop(s, "-ERR [SYS/TEMP] server shutting down\r\n");
}

static void handle_close(conn_t *conn, const char *reason)
{
	struct pop3_session *s = conn_data(conn);

	if (s == NULL)
		return;
	s->ctx->metrics->sessions_open--;
	log_debug(s->core.id, "pop3_close", "state=%s reason=%s", session_state_name(&s->core),
	          reason != NULL ? reason : "-");
	conn_set_data(conn, NULL);
	s->core.conn = NULL;
	pop3_retr_close(s);
	pop3_mailbox_close(s, conn);
	free(s->entries);
	free(s->deleted);
	free(s);
}

const struct conn_handler pop3_handler = {
	.open = handle_open,
	.line = handle_line,
	.data = NULL,
	.drain = handle_drain,
	.tls_ready = handle_tls_ready,
	.tls_failed = handle_tls_failed,
	.timeout = handle_timeout,
	.shutdown = handle_shutdown,
	.close = handle_close,
};
