/*
 * test_writequeue.c - the chunked output queue: order is kept across
 * chunks, spans stay put while more is appended, consuming frees, and an
 * empty queue holds no memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "writequeue.h"

/* Drains the queue through peek/consume in bites of `bite` bytes into out. */
static size_t drain(struct writequeue *wq, char *out, size_t bite)
{
	size_t n = 0;
	while (wq->len > 0) {
		struct writequeue_span spans[4];
		size_t k = writequeue_peek(wq, spans, 4);
		assert_true(k >= 1);
		size_t take = spans[0].len < bite ? spans[0].len : bite;
		memcpy(out + n, spans[0].base, take);
		n += take;
		writequeue_consume(wq, take);
	}
	return n;
}

static void test_order(void **state)
{
	static char in[200000], out[200000];
	static const size_t sizes[] = {1, 7, 100, 1023, 1024, 1025, 16384, 16385, 40000, 3};
	static const size_t bites[] = {1, 13, 4096, SIZE_MAX};
	struct writequeue wq;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7 + i / 251);
	for (size_t b = 0; b < sizeof(bites) / sizeof(bites[0]); b++) {
		size_t total = 0;
		writequeue_init(&wq);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			assert_int_equal(writequeue_append(&wq, in + total, sizes[i]), 0);
			total += sizes[i];
			assert_int_equal(wq.len, total);
		}
		assert_int_equal(drain(&wq, out, bites[b]), total);
		assert_memory_equal(in, out, total);
		assert_null(wq.head);
		assert_null(wq.tail);
	}
}

/* Bytes handed out by peek do not move when more is appended (an
 * in-flight uv_write points at them). */
static void test_spans_stable(void **state)
{
	struct writequeue wq;
	struct writequeue_span before[16], after[16];

	writequeue_init(&wq);
	assert_int_equal(writequeue_append(&wq, "hello", 5), 0);
	size_t n = writequeue_peek(&wq, before, 16);
	assert_int_equal(n, 1);
	for (int i = 0; i < 200; i++)
		assert_int_equal(writequeue_append(&wq, "0123456789", 10), 0);
	size_t m = writequeue_peek(&wq, after, 16);
	assert_true(m >= 2);
	assert_ptr_equal(before[0].base, after[0].base);
	assert_memory_equal(after[0].base, "hello", 5);
	writequeue_consume(&wq, 5);
	assert_int_equal(wq.len, 2000);
	writequeue_clear(&wq);
	assert_int_equal(wq.len, 0);
	assert_null(wq.head);
	assert_int_equal(writequeue_append(&wq, "", 0), 0);
	assert_null(wq.head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_spans_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
