/* dkim_canon.c - relaxed canonicalization (RFC 6376 3.4.2, 3.4.4) and the
 * walk over the fields of a header section. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim-private.h"

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')

int dkim__buf_add(struct dkim__buf *b, const void *p, size_t n)
{
	if (n >= SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *data = realloc(b->data, cap);
		if (data == NULL)
			return -ENOMEM;
		b->data = data;
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void dkim__buf_free(struct dkim__buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Offset of the CRLF that ends the line starting at `from`, or len. */
static size_t line_end(const char *s, size_t len, size_t from)
{
	for (size_t i = from; i + 1 < len; i++) {
		if (s[i] == '\r' && s[i + 1] == '\n')
			return i;
	}
	return len;
}

bool dkim__next_field(const char *headers, size_t len, size_t *pos, struct dkim__field *f_r)
{
	while (*pos < len) {
		size_t start = *pos;
		size_t end = line_end(headers, len, start);
		if (end == start)
			return false; /* the empty line: the body follows */
		/* RFC 5322 2.2.3: a line starting with WSP continues the field. */
		while (end + 2 < len && IS_WSP(headers[end + 2]))
			end = line_end(headers, len, end + 2);
		*pos = end < len ? end + 2 : len;
		const char *colon = memchr(headers + start, ':', line_end(headers, end, start) - start);
		if (colon == NULL)
			continue; /* not a field (RFC 5322 2.2); nothing to sign */
		size_t name_len = (size_t)(colon - (headers + start));
		while (name_len > 0 && IS_WSP(headers[start + name_len - 1]))
			name_len--;
		f_r->name = headers + start;
		f_r->name_len = name_len;
		f_r->field = headers + start;
		f_r->field_len = end - start;
		return true;
	}
	return false;
}

bool dkim__name_is(const struct dkim__field *f, const char *name)
{
	size_t n = strlen(name);
	if (f->name_len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)f->name[i], b = (unsigned char)name[i];
		if (a >= 'A' && a <= 'Z')
			a = (unsigned char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b)
			return false;
	}
	return true;
}

int dkim__canon_header(struct dkim__buf *b, const char *field, size_t len)
{
	const char *colon = memchr(field, ':', len);
	size_t name_len = colon != NULL ? (size_t)(colon - field) : len;
	size_t i;
	int rc = 0;

	while (name_len > 0 && IS_WSP(field[name_len - 1]))
		name_len--;
	for (i = 0; i < name_len && rc == 0; i++) {
		char c = field[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		rc = dkim__buf_add(b, &c, 1);
	}
	if (rc == 0)
		rc = dkim__buf_add(b, ":", 1);
	if (colon == NULL || rc != 0)
		return rc;
	/* The value: unfolding removes only CRLF (RFC 5322 2.2.3); the WSP
	 * after it joins the run around it. */
	bool wsp = false, started = false;
	for (i = (size_t)(colon - field) + 1; i < len && rc == 0; i++) {
		char c = field[i];
		if (c == '\r' && i + 1 < len && field[i + 1] == '\n') {
			i++;
			continue;
		}
		if (IS_WSP(c)) {
			wsp = true;
			continue;
		}
		if (wsp && started)
			rc = dkim__buf_add(b, " ", 1);
		if (rc == 0)
			rc = dkim__buf_add(b, &c, 1);
		wsp = false;
		started = true;
	}
	return rc;
}

void dkim__body_init(struct dkim__body *b, dkim__body_out_fn *out, void *ctx)
{
	memset(b, 0, sizeof(*b));
	b->out = out;
	b->ctx = ctx;
}

static void body_flush_empty(struct dkim__body *b)
{
	for (; b->empty_lines > 0; b->empty_lines--)
		b->out(b->ctx, "\r\n", 2);
}

/* Writes p[0..n), which holds no WSP and no line end, as line content. */
static void body_content(struct dkim__body *b, const char *p, size_t n)
{
	body_flush_empty(b);
	if (b->wsp)
		b->out(b->ctx, " ", 1);
	b->wsp = false;
	b->out(b->ctx, p, n);
	b->line_content = true;
}

void dkim__body_feed(struct dkim__body *b, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (b->cr) {
			b->cr = false;
			if (p[i] == '\n') {
				/* A line ends: its trailing WSP is dropped; an empty
				 * line waits until content shows it is not trailing. */
				if (b->line_content)
					b->out(b->ctx, "\r\n", 2);
				else
					b->empty_lines++;
				b->line_content = false;
				b->wsp = false;
				i++;
				continue;
			}
			body_content(b, "\r", 1);
		}
		if (p[i] == '\r') {
			b->cr = true;
			i++;
		} else if (IS_WSP(p[i])) {
			b->wsp = true;
			i++;
		} else {
			/* A run of ordinary characters goes out in one piece. */
			size_t j = i + 1;
			while (j < n && p[j] != '\r' && !IS_WSP(p[j]))
				j++;
			body_content(b, p + i, j - i);
			i = j;
		}
	}
}

void dkim__body_end(struct dkim__body *b)
{
	if (b->cr) {
		b->cr = false;
		body_content(b, "\r", 1);
	}
	/* RFC 6376 3.4.4: a non-empty body gets a final CRLF; trailing empty
	 * lines and an empty body give nothing. */
	if (b->line_content)
		b->out(b->ctx, "\r\n", 2);
	b->line_content = false;
	b->wsp = false;
	b->empty_lines = 0;
}
