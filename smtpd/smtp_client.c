/* smtp_client.c - the outbound SMTP client session; see smtp_client.h. */
#include "smtp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "session.h"
#include "smtp_client_reply.h"
#include "smtp_msgread.h"
#include "smtp_outbody.h"
#include "smtp_parse.h"
#include "smtp_session.h"
#include "store.h"

/* RFC 5321 4.5.3.2.1: minutes for a connection; never longer than our reply timeout. */
#define CONNECT_TIMEOUT_S 30

enum client_state {
	CS_CONNECTING,
	CS_GREETING,
	CS_EHLO,
	CS_HELO,
	CS_STARTTLS,
	CS_HANDSHAKE,
	CS_AUTH,
	CS_READY,   /* between jobs */
	CS_PREPARE, /* reading the message once: size, 8-bit, header section */
	CS_TXN,     /* MAIL, RCPT..., DATA sent; their replies come in */
	CS_BODY,
	CS_DOT,     /* waiting for the reply to the final dot */
	CS_RSET,
	CS_QUIT,
	CS_CLOSING,
	CS_COUNT,
};

static const char *const state_names[CS_COUNT] = {
	"connecting", "greeting", "ehlo", "helo", "starttls", "handshake", "auth", "ready",
	"prepare", "txn", "body", "dot", "rset", "quit", "closing",
};

#define S(x) (1u << (x))
static const unsigned next_states[CS_COUNT] = {
	[CS_CONNECTING] = S(CS_GREETING) | S(CS_CLOSING),
	[CS_GREETING] = S(CS_EHLO) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_EHLO] = S(CS_HELO) | S(CS_STARTTLS) | S(CS_AUTH) | S(CS_READY) | S(CS_QUIT) |
	            S(CS_CLOSING),
	[CS_HELO] = S(CS_READY) | S(CS_AUTH) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_STARTTLS] = S(CS_HANDSHAKE) | S(CS_AUTH) | S(CS_READY) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_HANDSHAKE] = S(CS_EHLO) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_AUTH] = S(CS_READY) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_READY] = S(CS_PREPARE) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_PREPARE] = S(CS_TXN) | S(CS_READY) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_TXN] = S(CS_BODY) | S(CS_DOT) | S(CS_RSET) | S(CS_CLOSING),
	[CS_BODY] = S(CS_DOT) | S(CS_CLOSING),
	[CS_DOT] = S(CS_READY) | S(CS_RSET) | S(CS_CLOSING),
	[CS_RSET] = S(CS_READY) | S(CS_QUIT) | S(CS_CLOSING),
	[CS_QUIT] = S(CS_CLOSING),
	[CS_CLOSING] = 0,
};
#undef S

struct smtp_client {
	struct session core; /* first: the session core's callbacks get it back */
	struct smtp_env *env;
	struct smtp_client_target t;
	const struct smtp_client_ops *ops;
	void *owner;
	void *dest;
	struct smtp_client_reply reply;
	struct smtp_ehlo ehlo;
	bool tls_tried;
	bool usable;  /* got as far as a job */
	int auth_step;
	char reason[512];

	struct smtp_job *job;
	char *dkim;        /* the job's DKIM-Signature field (RFC 6376), or NULL */
	size_t dkim_len;
	uint64_t size;
	bool eightbit;
	bool needs_utf8;
	/* The pipelined commands: 0 MAIL, 1..n RCPT, n + 1 DATA. */
	size_t cmd_total, cmd_sent, cmd_answered;
	size_t accepted;
	bool mail_failed;
	bool data_abort; /* 354 with no recipient accepted: send the dot, keep nothing */
	store_reader_t *reader;
	struct smtp_outbody outbody;
	bool reading;
	bool body_done;
};

static const struct conn_handler client_handler;

void smtp_job_settle(struct smtp_job *job, enum smtp_outcome outcome, const char *status,
                     const char *diagnostic)
{
	for (size_t i = 0; i < job->rcpt_count; i++) {
		struct smtp_job_rcpt *r = &job->rcpts[i];
		if (r->done)
			continue;
		r->done = true;
		r->outcome = outcome;
		snprintf(r->status, sizeof(r->status), "%s", status);
		snprintf(r->diagnostic, sizeof(r->diagnostic), "%s", diagnostic);
	}
}

