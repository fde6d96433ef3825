/*
 * test_netlist.c - lists of networks in configuration values
 * (common/netlist.h): what parses, what is refused and why, and which
 * peer addresses each list matches. Table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netlist.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_parse_good(void **state)
{
	static const struct {
		const char *text;
		size_t count;
	} cases[] = {
		{ "", 0 },
		{ "127.0.0.1", 1 },
		{ "10.0.0.0/8, 192.168.1.7, fd00::/8, ::1", 4 },
		{ " 10.0.0.0/8 ,\t192.168.1.7\t", 2 },
		{ "0.0.0.0/0", 1 },
		{ "::/0", 1 },
		{ "192.0.2.7/32", 1 },
		{ "2001:db8::/32,2001:db8::1/128", 2 },
		{ "::ffff:192.0.2.0/120", 1 },
		{ "172.16.0.0/12", 1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct netlist l;
		char why[256] = "";
		int r = netlist_parse(cases[i].text, &l, why, sizeof(why));
		if (r != 0 || l.count != cases[i].count)
			fail_msg("'%s': got %d (%s), %zu networks; want %zu", cases[i].text, r, why, l.count,
			         cases[i].count);
	}
	/* 32 networks fit; a 33rd does not. */
	char many[33 * 16] = "";
	for (int i = 0; i < 32; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.0.0.%d", i ? "," : "",
		         i);
	struct netlist l;
	char why[256];
	assert_int_equal(netlist_parse(many, &l, why, sizeof(why)), 0);
	assert_int_equal(l.count, NETLIST_MAX);
	snprintf(many + strlen(many), sizeof(many) - strlen(many), ",10.0.1.0");
	assert_int_equal(netlist_parse(many, &l, why, sizeof(why)), -1);
	assert_string_equal(why, "more than 32 networks");
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *text;
		const char *why; /* the start of the reason */
	} cases[] = {
		{ "10.0.0.1/8", "bad network '10.0.0.1/8' (address has bits set past the /8 prefix)" },
		{ "fd00::1/8", "bad network 'fd00::1/8' (address has bits set" },
		{ "10.0.0.0/33", "bad network '10.0.0.0/33' (prefix length must be 0-32)" },
		{ "::/129", "bad network '::/129' (prefix length must be 0-128)" },
		{ "10.0.0.0/", "bad network '10.0.0.0/' (prefix length" },
		{ "10.0.0.0/08", "bad network '10.0.0.0/08' (prefix length" },
		{ "10.0.0.0/-8", "bad network '10.0.0.0/-8' (prefix length" },
		{ "10.0.0.0/8/8", "bad network '10.0.0.0/8/8' (prefix length" },
		{ "10.0.0.0 /8", "bad network '10.0.0.0 /8' (expected an IPv4 or IPv6 address" },
		{ "localhost", "bad network 'localhost' (expected an IPv4 or IPv6 address" },
		{ "10.0.0", "bad network '10.0.0' (expected" },
		{ "010.0.0.1", "bad network '010.0.0.1' (expected" },
		{ "256.0.0.1", "bad network '256.0.0.1' (expected" },
		{ "[::1]", "bad network '[::1]' (expected" },
		{ "fe80::1%eth0", "bad network 'fe80::1%eth0' (expected" },
		{ "10.0.0.0/8,", "empty item in list" },
		{ ",10.0.0.0/8", "empty item in list" },
		{ "10.0.0.1,,10.0.0.2", "empty item in list" },
		{ " ", "empty item in list" },
		{ "1234:5678:9abc:def0:1234:5678:9abc:def0:1234:5678:9abc:def0:1234:5678",
		  "bad network '1234:5678:9abc:def0:1234:5678:9a...' (too long)" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct netlist l;
		char why[256] = "";
		int r = netlist_parse(cases[i].text, &l, why, sizeof(why));
		if (r != -1 || strncmp(why, cases[i].why, strlen(cases[i].why)) != 0)
			fail_msg("'%s': got %d \"%s\", want -1 \"%s...\"", cases[i].text, r, why,
			         cases[i].why);
	}
}

static void test_match(void **state)
{
	static const struct {
		const char *list;
		const char *ip;
		bool match;
	} cases[] = {
		{ "", "127.0.0.1", false },
		{ "127.0.0.1", "127.0.0.1", true },
		{ "127.0.0.1", "127.0.0.2", false },
		{ "127.0.0.1", "::ffff:127.0.0.1", true },
		{ "127.0.0.1", "::1", false },
		{ "10.0.0.0/8", "10.255.255.255", true },
		{ "10.0.0.0/8", "11.0.0.0", false },
		{ "10.0.0.0/8", "9.255.255.255", false },
		{ "172.16.0.0/12", "172.31.0.1", true },
		{ "172.16.0.0/12", "172.32.0.1", false },
		{ "192.0.2.128/25", "192.0.2.200", true },
		{ "192.0.2.128/25", "192.0.2.127", false },
		{ "0.0.0.0/0", "203.0.113.9", true },
		{ "0.0.0.0/0", "2001:db8::1", false },
		{ "::/0", "2001:db8::1", true },
		{ "::/0", "203.0.113.9", false },
		{ "fd00::/8", "fd12:3456::1", true },
		{ "fd00::/8", "fe00::1", false },
		{ "2001:db8::/33", "2001:db8:7fff::1", true },
		{ "2001:db8::/33", "2001:db8:8000::1", false },
		{ "::1", "::1", true },
		{ "::1", "127.0.0.1", false },
		{ "10.0.0.0/8, 192.168.1.7, fd00::/8, ::1", "192.168.1.7", true },
		{ "10.0.0.0/8, 192.168.1.7, fd00::/8, ::1", "192.168.1.8", false },
		{ "10.0.0.0/8, 192.168.1.7, fd00::/8, ::1", "fdff::1", true },
		{ "127.0.0.1", "not an address", false },
		{ "127.0.0.1", "", false },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct netlist l;
		char why[256] = "";
		assert_int_equal(netlist_parse(cases[i].list, &l, why, sizeof(why)), 0);
		bool got = netlist_match(&l, cases[i].ip);
		if (got != cases[i].match)
			fail_msg("'%s' in '%s': got %d, want %d", cases[i].ip, cases[i].list, got,
			         cases[i].match);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
