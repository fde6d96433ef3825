/*
 * mailbench smtp: C sessions share one counter of M messages; each session
 * takes the next message number, runs one transaction (MAIL, RCPT, DATA,
 * body), and takes the next, until none is left, then QUITs. No RSET
 * between successful transactions, as a real MTA reusing a connection;
 * RSET only after a refused MAIL or RCPT, to leave the transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "bench.h"
#include "bench_conn.h"
#include "bench_message.h"
#include "bench_run.h"
#include "bench_stats.h"

/* "AUTH PLAIN " + base64 of "\0user\0pass" + CRLF */
#define AUTH_LINE_MAX (16 + 4 * ((2 * BENCH_MAX_ADDR + 2) / 3 + 1) + 2)
/* MAIL FROM, RCPT TO and DATA with the longest addresses */
#define ENVELOPE_MAX (3 * BENCH_MAX_ADDR + 64)

enum smtp_state {
	SMTP_GREETING,
	SMTP_EHLO,
	SMTP_STARTTLS,
	SMTP_HANDSHAKE,
	SMTP_AUTH,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_BODY,
	SMTP_RSET,
	SMTP_QUIT,
};

struct smtp_bench;

struct smtp_sess {
	struct bench_conn conn;
	struct smtp_bench *b;
	enum smtp_state state;
	bool tls_done;
	bool in_txn;               /* a message number is taken and not yet settled */
	uint64_t seq;
	uint64_t t0;               /* MAIL sent */
	unsigned replies_left;     /* pipelined: replies still due for MAIL, RCPT, DATA */
	char fail_code[8];         /* first refusal in the current transaction, "" if none */
};

struct smtp_bench {
	const struct bench_opts *o;
	struct bench_run run;
	struct bench_message msg;
	struct bench_stats stats;
	struct smtp_sess **sess;
	uint64_t next_seq;
	unsigned live;
	char auth_line[AUTH_LINE_MAX];
};

static void sess_write_str(struct smtp_sess *s, const char *str)
{
	bench_conn_write(&s->conn, str, strlen(str));
}

static void sess_enter(struct smtp_sess *s, enum smtp_state st)
{
	s->state = st;
}

/* Settles the current message as failed under key. */
static void txn_fail(struct smtp_sess *s, const char *key)
{
	if (!s->in_txn)
		return;
	s->in_txn = false;
	bench_stats_error(&s->b->stats, key);
}

