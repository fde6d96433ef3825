/*
 * bench_stats.h - what one mailbench run measured, and its report: one
 * JSON line on stdout (for run.sh) and a summary on stderr (for people).
 *
 * Latencies are kept one per operation (a transaction or a RETR), in
 * microseconds, so percentiles are exact; the array is sized once for
 * the run's bounded number of operations.
 *
 * Errors are counted by key: the server's reply code ("451", "-ERR") or
 * the connection's failure reason ("timeout", "connect", "eof", ...).
 */
#ifndef MAILBENCH_BENCH_STATS_H
#define MAILBENCH_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

#define BENCH_STATS_MAX_ERROR_KEYS 32
#define BENCH_STATS_MAX_EXTRA 8

struct bench_stats {
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t ops;                  /* successful operations (messages) */
	uint64_t bytes;                /* message bytes moved by them */
	uint32_t *lat_us;              /* one per successful operation, up to lat_cap */
	size_t lat_len;
	size_t lat_cap;
	struct {
		char key[16];
		uint64_t count;
	} errors[BENCH_STATS_MAX_ERROR_KEYS];
	size_t nerror_keys;
	uint64_t errors_total;
	struct {
		const char *name;      /* static string */
		double value;
	} extra[BENCH_STATS_MAX_EXTRA]; /* mode-specific figures (stat_ms, ...) */
	size_t nextra;
};

/* Prepares for up to max_ops latencies. Returns 0 or -1 (out of memory). */
int bench_stats_init(struct bench_stats *s, size_t max_ops);
void bench_stats_free(struct bench_stats *s);

/* Records one successful operation of `bytes` that took `ns`. */
void bench_stats_op(struct bench_stats *s, uint64_t ns, uint64_t bytes);

/* Counts one error under key (truncated to 15 bytes). */
void bench_stats_error(struct bench_stats *s, const char *key);

/* Adds a named figure to the report; name must be a static string. */
void bench_stats_extra(struct bench_stats *s, const char *name, double value);

/* Latency percentile p (0..100) in milliseconds; 0 when nothing was measured. Sorts. */
double bench_stats_percentile_ms(struct bench_stats *s, double p);

/*
 * size is the message size reported (mean size for POP3, 0 for idle).
 * Writes the JSON line to out and, unless o->quiet, the summary to err.
 * Keys: tool, proto, label, concurrency, messages, size, tls, msgs_per_s,
 * mb_per_s (10^6 bytes), p50_ms, p99_ms, errors (total), error_codes
 * (object), seconds, bytes, then the extras.
 */
void bench_stats_report(struct bench_stats *s, const struct bench_opts *o, const char *proto,
                        size_t size, FILE *out, FILE *err);

#endif
