/*
 * test_proxy_protocol.c - the PROXY protocol header parser
 * (common/proxy_protocol.h), table-driven. Every case is also fed as
 * every prefix of itself, the way a header split across reads arrives:
 * a prefix of a valid header must ask for more, a prefix of a bad one may
 * ask for more or fail with the same reason, and nothing decided at one
 * length may change at a longer one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "proxy_protocol.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A literal with its length, NUL bytes included. */
#define B(s) s, sizeof(s) - 1

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"
/* 203.0.113.7:56324 -> 192.0.2.25:25 */
#define V2_TCP4_ADDRS "\xcb\x00\x71\x07" "\xc0\x00\x02\x19" "\xdc\x04" "\x00\x19"
/* [2001:db8::7]:56324 -> [2001:db8::25]:25 */
#define V2_TCP6_ADDRS "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07" \
                      "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x25" "\xdc\x04" "\x00\x19"
#define V2_TLVS "\x01\x00\x04smtp" "\x05\x00\x03" "abc"

struct pp_case {
	const char *in;
	size_t inlen;
	enum proxy_status status;
	const char *why;    /* PROXY_ERROR */
	size_t len;         /* PROXY_DONE: the header's length; 0 means all of in */
	unsigned version;
	bool local;
	const char *src;
	unsigned sport;
	const char *dst;
	unsigned dport;
};

#define OK1(s, src, sp, dst, dp) { B(s), PROXY_DONE, NULL, 0, 1, false, src, sp, dst, dp }
#define OK2(s, src, sp, dst, dp) { B(s), PROXY_DONE, NULL, 0, 2, false, src, sp, dst, dp }
#define LOCAL(s, v) { B(s), PROXY_DONE, NULL, 0, v, true, "", 0, "", 0 }
#define BAD(s, why) { B(s), PROXY_ERROR, why, 0, 0, false, NULL, 0, NULL, 0 }
#define MORE(s) { B(s), PROXY_NEED_MORE, NULL, 0, 0, false, NULL, 0, NULL, 0 }