void smtp_job_free(struct smtp_job *job)
{
	if (job == NULL)
		return;
	free(job);
}

static struct smtp_client *client_of(conn_t *conn)
{
	return conn_data(conn);
}

static void enter(struct smtp_client *c, enum client_state st)
{
	session_enter_state(&c->core, st);
}

static void send_line(struct smtp_client *c, const char *line)
{
	log_debug(c->core.id, "client_send", "line=\"%.40s\"", line);
	conn_printf(c->core.conn, "%s\r\n", line);
}

/* The remote reply's first line, for diagnostics: "550 5.1.1 no such user". */
static void reply_text(const struct smtp_client *c, char *out, size_t outlen)
{
	char first[SMTP_CLIENT_LINE_MAX + 1];
	smtp_client_reply_first(&c->reply, first, sizeof(first));
	if (first[0] != '\0')
		snprintf(out, outlen, "%d %.500s", c->reply.code, first);
	else
		snprintf(out, outlen, "%d", c->reply.code);
}

/* The RFC 3463 status of the reply: its enhanced code when it gives one, else the class's. */
static void reply_status(const struct smtp_client *c, char *out, size_t outlen)
{
	const char *p = c->reply.text;
	unsigned a, b, d;
	int n = 0;
	if (sscanf(p, "%1u.%3u.%3u%n", &a, &b, &d, &n) == 3 && n > 0 &&
	    (unsigned)c->reply.code / 100 == a && (p[n] == ' ' || p[n] == '\0' || p[n] == '\n')) {
		snprintf(out, outlen, "%u.%u.%u", a, b, d);
		return;
	}
	snprintf(out, outlen, "%d.0.0", c->reply.code / 100 == 2 ? 2 : c->reply.code / 100 == 5 ? 5 : 4);
}

/* Every recipient still open gets the outcome of the reply just read. */
static void settle_with_reply(struct smtp_client *c, struct smtp_job_rcpt *only)
{
	char status[16], text[512];
	reply_status(c, status, sizeof(status));
	reply_text(c, text, sizeof(text));
	enum smtp_outcome outcome = smtp_outcome_of(c->reply.code);
	if (only != NULL) {
		only->done = true;
		only->outcome = outcome;
		snprintf(only->status, sizeof(only->status), "%s", status);
		snprintf(only->diagnostic, sizeof(only->diagnostic), "%s", text);
		return;
	}
	smtp_job_settle(c->job, outcome, status, text);
}

/* Hands the job back to the runner. */
static void finish_job(struct smtp_client *c)
{
	struct smtp_job *job = c->job;
	c->job = NULL;
	store_reader_close(&c->reader);
	free(c->dkim);
	c->dkim = NULL;
	if (job != NULL) {
		smtp_job_settle(job, SMTP_OUTCOME_TEMPORARY, "4.4.2", "delivery interrupted");
		c->ops->job_done(c->owner, job);
	}
}

static void quit(struct smtp_client *c)
{
	enter(c, CS_QUIT);
	send_line(c, "QUIT");
}

/* The session cannot go on: the job (if any) fails temporarily with `why`. */
__attribute__((format(printf, 2, 3)))
static void fail_session(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	if (c->job != NULL) {
		smtp_job_settle(c->job, SMTP_OUTCOME_TEMPORARY, "4.4.2", c->reason);
		finish_job(c);
	}
	log_info(c->core.id, "client_failed", "host=%s ip=%s reason=\"%s\"", c->t.host, c->t.ip,
	         c->reason);
	enter(c, CS_CLOSING);
	conn_close(c->core.conn);
}

/* ---- jobs ---------------------------------------------------------------- */

static void start_job(struct smtp_client *c);

static void go_ready(struct smtp_client *c)
{
	enter(c, CS_READY);
	c->usable = true;
	c->job = c->ops->next_job(c->owner, c->dest);
	if (c->job == NULL) {
		quit(c);
		return;
	}
	snprintf(c->job->remote_mta, sizeof(c->job->remote_mta), "%s", c->t.host);
	c->job->remote_dsn = c->ehlo.dsn;
	start_job(c);
}

/* Over with this job: RSET when the server may hold some of its state. */
static void end_job(struct smtp_client *c, bool rset)
{
	finish_job(c);
	if (rset) {
		enter(c, CS_RSET);
		send_line(c, "RSET");
	} else {
		go_ready(c);
	}
}

