/* test_smtp_address.c - RFC 5321 address syntax: table-driven mailbox, path,
 * domain and UTF-8 cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "smtp_address.h"

#define show testutil_show

#define EXPECT_INT(input, len, got, want) \
	do { \
		long long got_ = (long long)(got), want_ = (long long)(want); \
		if (got_ != want_) { \
			print_error("input \"%s\": %s is %lld, want %lld\n", show(input, len), #got, got_, \
			            want_); \
			fail(); \
		} \
	} while (0)

#define EXPECT_STR(input, len, got, want) \
	do { \
		if (strcmp((got), (want)) != 0) { \
			print_error("input \"%s\": %s is \"%s\", want \"%s\"\n", show(input, len), #got, \
			            (got), (want)); \
			fail(); \
		} \
	} while (0)

/* A string of n copies of c (n < 1024), in rotating static buffers. */
static const char *rep(char c, size_t n)
{
	static char bufs[4][1024];
	static int next;
	char *b = bufs[next++ % 4];

	assert_true(n < sizeof(bufs[0]));
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/*
 * n octets of domain name: labels of 62 'a's joined by '.'; a dot that
 * would come last is left out, making the last label 63 octets.
 */
static const char *long_domain(size_t n)
{
	static char bufs[2][1024];
	static int next;
	char *b = bufs[next++ % 2];

	assert_true(n < sizeof(bufs[0]));
	for (size_t i = 0; i < n; i++)
		b[i] = (i % 63 == 62 && i != n - 1) ? '.' : 'a';
	b[n] = '\0';
	return b;
}

struct mailbox_case {
	const char *in;
	unsigned flags;
	enum smtp_address_error want;
	const char *local;   /* expected canonical local part (when OK) */
	const char *domain;  /* expected canonical domain (when OK) */
	bool quoted;
	bool utf8;
};

#define U SMTP_ADDRESS_UTF8
#define OK SMTP_ADDRESS_OK
#define SYN SMTP_ADDRESS_SYNTAX
#define BADU SMTP_ADDRESS_BAD_UTF8
#define NOU SMTP_ADDRESS_UTF8_NOT_ALLOWED

static const struct mailbox_case mailbox_cases[] = {
	/* Dot-strings. */
	{ "user@example.com", 0, OK, "user", "example.com", false, false },
	{ "User.Name@Example.COM", 0, OK, "User.Name", "example.com", false, false },
	{ "a@b", 0, OK, "a", "b", false, false },
	{ "a+tag@x.org", 0, OK, "a+tag", "x.org", false, false },
	{ "!#$%&'*+-/=?^_`{|}~@x", 0, OK, "!#$%&'*+-/=?^_`{|}~", "x", false, false },
	{ "a.b.c@x", 0, OK, "a.b.c", "x", false, false },
	/* Percent hack and bang path: taken literally, never interpreted. */
	{ "user%other@local", 0, OK, "user%other", "local", false, false },
	{ "a!b@local", 0, OK, "a!b", "local", false, false },
	{ "host!user%relay@local.test", 0, OK, "host!user%relay", "local.test", false, false },
	/* Quoted strings: unquoted when the content is a dot-string. */
	{ "\"john.doe\"@x", 0, OK, "john.doe", "x", false, false },
	{ "\"\\j\\o\\e\"@x", 0, OK, "joe", "x", false, false },
	{ "\"a b\"@x", 0, OK, "\"a b\"", "x", true, false },
	{ "\"a\\ b\"@x", 0, OK, "\"a b\"", "x", true, false },
	{ "\"a\\\"b\"@x", 0, OK, "\"a\\\"b\"", "x", true, false },
	{ "\"a\\\\b\"@x", 0, OK, "\"a\\\\b\"", "x", true, false },
	{ "\"\"@x", 0, OK, "\"\"", "x", true, false },
	{ "\"a..b\"@x", 0, OK, "\"a..b\"", "x", true, false },
	{ "\".a\"@x", 0, OK, "\".a\"", "x", true, false },
	{ "\"a.\"@x", 0, OK, "\"a.\"", "x", true, false },
	{ "\"a@b\"@x", 0, OK, "\"a@b\"", "x", true, false },
	{ "\"a>b\"@x", 0, OK, "\"a>b\"", "x", true, false },
	{ "\"(comment)\"@x", 0, OK, "\"(comment)\"", "x", true, false },
	/* Domains and literals. */
	{ "a@xn--bcher-kva.example", 0, OK, "a", "xn--bcher-kva.example", false, false },
	{ "a@1.2.3.4", 0, OK, "a", "1.2.3.4", false, false },
	{ "a@a-b.c-d", 0, OK, "a", "a-b.c-d", false, false },
	{ "a@a--b", 0, OK, "a", "a--b", false, false },
	{ "user@[192.0.2.1]", 0, OK, "user", "[192.0.2.1]", false, false },
	{ "user@[001.002.003.004]", 0, OK, "user", "[001.002.003.004]", false, false },
	{ "user@[IPv6:2001:DB8::1]", 0, OK, "user", "[IPv6:2001:DB8::1]", false, false },
	{ "user@[ipv6:::1]", 0, OK, "user", "[ipv6:::1]", false, false },
	{ "user@[IPv6:::]", 0, OK, "user", "[IPv6:::]", false, false },
	{ "user@[IPv6:1:2:3:4:5:6:7:8]", 0, OK, "user", "[IPv6:1:2:3:4:5:6:7:8]", false, false },
	{ "user@[IPv6:1:2:3:4:5:6:1.2.3.4]", 0, OK, "user", "[IPv6:1:2:3:4:5:6:1.2.3.4]", false, false },
	{ "user@[IPv6:::ffff:192.0.2.1]", 0, OK, "user", "[IPv6:::ffff:192.0.2.1]", false, false },
	{ "user@[IPv6:1:2:3:4:5::]", 0, OK, "user", "[IPv6:1:2:3:4:5::]", false, false },
	{ "user@[IPv6:1::2:3:4:5:6]", 0, OK, "user", "[IPv6:1::2:3:4:5:6]", false, false },
	/* SMTPUTF8. */
	{ "\xc3\xbc" "ser@ex\xc3\xa4mple.de", U, OK, "\xc3\xbc" "ser", "ex\xc3\xa4mple.de", false, true },
	{ "\xc3\x9cSER@EX\xc3\x84MPLE.DE", U, OK, "\xc3\x9cSER", "ex\xc3\x84mple.de", false, true },
	{ "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", U, OK,
	  "\xe7\x94\xa8\xe6\x88\xb7", "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", false, true },
	{ "\"\xc3\xbc\"@x", U, OK, "\xc3\xbc", "x", false, true },
	{ "\"\xc3\xbc \xc3\xbc\"@x", U, OK, "\"\xc3\xbc \xc3\xbc\"", "x", true, true },
	{ "\xf0\x9f\x98\x80@x", U, OK, "\xf0\x9f\x98\x80", "x", false, true },
	{ "a@-\xc3\xa4", U, SYN, NULL, NULL, false, false },
	{ "\xc3\xbc@x", 0, NOU, NULL, NULL, false, false },
	{ "a@\xc3\xa4.de", 0, NOU, NULL, NULL, false, false },
	{ "\"\xc3\xbc\"@x", 0, NOU, NULL, NULL, false, false },
	/* Malformed UTF-8 is a syntax error whatever the flags (RFC 3629). */
	{ "\xc0\xaf@x", U, BADU, NULL, NULL, false, false },             /* overlong '/' */
	{ "\xe0\x80\xaf@x", U, BADU, NULL, NULL, false, false },         /* overlong */
	{ "\xf0\x80\x80\xaf@x", U, BADU, NULL, NULL, false, false },     /* overlong */
	{ "\xed\xa0\x80@x", U, BADU, NULL, NULL, false, false },         /* surrogate */
	{ "\xf4\x90\x80\x80@x", U, BADU, NULL, NULL, false, false },     /* above U+10FFFF */
	{ "\xf5\x80\x80\x80@x", U, BADU, NULL, NULL, false, false },
	{ "\xf8\x88\x80\x80\x80@x", U, BADU, NULL, NULL, false, false }, /* 5-octet form */
	{ "\xe2\x82@x", U, BADU, NULL, NULL, false, false },             /* truncated */
	{ "\x80@x", U, BADU, NULL, NULL, false, false },                 /* lone continuation */
	{ "a\xc3@x", U, BADU, NULL, NULL, false, false },
	{ "a@\xff.com", U, BADU, NULL, NULL, false, false },
	{ "\"\xc3\"@x", U, BADU, NULL, NULL, false, false },
	{ "\xc0\xaf@x", 0, BADU, NULL, NULL, false, false },
	/* Syntax errors. */
	{ "", 0, SYN, NULL, NULL, false, false },
	{ "user", 0, SYN, NULL, NULL, false, false },
	{ "@x", 0, SYN, NULL, NULL, false, false },
	{ "user@", 0, SYN, NULL, NULL, false, false },
	{ "a@@x", 0, SYN, NULL, NULL, false, false },
	{ "a@b@x", 0, SYN, NULL, NULL, false, false },
	{ ".a@x", 0, SYN, NULL, NULL, false, false },
	{ "a.@x", 0, SYN, NULL, NULL, false, false },
	{ "a..b@x", 0, SYN, NULL, NULL, false, false },
	{ "a b@x", 0, SYN, NULL, NULL, false, false },
	{ "a(b)@x", 0, SYN, NULL, NULL, false, false },
	{ "a,b@x", 0, SYN, NULL, NULL, false, false },
	{ "a\\b@x", 0, SYN, NULL, NULL, false, false },
	{ "a@b c", 0, SYN, NULL, NULL, false, false },
	{ "a@-b.com", 0, SYN, NULL, NULL, false, false },
	{ "a@b-.com", 0, SYN, NULL, NULL, false, false },
	{ "a@b..com", 0, SYN, NULL, NULL, false, false },
	{ "a@b.com.", 0, SYN, NULL, NULL, false, false },
	{ "a@.b", 0, SYN, NULL, NULL, false, false },
	{ "a@b_c.com", 0, SYN, NULL, NULL, false, false },
	{ "a@b.com>", 0, SYN, NULL, NULL, false, false },
	{ "<a@b.com>", 0, SYN, NULL, NULL, false, false },
	{ "a@[1.2.3]", 0, SYN, NULL, NULL, false, false },
	{ "a@[1.2.3.256]", 0, SYN, NULL, NULL, false, false },
	{ "a@[1.2.3.4.5]", 0, SYN, NULL, NULL, false, false },
	{ "a@[1.2.3.0004]", 0, SYN, NULL, NULL, false, false },
	{ "a@[1..2.3]", 0, SYN, NULL, NULL, false, false },
	{ "a@[ 1.2.3.4]", 0, SYN, NULL, NULL, false, false },
	{ "a@[1.2.3.4", 0, SYN, NULL, NULL, false, false },
	{ "a@1.2.3.4]", 0, SYN, NULL, NULL, false, false },
	{ "a@[]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1:2:3:4:5:6:7]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1:2:3:4:5:6:7:8:9]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1::2::3]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1:2:3:4:5:6:7::]", 0, SYN, NULL, NULL, false, false }, /* "::" is >= 2 groups */
	{ "a@[IPv6:::1:2:3:4:5:6:7]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1:2:3:4:5::1.2.3.4]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:12345::]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6::1]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1:]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1:::2]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:1.2.3.4]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:g::]", 0, SYN, NULL, NULL, false, false },
	{ "a@[IPv6:]", 0, SYN, NULL, NULL, false, false },
	{ "a@[x400:foo]", 0, SYN, NULL, NULL, false, false }, /* General-address-literal */
	{ "a@[192.0.2.1]x", 0, SYN, NULL, NULL, false, false },
	{ "\"a@x", 0, SYN, NULL, NULL, false, false },
	{ "\"a\"b@x", 0, SYN, NULL, NULL, false, false },
	{ "\"a\"\"b\"@x", 0, SYN, NULL, NULL, false, false },
	{ "\"a\\\x01\"@x", 0, SYN, NULL, NULL, false, false },
	{ "\"a\tb\"@x", 0, SYN, NULL, NULL, false, false },
	{ "\"a\rb\"@x", 0, SYN, NULL, NULL, false, false },
	{ "\"a\\", 0, SYN, NULL, NULL, false, false },
	{ "a\rb@x", 0, SYN, NULL, NULL, false, false },
	{ "a\nb@x", 0, SYN, NULL, NULL, false, false },
};

static void test_mailbox_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]); i++) {
		const struct mailbox_case *t = &mailbox_cases[i];
		struct smtp_mailbox mb;
		size_t len = strlen(t->in);
		enum smtp_address_error got = smtp_address_parse_mailbox(t->in, len, t->flags, &mb);
		EXPECT_INT(t->in, len, got, t->want);
		if (t->want != SMTP_ADDRESS_OK)
			continue;
		EXPECT_STR(t->in, len, mb.local, t->local);
		EXPECT_STR(t->in, len, mb.domain.name, t->domain);
		EXPECT_INT(t->in, len, mb.local_quoted, t->quoted);
		EXPECT_INT(t->in, len, mb.utf8, t->utf8);
	}
}

