/*
 * mailbench idle: opens K connections, waits for each greeting, then holds
 * them all open and silent, so run.sh can read the server's memory with K
 * idle sessions and without. Connections are opened in waves of at most
 * IDLE_MAX_CONNECTING so the server's listen backlog never overflows
 * (a dropped SYN would cost a one-second retransmit and skew the timing).
 *
 * Prints "mailbench idle: ready ..." on stderr once every connection is
 * greeted or failed, then holds until SIGINT/SIGTERM, --seconds or the
 * deadline. Latency in the report: connect to greeting.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_conn.h"
#include "bench_run.h"
#include "bench_stats.h"

#define IDLE_MAX_CONNECTING 256

struct idle_bench;

struct idle_conn {
	struct bench_conn conn;
	struct idle_bench *b;
	uint64_t t0;
	bool open;
	bool settled;              /* greeted or failed */
};

struct idle_bench {
	const struct bench_opts *o;
	struct bench_run run;
	struct bench_stats stats;
	struct idle_conn *conns;
	unsigned next;             /* connections started */
	unsigned settled;
	unsigned greeted;
	unsigned live;
	uv_signal_t sigint;
	uv_signal_t sigterm;
	uv_timer_t hold;
	bool ready;
	bool stopping;
};

static void start_more(struct idle_bench *b);
static void idle_stop(struct idle_bench *b);

static void conn_cb(struct bench_conn *c, enum bench_conn_event ev, const char *data, size_t len);

static void hold_cb(uv_timer_t *t)
{
	idle_stop(t->data);
}

static void signal_cb(uv_signal_t *sig, int signum)
{
	(void)signum;
	idle_stop(sig->data);
}

/* Every connection is greeted or failed: announce it, then hold. */
static void check_ready(struct idle_bench *b)
{
	if (b->ready || b->settled != b->o->connections)
		return;
	b->ready = true;
	b->stats.end_ns = uv_hrtime();
	fprintf(stderr, "mailbench idle: ready connections=%u greeted=%u failed=%u\n", b->o->connections,
	        b->greeted, b->settled - b->greeted);
	if (b->o->hold_s != 0)
		uv_timer_start(&b->hold, hold_cb, (uint64_t)b->o->hold_s * 1000, 0);
}

static void settle(struct idle_conn *ic)
{
	struct idle_bench *b = ic->b;

	if (ic->settled)
		return;
	ic->settled = true;
	b->settled++;
	start_more(b);
	check_ready(b);
}

static void conn_cb(struct bench_conn *c, enum bench_conn_event ev, const char *data, size_t len)
{
	struct idle_conn *ic = c->data;
	struct idle_bench *b = ic->b;
	char key[16];

	switch (ev) {
	case BENCH_CONN_READY:
	case BENCH_CONN_TLS_READY:
		return;
	case BENCH_CONN_LINE:
		if (ic->settled)
			return; /* the rest of a multi-line greeting */
		/* SMTP 220 (RFC 5321 4.2) or POP3 +OK (RFC 1939 4); anything else is a refusal. */
		if ((len >= 3 && memcmp(data, "220", 3) == 0) || (len >= 3 && memcmp(data, "+OK", 3) == 0)) {
			b->greeted++;
			bench_stats_op(&b->stats, uv_hrtime() - ic->t0, 0);
			bench_conn_hold(c);
		} else {
			snprintf(key, sizeof(key), "%.*s", (int)(len < 4 ? len : 4), data);
			bench_stats_error(&b->stats, key);
			bench_conn_close(c);
		}
		settle(ic);
		return;
	case BENCH_CONN_ERROR:
		if (!b->stopping) {
			/* After ready, this is the server dropping an idle session. */
			snprintf(key, sizeof(key), "%.*s", (int)len, data);
			bench_stats_error(&b->stats, key);
		}
		settle(ic);
		return;
	case BENCH_CONN_CLOSED:
		ic->open = false;
		if (--b->live != 0)
			return;
		if (b->stopping)
			bench_run_finish(&b->run);
		else if (b->ready)
			idle_stop(b); /* every connection failed or was dropped: nothing to hold */
		return;
	}
}

static void start_more(struct idle_bench *b)
{
	while (!b->stopping && b->next < b->o->connections &&
	       b->next - b->settled < IDLE_MAX_CONNECTING) {
		struct idle_conn *ic = &b->conns[b->next++];

		ic->b = b;
		ic->open = true;
		ic->t0 = uv_hrtime();
		b->live++;
		bench_conn_open(&ic->conn, &b->run.loop, (const struct sockaddr *)&b->run.addr, b->run.tls,
		                b->o->tls != BENCH_TLS_NONE, b->o->timeout_ms, conn_cb, ic);
	}
}

static void idle_stop(struct idle_bench *b)
{
	if (b->stopping)
		return;
	b->stopping = true;
	if (!b->ready)
		b->stats.end_ns = uv_hrtime();
	uv_close((uv_handle_t *)&b->sigint, NULL);
	uv_close((uv_handle_t *)&b->sigterm, NULL);
	uv_close((uv_handle_t *)&b->hold, NULL);
	for (unsigned i = 0; i < b->next; i++)
		if (b->conns[i].open)
			bench_conn_close(&b->conns[i].conn);
	if (b->live == 0)
		bench_run_finish(&b->run);
}

static void on_deadline(struct bench_run *r)
{
	idle_stop(r->data);
}

int bench_idle_run(const struct bench_opts *o)
{
	struct idle_bench b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.o = o;
	b.conns = calloc(o->connections, sizeof(*b.conns));
	if (b.conns == NULL || bench_stats_init(&b.stats, o->connections) != 0) {
		fprintf(stderr, "mailbench: out of memory\n");
		free(b.conns);
		return BENCH_EXIT_RUNTIME;
	}
	rc = bench_run_init(&b.run, o, on_deadline, &b);
	if (rc != 0)
		goto out;
	uv_signal_init(&b.run.loop, &b.sigint);
	uv_signal_init(&b.run.loop, &b.sigterm);
	uv_timer_init(&b.run.loop, &b.hold);
	b.sigint.data = b.sigterm.data = b.hold.data = &b;
	uv_signal_start(&b.sigint, signal_cb, SIGINT);
	uv_signal_start(&b.sigterm, signal_cb, SIGTERM);
	b.stats.start_ns = uv_hrtime();
	start_more(&b);
	bench_run_loop(&b.run);
	bench_run_free(&b.run);
	bench_stats_report(&b.stats, o, "idle", 0, stdout, stderr);
	rc = b.greeted == o->connections && b.stats.errors_total == 0 ? BENCH_EXIT_OK : BENCH_EXIT_RUNTIME;
out:
	bench_stats_free(&b.stats);
	free(b.conns);
	return rc;
}
