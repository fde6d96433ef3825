/*
 * test_histogram.c - common/histogram.c: which bucket a value lands in
 * (a value equal to a bound is in that bucket, Prometheus' "le"), and the
 * exact text rendered: cumulative buckets, +Inf equal to the count, the
 * bounds and the sum in the shown unit, labels before le, one HELP and
 * TYPE for several label sets of a family.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "histogram.h"
#include "service_http.h"

static const struct histogram_layout micros = {
	.bounds = { 500, 2500, 1000000 },
	.count = 3,
	.scale = 1000000,
};

static void test_observe_buckets(void **state)
{
	static const struct {
		uint64_t value;
		size_t bucket;
	} cases[] = {
		{ 0, 0 }, { 499, 0 }, { 500, 0 }, { 501, 1 }, { 2500, 1 },
		{ 2501, 2 }, { 1000000, 2 }, { 1000001, 3 }, { UINT64_MAX / 2, 3 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct histogram h = { 0 };
		histogram_observe(&h, &micros, cases[i].value);
		for (size_t b = 0; b <= micros.count; b++) {
			if (h.buckets[b] != (b == cases[i].bucket)) {
				fail_msg("value %llu: bucket %zu holds %llu, want the value in bucket %zu",
				         (unsigned long long)cases[i].value, b,
				         (unsigned long long)h.buckets[b], cases[i].bucket);
			}
		}
		assert_int_equal(h.count, 1);
		assert_int_equal(h.sum, cases[i].value);
	}
}

static void test_render(void **state)
{
	struct histogram a = { 0 }, b = { 0 };
	struct metrics_text out = { 0 };
	(void)state;

	histogram_observe(&a, &micros, 400);
	histogram_observe(&a, &micros, 2000);
	histogram_observe(&a, &micros, 3000000);
	histogram_render(&a, &micros, &out, "x_seconds", "op=\"read\"", "Reads.");
	histogram_render(&b, &micros, &out, "x_seconds", "op=\"write\"", "Reads.");
	assert_false(out.failed);
	static const char want[] =
		"# HELP x_seconds Reads.\n"
		"# TYPE x_seconds histogram\n"
		"x_seconds_bucket{op=\"read\",le=\"0.0005\"} 1\n"
		"x_seconds_bucket{op=\"read\",le=\"0.0025\"} 2\n"
		"x_seconds_bucket{op=\"read\",le=\"1\"} 2\n"
		"x_seconds_bucket{op=\"read\",le=\"+Inf\"} 3\n"
		"x_seconds_sum{op=\"read\"} 3.0024\n"
		"x_seconds_count{op=\"read\"} 3\n"
		"x_seconds_bucket{op=\"write\",le=\"0.0005\"} 0\n"
		"x_seconds_bucket{op=\"write\",le=\"0.0025\"} 0\n"
		"x_seconds_bucket{op=\"write\",le=\"1\"} 0\n"
		"x_seconds_bucket{op=\"write\",le=\"+Inf\"} 0\n"
		"x_seconds_sum{op=\"write\"} 0\n"
		"x_seconds_count{op=\"write\"} 0\n";
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.buf, want, out.len);
	free(out.buf);
}

/* Plain numbers (scale 1) without labels, and a sum below one unit. */
static void test_render_plain(void **state)
{
	static const struct histogram_layout sizes = { .bounds = { 1, 64 }, .count = 2, .scale = 1 };
	struct histogram h = { 0 }, t = { 0 };
	struct metrics_text out = { 0 };
	(void)state;

	histogram_observe(&h, &sizes, 3);
	histogram_render(&h, &sizes, &out, "batch", NULL, "Sizes.");
	histogram_observe(&t, &histogram_store_seconds, 7);
	histogram_render(&t, &histogram_store_seconds, &out, "t_seconds", NULL, "Times.");
	assert_false(out.failed);
	static const char want[] =
		"# HELP batch Sizes.\n"
		"# TYPE batch histogram\n"
		"batch_bucket{le=\"1\"} 0\n"
		"batch_bucket{le=\"64\"} 1\n"
		"batch_bucket{le=\"+Inf\"} 1\n"
		"batch_sum 3\n"
		"batch_count 1\n";
	assert_true(out.len > strlen(want));
	assert_memory_equal(out.buf, want, strlen(want));
	assert_non_null(strstr(out.buf, "t_seconds_bucket{le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(out.buf, "t_seconds_sum 0.000007\n"));
	free(out.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe_buckets),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_plain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