static void test_mailbox_nul_byte(void **state)
{
	(void)state;
	struct smtp_mailbox mb;
	static const char a[] = "a\0b@x";
	static const char b[] = "ab@x\0";
	static const char c[] = "\"a\0b\"@x";

	assert_int_equal(smtp_address_parse_mailbox(a, sizeof(a) - 1, U, &mb), SYN);
	assert_int_equal(smtp_address_parse_mailbox(b, sizeof(b) - 1, U, &mb), SYN);
	assert_int_equal(smtp_address_parse_mailbox(c, sizeof(c) - 1, U, &mb), SYN);
	/* Only len counts: a prefix of a longer buffer parses on its own. */
	assert_int_equal(smtp_address_parse_mailbox("a@bXYZ", 3, 0, &mb), OK);
	assert_string_equal(mb.domain.name, "b");
}

static void test_mailbox_literal_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum smtp_domain_kind kind;
		unsigned char addr[16];
	} cases[] = {
		{ "a@[192.0.2.1]", SMTP_DOMAIN_IPV4, { 192, 0, 2, 1 } },
		{ "a@[000.255.010.1]", SMTP_DOMAIN_IPV4, { 0, 255, 10, 1 } },
		{ "a@[IPv6:2001:db8::1]", SMTP_DOMAIN_IPV6,
		  { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 } },
		{ "a@[IPv6:::1]", SMTP_DOMAIN_IPV6, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 } },
		{ "a@[IPv6:1::]", SMTP_DOMAIN_IPV6, { 0, 1 } },
		{ "a@[IPv6:1:2:3:4:5:6:7:8]", SMTP_DOMAIN_IPV6,
		  { 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8 } },
		{ "a@[IPv6:ffff:0:0:abcd::12]", SMTP_DOMAIN_IPV6,
		  { 0xff, 0xff, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0x12 } },
		{ "a@[IPv6:::ffff:192.0.2.1]", SMTP_DOMAIN_IPV6,
		  { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 } },
		{ "a@[IPv6:1:2:3:4:5:6:10.0.0.1]", SMTP_DOMAIN_IPV6,
		  { 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 10, 0, 0, 1 } },
		{ "a@[IPv6:1::5:1.2.3.4]", SMTP_DOMAIN_IPV6,
		  { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4 } },
		{ "a@example.com", SMTP_DOMAIN_NAME, { 0 } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_mailbox mb;
		size_t len = strlen(cases[i].in);
		EXPECT_INT(cases[i].in, len, smtp_address_parse_mailbox(cases[i].in, len, 0, &mb), OK);
		EXPECT_INT(cases[i].in, len, mb.domain.kind, cases[i].kind);
		for (size_t k = 0; k < 16; k++)
			EXPECT_INT(cases[i].in, len, mb.domain.addr[k], cases[i].addr[k]);
	}
}