/* "ffff:...:ffff", 39 characters: the longest IPv6 address text. */
#define FULL6 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static const struct pp_case cases[] = {
	/* ---- v1 ---- */
	OK1("PROXY TCP4 203.0.113.7 192.0.2.25 56324 25\r\n", "203.0.113.7", 56324, "192.0.2.25", 25),
	OK1("PROXY TCP6 2001:DB8::7 2001:db8:0::25 56324 25\r\n", "2001:db8::7", 56324,
	    "2001:db8::25", 25),
	OK1("PROXY TCP6 ::ffff:192.0.2.1 ::1 0 65535\r\n", "::ffff:192.0.2.1", 0, "::1", 65535),
	OK1("PROXY TCP6 " FULL6 " " FULL6 " 65535 65535\r\n", FULL6, 65535, FULL6, 65535),
	LOCAL("PROXY UNKNOWN\r\n", 1),
	LOCAL("PROXY UNKNOWN 203.0.113.7 192.0.2.25 56324 25\r\n", 1),
	/* 2.1's worst case: exactly 107 bytes. */
	LOCAL("PROXY UNKNOWN " FULL6 " " FULL6 " 65535 65535\r\n", 1),
	BAD("PROXY UNKNOWN " FULL6 " " FULL6 " 65535 655350\r\n", "v1_too_long"),
	BAD("PROXY UNKNOWN " FULL6 " " FULL6 " 65535 65535 no line end in sight", "v1_too_long"),
	BAD("EHLO client.example\r\n", "not_proxy"),
	BAD("PROXY\r\n", "not_proxy"),
	BAD("proxy TCP4 203.0.113.7 192.0.2.25 1 2\r\n", "not_proxy"),
	BAD("PROXY tcp4 203.0.113.7 192.0.2.25 1 2\r\n", "v1_bad_protocol"),
	BAD("PROXY UDP4 203.0.113.7 192.0.2.25 1 2\r\n", "v1_bad_protocol"),
	BAD("PROXY UNKNOWNX\r\n", "v1_bad_protocol"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 1 2\n", "v1_bad_line_end"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 1 2\r\r\n", "v1_bad_character"),
	BAD("PROXY TCP4 203.0.113.7\t192.0.2.25 1 2\r\n", "v1_bad_character"),
	BAD("PROXY TCP4 203.0.113.\xc3\xa9 192.0.2.25 1 2\r\n", "v1_bad_character"),
	BAD("PROXY TCP4 203.0.113.7\0 192.0.2.25 1 2\r\n", "v1_bad_character"),
	BAD("PROXY TCP4\r\n", "v1_missing_field"),
	BAD("PROXY TCP4 203.0.113.7\r\n", "v1_missing_field"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 1\r\n", "v1_missing_field"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 1 \r\n", "v1_missing_field"),
	BAD("PROXY TCP4  203.0.113.7 192.0.2.25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP4 203.0.113.300 192.0.2.25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP4 203.0.113.07 192.0.2.25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP4 203.0.113 192.0.2.25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP4 2001:db8::7 192.0.2.25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP6 203.0.113.7 2001:db8::25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP6 2001:db8::7 203.0.113.7 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP6 fe80::1%eth0 2001:db8::25 1 2\r\n", "v1_bad_address"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 65536 25\r\n", "v1_bad_port"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 025 25\r\n", "v1_bad_port"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 -1 25\r\n", "v1_bad_port"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 +1 25\r\n", "v1_bad_port"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 1 2 3\r\n", "v1_bad_port"),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.25 1 999999\r\n", "v1_bad_port"),
	MORE(""),
	MORE("PROX"),
	MORE("PROXY TCP4 203.0.113.7 192.0.2.25 1 2\r"),

	/* ---- v2 ---- */
	OK2(V2SIG "\x21\x11\x00\x0c" V2_TCP4_ADDRS, "203.0.113.7", 56324, "192.0.2.25", 25),
	OK2(V2SIG "\x21\x21\x00\x24" V2_TCP6_ADDRS, "2001:db8::7", 56324, "2001:db8::25", 25),
	OK2(V2SIG "\x21\x11\x00\x19" V2_TCP4_ADDRS V2_TLVS, "203.0.113.7", 56324, "192.0.2.25", 25),
	OK2(V2SIG "\x21\x21\x00\x31" V2_TCP6_ADDRS V2_TLVS, "2001:db8::7", 56324, "2001:db8::25",
	    25),
	LOCAL(V2SIG "\x20\x00\x00\x00", 2),
	LOCAL(V2SIG "\x20\x11\x00\x0c" V2_TCP4_ADDRS, 2),
	/* LOCAL ignores the family, even one PROXY would refuse. */
	LOCAL(V2SIG "\x20\x31\x00\x03" "abc", 2),
	/* PROXY for an unspecified protocol: no client named. */
	LOCAL(V2SIG "\x21\x00\x00\x00", 2),
	LOCAL(V2SIG "\x21\x00\x00\x03" "abc", 2),
	BAD(V2SIG "\x11\x11\x00\x0c" V2_TCP4_ADDRS, "v2_bad_version"),
	BAD(V2SIG "\x31", "v2_bad_version"),
	BAD(V2SIG "\x22\x11\x00\x0c" V2_TCP4_ADDRS, "v2_bad_command"),
	BAD(V2SIG "\x2f", "v2_bad_command"),
	BAD(V2SIG "\x21\x12\x00\x0c" V2_TCP4_ADDRS, "v2_unsupported_family"),
	BAD(V2SIG "\x21\x22\x00\x24" V2_TCP6_ADDRS, "v2_unsupported_family"),
	BAD(V2SIG "\x21\x31\x00\xd8", "v2_unsupported_family"),
	BAD(V2SIG "\x21\x10\x00\x0c" V2_TCP4_ADDRS, "v2_unsupported_family"),
	BAD(V2SIG "\x21\x11\x00\x0b" "\xcb\x00\x71\x07\xc0\x00\x02\x19\xdc\x04\x00",
	    "v2_short_addresses"),
	BAD(V2SIG "\x21\x21\x00\x0c" V2_TCP4_ADDRS, "v2_short_addresses"),
	BAD(V2SIG "\x21\x11\x02\x01", "v2_too_long"),
	BAD(V2SIG "\x20\x00\xff\xff", "v2_too_long"),
	BAD("\r\n\r\n\0\r\nQUIT\r", "not_proxy"),
	BAD("\r\n\r\n\r\n", "not_proxy"),
	BAD("\r\nEHLO\r\n", "not_proxy"),
	MORE("\r\n\r\n\0\r\nQUI"),
	MORE(V2SIG),
	MORE(V2SIG "\x21\x11\x00\x0c" "\xcb\x00\x71\x07"),
	/* Neither version's first byte. */
	BAD("\x16\x03\x01\x00\xa0\x01\x00\x00\x9c", "not_proxy"),
	BAD("\0", "not_proxy"),
};

/* What a result looks like in a failure message. */
static const char *status_name(enum proxy_status st)
{
	return st == PROXY_DONE ? "done" : st == PROXY_ERROR ? "error" : "need_more";
}

