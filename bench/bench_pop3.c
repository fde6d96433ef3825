/*
 * mailbench pop3: session i logs in as user i (USER/PASS, RFC 1939 7),
 * asks STAT, retrieves every message in order (RETR, optionally DELE),
 * then QUITs, which commits any deletions. Retrieved text is counted and
 * thrown away, line by line, as it streams in.
 *
 * --list-only instead times the commands whose cost grows with the size
 * of the mailbox: PASS (the server opens the maildrop), STAT, LIST, UIDL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_conn.h"
#include "bench_run.h"
#include "bench_stats.h"

#define CMD_MAX (BENCH_MAX_ADDR + 16)

enum pop3_state {
	POP3_GREETING,
	POP3_STLS,
	POP3_HANDSHAKE,
	POP3_USER,
	POP3_PASS,
	POP3_STAT,
	POP3_LIST,         /* --list-only: status line, then the listing */
	POP3_UIDL,
	POP3_RETR,         /* status line, then the message */
	POP3_DELE,
	POP3_QUIT,
};

struct pop3_bench;

struct pop3_sess {
	struct bench_conn conn;
	struct pop3_bench *b;
	unsigned idx;
	enum pop3_state state;
	bool multiline;            /* inside a multi-line response, until "." */
	uint64_t count;            /* messages in the maildrop (STAT) */
	uint64_t msgno;            /* message being retrieved, 1-based */
	uint64_t t0;               /* current command sent */
	uint64_t bytes;            /* of the current RETR */
};

struct pop3_bench {
	const struct bench_opts *o;
	struct bench_run run;
	struct bench_stats stats;
	struct pop3_sess **sess;
	unsigned live;
	unsigned completed;        /* sessions that reached QUIT's +OK */
	uint64_t retr_start_ns;    /* first RETR sent: the transfer phase starts */
	/* --list-only: sums over sessions, reported as means */
	double pass_ms, stat_ms, list_ms, uidl_ms;
	uint64_t listed;
};

static double ms_since(uint64_t t0)
{
	return (double)(uv_hrtime() - t0) / 1e6;
}

/* Sends "VERB\r\n" or "VERB arg\r\n" and starts timing it. */
static void sess_cmd(struct pop3_sess *s, enum pop3_state st, const char *verb, const char *arg)
{
	char cmd[CMD_MAX];
	int n = snprintf(cmd, sizeof(cmd), "%s%s%s\r\n", verb, arg != NULL ? " " : "",
	                 arg != NULL ? arg : "");

	s->state = st;
	s->multiline = false;
	s->t0 = uv_hrtime();
	bench_conn_write(&s->conn, cmd, (size_t)n);
}

static void sess_cmd_num(struct pop3_sess *s, enum pop3_state st, const char *verb, uint64_t n)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
	sess_cmd(s, st, verb, num);
}

/* Retrieves the next message, or QUITs. */
static void next_message(struct pop3_sess *s)
{
	if (s->msgno < s->count && !s->b->run.deadline_hit) {
		s->msgno++;
		s->bytes = 0;
		sess_cmd_num(s, POP3_RETR, "RETR", s->msgno);
		if (s->b->retr_start_ns == 0)
			s->b->retr_start_ns = s->t0;
		return;
	}
	sess_cmd(s, POP3_QUIT, "QUIT", NULL);
}

/* "-ERR [IN-USE] ..." counts as "-ERR[IN-USE]": the response code says why (RFC 2449 8). */
static void count_err(struct pop3_sess *s, const char *line, size_t len)
{
	char key[16] = "-ERR";

	if (len > 5 && line[5] == '[') {
		const char *close = memchr(line + 5, ']', len - 5);

		if (close != NULL)
			snprintf(key, sizeof(key), "-ERR%.*s", (int)(close - (line + 5) + 1), line + 5);
	}
	bench_stats_error(&s->b->stats, key);
}

/* One line of a multi-line response (RFC 1939 3): "." ends it, ".." is a stuffed ".". */
static void on_data_line(struct pop3_sess *s, const char *line, size_t len)
{
	struct pop3_bench *b = s->b;

	if (len == 1 && line[0] == '.') {
		s->multiline = false;
		switch (s->state) {
		case POP3_LIST:
			b->list_ms += ms_since(s->t0);
			sess_cmd(s, POP3_UIDL, "UIDL", NULL);
			return;
		case POP3_UIDL:
			b->uidl_ms += ms_since(s->t0);
			sess_cmd(s, POP3_QUIT, "QUIT", NULL);
			return;
		default:
			bench_stats_op(&b->stats, uv_hrtime() - s->t0, s->bytes);
			b->stats.end_ns = uv_hrtime();
			if (b->o->dele)
				sess_cmd_num(s, POP3_DELE, "DELE", s->msgno);
			else
				next_message(s);
			return;
		}
	}
	if (s->state == POP3_LIST)
		b->listed++;
	if (len != 0 && line[0] == '.')
		len--;
	s->bytes += len + 2;
}