static void test_mailbox_lengths(void **state)
{
	(void)state;
	char in[1200];
	struct smtp_mailbox mb;

	/* Local part: 64 octets as written (RFC 5321 4.5.3.1.1). */
	snprintf(in, sizeof(in), "%s@x", rep('a', 64));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb), OK);
	assert_int_equal(strlen(mb.local), 64);
	snprintf(in, sizeof(in), "%s@x", rep('a', 65));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_LOCAL_TOO_LONG);
	/* Quoted: the quotes and backslashes count. */
	snprintf(in, sizeof(in), "\"%s\"@x", rep('a', 62));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb), OK);
	assert_string_equal(mb.local, rep('a', 62));
	snprintf(in, sizeof(in), "\"%s\"@x", rep('a', 63));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_LOCAL_TOO_LONG);
	snprintf(in, sizeof(in), "\"%s\"@x", rep(' ', 62));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb), OK);
	assert_int_equal(strlen(mb.local), 64);
	snprintf(in, sizeof(in), "\"%s\\\"\"@x", rep(' ', 60));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb), OK);
	assert_int_equal(strlen(mb.local), 64);
	snprintf(in, sizeof(in), "\"%s\\a\"@x", rep(' ', 61));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_LOCAL_TOO_LONG);
	/* A quoted local part far too long, longer than any buffer. */
	snprintf(in, sizeof(in), "\"%s\"@x", rep('a', 1000));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_LOCAL_TOO_LONG);

	/* Labels: 63 octets (RFC 1035 2.3.4). */
	snprintf(in, sizeof(in), "a@%s.com", rep('b', 63));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb), OK);
	snprintf(in, sizeof(in), "a@%s.com", rep('b', 64));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_DOMAIN_TOO_LONG);

	/* A mailbox is at most 254 octets: the 256-octet path less "<>". */
	snprintf(in, sizeof(in), "a@%s", long_domain(252));
	assert_int_equal(strlen(in), 254);
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb), OK);
	snprintf(in, sizeof(in), "ab@%s", long_domain(252));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_PATH_TOO_LONG);
	snprintf(in, sizeof(in), "a@%s", long_domain(256));
	assert_int_equal(smtp_address_parse_mailbox(in, strlen(in), 0, &mb),
	                 SMTP_ADDRESS_DOMAIN_TOO_LONG);
}

