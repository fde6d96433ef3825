/*
 * fuzz_linereader.c - the line splitter in front of every SMTP and POP3
 * command (common/linereader.h), driven the way the connection layer drives
 * it: input arrives in slices of random size, the caller appends each slice
 * to what is left of an incomplete line and calls linereader_next() until it
 * finds no more lines.
 *
 * Input: byte 0 is the first line limit (1-64) and whether the limit
 * alternates with the one in byte 1 after each line (linereader_set_max);
 * byte 2 seeds the slice sizes; the rest is the stream.
 *
 * Checked against a plain model that splits the whole stream at LF: every
 * line is reported once, in order, with the same text, crlf and too_long
 * flags whatever the slicing; no reported line is longer than its limit;
 * the caller never has to keep more than linereader_window() bytes; and
 * consumed plus kept bytes add up to the stream.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linereader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Largest slice appended at once; small, so lines straddle slices often. */
#define SLICE_MAX 16

struct model {
	const char *in;
	size_t len;
	size_t pos;        /* start of the next line in the stream */
	bool done;         /* the unterminated rest has been reported (or is short) */
};

/*
 * The next line the reader must report under limit max, per linereader.h:
 * a line ends at LF, a CR before the LF is part of the terminator, and a
 * line whose content exceeds max is reported once, cut to max, crlf false.
 * Without an LF within max + 2 bytes the line is too long already. Returns
 * false when the rest of the stream is an incomplete line the reader must
 * still be waiting for.
 */
static bool model_next(struct model *m, size_t max, struct linereader_line *line)
{
	if (m->done)
		return false;
	const char *start = m->in + m->pos;
	size_t avail = m->len - m->pos;
	const char *lf = memchr(start, '\n', avail);
	size_t n = lf != NULL ? (size_t)(lf - start) : avail;

	if (lf == NULL && avail < max + 2) {
		m->done = true;
		return false;
	}
	line->data = start;
	if (n >= max + 2 || lf == NULL) {
		line->len = max;
		line->crlf = false;
		line->too_long = true;
	} else {
		bool crlf = n > 0 && start[n - 1] == '\r';
		size_t content = crlf ? n - 1 : n;
		line->too_long = content > max;
		line->len = line->too_long ? max : content;
		line->crlf = !line->too_long && crlf;
	}
	if (lf != NULL)
		m->pos += n + 1;
	else
		m->done = true; /* the rest is skipped up to an LF that never comes */
	return true;
}

/* A small deterministic generator for the slice sizes (xorshift32). */
static size_t next_slice(uint32_t *state)
{
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return 1 + x % SLICE_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	const size_t maxes[2] = { 1 + (data[0] & 0x3f), 1 + (data[1] & 0x3f) };
	const bool alternate = data[0] & 0x40;
	uint32_t seed = 0x9e3779b9u ^ data[2];
	const char *in = (const char *)data + 3;
	const size_t len = size - 3;

	struct linereader lr;
	struct model m = { .in = in, .len = len };
	unsigned lines = 0;
	size_t limit = maxes[0];
	linereader_init(&lr, limit);

	/* The caller's buffer: what is kept of an incomplete line, then a slice. */
	char buf[64 + 2 + SLICE_MAX];
	size_t kept = 0, fed = 0, consumed = 0;

	while (fed < len) {
		size_t n = next_slice(&seed);
		if (n > len - fed)
			n = len - fed;
		CHECK(kept + n <= sizeof(buf));
		memcpy(buf + kept, in + fed, n);
		fed += n;
		size_t have = kept + n, pos = 0;

		for (;;) {
			struct linereader_line got, want;
			bool found;
			size_t used = linereader_next(&lr, buf + pos, have - pos, &got, &found);
			CHECK(used <= have - pos);
			pos += used;
			if (!found)
				break;

			CHECK(model_next(&m, limit, &want));
			CHECK(got.len <= limit);
			CHECK(got.data >= buf && got.data + got.len <= buf + pos);
			CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
			CHECK(got.crlf == want.crlf && got.too_long == want.too_long);
			CHECK(memchr(got.data, '\n', got.len) == NULL);
			lines++;
			if (alternate) {
				limit = maxes[lines % 2];
				linereader_set_max(&lr, limit);
			}
		}
		/* An incomplete line is all the caller keeps, and it stays bounded. */
		CHECK(have - pos <= linereader_window(&lr));
		CHECK(linereader_window(&lr) <= 64 + 1);
		consumed += pos;
		kept = have - pos;
		memmove(buf, buf + pos, kept);
		CHECK(consumed + kept == fed);
	}

	/* Every complete line was reported; what is kept is the model's rest. */
	struct linereader_line extra;
	CHECK(!model_next(&m, limit, &extra));
	if (!lr.skipping)
		CHECK(kept == len - m.pos && memcmp(buf, in + m.pos, kept) == 0);
	else
		CHECK(kept == 0);
	return 0;
}