static void send_commands(struct smtp_client *c);

static void prepare_done(conn_t *conn, void *arg, int status)
{
	struct smtp_msgread *r = arg;
	struct smtp_client *c = conn != NULL ? client_of(conn) : NULL;

	if (c == NULL || status != 0 || r->status != STORE_OK) {
		if (c != NULL && c->job != NULL) {
			smtp_job_settle(c->job, SMTP_OUTCOME_TEMPORARY, "4.3.0",
			                status != 0 ? conn_strerror(status) : r->error);
			finish_job(c);
			session_done(&c->core);
			go_ready(c);
		}
		store_reader_close(&r->reader);
		free(r->headers);
		free(r->dkim);
		free(r);
		return;
	}
	store_reader_close(&r->reader);
	struct smtp_job *job = c->job;
	c->size = r->size;
	c->eightbit = r->eightbit;
	free(r->headers);
	free(c->dkim);
	c->dkim = r->dkim;
	c->dkim_len = r->dkim_len;
	if (r->dkim_note[0] != '\0')
		log_warn(c->core.id, "dkim_unsigned", "id=%lld reason=\"%s\"",
		         (long long)job->message_id, r->dkim_note);
	c->needs_utf8 = r->header_utf8 || !smtp_msgread_ascii(job->sender, strlen(job->sender));
	for (size_t i = 0; i < job->rcpt_count; i++)
		if (!smtp_msgread_ascii(job->rcpts[i].address, strlen(job->rcpts[i].address)))
			c->needs_utf8 = true;
	free(r);
	session_done(&c->core);

	char text[512];
	if (c->needs_utf8 && !c->ehlo.smtputf8) {
		/* RFC 6531 3.7.5: no downgrade; the sender is told. */
		snprintf(text, sizeof(text), "the message needs SMTPUTF8 (RFC 6531), which %s does "
		         "not offer", c->t.host);
		smtp_job_settle(job, SMTP_OUTCOME_PERMANENT, "5.6.7", text);
		end_job(c, false);
		return;
	}
	if (c->ehlo.size && c->ehlo.size_max > 0 && c->size > c->ehlo.size_max) {
		snprintf(text, sizeof(text), "message of %llu octets exceeds the fixed maximum "
		         "message size of %s (%llu)", (unsigned long long)c->size, c->t.host,
		         (unsigned long long)c->ehlo.size_max);
		smtp_job_settle(job, SMTP_OUTCOME_PERMANENT, "5.3.4", text);
		end_job(c, false);
		return;
	}
	enter(c, CS_TXN);
	c->cmd_total = job->rcpt_count + 2;
	c->cmd_sent = c->cmd_answered = 0;
	c->accepted = 0;
	c->mail_failed = false;
	c->data_abort = false;
	send_commands(c);
}

static void start_job(struct smtp_client *c)
{
	struct smtp_msgread *r = calloc(1, sizeof(*r));
	enter(c, CS_PREPARE);
	if (r != NULL) {
		r->prepare = true;
		r->pool = c->env->pool;
		r->message_id = c->job->message_id;
		if (session_queue_work(&c->core, smtp_msgread_work, prepare_done, r) == 0)
			return;
		free(r);
	}
	smtp_job_settle(c->job, SMTP_OUTCOME_TEMPORARY, "4.3.0", "out of memory");
	end_job(c, false);
}

/* RFC 3461 4.1: NOTIFY=SUCCESS,FAILURE,DELAY or NEVER. */
static void notify_param(unsigned notify, char *out, size_t outlen)
{
	size_t n = 0;
	out[0] = '\0';
	if (notify & SMTP_NOTIFY_NEVER) {
		snprintf(out, outlen, " NOTIFY=NEVER");
		return;
	}
	static const struct { unsigned bit; const char *name; } words[] = {
		{ SMTP_NOTIFY_SUCCESS, "SUCCESS" }, { SMTP_NOTIFY_FAILURE, "FAILURE" },
		{ SMTP_NOTIFY_DELAY, "DELAY" },
	};
	for (size_t i = 0; i < 3; i++)
		if (notify & words[i].bit)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s", n == 0 ? " NOTIFY=" : ",",
			                      words[i].name);
}

