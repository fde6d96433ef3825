/*
 * histogram.h - Prometheus histograms with fixed buckets, for the
 * latencies and sizes a daemon observes (GET /metrics, service_http.h).
 *
 * A layout, the buckets' upper bounds, is a constant shared by every
 * histogram of its kind: the series a dashboard sees never change while
 * a process runs. Observations are integers in the layout's unit
 * (microseconds for durations) and are shown in Prometheus' base unit
 * (seconds), `scale` units to one. Like every counter of the daemons, a
 * histogram is observed and rendered on the loop thread only, so plain
 * integers suffice: work measured on another thread hands its duration
 * back with its result, and the done callback observes it.
 */
#ifndef MAIL_HISTOGRAM_H
#define MAIL_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

struct metrics_text;

/* Bounds per layout; +Inf comes on top of them. */
#define HISTOGRAM_BOUNDS_MAX 15

struct histogram_layout {
	uint64_t bounds[HISTOGRAM_BOUNDS_MAX]; /* ascending upper bounds (le), in the observations' unit */
	size_t count;                          /* bounds used */
	/* Units per shown unit, a power of ten: 1000000 for microseconds shown
	 * as seconds, 1 for plain numbers (sizes). */
	uint64_t scale;
};

/*
 * Store operations, in microseconds shown as seconds: 0.5 ms (a page in
 * the cache) to 1 s (a sync on a struggling disk, a busy wait).
 */
extern const struct histogram_layout histogram_store_seconds;

/* One histogram. All zeroes is an empty one: no initialisation needed. */
struct histogram {
	uint64_t buckets[HISTOGRAM_BOUNDS_MAX + 1]; /* per bucket, not cumulative; the last is above every bound */
	uint64_t sum;                               /* of the observations, in their unit */
	uint64_t count;
};

/* A monotonic clock in microseconds, for timing work on any thread. */
uint64_t histogram_now_us(void);

/* Counts `value` (in the layout's unit) into the first bucket whose bound is >= value. */
void histogram_observe(struct histogram *h, const struct histogram_layout *layout, uint64_t value);

/*
 * Writes the samples of one histogram in Prometheus' text format:
 * family_bucket{labels,le="..."} with cumulative counts for each bound
 * and "+Inf" (equal to the count), then family_sum (in the shown unit)
 * and family_count, preceded by HELP and TYPE unless the previous sample
 * written was of the same family (several label sets of one family are
 * rendered one after another). `labels` is NULL or label pairs without
 * braces, such as "op=\"login\"". `layout` must be the one observed with.
 */
void histogram_render(const struct histogram *h, const struct histogram_layout *layout,
                      struct metrics_text *out, const char *family, const char *labels,
                      const char *help);

/*
 * The same for one family split by one label: histogram i of `h` gets
 * label="values[i]" (op="login"), for i below count.
 */
void histogram_render_by(const struct histogram *h, size_t count,
                         const struct histogram_layout *layout, struct metrics_text *out,
                         const char *family, const char *label, const char *const *values,
                         const char *help);

#endif
