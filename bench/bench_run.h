/*
 * bench_run.h - what every mailbench mode sets up around its sessions: the
 * libuv loop, the server address, the TLS client configuration and the
 * deadline that bounds the whole run.
 *
 * A mode calls bench_run_init(), opens its sessions, calls
 * bench_run_loop() (which returns once every handle is closed) and
 * bench_run_free(). When the last session is gone it calls
 * bench_run_finish(), which stops the deadline. When the deadline passes
 * first, on_deadline is called once: it must close every session.
 */
#ifndef MAILBENCH_BENCH_RUN_H
#define MAILBENCH_BENCH_RUN_H

#include <stdbool.h>

#include <uv.h>

#include "bench.h"
#include "bench_tls.h"

struct bench_run;
typedef void bench_run_deadline_cb(struct bench_run *r);

struct bench_run {
	uv_loop_t loop;
	struct sockaddr_storage addr;
	struct bench_tls *tls;         /* NULL without TLS */
	uv_timer_t deadline;
	bench_run_deadline_cb *on_deadline;
	bool deadline_hit;
	bool finished;
	void *data;                    /* the mode's state */
};

/*
 * Returns 0, or BENCH_EXIT_RUNTIME after printing why (loop, address, TLS).
 * Nothing needs freeing after a failure.
 */
int bench_run_init(struct bench_run *r, const struct bench_opts *o, bench_run_deadline_cb *on_deadline,
                   void *data);

/* Runs the loop until every handle is closed. */
void bench_run_loop(struct bench_run *r);

/* Stops the deadline (idempotent): call when the last session has closed. */
void bench_run_finish(struct bench_run *r);

/* Closes the loop and frees the TLS configuration. */
void bench_run_free(struct bench_run *r);

#endif