/* The next command(s) of the transaction: all at once with PIPELINING (RFC 2920), else one. */
static void send_commands(struct smtp_client *c)
{
	struct smtp_job *job = c->job;
	char line[1200], notify[48];
	do {
		size_t k = c->cmd_sent;
		if (k >= c->cmd_total)
			return;
		if (k == 0) {
			int n = snprintf(line, sizeof(line), "MAIL FROM:<%s>", job->sender);
			if (c->ehlo.size)
				n += snprintf(line + n, sizeof(line) - (size_t)n, " SIZE=%llu",
				              (unsigned long long)c->size);
			if (c->eightbit && c->ehlo.eightbitmime)
				n += snprintf(line + n, sizeof(line) - (size_t)n, " BODY=8BITMIME");
			if (c->needs_utf8)
				n += snprintf(line + n, sizeof(line) - (size_t)n, " SMTPUTF8");
			/* RFC 3461 5.2: the DSN parameters go along to a server that offers DSN. */
			if (c->ehlo.dsn && job->ret != SMTP_DSN_RET_NONE)
				n += snprintf(line + n, sizeof(line) - (size_t)n, " RET=%s",
				              job->ret == SMTP_DSN_RET_FULL ? "FULL" : "HDRS");
			if (c->ehlo.dsn && job->envid[0] != '\0')
				snprintf(line + n, sizeof(line) - (size_t)n, " ENVID=%s", job->envid);
		} else if (k <= job->rcpt_count) {
			const struct smtp_job_rcpt *r = &job->rcpts[k - 1];
			notify_param(c->ehlo.dsn ? r->notify : 0, notify, sizeof(notify));
			snprintf(line, sizeof(line), "RCPT TO:<%s>%s%s%s", r->address, notify,
			         c->ehlo.dsn && r->orcpt[0] != '\0' ? " ORCPT=" : "",
			         c->ehlo.dsn ? r->orcpt : "");
		} else {
			snprintf(line, sizeof(line), "DATA");
		}
		send_line(c, line);
		c->cmd_sent++;
	} while (c->ehlo.pipelining);
}

/* ---- the body ------------------------------------------------------------ */

static void read_next(struct smtp_client *c);

static void body_chunk_done(conn_t *conn, void *arg, int status)
{
	struct smtp_msgread *r = arg;
	struct smtp_client *c = conn != NULL ? client_of(conn) : NULL;

	if (c != NULL) {
		c->reading = false;
		c->reader = r->reader;
		session_done(&c->core);
	} else {
		store_reader_close(&r->reader);
	}
	if (c == NULL || c->core.state != CS_BODY) {
		free(r->data);
		free(r);
		return;
	}
	if (status != 0 || r->status != STORE_OK) {
		/* Cannot finish the data: a connection cut short sends nothing the server keeps. */
		fail_session(c, "reading the message: %s",
		             status != 0 ? conn_strerror(status) : r->error);
		free(r->data);
		free(r);
		return;
	}
	char *out = malloc(smtp_outbody_max(r->len) + SMTP_OUTBODY_END_MAX);
	if (out == NULL) {
		fail_session(c, "out of memory");
		free(r->data);
		free(r);
		return;
	}
	size_t n = smtp_outbody_feed(&c->outbody, r->data, r->len, out);
	if (r->len == 0) {
		n += smtp_outbody_end(&c->outbody, out + n);
		c->body_done = true;
	}
	conn_write(conn, out, n);
	free(out);
	free(r->data);
	free(r);
	if (c->body_done) {
		store_reader_close(&c->reader);
		enter(c, CS_DOT);
		/* RFC 5321 4.5.3.2.6: 10 minutes for the reply to the dot. */
		conn_set_idle_timeout(conn, 2 * c->env->cfg->outbound_timeout);
		return;
	}
	if (!conn_output_full(conn))
		read_next(c);
}

static void read_next(struct smtp_client *c)
{
	struct smtp_msgread *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		fail_session(c, "out of memory");
		return;
	}
	r->pool = c->env->pool;
	r->reader = c->reader;
	c->reader = NULL;
	r->message_id = c->job->message_id; /* the first read opens the reader */
	c->reading = true;
	if (session_queue_work(&c->core, smtp_msgread_work, body_chunk_done, r) != 0) {
		c->reading = false;
		c->reader = r->reader;
		free(r);
		fail_session(c, "cannot read the message");
	}
}