struct path_case {
	const char *in;
	unsigned flags;
	enum smtp_address_error want;
	size_t len;          /* expected consumed length (when OK) */
	const char *text;    /* smtp_address_format of the mailbox (when OK) */
	bool null, postmaster, route;
};

#define N SMTP_ADDRESS_ALLOW_NULL
#define P SMTP_ADDRESS_ALLOW_POSTMASTER

static const struct path_case path_cases[] = {
	{ "<a@b>", 0, OK, 5, "a@b", false, false, false },
	{ "<a@b> SIZE=100", 0, OK, 5, "a@b", false, false, false },
	{ "<a@b>>", 0, OK, 5, "a@b", false, false, false },
	{ "<A@B.EXAMPLE>", 0, OK, 13, "A@b.example", false, false, false },
	{ "<>", N, OK, 2, "", true, false, false },
	{ "<> BODY=8BITMIME", N, OK, 2, "", true, false, false },
	{ "<>", 0, SYN, 0, NULL, false, false, false },
	{ "<>", P, SYN, 0, NULL, false, false, false },
	{ "<postmaster>", P, OK, 12, "postmaster", false, true, false },
	{ "<PostMaster>", P, OK, 12, "postmaster", false, true, false },
	{ "<POSTMASTER> X", P, OK, 12, "postmaster", false, true, false },
	{ "<postmaster>", 0, SYN, 0, NULL, false, false, false },
	{ "<postmaster>", N, SYN, 0, NULL, false, false, false },
	/* The same local part quoted: canonically equal, so the same. */
	{ "<\"postmaster\">", P, OK, 14, "postmaster", false, true, false },
	{ "<postmasters>", P, SYN, 0, NULL, false, false, false },
	{ "<@a:postmaster>", P, SYN, 0, NULL, false, false, false },
	{ "<Postmaster@Example.com>", P, OK, 24, "Postmaster@example.com", false, false, false },
	/* Source routes: checked, then dropped (RFC 5321 4.1.2, Appendix C). */
	{ "<@a,@b:user@d>", 0, OK, 14, "user@d", false, false, true },
	{ "<@relay.example:user@d>", 0, OK, 23, "user@d", false, false, true },
	{ "<@a,@b,@c.d:\"x y\"@e>", 0, OK, 20, "\"x y\"@e", false, false, true },
	{ "<@[1.2.3.4]:u@d>", 0, SYN, 0, NULL, false, false, false },
	{ "<@a,b:u@d>", 0, SYN, 0, NULL, false, false, false },
	{ "<@a u@d>", 0, SYN, 0, NULL, false, false, false },
	{ "<@:u@d>", 0, SYN, 0, NULL, false, false, false },
	{ "<@a,:u@d>", 0, SYN, 0, NULL, false, false, false },
	{ "<@a:>", 0, SYN, 0, NULL, false, false, false },
	{ "<@a>", 0, SYN, 0, NULL, false, false, false },
	{ "<@a_b:u@d>", 0, SYN, 0, NULL, false, false, false },
	/* A '>' in a quoted local part does not end the path. */
	{ "<\"a>b\"@x>", 0, OK, 9, "\"a>b\"@x", false, false, false },
	{ "<\"a\\\"> b\"@x> Z", 0, OK, 12, "\"a\\\"> b\"@x", false, false, false },
	/* Malformed paths. */
	{ "", 0, SYN, 0, NULL, false, false, false },
	{ "<", 0, SYN, 0, NULL, false, false, false },
	{ ">", 0, SYN, 0, NULL, false, false, false },
	{ "a@b", 0, SYN, 0, NULL, false, false, false },
	{ "a@b>", 0, SYN, 0, NULL, false, false, false },
	{ "<a@b", 0, SYN, 0, NULL, false, false, false },
	{ "< a@b>", 0, SYN, 0, NULL, false, false, false },
	{ "<a@b >", 0, SYN, 0, NULL, false, false, false },
	{ "<a @b>", 0, SYN, 0, NULL, false, false, false },
	{ "<<a@b>>", 0, SYN, 0, NULL, false, false, false },
	{ "<a>", 0, SYN, 0, NULL, false, false, false },
	{ "<a@>", 0, SYN, 0, NULL, false, false, false },
	{ "<a@b,c>", 0, SYN, 0, NULL, false, false, false },
	{ "<a@b\r\n>", 0, SYN, 0, NULL, false, false, false },
	{ "<\xc3\xbc@b>", 0, NOU, 0, NULL, false, false, false },
	{ "<@\xc3\xa4:u@b>", 0, NOU, 0, NULL, false, false, false },
	{ "<\xc3\xbc@b>", U, OK, 6, "\xc3\xbc@b", false, false, false },
	{ "<\xc3@b>", U, BADU, 0, NULL, false, false, false },
};

