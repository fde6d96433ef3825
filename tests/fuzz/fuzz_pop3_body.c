/*
 * fuzz_pop3_body.c - RETR and TOP byte-stuffing (pop3d/pop3_body.h) over
 * a message that arrives in slices of random size, as the store's batches
 * do.
 *
 * Input: byte 0 picks RETR (even) or TOP (odd), byte 1 is TOP's line count
 * (255: UINT64_MAX, the whole message), byte 2 seeds the slice sizes; the
 * rest is the message.
 *
 * Checked against a plain model that works on the whole message line by
 * line: RETR is the message with a dot added before every dot that starts
 * a line; TOP is the same for the header, the first blank line (one made
 * of CRs only counts) and that many lines after it. Then a CRLF if the
 * output does not end a line, and ".\r\n". The output must be byte-exact
 * whatever the slicing, and pop3_body_feed must report "no more input
 * wanted" exactly when TOP has sent its part, which may coincide with
 * the end of the message.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

#define SLICE_MAX 32

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 16;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void out_cb(void *ctx, const char *data, size_t len)
{
	buf_add(ctx, data, len);
}

static bool only_cr(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '\r')
			return false;
	return true;
}

/* The expected response body; *done when TOP has sent all it must (no more input wanted). */
static void model(const char *msg, size_t len, bool top, uint64_t lines, struct buf *want,
                  bool *done)
{
	bool in_body = false;
	size_t pos = 0;

	while (pos < len && !(top && in_body && lines == 0)) {
		const char *lf = memchr(msg + pos, '\n', len - pos);
		size_t end = lf != NULL ? (size_t)(lf - msg) + 1 : len;
		if (msg[pos] == '.')
			buf_add(want, ".", 1);
		buf_add(want, msg + pos, end - pos);
		if (top && lf != NULL) {
			if (in_body)
				lines--;
			else if (only_cr(msg + pos, end - 1 - pos))
				in_body = true;
		}
		pos = end;
	}
	*done = top && in_body && lines == 0;
	if (want->len > 0 && want->p[want->len - 1] != '\n')
		buf_add(want, "\r\n", 2);
	buf_add(want, ".\r\n", 3);
}

static size_t next_slice(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x % SLICE_MAX; /* 0 too: an empty slice must change nothing */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	bool top = data[0] & 1;
	uint64_t lines = data[1] == 255 ? UINT64_MAX : data[1];
	uint32_t seed = data[2] | 0x100u;
	const char *msg = (const char *)data + 3;
	size_t len = size - 3;

	struct pop3_body body;
	if (top)
		pop3_body_init_top(&body, lines);
	else
		pop3_body_init_retr(&body);
	struct buf got = {0}, want = {0};
	bool more = true, done;
	size_t pos = 0;
	while (pos < len && more) {
		size_t n = next_slice(&seed);
		if (n > len - pos)
			n = len - pos;
		more = pop3_body_feed(&body, msg + pos, n, out_cb, &got);
		pos += n;
	}
	pop3_body_finish(&body, out_cb, &got);

	model(msg, len, top && lines != UINT64_MAX, lines, &want, &done);
	/* Feeding stops at "done"; if the input ran out first, it never said so. */
	CHECK(more == !done);
	CHECK(got.len == want.len && memcmp(got.p, want.p, got.len) == 0);
	free(got.p);
	free(want.p);
	return 0;
}