static void check_done(size_t i, const struct pp_case *c, const struct proxy_header *h)
{
	size_t want_len = c->len > 0 ? c->len : c->inlen;
	if (h->len != want_len || h->version != c->version || h->local != c->local ||
	    strcmp(h->src_ip, c->src) != 0 || strcmp(h->dst_ip, c->dst) != 0 ||
	    h->src_port != c->sport || h->dst_port != c->dport)
		fail_msg("case %zu %s: got len %zu v%u local %d %s:%u -> %s:%u, want len %zu v%u "
		         "local %d %s:%u -> %s:%u", i, testutil_show(c->in, c->inlen), h->len,
		         h->version, h->local, h->src_ip, h->src_port, h->dst_ip, h->dst_port,
		         want_len, c->version, c->local, c->src, c->sport, c->dst, c->dport);
	int want_family = c->local ? AF_UNSPEC : strchr(c->src, ':') != NULL ? AF_INET6 : AF_INET;
	assert_int_equal(h->family, want_family);
}

static void test_cases(void **state)
{
	for (size_t i = 0; i < N(cases); i++) {
		const struct pp_case *c = &cases[i];
		struct proxy_header h;
		const char *why;
		enum proxy_status st = proxy_parse(c->in, c->inlen, &h, &why);
		if (st != c->status || (st == PROXY_ERROR && strcmp(why, c->why) != 0))
			fail_msg("case %zu %s: got %s (%s), want %s (%s)", i,
			         testutil_show(c->in, c->inlen), status_name(st),
			         st == PROXY_ERROR ? why : "-", status_name(c->status),
			         c->why != NULL ? c->why : "-");
		if (st == PROXY_DONE)
			check_done(i, c, &h);
	}
}

/* Every prefix, as when the header arrives a byte per read. */
static void test_prefixes(void **state)
{
	for (size_t i = 0; i < N(cases); i++) {
		const struct pp_case *c = &cases[i];
		for (size_t k = 0; k < c->inlen; k++) {
			struct proxy_header h;
			const char *why;
			enum proxy_status st = proxy_parse(c->in, k, &h, &why);
			bool ok = st == PROXY_NEED_MORE ||
			          (c->status == PROXY_ERROR && st == PROXY_ERROR && strcmp(why, c->why) == 0);
			if (!ok)
				fail_msg("case %zu %s, first %zu bytes: got %s (%s)", i,
				         testutil_show(c->in, c->inlen), k, status_name(st),
				         st == PROXY_ERROR ? why : "-");
		}
	}
}

/* What follows the header is never looked at, and its length is exact. */
static void test_followed_by_more(void **state)
{
	static const char tails[][16] = { "EHLO x\r\n", "\x16\x03\x01\x02\x00\x01", "\r\n\r\n",
	                                  "PROXY TCP4 " };
	char buf[PROXY_HEADER_MAX + 64];

	for (size_t i = 0; i < N(cases); i++) {
		const struct pp_case *c = &cases[i];
		if (c->status != PROXY_DONE)
			continue;
		for (size_t t = 0; t < N(tails); t++) {
			size_t tl = strlen(tails[t]);
			memcpy(buf, c->in, c->inlen);
			memcpy(buf + c->inlen, tails[t], tl);
			struct proxy_header h;
			const char *why;
			enum proxy_status st = proxy_parse(buf, c->inlen + tl, &h, &why);
			if (st != PROXY_DONE)
				fail_msg("case %zu + tail %zu: got %s (%s)", i, t, status_name(st),
				         st == PROXY_ERROR ? why : "-");
			check_done(i, c, &h);
		}
	}
}

/* The v2 length field: up to PROXY_V2_LEN_MAX accepted (TLVs skipped), one more refused. */
static void test_v2_length_bound(void **state)
{
	unsigned char buf[PROXY_HEADER_MAX + 1];
	static const unsigned char head[] = { '\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I',
	                                      'T', '\n', 0x21, 0x11 };
	struct proxy_header h;
	const char *why;

	memset(buf, 0xee, sizeof(buf));
	memcpy(buf, head, sizeof(head));
	buf[14] = PROXY_V2_LEN_MAX >> 8;
	buf[15] = PROXY_V2_LEN_MAX & 0xff;
	memcpy(buf + 16, "\xcb\x00\x71\x07\xc0\x00\x02\x19\xdc\x04\x00\x19", 12);
	assert_int_equal(proxy_parse(buf, PROXY_HEADER_MAX - 1, &h, &why), PROXY_NEED_MORE);
	assert_int_equal(proxy_parse(buf, PROXY_HEADER_MAX, &h, &why), PROXY_DONE);
	assert_int_equal(h.len, PROXY_HEADER_MAX);
	assert_string_equal(h.src_ip, "203.0.113.7");
	assert_int_equal(proxy_parse(buf, sizeof(buf), &h, &why), PROXY_DONE);
	assert_int_equal(h.len, PROXY_HEADER_MAX);

	buf[15] = (PROXY_V2_LEN_MAX + 1) & 0xff;
	assert_int_equal(proxy_parse(buf, 16, &h, &why), PROXY_ERROR);
	assert_string_equal(why, "v2_too_long");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_followed_by_more),
		cmocka_unit_test(test_v2_length_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