static void start_body(struct smtp_client *c)
{
	enter(c, CS_BODY);
	smtp_outbody_init(&c->outbody);
	c->body_done = false;
	if (c->dkim != NULL) /* on top of the message (RFC 6376 5.6) */
		conn_write(c->core.conn, c->dkim, c->dkim_len);
	read_next(c);
}

/* ---- replies ------------------------------------------------------------- */

static void on_txn_reply(struct smtp_client *c)
{
	struct smtp_job *job = c->job;
	size_t k = c->cmd_answered++;
	bool ok = c->reply.code / 100 == 2;

	if (k == 0) {
		if (!ok) {
			c->mail_failed = true;
			settle_with_reply(c, NULL);
		}
	} else if (k <= job->rcpt_count) {
		if (c->mail_failed) {
			/* The MAIL reply decided already; 503s follow it. */
		} else if (ok) {
			c->accepted++;
		} else {
			settle_with_reply(c, &job->rcpts[k - 1]);
		}
	} else {
		/* DATA */
		if (c->reply.code == 354) {
			if (c->accepted > 0 && !c->mail_failed) {
				start_body(c);
				return;
			}
			/* RFC 2920 3.1: nobody to send to, yet the server waits for data. */
			c->data_abort = true;
			enter(c, CS_DOT);
			conn_write(c->core.conn, ".\r\n", 3);
			return;
		}
		if (!c->mail_failed)
			settle_with_reply(c, NULL);
		end_job(c, true);
		return;
	}
	bool nobody = c->mail_failed || (k == job->rcpt_count && c->accepted == 0);
	if (!c->ehlo.pipelining && nobody) {
		/* Not pipelined: no point in going on with this transaction. */
		end_job(c, true);
		return;
	}
	if (!c->ehlo.pipelining)
		send_commands(c);
}

static void after_ehlo(struct smtp_client *c);

static void auth_start(struct smtp_client *c)
{
	char buf[1200], b64[1700];
	if (!conn_tls_active(c->core.conn)) {
		fail_session(c, "%s: no TLS, so no AUTH (the password is never sent in the clear)",
		             c->t.host);
		return;
	}
	enter(c, CS_AUTH);
	if (c->ehlo.auth_plain) {
		int n = snprintf(buf, sizeof(buf), "%c%s%c%s", 0, c->t.auth_user, 0,
		                 c->t.auth_password);
		if (n < 0 || (size_t)n >= sizeof(buf) ||
		    base64_encode(buf, (size_t)n, b64, sizeof(b64)) != 0) {
			fail_session(c, "AUTH credentials too long");
			return;
		}
		c->auth_step = 0;
		conn_printf(c->core.conn, "AUTH PLAIN %s\r\n", b64);
		memset(buf, 0, sizeof(buf));
		memset(b64, 0, sizeof(b64));
	} else if (c->ehlo.auth_login) {
		c->auth_step = 1;
		send_line(c, "AUTH LOGIN");
	} else {
		fail_session(c, "%s offers neither AUTH PLAIN nor AUTH LOGIN", c->t.host);
	}
}

static void on_auth_reply(struct smtp_client *c)
{
	char text[512], b64[1700];
	if (c->reply.code == 235) {
		go_ready(c);
		return;
	}
	if (c->reply.code == 334 && (c->auth_step == 1 || c->auth_step == 2)) {
		const char *v = c->auth_step == 1 ? c->t.auth_user : c->t.auth_password;
		if (base64_encode(v, strlen(v), b64, sizeof(b64)) != 0) {
			fail_session(c, "AUTH credentials too long");
			return;
		}
		c->auth_step++;
		conn_printf(c->core.conn, "%s\r\n", b64);
		memset(b64, 0, sizeof(b64));
		return;
	}
	reply_text(c, text, sizeof(text));
	fail_session(c, "AUTH at %s failed: %s", c->t.host, text);
}

