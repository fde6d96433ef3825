/*
 * fuzz_smtp_client_reply.c - libFuzzer target for the reader of remote
 * servers' replies (smtpd/smtp_client_reply.h), which outbound delivery
 * feeds whatever a remote server sends.
 *
 * The input is split at LF into lines (a CR before it dropped, as the
 * connection layer does) and fed until the reply is done or bad; then
 * again from the next line. Checked: the kept text is NUL-terminated, as
 * long as text_len says, free of controls but its '\n' separators; a
 * done reply has a code of 200-559 and at most the line limit; the EHLO
 * reader runs on every done reply.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void check(const struct smtp_client_reply *r)
{
	CHECK(r->text_len < sizeof(r->text) && strlen(r->text) == r->text_len);
	for (size_t i = 0; i < r->text_len; i++) {
		unsigned char c = (unsigned char)r->text[i];
		CHECK(c == '\n' || (c >= 0x20 && c != 0x7f));
	}
	CHECK(r->lines <= SMTP_CLIENT_REPLY_LINES_MAX + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_client_reply r;
	const char *p = (const char *)data, *end = p + size;

	smtp_client_reply_init(&r);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		enum smtp_client_reply_status st = smtp_client_reply_feed(&r, p, len);
		check(&r);
		if (st == SMTP_CLIENT_REPLY_DONE) {
			struct smtp_ehlo e;
			char first[128];
			CHECK(r.done && r.code >= 200 && r.code <= 559 && r.lines >= 1);
			smtp_ehlo_parse(&r, &e);
			smtp_client_reply_first(&r, first, sizeof(first));
			CHECK(strchr(first, '\n') == NULL);
		}
		if (st != SMTP_CLIENT_REPLY_MORE)
			smtp_client_reply_init(&r);
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}
