/*
 * test_pop3_body.c - byte-stuffing and the TOP cut over a body fed in
 * chunks: every case runs whole, split at every position, and byte by
 * byte, and must give the same octets each time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_body.h"

struct sink {
	char buf[8192];
	size_t len;
};

static void sink_out(void *ctx, const char *data, size_t len)
{
	struct sink *sink = ctx;
	assert_true(sink->len + len <= sizeof(sink->buf));
	memcpy(sink->buf + sink->len, data, len);
	sink->len += len;
}

#define RETR UINT64_C(0xfffffffffffffffe) /* a marker: not a TOP count */

static void body_init(struct pop3_body *body, uint64_t top)
{
	if (top == RETR)
		pop3_body_init_retr(body);
	else
		pop3_body_init_top(body, top);
}

/* Feeds `in` in pieces of at most `step` octets, starting with one of `first`. */
static void run(const char *in, size_t len, uint64_t top, size_t first, size_t step,
                struct sink *sink)
{
	struct pop3_body body;
	size_t pos = 0;
	bool started = false;

	body_init(&body, top);
	sink->len = 0;
	while (pos < len) {
		size_t n = started ? step : first; /* first may be 0: an empty chunk */
		started = true;
		if (n > len - pos)
			n = len - pos;
		pop3_body_feed(&body, in + pos, n, sink_out, sink);
		pos += n;
	}
	pop3_body_finish(&body, sink_out, sink);
}

static void check(const char *in, uint64_t top, const char *want)
{
	size_t len = strlen(in), wantlen = strlen(want);
	struct sink sink;

	print_message("input \"%s\" top=%llu\n", in, (unsigned long long)top);
	run(in, len, top, len, len, &sink);
	assert_int_equal(sink.len, wantlen);
	assert_memory_equal(sink.buf, want, wantlen);
	for (size_t split = 0; split <= len; split++) {
		run(in, len, top, split, len, &sink);
		assert_int_equal(sink.len, wantlen);
		assert_memory_equal(sink.buf, want, wantlen);
	}
	run(in, len, top, 1, 1, &sink);
	assert_int_equal(sink.len, wantlen);
	assert_memory_equal(sink.buf, want, wantlen);
}

static void test_retr_stuffing(void **state)
{
	check("a\r\n.b\r\n..c\r\n.\r\nd\r\n", RETR, "a\r\n..b\r\n...c\r\n..\r\nd\r\n.\r\n");
	check(".first\r\n", RETR, "..first\r\n.\r\n");
	check("a.b\r\n x.\r\n", RETR, "a.b\r\n x.\r\n.\r\n");
	check("\r\n.\r\n", RETR, "\r\n..\r\n.\r\n");
}

static void test_retr_edges(void **state)
{
	check("", RETR, ".\r\n");
	check("no line break", RETR, "no line break\r\n.\r\n");
	check("a\r\n.", RETR, "a\r\n..\r\n.\r\n");
	check("bare\nlf\n.x\n", RETR, "bare\nlf\n..x\n.\r\n");
}

static const char msg[] = "Subject: hi\r\n"
                          "From: a@example.test\r\n"
                          "\r\n"
                          "line 1\r\n"
                          ".line 2\r\n"
                          "\r\n"
                          "line 4\r\n";

static void test_top(void **state)
{
	check(msg, 0, "Subject: hi\r\nFrom: a@example.test\r\n\r\n.\r\n");
	check(msg, 1, "Subject: hi\r\nFrom: a@example.test\r\n\r\nline 1\r\n.\r\n");
	check(msg, 2, "Subject: hi\r\nFrom: a@example.test\r\n\r\nline 1\r\n..line 2\r\n.\r\n");
	/* An empty body line counts as a line. */
	check(msg, 3,
	      "Subject: hi\r\nFrom: a@example.test\r\n\r\nline 1\r\n..line 2\r\n\r\n.\r\n");
	check(msg, 4,
	      "Subject: hi\r\nFrom: a@example.test\r\n\r\nline 1\r\n..line 2\r\n\r\nline 4\r\n.\r\n");
	check(msg, 100,
	      "Subject: hi\r\nFrom: a@example.test\r\n\r\nline 1\r\n..line 2\r\n\r\nline 4\r\n.\r\n");
	check(msg, UINT64_MAX,
	      "Subject: hi\r\nFrom: a@example.test\r\n\r\nline 1\r\n..line 2\r\n\r\nline 4\r\n.\r\n");
}