static void test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *t = &path_cases[i];
		struct smtp_path path;
		size_t len = strlen(t->in), used = 0;
		char text[SMTP_MAILBOX_MAX + 1];

		enum smtp_address_error got = smtp_address_parse_path(t->in, len, t->flags, &path, &used);
		EXPECT_INT(t->in, len, got, t->want);
		if (t->want != SMTP_ADDRESS_OK)
			continue;
		EXPECT_INT(t->in, len, used, t->len);
		EXPECT_INT(t->in, len, path.null, t->null);
		EXPECT_INT(t->in, len, path.postmaster, t->postmaster);
		EXPECT_INT(t->in, len, path.source_route, t->route);
		EXPECT_INT(t->in, len, smtp_address_format(&path.mailbox, text, sizeof(text)) >= 0, 1);
		EXPECT_STR(t->in, len, text, t->text);
	}
}

static void test_path_lengths(void **state)
{
	(void)state;
	char in[1200];
	struct smtp_path path;
	size_t used;

	/* 256 octets with the brackets (RFC 5321 4.5.3.1.3). */
	snprintf(in, sizeof(in), "<a@%s>", long_domain(252));
	assert_int_equal(strlen(in), 256);
	assert_int_equal(smtp_address_parse_path(in, strlen(in), 0, &path, &used), OK);
	assert_int_equal(used, 256);
	snprintf(in, sizeof(in), "<ab@%s>", long_domain(252));
	assert_int_equal(smtp_address_parse_path(in, strlen(in), 0, &path, &used),
	                 SMTP_ADDRESS_PATH_TOO_LONG);
	/* The source route counts too. */
	snprintf(in, sizeof(in), "<@%s:a@%s>", long_domain(100), long_domain(150));
	assert_int_equal(strlen(in), 256);
	assert_int_equal(smtp_address_parse_path(in, strlen(in), 0, &path, &used), OK);
	snprintf(in, sizeof(in), "<@%s:a@%s>", long_domain(101), long_domain(150));
	assert_int_equal(smtp_address_parse_path(in, strlen(in), 0, &path, &used),
	                 SMTP_ADDRESS_PATH_TOO_LONG);
	snprintf(in, sizeof(in), "<%s@x>", rep('a', 65));
	assert_int_equal(smtp_address_parse_path(in, strlen(in), 0, &path, &used),
	                 SMTP_ADDRESS_LOCAL_TOO_LONG);
}

