/*
 * fuzz_smtp_outbody.c - libFuzzer target for the DATA form of a stored
 * message (smtpd/smtp_outbody.h), which outbound delivery applies to
 * whatever clients sent.
 *
 * The first input octet picks a split size; the rest is the message,
 * with every bare CR or LF made a CRLF, as the stored form always is.
 * Checked: the output is the same however the input is split, stays
 * within smtp_outbody_max, ends with ".\r\n" after a CRLF, and has no
 * line "." before its end (RFC 5321 4.5.2: nothing can end the data
 * early), and no Return-Path: field in its header section.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_outbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static char *run(const char *msg, size_t len, size_t step, size_t *out_len)
{
	char *out = malloc(smtp_outbody_max(len) + SMTP_OUTBODY_END_MAX);
	struct smtp_outbody o;
	size_t w = 0;
	CHECK(out != NULL);
	smtp_outbody_init(&o);
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		size_t got = smtp_outbody_feed(&o, msg + i, n, out + w);
		CHECK(got <= smtp_outbody_max(n));
		w += got;
	}
	w += smtp_outbody_end(&o, out + w);
	*out_len = w;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	size_t step = (size_t)data[0] % 64 + 1;
	char *msg = malloc(2 * size);
	size_t len = 0;
	CHECK(msg != NULL);
	for (size_t i = 1; i < size; i++) {
		char c = (char)data[i];
		if (c == '\r' || c == '\n') {
			msg[len++] = '\r';
			msg[len++] = '\n';
			if (c == '\r' && i + 1 < size && data[i + 1] == '\n')
				i++;
		} else {
			msg[len++] = c;
		}
	}
	size_t a_len, b_len;
	char *a = run(msg, len, len ? len : 1, &a_len);
	char *b = run(msg, len, step, &b_len);
	CHECK(a_len == b_len && memcmp(a, b, a_len) == 0);
	CHECK(a_len >= 3 && memcmp(a + a_len - 3, ".\r\n", 3) == 0);
	CHECK(a_len == 3 || (a_len >= 5 && memcmp(a + a_len - 5, "\r\n", 2) == 0));
	/* No "." line before the end, no Return-Path: field in the header section. */
	bool in_header = true;
	for (size_t p = 0; p + 3 < a_len;) {
		const char *lf = memchr(a + p, '\n', a_len - 3 - p);
		size_t line_len = lf ? (size_t)(lf - (a + p)) + 1 : a_len - 3 - p;
		CHECK(!(line_len == 3 && memcmp(a + p, ".\r\n", 3) == 0));
		if (line_len <= 2)
			in_header = false;
		if (in_header)
			CHECK(line_len < 12 || strncasecmp(a + p, "return-path:", 12) != 0);
		p += line_len;
	}
	free(a);
	free(b);
	free(msg);
	return 0;
}