/* After a successful EHLO or HELO: TLS per the policy, then AUTH, then jobs. */
static void after_ehlo(struct smtp_client *c)
{
	bool tls = conn_tls_active(c->core.conn);
	if (!tls && !c->tls_tried && c->t.tls_policy != CONFIG_TLS_NONE && c->ehlo.starttls) {
		c->tls_tried = true;
		enter(c, CS_STARTTLS);
		send_line(c, "STARTTLS");
		return;
	}
	if (!tls && c->t.tls_policy >= CONFIG_TLS_ENCRYPT) {
		fail_session(c, "TLS is required for %s, which %s", c->t.host,
		             c->tls_tried ? "refused STARTTLS" : "does not offer STARTTLS");
		return;
	}
	if (c->t.auth_user != NULL) {
		auth_start(c);
		return;
	}
	go_ready(c);
}

static void on_reply(struct smtp_client *c)
{
	char text[512];
	int code = c->reply.code;

	switch ((enum client_state)c->core.state) {
	case CS_GREETING:
		if (code != 220) {
			reply_text(c, text, sizeof(text));
			snprintf(c->reason, sizeof(c->reason), "%.180s greeted us with %.300s", c->t.host,
			         text);
			quit(c);
			return;
		}
		enter(c, CS_EHLO);
		conn_printf(c->core.conn, "EHLO %s\r\n", c->env->cfg->hostname);
		return;
	case CS_EHLO:
		if (code == 250) {
			smtp_ehlo_parse(&c->reply, &c->ehlo);
			after_ehlo(c);
		} else if (code / 100 == 5 && !conn_tls_active(c->core.conn)) {
			/* RFC 5321 4.1.4: a server that does not know EHLO; HELO, and no extensions. */
			memset(&c->ehlo, 0, sizeof(c->ehlo));
			enter(c, CS_HELO);
			conn_printf(c->core.conn, "HELO %s\r\n", c->env->cfg->hostname);
		} else {
			reply_text(c, text, sizeof(text));
			fail_session(c, "%s refused EHLO: %s", c->t.host, text);
		}
		return;
	case CS_HELO:
		if (code != 250) {
			reply_text(c, text, sizeof(text));
			fail_session(c, "%s refused HELO: %s", c->t.host, text);
			return;
		}
		after_ehlo(c);
		return;
	case CS_STARTTLS:
		if (code == 220) {
			enter(c, CS_HANDSHAKE);
			conn_starttls_client(c->core.conn, c->t.host);
			return;
		}
		after_ehlo(c); /* refused: on in plain text if the policy allows */
		return;
	case CS_AUTH:
		on_auth_reply(c);
		return;
	case CS_TXN:
		on_txn_reply(c);
		return;
	case CS_DOT:
		if (!c->data_abort)
			settle_with_reply(c, NULL);
		conn_set_idle_timeout(c->core.conn, c->env->cfg->outbound_timeout);
		end_job(c, c->data_abort || code / 100 != 2);
		return;
	case CS_RSET:
		if (code != 250) {
			quit(c);
			return;
		}
		go_ready(c);
		return;
	case CS_QUIT:
		enter(c, CS_CLOSING);
		conn_close(c->core.conn);
		return;
	default:
		/* A reply nobody asked for (during the body, or while preparing). */
		fail_session(c, "%s sent an unexpected reply in state %s", c->t.host,
		             session_state_name(&c->core));
		return;
	}
}

/* ---- connection events --------------------------------------------------- */

static void client_open(conn_t *conn)
{
	struct smtp_client *c = client_of(conn);
	session_init(&c->core, conn, c->core.def, &c->core.limits, CS_CONNECTING);
	enter(c, CS_GREETING);
	conn_set_line_max(conn, SMTP_CLIENT_LINE_MAX);
	conn_set_idle_timeout(conn, c->env->cfg->outbound_timeout);
	conn_login_done(conn);
	smtp_client_reply_init(&c->reply);
}

static void client_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct smtp_client *c = client_of(conn);
	(void)crlf;
	if (c->core.state == CS_CLOSING)
		return;
	if (too_long) {
		fail_session(c, "%s sent a reply line over %d octets", c->t.host, SMTP_CLIENT_LINE_MAX);
		return;
	}
	switch (smtp_client_reply_feed(&c->reply, line, len)) {
	case SMTP_CLIENT_REPLY_MORE:
		return;
	case SMTP_CLIENT_REPLY_BAD: {
		char esc[128];
		log_escape(esc, sizeof(esc), line, len < 60 ? len : 60);
		fail_session(c, "%s sent a malformed reply: %s", c->t.host, esc);
		return;
	}
	case SMTP_CLIENT_REPLY_DONE:
		on_reply(c);
		smtp_client_reply_init(&c->reply);
		return;
	}
}