struct domain_case {
	const char *in;
	unsigned flags;
	enum smtp_address_error want;
	const char *name;
	enum smtp_domain_kind kind;
};

static const struct domain_case domain_cases[] = {
	{ "example.com", 0, OK, "example.com", SMTP_DOMAIN_NAME },
	{ "MX1.Example.COM", 0, OK, "mx1.example.com", SMTP_DOMAIN_NAME },
	{ "localhost", 0, OK, "localhost", SMTP_DOMAIN_NAME },
	{ "[127.0.0.1]", 0, OK, "[127.0.0.1]", SMTP_DOMAIN_IPV4 },
	{ "[IPv6:::1]", 0, OK, "[IPv6:::1]", SMTP_DOMAIN_IPV6 },
	{ "b\xc3\xbc" "cher.de", U, OK, "b\xc3\xbc" "cher.de", SMTP_DOMAIN_NAME },
	{ "b\xc3\xbc" "cher.de", 0, NOU, NULL, 0 },
	{ "", 0, SYN, NULL, 0 },
	{ "my_host", 0, SYN, NULL, 0 },
	{ "host name", 0, SYN, NULL, 0 },
	{ "127.0.0.1", 0, OK, "127.0.0.1", SMTP_DOMAIN_NAME },
	{ "[127.0.0.1", 0, SYN, NULL, 0 },
	{ "example.com.", 0, SYN, NULL, 0 },
	{ ".", 0, SYN, NULL, 0 },
	{ "a@b", 0, SYN, NULL, 0 },
};

static void test_domain_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(domain_cases) / sizeof(domain_cases[0]); i++) {
		const struct domain_case *t = &domain_cases[i];
		struct smtp_domain d;
		size_t len = strlen(t->in);
		EXPECT_INT(t->in, len, smtp_address_parse_domain(t->in, len, t->flags, &d), t->want);
		if (t->want != SMTP_ADDRESS_OK)
			continue;
		EXPECT_STR(t->in, len, d.name, t->name);
		EXPECT_INT(t->in, len, d.kind, t->kind);
	}

	struct smtp_domain d;
	const char *n = long_domain(255);
	assert_int_equal(smtp_address_parse_domain(n, 255, 0, &d), OK);
	assert_int_equal(strlen(d.name), 255);
	n = long_domain(256);
	assert_int_equal(smtp_address_parse_domain(n, 256, 0, &d), SMTP_ADDRESS_DOMAIN_TOO_LONG);
}

static void test_utf8_valid(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool valid;
	} cases[] = {
		{ "", true },
		{ "plain ascii\t\x01\x7f", true },
		{ "\xc2\x80", true },
		{ "\xdf\xbf", true },
		{ "\xe0\xa0\x80", true },
		{ "\xed\x9f\xbf", true },    /* U+D7FF */
		{ "\xee\x80\x80", true },    /* U+E000 */
		{ "\xef\xbf\xbf", true },
		{ "\xf0\x90\x80\x80", true },
		{ "\xf4\x8f\xbf\xbf", true }, /* U+10FFFF */
		{ "\xc1\xbf", false },
		{ "\xc2", false },
		{ "\xc2\x41", false },
		{ "\xe0\x9f\xbf", false },
		{ "\xed\xa0\x80", false },
		{ "\xed\xbf\xbf", false },
		{ "\xf0\x8f\xbf\xbf", false },
		{ "\xf4\x90\x80\x80", false },
		{ "\xf0\x90\x80", false },
		{ "\xfe", false },
		{ "\xff", false },
		{ "a\x80", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		EXPECT_INT(cases[i].in, len, smtp_address_utf8_valid(cases[i].in, len), cases[i].valid);
	}
}

static void test_format(void **state)
{
	(void)state;
	struct smtp_mailbox mb;
	char out[8];

	assert_int_equal(smtp_address_parse_mailbox("abc@def.gh", 10, 0, &mb), OK);
	assert_int_equal(smtp_address_format(&mb, out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(smtp_address_format(&mb, out, 0), -1);
	char big[SMTP_MAILBOX_MAX + 1];
	assert_int_equal(smtp_address_format(&mb, big, sizeof(big)), 10);
	assert_string_equal(big, "abc@def.gh");
}

/* A canonical mailbox parses back to itself: what the store compares is stable. */
static void test_canonical_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]); i++) {
		const struct mailbox_case *t = &mailbox_cases[i];
		struct smtp_mailbox mb, again;
		char text[SMTP_MAILBOX_MAX + 1];

		if (t->want != SMTP_ADDRESS_OK)
			continue;
		assert_int_equal(smtp_address_parse_mailbox(t->in, strlen(t->in), t->flags, &mb), OK);
		int n = smtp_address_format(&mb, text, sizeof(text));
		EXPECT_INT(t->in, strlen(t->in), n >= 0, 1);
		EXPECT_INT(text, (size_t)n, smtp_address_parse_mailbox(text, (size_t)n, t->flags, &again),
		           OK);
		EXPECT_STR(text, (size_t)n, again.local, mb.local);
		EXPECT_STR(text, (size_t)n, again.domain.name, mb.domain.name);
	}
}

