/*
 * fuzz_smtp_header.c - the header section filter (smtp_header.h) against
 * the whole-message model (tests/unit/smtp_header_model.h), fed whole, in
 * three slices, and one octet at a time.
 *
 * Input: byte 0 picks the flags, bytes 1-2 the slice boundaries, the rest
 * is the message (any octets: the filter must cope with more than the
 * stored form it gets in smtpd).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_header.h"
#include "../unit/smtp_header_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static const char date[] = "Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n";
static const char message_id[] = "Message-ID: <20261127090000.42.0011223344556677@mx.test>\r\n";

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

static void check_same(const struct smtp_header *h, const struct sink *got,
                       const struct smtp_header_model *m)
{
	CHECK(got->len == m->out_len && memcmp(got->buf, m->out, m->out_len) == 0);
	CHECK(h->received == m->received && h->dropped == m->dropped);
	CHECK(h->has_date == m->has_date && h->has_message_id == m->has_message_id);
	CHECK(h->in_body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned flags = data[0] & (SMTP_HEADER_DROP_BCC | SMTP_HEADER_ADD_MISSING);
	const char *in = (const char *)data + 3;
	size_t len = size - 3;
	size_t a = len ? data[1] % (len + 1) : 0;
	size_t b = len ? data[2] % (len + 1) : 0;
	if (a > b) {
		size_t t = a;
		a = b;
		b = t;
	}

	size_t cap = len + sizeof(date) + sizeof(message_id);
	char *model_out = malloc(cap);
	char *out = malloc(cap);
	CHECK(model_out != NULL && out != NULL);
	struct smtp_header_model m = { .out = model_out, .out_cap = cap };
	smtp_header_model_run(&m, flags, date, message_id, in, len);

	struct smtp_header h;
	struct sink whole = { out, cap, 0 };
	smtp_header_init(&h, flags, date, message_id, sink_cb, &whole);
	smtp_header_feed(&h, in, len);
	smtp_header_finish(&h);
	check_same(&h, &whole, &m);

	struct sink cut = { out, cap, 0 };
	smtp_header_init(&h, flags, date, message_id, sink_cb, &cut);
	smtp_header_feed(&h, in, a);
	smtp_header_feed(&h, in + a, b - a);
	smtp_header_feed(&h, in + b, len - b);
	smtp_header_finish(&h);
	check_same(&h, &cut, &m);

	struct sink bytes = { out, cap, 0 };
	smtp_header_init(&h, flags, date, message_id, sink_cb, &bytes);
	for (size_t i = 0; i < len; i++)
		smtp_header_feed(&h, in + i, 1);
	smtp_header_finish(&h);
	check_same(&h, &bytes, &m);

	free(model_out);
	free(out);
	return 0;
}