static void test_top_edges(void **state)
{
	/* No blank line: the whole message is header. */
	check("A: 1\r\nB: 2\r\n", 0, "A: 1\r\nB: 2\r\n.\r\n");
	/* A body without a final line break. */
	check("A: 1\r\n\r\nbody", 5, "A: 1\r\n\r\nbody\r\n.\r\n");
	/* A header line that ends in CR but has text is not the separator. */
	check("A: \r\r\n\r\nb\r\n", 0, "A: \r\r\n\r\n.\r\n");
	/* Bare LF line ends are counted the same. */
	check("A: 1\n\nb1\nb2\n", 1, "A: 1\n\nb1\n.\r\n");
	/* A message that is only the blank line. */
	check("\r\nbody\r\n", 0, "\r\n.\r\n");
}

static void test_top_stops_reading(void **state)
{
	struct pop3_body body;
	struct sink sink = { .len = 0 };

	pop3_body_init_top(&body, 1);
	assert_true(pop3_body_feed(&body, "A: 1\r\n\r\n", 8, sink_out, &sink));
	assert_false(pop3_body_feed(&body, "one\r\ntwo\r\n", 10, sink_out, &sink));
	assert_false(pop3_body_feed(&body, "three\r\n", 7, sink_out, &sink));
	pop3_body_finish(&body, sink_out, &sink);
	assert_int_equal(sink.len, strlen("A: 1\r\n\r\none\r\n.\r\n"));
	assert_memory_equal(sink.buf, "A: 1\r\n\r\none\r\n.\r\n", sink.len);
}

/* Undoes the stuffing of a RETR response: what a client does. */
static size_t unstuff(const char *in, size_t len, char *out)
{
	size_t o = 0;
	bool start = true;

	assert_true(len >= 3 && memcmp(in + len - 3, ".\r\n", 3) == 0);
	len -= 3;
	for (size_t i = 0; i < len; i++) {
		if (start && in[i] == '.') {
			assert_true(i + 1 < len && in[i + 1] == '.');
			i++;
		}
		out[o++] = in[i];
		start = in[i] == '\n';
	}
	return o;
}

/* Random CRLF text heavy in dots, fed in random pieces, unstuffs to itself. */
static void test_retr_random_roundtrip(void **state)
{
	static const char alphabet[] = "..\r\n\r\nab";
	char in[2048], back[8192];
	struct sink whole, pieces;
	unsigned seed = 12345;

	for (int round = 0; round < 200; round++) {
		size_t len = 0;
		while (len < sizeof(in) - 2) {
			seed = seed * 1103515245u + 12345u;
			char c = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
			if (c == '\n' && (len == 0 || in[len - 1] != '\r'))
				c = 'x'; /* keep CRLF lines, as the store does */
			in[len++] = c;
		}
		in[len++] = '\r';
		in[len++] = '\n';
		run(in, len, RETR, len, len, &whole);
		seed = seed * 1103515245u + 12345u;
		run(in, len, RETR, (seed >> 16) % 7 + 1, (seed >> 8) % 13 + 1, &pieces);
		assert_int_equal(whole.len, pieces.len);
		assert_memory_equal(whole.buf, pieces.buf, whole.len);
		assert_int_equal(unstuff(whole.buf, whole.len, back), len);
		assert_memory_equal(back, in, len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retr_stuffing),
		cmocka_unit_test(test_retr_edges),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_top_edges),
		cmocka_unit_test(test_top_stops_reading),
		cmocka_unit_test(test_retr_random_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
