/*
 * fuzz_dkim.c - the parts of the DKIM signer (common/dkim.h) that read
 * message text: the From domain, the walk over header fields with relaxed
 * header canonicalization, and streamed relaxed body canonicalization.
 * (Signing itself is RSA over a hash, not worth fuzzing per input.)
 *
 * Input: one byte that picks where the body is cut, then a message.
 *  - dkim_from_domain: a domain it returns is lower case and one the
 *    address rules take as it is.
 *  - every field: inside the input, canonical form with a lower-case
 *    name and a value without tabs, doubled or edge spaces.
 *  - the body (the input after the first CRLF CRLF, or all of it): the
 *    streamed canonical form, whole, cut in two and byte by byte, equals
 *    a plainer line-by-line model of RFC 6376 3.4.4.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim-private.h"
#include "smtp_address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void out_cb(void *ctx, const char *p, size_t n)
{
	CHECK(dkim__buf_add(ctx, p, n) == 0);
}

static void stream(const char *p, size_t len, size_t cut, size_t step, struct dkim__buf *out)
{
	struct dkim__body b;
	dkim__body_init(&b, out_cb, out);
	CHECK(dkim__buf_add(out, "", 0) == 0);
	dkim__body_feed(&b, p, cut);
	for (size_t off = cut; off < len; off += step)
		dkim__body_feed(&b, p + off, step < len - off ? step : len - off);
	dkim__body_end(&b);
}

/* One line's canonical content: WSP runs to one SP, none at the end. */
static size_t model_line(const char *p, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ' || p[i] == '\t') {
			if (i == 0 || (p[i - 1] != ' ' && p[i - 1] != '\t'))
				out[o++] = ' '; /* the first WSP of a run */
		} else {
			out[o++] = p[i];
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	return o;
}

/* RFC 6376 3.4.4 line by line: CRLF-ended lines, then the last partial
 * one (a line if anything is left of it), then no empty lines at the end. */
static void model_body(const char *p, size_t len, struct dkim__buf *out)
{
	char *line = malloc(len + 1);
	size_t keep = 0, start = 0;
	CHECK(line != NULL);
	CHECK(dkim__buf_add(out, "", 0) == 0);
	for (;;) {
		size_t end = start;
		while (end + 1 < len && !(p[end] == '\r' && p[end + 1] == '\n'))
			end++;
		bool full = end + 1 < len;
		if (!full)
			end = len;
		size_t n = model_line(p + start, end - start, line);
		if (full || n > 0) {
			CHECK(dkim__buf_add(out, line, n) == 0);
			CHECK(dkim__buf_add(out, "\r\n", 2) == 0);
			if (n > 0)
				keep = out->len;
		}
		if (!full)
			break;
		start = end + 2;
	}
	out->len = keep; /* empty lines at the end go */
	out->data[keep] = '\0';
	free(line);
}

static void check_fields(const char *h, size_t len)
{
	struct dkim__field f;
	size_t pos = 0, count = 0;
	while (dkim__next_field(h, len, &pos, &f)) {
		CHECK(f.field == f.name && f.field >= h && f.field + f.field_len <= h + len);
		CHECK(f.name_len < f.field_len && f.name[f.name_len] != '\r');
		CHECK(pos <= len && ++count <= len);
		struct dkim__buf c = { NULL, 0, 0 };
		CHECK(dkim__canon_header(&c, f.field, f.field_len) == 0);
		char *colon = memchr(c.data, ':', c.len);
		CHECK(colon != NULL);
		for (char *q = c.data; q < colon; q++)
			CHECK(!(*q >= 'A' && *q <= 'Z'));
		const char *v = colon + 1;
		size_t vlen = c.len - (size_t)(v - c.data);
		CHECK(memchr(v, '\t', vlen) == NULL);
		CHECK(vlen == 0 || (v[0] != ' ' && v[vlen - 1] != ' '));
		for (size_t i = 0; i + 1 < vlen; i++)
			CHECK(!(v[i] == ' ' && v[i + 1] == ' '));
		dkim__buf_free(&c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *msg = (const char *)data + 1;
	size_t len = size - 1;

	char domain[SMTP_DOMAIN_MAX + 1];
	if (dkim_from_domain(msg, len, domain, sizeof(domain)) == 0) {
		struct smtp_domain d;
		size_t n = strlen(domain);
		CHECK(n > 0);
		CHECK(smtp_address_parse_domain(domain, n, SMTP_ADDRESS_UTF8, &d) == SMTP_ADDRESS_OK);
		CHECK(d.kind == SMTP_DOMAIN_NAME && strcmp(d.name, domain) == 0);
	}
	check_fields(msg, len);

	const char *body = msg;
	size_t body_len = len;
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(msg + i, "\r\n\r\n", 4) == 0) {
			body = msg + i + 4;
			body_len = len - i - 4;
			break;
		}
	}
	struct dkim__buf want = { NULL, 0, 0 }, got = { NULL, 0, 0 };
	model_body(body, body_len, &want);
	size_t cut = body_len > 0 ? data[0] % (body_len + 1) : 0;
	stream(body, body_len, 0, body_len > 0 ? body_len : 1, &got);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	dkim__buf_free(&got);
	stream(body, body_len, cut, body_len > 0 ? body_len : 1, &got);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	dkim__buf_free(&got);
	stream(body, body_len, 0, 1, &got);
	CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
	dkim__buf_free(&got);
	dkim__buf_free(&want);
	return 0;
}