/* ---- stored addresses: the rules the store and mailctl share -------- */

/* The same rules as the parser, on a NUL-terminated "local@domain". */
static void test_normalize_table(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum smtp_address_error want;
		const char *out;
	} cases[] = {
		{ "alice@example.test", OK, "alice@example.test" },
		{ "Alice@Example.TEST", OK, "Alice@example.test" },
		{ "\"a b\"@r.test", OK, "\"a b\"@r.test" },
		{ "\"a@b\"@r.test", OK, "\"a@b\"@r.test" },
		{ "\"a\\ b\"@r.test", OK, "\"a b\"@r.test" },
		{ "\"john.doe\"@r.test", OK, "john.doe@r.test" },
		{ "\"\"@r.test", OK, "\"\"@r.test" },
		{ "x@[192.0.2.1]", OK, "x@[192.0.2.1]" },
		{ "x@[ipv6:2001:DB8::1]", OK, "x@[ipv6:2001:DB8::1]" },
		{ "j\xc3\xbcrgen@r.test", OK, "j\xc3\xbcrgen@r.test" },
		{ "a+b@r.test", OK, "a+b@r.test" },
		/* what mailctl used to accept and SMTP refused (issue 10) */
		{ "a..b@r.test", SYN, "" },
		{ "a.@r.test", SYN, "" },
		{ ".a@r.test", SYN, "" },
		{ "a\"b@r.test", SYN, "" },
		{ "a b@r.test", SYN, "" },
		{ "a@b@r.test", SYN, "" },
		{ "a@r.test.", SYN, "" },
		{ "a@-r.test", SYN, "" },
		{ "a@r_x.test", SYN, "" },
		{ "a@", SYN, "" },
		{ "@r.test", SYN, "" },
		{ "postmaster", SYN, "" },
		{ "<a@r.test>", SYN, "" },
		{ "a@r.test\r\n", SYN, "" },
		{ "a@[300.0.0.1]", SYN, "" },
		{ "j\xc3@r.test", SMTP_ADDRESS_BAD_UTF8, "" },
	};
	char out[SMTP_MAILBOX_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		memcpy(out, "junk", 5);
		EXPECT_INT(in, strlen(in), smtp_address_normalize(in, out, sizeof(out)), cases[i].want);
		EXPECT_STR(in, strlen(in), out, cases[i].out);
	}

	/* The limits: 64 octets of local part, labels of 63, 254 in all. */
	char text[600];
	snprintf(text, sizeof(text), "%s@r.test", rep('l', 64));
	assert_int_equal(smtp_address_normalize(text, out, sizeof(out)), OK);
	snprintf(text, sizeof(text), "%s@r.test", rep('l', 65));
	assert_int_equal(smtp_address_normalize(text, out, sizeof(out)), SMTP_ADDRESS_LOCAL_TOO_LONG);
	snprintf(text, sizeof(text), "a@%s.test", rep('d', 63));
	assert_int_equal(smtp_address_normalize(text, out, sizeof(out)), OK);
	snprintf(text, sizeof(text), "a@%s.test", rep('d', 70));
	assert_int_equal(smtp_address_normalize(text, out, sizeof(out)), SMTP_ADDRESS_DOMAIN_TOO_LONG);
	snprintf(text, sizeof(text), "%s@%s", rep('l', 64), long_domain(189));
	assert_int_equal(smtp_address_normalize(text, out, sizeof(out)), OK);
	assert_int_equal(strlen(out), SMTP_MAILBOX_MAX);
	snprintf(text, sizeof(text), "%s@%s", rep('l', 64), long_domain(190));
	assert_int_equal(smtp_address_normalize(text, out, sizeof(out)), SMTP_ADDRESS_PATH_TOO_LONG);
	assert_int_equal(smtp_address_normalize(NULL, out, sizeof(out)), SYN);
	assert_string_equal(out, "");
	/* An output buffer too small is an error, never a cut address. */
	char small[8];
	assert_int_equal(smtp_address_normalize("abcd@ef.gh", small, sizeof(small)),
	                 SMTP_ADDRESS_PATH_TOO_LONG);
	assert_string_equal(small, "");
}

/* Whatever a path the parser accepts holds, normalizes to itself: the
 * store can keep every address SMTP accepts. */
static void test_normalize_accepts_parsed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mailbox_cases) / sizeof(mailbox_cases[0]); i++) {
		const struct mailbox_case *t = &mailbox_cases[i];
		struct smtp_mailbox mb;
		char text[SMTP_MAILBOX_MAX + 1], out[SMTP_MAILBOX_MAX + 1];

		if (t->want != SMTP_ADDRESS_OK)
			continue;
		assert_int_equal(smtp_address_parse_mailbox(t->in, strlen(t->in), t->flags, &mb), OK);
		int n = smtp_address_format(&mb, text, sizeof(text));
		assert_true(n > 0);
		EXPECT_INT(text, (size_t)n, smtp_address_normalize(text, out, sizeof(out)), OK);
		EXPECT_STR(text, (size_t)n, out, text);
	}
}

