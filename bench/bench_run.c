#include "bench_run.h"

#include <stdio.h>
#include <string.h>

static void deadline_cb(uv_timer_t *t)
{
	struct bench_run *r = t->data;

	r->deadline_hit = true;
	fprintf(stderr, "mailbench: deadline reached, closing every session\n");
	r->on_deadline(r);
}

int bench_run_init(struct bench_run *r, const struct bench_opts *o, bench_run_deadline_cb *on_deadline,
                   void *data)
{
	char err[256];

	memset(r, 0, sizeof(*r));
	r->on_deadline = on_deadline;
	r->data = data;
	/* bench_opts_parse() accepted only numeric loopback addresses. */
	if (uv_ip4_addr(o->host, (int)o->port, (struct sockaddr_in *)&r->addr) != 0 &&
	    uv_ip6_addr(o->host, (int)o->port, (struct sockaddr_in6 *)&r->addr) != 0) {
		fprintf(stderr, "mailbench: bad address %s\n", o->host);
		return BENCH_EXIT_RUNTIME;
	}
	if (o->tls != BENCH_TLS_NONE && bench_tls_init(&r->tls, err, sizeof(err)) != 0) {
		fprintf(stderr, "mailbench: %s\n", err);
		return BENCH_EXIT_RUNTIME;
	}
	if (uv_loop_init(&r->loop) != 0) {
		fprintf(stderr, "mailbench: cannot create the event loop\n");
		bench_tls_free(&r->tls);
		return BENCH_EXIT_RUNTIME;
	}
	uv_timer_init(&r->loop, &r->deadline);
	r->deadline.data = r;
	uv_timer_start(&r->deadline, deadline_cb, (uint64_t)o->deadline_s * 1000, 0);
	return 0;
}

void bench_run_loop(struct bench_run *r)
{
	uv_run(&r->loop, UV_RUN_DEFAULT);
}

void bench_run_finish(struct bench_run *r)
{
	if (r->finished)
		return;
	r->finished = true;
	uv_close((uv_handle_t *)&r->deadline, NULL);
}

void bench_run_free(struct bench_run *r)
{
	/* Every session has closed; only a close callback can be left. */
	bench_run_finish(r);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&r->loop) != 0)
		fprintf(stderr, "mailbench: handles left open at exit\n");
	bench_tls_free(&r->tls);
}
