/*
 * fuzz_smtp_address.c - mailbox, path and domain parsing (smtp_address.h),
 * and the stored-address rules built on them that the store and mailctl
 * use (normalize, key, recipient extensions, delimiters). The first input
 * byte picks the flags and a delimiter set, the rest is the address.
 * Checks: limits hold; the canonical form parses back to itself (so what
 * the store compares is stable); SMTPUTF8 only ever widens what is
 * accepted; smtp_address_utf8_valid agrees with a separate code-point
 * decoder; smtp_address_normalize accepts exactly what the mailbox parser
 * accepts (so whatever SMTP takes can be stored) and is a fixed point; a
 * key is the same address in lower case and is a fixed point too; a
 * stripped extension leaves a shorter address that is still valid.
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

/* The delimiter sets the fuzzer picks from (bits 4-5 of the first byte). */
static const char *const delimiter_sets[4] = { "+", "+-", "", "=_.~" };

/* A plain model of smtp_address_delimiters_valid. */
static bool delimiters_model(const char *d)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";
	size_t n = strlen(d);
	if (n > SMTP_DELIMITERS_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (memchr(specials, d[i], sizeof(specials) - 1) == NULL)
			return false;
	return true;
}

/* The stored-address rules on s[0..len) as a C string. */
static void check_stored(const char *s, size_t len, const struct smtp_mailbox *mb, bool parsed,
                         const char *delims)
{
	char text[SMTP_MAILBOX_MAX * 4 + 2], out[SMTP_MAILBOX_MAX + 1], again[SMTP_MAILBOX_MAX + 1];
	char key[SMTP_MAILBOX_MAX + 1], key2[SMTP_MAILBOX_MAX + 1], base[SMTP_MAILBOX_MAX + 1];

	if (len >= sizeof(text) || memchr(s, '\0', len) != NULL)
		return;
	memcpy(text, s, len);
	text[len] = '\0';
	enum smtp_address_error e = smtp_address_normalize(text, out, sizeof(out));
	CHECK((e == SMTP_ADDRESS_OK) == parsed);
	if (e != SMTP_ADDRESS_OK) {
		CHECK(out[0] == '\0');
		return;
	}
	char formatted[SMTP_MAILBOX_MAX + 1];
	CHECK(smtp_address_format(mb, formatted, sizeof(formatted)) > 0);
	CHECK(strcmp(out, formatted) == 0);
	CHECK(smtp_address_normalize(out, again, sizeof(again)) == SMTP_ADDRESS_OK);
	CHECK(strcmp(out, again) == 0);

	/* The key: the same octets with ASCII letters lowered, itself canonical. */
	smtp_address_key(out, key, sizeof(key));
	CHECK(strlen(key) == strlen(out));
	for (size_t i = 0; out[i] != '\0'; i++) {
		unsigned char c = (unsigned char)out[i];
		CHECK((unsigned char)key[i] == (c >= 'A' && c <= 'Z' ? c + 32 : c));
	}
	smtp_address_key(key, key2, sizeof(key2));
	CHECK(strcmp(key, key2) == 0);
	CHECK(smtp_address_normalize(key, again, sizeof(again)) == SMTP_ADDRESS_OK);
	CHECK(strcmp(key, again) == 0);

	/* A recipient extension comes off the local part only, leaving an
	 * address, and only once. */
	if (smtp_address_strip_extension(out, delims, base, sizeof(base))) {
		CHECK(delims[0] != '\0' && !mb->local_quoted);
		CHECK(strlen(base) < strlen(out));
		CHECK(strcmp(strrchr(base, '@'), strrchr(out, '@')) == 0);
		CHECK(strncmp(base, out, strcspn(base, "@")) == 0);
		CHECK(smtp_address_normalize(base, again, sizeof(again)) == SMTP_ADDRESS_OK);
		CHECK(strcmp(base, again) == 0);
		CHECK(!smtp_address_strip_extension(base, delims, again, sizeof(again)));
	}
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
	const char *delims = delimiter_sets[(data[0] >> 4) & 3];
	check_stored(s, len, &mb_utf8, e2 == SMTP_ADDRESS_OK, delims);
	if (len <= SMTP_DELIMITERS_MAX + 2 && memchr(s, '\0', len) == NULL) {
		char d[SMTP_DELIMITERS_MAX + 3];
		memcpy(d, s, len);
		d[len] = '\0';
		CHECK(smtp_address_delimiters_valid(d) == delimiters_model(d));
	}

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
