/*
 * fuzz_smtp_data.c - the DATA / BDAT receiver (smtp_data.h) against the
 * plain line-based model (tests/unit/smtp_data_model.h), fed whole and in
 * three slices, with and without a size limit.
 *
 * Input: byte 0 picks the mode and the size limit, bytes 1-2 pick the slice
 * boundaries, the rest is what the client sent after the 354 reply.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"
#include "../unit/smtp_data_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

struct sink {
	char *buf;
	size_t cap;
	size_t len;
};

static void sink_cb(void *ctx, const char *buf, size_t len)
{
	struct sink *s = ctx;

	CHECK(len > 0 && s->len + len <= s->cap);
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
}

/* Feeds in[0..len) cut at a <= b, stopping at the end of data. */
static size_t feed3(struct smtp_data *d, const char *in, size_t len, size_t a, size_t b)
{
	const size_t bounds[4] = { 0, a, b, len };
	size_t consumed = 0;

	for (int k = 0; k < 3; k++) {
		size_t n = smtp_data_feed(d, in + bounds[k], bounds[k + 1] - bounds[k]);
		consumed += n;
		if (d->ended)
			break;
		CHECK(n == bounds[k + 1] - bounds[k]);
	}
	return consumed;
}

/* Stored form: every CR is followed by LF and every LF follows a CR. */
static void check_crlf_only(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r')
			CHECK(i + 1 < len && s[i + 1] == '\n');
		if (s[i] == '\n')
			CHECK(i > 0 && s[i - 1] == '\r');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	enum smtp_data_mode mode = (data[0] & 1) ? SMTP_DATA_BDAT : SMTP_DATA_DOT;
	bool finish = mode == SMTP_DATA_BDAT && (data[0] & 2);
	uint64_t max = (data[0] >> 2) == 63 ? UINT64_MAX : (uint64_t)(data[0] >> 2) * 4;
	const char *in = (const char *)data + 3;
	size_t len = size - 3;
	size_t a = len ? data[1] % (len + 1) : 0;
	size_t b = len ? data[2] % (len + 1) : 0;
	if (a > b) {
		size_t t = a;
		a = b;
		b = t;
	}

	size_t cap = 2 * len + 2;
	char *model_out = malloc(cap);
	char *whole_out = malloc(cap);
	char *cut_out = malloc(cap);
	CHECK(model_out != NULL && whole_out != NULL && cut_out != NULL);

	struct smtp_data_model m = { .out = model_out, .out_cap = cap };
	smtp_data_model_run(&m, mode, in, len, finish);

	/* Whole, no limit: exactly the model. */
	struct sink whole = { whole_out, cap, 0 };
	struct smtp_data d;
	smtp_data_init(&d, mode, UINT64_MAX, sink_cb, &whole);
	size_t consumed = smtp_data_feed(&d, in, len);
	if (finish)
		smtp_data_finish(&d);
	CHECK(whole.len == m.out_len && memcmp(whole.buf, m.out, m.out_len) == 0);
	CHECK(consumed == m.consumed && d.ended == m.ended);
	CHECK(d.size == m.out_len && !d.too_big);
	CHECK(d.bare_lf == m.bare_lf && d.bare_cr == m.bare_cr && d.max_line == m.max_line);
	CHECK(d.in_headers == m.in_headers && (d.in_headers || d.header_size == m.header_size));
	if (d.ended && mode == SMTP_DATA_DOT) {
		/* What ended it is a real <CRLF>.<CRLF>. */
		CHECK(consumed >= 3 && memcmp(in + consumed - 3, ".\r\n", 3) == 0);
		CHECK(consumed == 3 || (consumed >= 5 && memcmp(in + consumed - 5, "\r\n", 2) == 0));
	}
	/* A held-back CR is never emitted alone, so this holds mid-message too. */
	check_crlf_only(whole.buf, whole.len);

	/* Sliced, with the limit: a prefix of the above, never over max. */
	struct sink cut = { cut_out, cap, 0 };
	smtp_data_init(&d, mode, max, sink_cb, &cut);
	size_t consumed_cut = feed3(&d, in, len, a, b);
	if (finish)
		smtp_data_finish(&d);
	CHECK(consumed_cut == consumed && d.ended == m.ended);
	CHECK(d.size == m.out_len);
	CHECK(d.too_big == (m.out_len > max));
	CHECK(cut.len <= max && cut.len <= whole.len && memcmp(cut.buf, whole.buf, cut.len) == 0);
	if (!d.too_big)
		CHECK(cut.len == whole.len);
	CHECK(d.bare_lf == m.bare_lf && d.bare_cr == m.bare_cr && d.max_line == m.max_line);

	free(model_out);
	free(whole_out);
	free(cut_out);
	return 0;
}