static void client_drain(conn_t *conn)
{
	struct smtp_client *c = client_of(conn);
	if (c->core.state == CS_BODY && !c->reading && !c->body_done)
		read_next(c);
}

static void client_tls_ready(conn_t *conn)
{
	struct smtp_client *c = client_of(conn);
	if (c->t.tls_policy == CONFIG_TLS_VERIFY && !conn_tls_peer_verified(conn)) {
		fail_session(c, "the certificate of %s could not be verified", c->t.host);
		return;
	}
	log_debug(c->core.id, "client_tls", "host=%s version=%s", c->t.host,
	          conn_tls_version(conn) ? conn_tls_version(conn) : "-");
	enter(c, CS_EHLO);
	conn_printf(conn, "EHLO %s\r\n", c->env->cfg->hostname);
}

static void client_timeout(conn_t *conn)
{
	struct smtp_client *c = client_of(conn);
	fail_session(c, "timeout waiting for %s in state %s", c->t.host,
	             session_state_name(&c->core));
}

static void client_shutdown(conn_t *conn)
{
	session_stop(&client_of(conn)->core);
}

static void client_close(conn_t *conn, const char *reason)
{
	struct smtp_client *c = client_of(conn);
	if (c->job != NULL) {
		char text[512];
		snprintf(text, sizeof(text), "lost connection with %s[%s] in state %s: %s", c->t.host,
		         c->t.ip, session_state_name(&c->core), reason ? reason : "closed");
		smtp_job_settle(c->job, SMTP_OUTCOME_TEMPORARY, "4.4.2", text);
		finish_job(c);
	}
	if (c->reason[0] == '\0')
		snprintf(c->reason, sizeof(c->reason), "%s[%s]:%u: %s", c->t.host, c->t.ip, c->t.port,
		         reason ? reason : "connection closed");
	c->ops->closed(c->owner, c->dest, c->usable, c->reason);
	store_reader_close(&c->reader);
	free(c->dkim);
	free(c);
}

static bool client_may_stop(const struct session *core)
{
	return core->state <= CS_READY || core->state == CS_RSET;
}

static void client_stop(struct session *core)
{
	struct smtp_client *c = (struct smtp_client *)core;
	if (c->core.state == CS_CONNECTING || c->core.state == CS_HANDSHAKE) {
		enter(c, CS_CLOSING);
		conn_close(core->conn);
		return;
	}
	quit(c);
}

static size_t client_too_many_errors(struct session *core, char *buf, size_t cap)
{
	(void)core;
	(void)buf;
	(void)cap;
	return 0; /* the client counts no errors of its own */
}

static const struct session_def client_def = {
	.protocol = "smtp-client",
	.state_names = state_names,
	.next_states = next_states,
	.state_count = CS_COUNT,
	.closing_state = CS_CLOSING,
	.may_stop = client_may_stop,
	.stop = client_stop,
	.too_many_errors = client_too_many_errors,
};

static const struct conn_handler client_handler = {
	.open = client_open,
	.line = client_line,
	.drain = client_drain,
	.tls_ready = client_tls_ready,
	.timeout = client_timeout,
	.shutdown = client_shutdown,
	.close = client_close,
};

int smtp_client_start(struct server *srv, struct smtp_env *env, const struct smtp_client_target *t,
                      const struct smtp_client_ops *ops, void *owner, void *dest, char *err,
                      size_t errlen)
{
	struct smtp_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->env = env;
	c->t = *t;
	c->ops = ops;
	c->owner = owner;
	c->dest = dest;
	c->core.def = &client_def;
	c->core.limits = session_limits_from_config(env->cfg);
	unsigned timeout = env->cfg->outbound_timeout < CONNECT_TIMEOUT_S ? env->cfg->outbound_timeout
	                                                                  : CONNECT_TIMEOUT_S;
	if (server_connect(srv, t->ip, t->port, NULL, timeout * 1000, &client_handler, 0, c, err,
	                   errlen) != 0) {
		free(c);
		return -1;
	}
	return 0;
}