static void test_key(void **state)
{
	(void)state;
	static const struct {
		const char *in, *key;
	} cases[] = {
		{ "alice@example.test", "alice@example.test" },
		{ "Alice@example.test", "alice@example.test" },
		{ "ALICE+Tag@EXAMPLE.TEST", "alice+tag@example.test" },
		{ "\"A B\"@r.test", "\"a b\"@r.test" },
		{ "\xc3\x9cNI@r.test", "\xc3\x9cni@r.test" }, /* non-ASCII stays as written */
		{ "x@[IPv6:2001:DB8::1]", "x@[ipv6:2001:db8::1]" },
		{ "", "" },
	};
	char out[SMTP_MAILBOX_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_address_key(cases[i].in, out, sizeof(out));
		EXPECT_STR(cases[i].in, strlen(cases[i].in), out, cases[i].key);
	}
	/* In place, and cut to the buffer. */
	char buf[32] = "MiXeD@Case.TEST";
	smtp_address_key(buf, buf, sizeof(buf));
	assert_string_equal(buf, "mixed@case.test");
	char small[4];
	smtp_address_key("ABCDEF", small, sizeof(small));
	assert_string_equal(small, "abc");
}

static void test_delimiters_valid(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool valid;
	} cases[] = {
		{ "", true },
		{ "+", true },
		{ "+-", true },
		{ "!#$%&'*+-/=?^_`{", true },
		{ "|}~", true },
		{ "!#$%&'*+-/=?^_`{|}~", false }, /* each is fine, but 19 of them */
		{ "++++++++++++++++", true },  /* 16 */
		{ "+++++++++++++++++", false }, /* 17 */
		{ ".", false },
		{ "a", false },
		{ "+1", false },
		{ " ", false },
		{ "@", false },
		{ "\"", false },
		{ "\\", false },
		{ "\xc3\xbc", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		EXPECT_INT(cases[i].in, strlen(cases[i].in), smtp_address_delimiters_valid(cases[i].in),
		           cases[i].valid);
}

static void test_strip_extension(void **state)
{
	(void)state;
	static const struct {
		const char *in, *delims, *out; /* out NULL: no extension */
	} cases[] = {
		{ "alice+tag@example.test", "+", "alice@example.test" },
		{ "alice+@example.test", "+", "alice@example.test" },
		{ "alice+a+b@example.test", "+", "alice@example.test" },
		{ "alice-a+b@example.test", "+-", "alice@example.test" },
		{ "alice+a-b@example.test", "-+", "alice@example.test" },
		{ "Alice+Tag@example.test", "+", "Alice@example.test" },
		{ "alice@example.test", "+", NULL },
		{ "alice-tag@example.test", "+", NULL },
		{ "alice@ex-ample.test", "-", NULL },   /* only in the local part */
		{ "+tag@example.test", "+", NULL },     /* would leave it empty */
		{ "a.+tag@example.test", "+", NULL },   /* would leave "a." */
		{ "a.b+tag@example.test", "+", "a.b@example.test" },
		{ "\"a+b\"@example.test", "+", NULL }, /* quoted: taken as it is */
		{ "alice+tag@example.test", "", NULL },
		{ "alice+tag@example.test", NULL, NULL },
		{ "postmaster", "+", NULL },
		{ "a+b", "+", NULL },
	};
	char out[SMTP_MAILBOX_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		memcpy(out, "untouched", 10);
		bool got = smtp_address_strip_extension(in, cases[i].delims, out, sizeof(out));
		EXPECT_INT(in, strlen(in), got, cases[i].out != NULL);
		EXPECT_STR(in, strlen(in), out, cases[i].out != NULL ? cases[i].out : "untouched");
	}
	/* In place, and never past the buffer. */
	char buf[32] = "bob+x@example.test";
	assert_true(smtp_address_strip_extension(buf, "+", buf, sizeof(buf)));
	assert_string_equal(buf, "bob@example.test");
	char small[8];
	assert_false(smtp_address_strip_extension("bob+x@example.test", "+", small, sizeof(small)));
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = SMTP_ADDRESS_OK; e <= SMTP_ADDRESS_PATH_TOO_LONG; e++) {
		const char *s = smtp_address_strerror((enum smtp_address_error)e);
		assert_non_null(s);
		assert_true(strlen(s) > 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailbox_table),
		cmocka_unit_test(test_mailbox_nul_byte),
		cmocka_unit_test(test_mailbox_literal_addresses),
		cmocka_unit_test(test_mailbox_lengths),
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_path_lengths),
		cmocka_unit_test(test_domain_table),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_canonical_roundtrip),
		cmocka_unit_test(test_normalize_table),
		cmocka_unit_test(test_normalize_accepts_parsed),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_delimiters_valid),
		cmocka_unit_test(test_strip_extension),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