/* Takes the next message number and sends its envelope, or QUITs when none is left. */
static void txn_start(struct smtp_sess *s)
{
	struct smtp_bench *b = s->b;
	const struct bench_opts *o = b->o;
	char env[ENVELOPE_MAX];
	const char *to;
	int n;

	if (b->next_seq >= o->messages || b->run.deadline_hit) {
		sess_write_str(s, "QUIT\r\n");
		sess_enter(s, SMTP_QUIT);
		return;
	}
	s->seq = b->next_seq++;
	s->in_txn = true;
	s->fail_code[0] = '\0';
	to = o->rcpt[s->seq % o->nrcpt];
	if (o->pipelining)
		n = snprintf(env, sizeof(env), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", o->from, to);
	else
		n = snprintf(env, sizeof(env), "MAIL FROM:<%s>\r\n", o->from);
	s->replies_left = o->pipelining ? 3 : 1;
	s->t0 = uv_hrtime();
	bench_conn_write(&s->conn, env, (size_t)n);
	sess_enter(s, SMTP_MAIL);
}

static void send_body(struct smtp_sess *s)
{
	struct smtp_bench *b = s->b;
	char header[BENCH_MESSAGE_MAX_HEADER];
	size_t hlen = bench_message_header(&b->msg, header, s->seq, b->o->from,
	                                   b->o->rcpt[s->seq % b->o->nrcpt]);

	bench_conn_write(&s->conn, header, hlen);
	bench_conn_write_ref(&s->conn, b->msg.body, b->msg.body_len);
	sess_enter(s, SMTP_BODY);
}

/* Leaves a refused transaction: count it, RSET, go on. */
static void txn_refused(struct smtp_sess *s)
{
	txn_fail(s, s->fail_code);
	sess_write_str(s, "RSET\r\n");
	sess_enter(s, SMTP_RSET);
}

static void note_refusal(struct smtp_sess *s, const char *code)
{
	if (s->fail_code[0] == '\0')
		snprintf(s->fail_code, sizeof(s->fail_code), "%s", code);
}

/* One reply in the MAIL, RCPT, DATA part of a transaction, pipelined or not. */
static void on_envelope_reply(struct smtp_sess *s, int code, const char *codestr)
{
	const struct bench_opts *o = s->b->o;
	bool ok;
	char line[BENCH_MAX_ADDR + 16];

	switch (s->state) {
	case SMTP_MAIL:
		ok = code == 250;
		break;
	case SMTP_RCPT:
		ok = code == 250 || code == 251;
		break;
	default:
		ok = code == 354;
		break;
	}
	if (!ok)
		note_refusal(s, codestr);
	if (o->pipelining) {
		if (--s->replies_left != 0) {
			sess_enter(s, s->state == SMTP_MAIL ? SMTP_RCPT : SMTP_DATA);
			return;
		}
		if (s->fail_code[0] != '\0')
			txn_refused(s);
		else
			send_body(s);
		return;
	}
	if (!ok) {
		txn_refused(s);
		return;
	}
	switch (s->state) {
	case SMTP_MAIL:
		snprintf(line, sizeof(line), "RCPT TO:<%s>\r\n", o->rcpt[s->seq % o->nrcpt]);
		sess_write_str(s, line);
		sess_enter(s, SMTP_RCPT);
		break;
	case SMTP_RCPT:
		sess_write_str(s, "DATA\r\n");
		sess_enter(s, SMTP_DATA);
		break;
	default:
		send_body(s);
		break;
	}
}

/* After EHLO: STARTTLS first if asked and not done, then AUTH if asked, then mail. */
static void after_ehlo(struct smtp_sess *s)
{
	const struct bench_opts *o = s->b->o;

	if (o->tls == BENCH_TLS_STARTTLS && !s->tls_done) {
		sess_write_str(s, "STARTTLS\r\n");
		sess_enter(s, SMTP_STARTTLS);
	} else if (o->auth) {
		sess_write_str(s, s->b->auth_line);
		sess_enter(s, SMTP_AUTH);
	} else {
		txn_start(s);
	}
}

/* A final reply line (code + space or bare code). */
static void on_reply(struct smtp_sess *s, int code, const char *codestr)
{
	struct smtp_bench *b = s->b;

	switch (s->state) {
	case SMTP_GREETING:
		if (code != 220)
			break;
		sess_write_str(s, "EHLO mailbench.localhost\r\n");
		sess_enter(s, SMTP_EHLO);
		return;
	case SMTP_EHLO:
		if (code != 250)
			break;
		after_ehlo(s);
		return;
	case SMTP_STARTTLS:
		if (code != 220)
			break;
		sess_enter(s, SMTP_HANDSHAKE);
		bench_conn_starttls(&s->conn);
		return;
	case SMTP_AUTH:
		if (code != 235)
			break;
		txn_start(s);
		return;
	case SMTP_MAIL:
	case SMTP_RCPT:
	case SMTP_DATA:
		on_envelope_reply(s, code, codestr);
		return;
	case SMTP_BODY:
		if (code == 250) {
			s->in_txn = false;
			bench_stats_op(&b->stats, uv_hrtime() - s->t0, b->o->size);
			b->stats.end_ns = uv_hrtime();
		} else {
			txn_fail(s, codestr);
		}
		txn_start(s);
		return;
	case SMTP_RSET:
		txn_start(s);
		return;
	case SMTP_QUIT:
		bench_conn_close(&s->conn);
		return;
	case SMTP_HANDSHAKE:
		break;
	}
	/* Refused outside a transaction: the session cannot go on. */
	bench_stats_error(&b->stats, codestr);
	bench_conn_close(&s->conn);
}

static void on_line(struct smtp_sess *s, const char *line, size_t len)
{
	char codestr[4];

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		txn_fail(s, "protocol");
		bench_stats_error(&s->b->stats, "protocol");
		bench_conn_close(&s->conn);
		return;
	}
	if (len > 3 && line[3] == '-')
		return; /* continuation of a multi-line reply (RFC 5321 4.2.1) */
	memcpy(codestr, line, 3);
	codestr[3] = '\0';
	on_reply(s, atoi(codestr), codestr);
}