static void on_status(struct pop3_sess *s, const char *line, size_t len)
{
	struct pop3_bench *b = s->b;
	const struct bench_opts *o = b->o;
	const struct bench_cred *cred = &o->users[s->idx];
	unsigned long long count = 0;

	if (len < 3 || memcmp(line, "+OK", 3) != 0) {
		if (s->state == POP3_HANDSHAKE || len < 4 || memcmp(line, "-ERR", 4) != 0) {
			bench_stats_error(&b->stats, "protocol");
			bench_conn_close(&s->conn);
			return;
		}
		count_err(s, line, len);
		/* A refused DELE or RETR costs that message; anything else ends the session. */
		if (s->state == POP3_RETR || s->state == POP3_DELE)
			next_message(s);
		else
			bench_conn_close(&s->conn);
		return;
	}
	switch (s->state) {
	case POP3_GREETING:
		if (o->tls == BENCH_TLS_STARTTLS)
			sess_cmd(s, POP3_STLS, "STLS", NULL);
		else
			sess_cmd(s, POP3_USER, "USER", cred->user);
		return;
	case POP3_STLS:
		s->state = POP3_HANDSHAKE;
		bench_conn_starttls(&s->conn);
		return;
	case POP3_USER:
		sess_cmd(s, POP3_PASS, "PASS", cred->pass);
		return;
	case POP3_PASS:
		b->pass_ms += ms_since(s->t0);
		sess_cmd(s, POP3_STAT, "STAT", NULL);
		return;
	case POP3_STAT:
		b->stat_ms += ms_since(s->t0);
		if (sscanf(line, "+OK %llu", &count) != 1) {
			bench_stats_error(&b->stats, "protocol");
			bench_conn_close(&s->conn);
			return;
		}
		s->count = count;
		if (o->list_only)
			sess_cmd(s, POP3_LIST, "LIST", NULL);
		else
			next_message(s);
		return;
	case POP3_LIST:
	case POP3_UIDL:
	case POP3_RETR:
		s->multiline = true;
		return;
	case POP3_DELE:
		next_message(s);
		return;
	case POP3_QUIT:
		b->completed++;
		bench_conn_close(&s->conn);
		return;
	case POP3_HANDSHAKE:
		break;
	}
	bench_stats_error(&b->stats, "protocol");
	bench_conn_close(&s->conn);
}

static void sess_cb(struct bench_conn *c, enum bench_conn_event ev, const char *data, size_t len)
{
	struct pop3_sess *s = c->data;
	struct pop3_bench *b = s->b;
	char reason[16];

	switch (ev) {
	case BENCH_CONN_READY:
		return; /* the greeting comes as a line */
	case BENCH_CONN_TLS_READY:
		sess_cmd(s, POP3_USER, "USER", b->o->users[s->idx].user);
		return;
	case BENCH_CONN_LINE:
		if (s->multiline)
			on_data_line(s, data, len);
		else
			on_status(s, data, len);
		return;
	case BENCH_CONN_ERROR:
		snprintf(reason, sizeof(reason), "%.*s", (int)len, data);
		bench_stats_error(&b->stats, reason);
		return;
	case BENCH_CONN_CLOSED:
		b->sess[s->idx] = NULL;
		free(s);
		if (--b->live == 0)
			bench_run_finish(&b->run);
		return;
	}
}

static void on_deadline(struct bench_run *r)
{
	struct pop3_bench *b = r->data;

	for (unsigned i = 0; i < b->o->concurrency; i++) {
		struct pop3_sess *s = b->sess[i];

		if (s == NULL || s->conn.closing)
			continue;
		if (s->state != POP3_QUIT)
			bench_stats_error(&b->stats, "deadline");
		bench_conn_close(&s->conn);
	}
}

int bench_pop3_run(const struct bench_opts *o)
{
	struct pop3_bench b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.o = o;
	b.sess = calloc(o->concurrency, sizeof(*b.sess));
	/* Latencies: room for a generous mailbox per session; beyond it only counts are kept. */
	if (b.sess == NULL || bench_stats_init(&b.stats, 1000000) != 0) {
		fprintf(stderr, "mailbench: out of memory\n");
		free(b.sess);
		return BENCH_EXIT_RUNTIME;
	}
	rc = bench_run_init(&b.run, o, on_deadline, &b);
	if (rc != 0)
		goto out;
	b.stats.start_ns = b.stats.end_ns = uv_hrtime();
	for (unsigned i = 0; i < o->concurrency; i++) {
		struct pop3_sess *s = calloc(1, sizeof(*s));

		if (s == NULL) {
			bench_stats_error(&b.stats, "nomem");
			continue;
		}
		s->b = &b;
		s->idx = i;
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
	if (o->list_only) {
		double n = b.completed != 0 ? b.completed : 1;

		b.stats.end_ns = uv_hrtime();
		bench_stats_extra(&b.stats, "listed", (double)b.listed / n);
		bench_stats_extra(&b.stats, "pass_ms", b.pass_ms / n);
		bench_stats_extra(&b.stats, "stat_ms", b.stat_ms / n);
		bench_stats_extra(&b.stats, "list_ms", b.list_ms / n);
		bench_stats_extra(&b.stats, "uidl_ms", b.uidl_ms / n);
	} else if (b.stats.ops != 0 && b.stats.end_ns > b.retr_start_ns) {
		/* Logins excluded: the rate of the transfers themselves. */
		bench_stats_extra(&b.stats, "xfer_mb_per_s",
		                  (double)b.stats.bytes / 1e6 / ((double)(b.stats.end_ns - b.retr_start_ns) / 1e9));
	}
	bench_stats_extra(&b.stats, "sessions_ok", b.completed);
	bench_stats_report(&b.stats, o, "pop3", b.stats.ops ? (size_t)(b.stats.bytes / b.stats.ops) : 0,
	                   stdout, stderr);
	rc = b.stats.errors_total == 0 && b.completed == o->concurrency ? BENCH_EXIT_OK : BENCH_EXIT_RUNTIME;
out:
	bench_stats_free(&b.stats);
	free(b.sess);
	return rc;
}
