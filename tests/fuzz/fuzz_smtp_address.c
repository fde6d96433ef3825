/*
 * fuzz_smtp_address.c - mailbox, path and domain parsing (smtp_address.h).
 * The first input byte picks the flags, the rest is the address. Checks:
 * limits hold; the canonical form parses back to itself (so what the store
 * compares is stable); SMTPUTF8 only ever widens what is accepted; and
 * smtp_address_utf8_valid agrees with a separate code-point decoder.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* RFC 3629 by decoding: shortest form, no surrogates, at most U+10FFFF. */
static bool utf8_by_code_points(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n;
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
		if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n;
	}
	return true;
}

static bool same_domain(const struct smtp_domain *a, const struct smtp_domain *b)
{
	return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static bool same_mailbox(const struct smtp_mailbox *a, const struct smtp_mailbox *b)
{
	return strcmp(a->local, b->local) == 0 && a->local_quoted == b->local_quoted &&
	       a->utf8 == b->utf8 && same_domain(&a->domain, &b->domain);
}

static void check_mailbox(const struct smtp_mailbox *mb)
{
	CHECK(memchr(mb->local, '\0', sizeof(mb->local)) != NULL);
	CHECK(memchr(mb->domain.name, '\0', sizeof(mb->domain.name)) != NULL);
	CHECK(strlen(mb->local) >= 1 && strlen(mb->local) <= SMTP_LOCAL_PART_MAX);
	CHECK(strlen(mb->domain.name) >= 1 && strlen(mb->domain.name) <= SMTP_DOMAIN_MAX);
	CHECK(mb->local_quoted == (mb->local[0] == '"'));
	CHECK(smtp_address_utf8_valid(mb->local, strlen(mb->local)));
	CHECK(smtp_address_utf8_valid(mb->domain.name, strlen(mb->domain.name)));

	/* The canonical form is a fixed point. */
	char text[SMTP_MAILBOX_MAX + 1];
	int n = smtp_address_format(mb, text, sizeof(text));
	CHECK(n > 0);
	struct smtp_mailbox again;
	CHECK(smtp_address_parse_mailbox(text, (size_t)n, SMTP_ADDRESS_UTF8, &again) ==
	      SMTP_ADDRESS_OK);
	CHECK(same_mailbox(mb, &again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0] & (SMTP_ADDRESS_UTF8 | SMTP_ADDRESS_ALLOW_NULL |
	                            SMTP_ADDRESS_ALLOW_POSTMASTER);
	const char *s = (const char *)data + 1;
	size_t len = size - 1;

	CHECK(smtp_address_utf8_valid(s, len) == utf8_by_code_points(data + 1, len));

	/* Mailbox. */
	struct smtp_mailbox mb, mb_utf8;
	enum smtp_address_error e1 = smtp_address_parse_mailbox(s, len, 0, &mb);
	enum smtp_address_error e2 = smtp_address_parse_mailbox(s, len, SMTP_ADDRESS_UTF8, &mb_utf8);
	CHECK(smtp_address_strerror(e1) != NULL && smtp_address_strerror(e2) != NULL);
	CHECK(e2 != SMTP_ADDRESS_UTF8_NOT_ALLOWED);
	if (e1 == SMTP_ADDRESS_OK) {
		CHECK(e2 == SMTP_ADDRESS_OK && same_mailbox(&mb, &mb_utf8) && !mb.utf8);
		CHECK(len <= SMTP_MAILBOX_MAX);
	}
	if (e1 == SMTP_ADDRESS_UTF8_NOT_ALLOWED)
		CHECK(e2 == SMTP_ADDRESS_OK && mb_utf8.utf8);
	else
		CHECK(e1 == e2);
	if (e2 == SMTP_ADDRESS_OK)
		check_mailbox(&mb_utf8);

	/* Path: the flags from the first byte. */
	struct smtp_path path;
	size_t used = 0;
	enum smtp_address_error e = smtp_address_parse_path(s, len, flags, &path, &used);
	if (e == SMTP_ADDRESS_OK) {
		CHECK(used >= 2 && used <= len && used <= SMTP_PATH_MAX);
		CHECK(s[0] == '<' && s[used - 1] == '>');
		CHECK(!path.null || (flags & SMTP_ADDRESS_ALLOW_NULL));
		CHECK(!path.postmaster || (flags & SMTP_ADDRESS_ALLOW_POSTMASTER));
		CHECK(!path.mailbox.utf8 || (flags & SMTP_ADDRESS_UTF8));
		if (!path.null && !path.postmaster) {
			check_mailbox(&path.mailbox);
			/* The path without what follows it parses the same. */
			struct smtp_path again;
			size_t used_again;
			CHECK(smtp_address_parse_path(s, used, flags, &again, &used_again) ==
			      SMTP_ADDRESS_OK);
			CHECK(used_again == used && same_mailbox(&path.mailbox, &again.mailbox));
		}
	}

	/* Domain. */
	struct smtp_domain d, d_again;
	e = smtp_address_parse_domain(s, len, flags & SMTP_ADDRESS_UTF8, &d);
	if (e == SMTP_ADDRESS_OK) {
		size_t n = strlen(d.name);
		CHECK(n == len && n <= SMTP_DOMAIN_MAX);
		CHECK(smtp_address_parse_domain(d.name, n, SMTP_ADDRESS_UTF8, &d_again) ==
		      SMTP_ADDRESS_OK);
		CHECK(same_domain(&d, &d_again));
	}
	return 0;
}