static void sess_cb(struct bench_conn *c, enum bench_conn_event ev, const char *data, size_t len)
{
	struct smtp_sess *s = c->data;
	struct smtp_bench *b = s->b;
	char reason[16];

	switch (ev) {
	case BENCH_CONN_READY:
		return; /* the greeting comes as a line */
	case BENCH_CONN_TLS_READY:
		s->tls_done = true;
		sess_write_str(s, "EHLO mailbench.localhost\r\n");
		sess_enter(s, SMTP_EHLO);
		return;
	case BENCH_CONN_LINE:
		on_line(s, data, len);
		return;
	case BENCH_CONN_ERROR:
		snprintf(reason, sizeof(reason), "%.*s", (int)len, data);
		if (s->in_txn)
			txn_fail(s, reason);
		else if (s->state != SMTP_QUIT)
			bench_stats_error(&b->stats, reason);
		return;
	case BENCH_CONN_CLOSED:
		for (unsigned i = 0; i < b->o->concurrency; i++)
			if (b->sess[i] == s)
				b->sess[i] = NULL;
		free(s);
		if (--b->live == 0)
			bench_run_finish(&b->run);
		return;
	}
}

static void on_deadline(struct bench_run *r)
{
	struct smtp_bench *b = r->data;

	for (unsigned i = 0; i < b->o->concurrency; i++) {
		struct smtp_sess *s = b->sess[i];

		if (s == NULL || s->conn.closing)
			continue;
		/* A cut transaction costs its message; a session cut elsewhere counts once. */
		if (s->in_txn)
			txn_fail(s, "deadline");
		else if (s->state != SMTP_QUIT)
			bench_stats_error(&b->stats, "deadline");
		bench_conn_close(&s->conn);
	}
}

static int make_auth_line(struct smtp_bench *b)
{
	const struct bench_cred *c = &b->o->auth_cred;
	char raw[2 * BENCH_MAX_ADDR + 2];
	size_t ulen = strlen(c->user), plen = strlen(c->pass), n;
	int r;

	/* RFC 4616: authzid (empty) NUL authcid NUL password */
	raw[0] = '\0';
	memcpy(raw + 1, c->user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, c->pass, plen);
	memcpy(b->auth_line, "AUTH PLAIN ", 11);
	r = base64_encode(raw, 2 + ulen + plen, b->auth_line + 11, sizeof(b->auth_line) - 13);
	explicit_bzero(raw, sizeof(raw));
	if (r != 0)
		return -1;
	n = strlen(b->auth_line);
	memcpy(b->auth_line + n, "\r\n", 3);
	return 0;
}

int bench_smtp_run(const struct bench_opts *o)
{
	struct smtp_bench b;
	char err[256];
	int rc;

	memset(&b, 0, sizeof(b));
	b.o = o;
	if (o->auth && make_auth_line(&b) != 0) {
		fprintf(stderr, "mailbench: --auth credentials too long\n");
		return BENCH_EXIT_USAGE;
	}
	if (bench_message_init(&b.msg, o->size, o->from, o->rcpt, o->nrcpt, err, sizeof(err)) != 0) {
		fprintf(stderr, "mailbench: %s\n", err);
		return BENCH_EXIT_USAGE;
	}
	b.sess = calloc(o->concurrency, sizeof(*b.sess));
	if (b.sess == NULL || bench_stats_init(&b.stats, o->messages) != 0) {
		fprintf(stderr, "mailbench: out of memory\n");
		free(b.sess);
		bench_message_free(&b.msg);
		return BENCH_EXIT_RUNTIME;
	}
	rc = bench_run_init(&b.run, o, on_deadline, &b);
	if (rc != 0)
		goto out;
	b.stats.start_ns = b.stats.end_ns = uv_hrtime();
	for (unsigned i = 0; i < o->concurrency; i++) {
		struct smtp_sess *s = calloc(1, sizeof(*s));

		if (s == NULL) {
			bench_stats_error(&b.stats, "nomem");
			continue;
		}
		s->b = &b;
		b.sess[i] = s;
		b.live++;
		bench_conn_open(&s->conn, &b.run.loop, (const struct sockaddr *)&b.run.addr, b.run.tls,
		                o->tls == BENCH_TLS_IMPLICIT, o->timeout_ms, sess_cb, s);
	}
	if (b.live == 0)
		bench_run_finish(&b.run);
	bench_run_loop(&b.run);
	bench_run_free(&b.run);
	if (b.stats.ops == 0)
		b.stats.end_ns = uv_hrtime(); /* nothing succeeded: report how long it took */
	bench_stats_report(&b.stats, o, "smtp", o->size, stdout, stderr);
	rc = b.stats.errors_total == 0 && b.stats.ops == o->messages ? BENCH_EXIT_OK : BENCH_EXIT_RUNTIME;
out:
	bench_stats_free(&b.stats);
	bench_message_free(&b.msg);
	free(b.sess);
	return rc;
}
