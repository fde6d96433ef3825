/*
 * test_route.c - the `routes` and `relay_host` syntax (common/route.h):
 * what parses to what, what is refused and why, and which route a
 * recipient domain gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static void hop_ok(const char *text, const char *host, unsigned port)
{
	struct route_hop hop;
	char why[256] = "";

	if (route_hop_parse(text, strlen(text), &hop, why, sizeof(why)) != 0)
		fail_msg("'%s' refused: %s", text, why);
	assert_string_equal(hop.host, host);
	assert_int_equal(hop.port, port);
}

static void hop_bad(const char *text, const char *why_part)
{
	struct route_hop hop;
	char why[256] = "";

	if (route_hop_parse(text, strlen(text), &hop, why, sizeof(why)) == 0)
		fail_msg("'%s' accepted", text);
	if (strstr(why, why_part) == NULL)
		fail_msg("'%s': '%s' does not say '%s'", text, why, why_part);
}

static void test_hops(void **state)
{
	(void)state;
	hop_ok("mx.example.net", "mx.example.net", 25);
	hop_ok("mx.example.net:587", "mx.example.net", 587);
	hop_ok("192.0.2.25:2525", "192.0.2.25", 2525);
	hop_ok("[2001:db8::25]", "2001:db8::25", 25);
	hop_ok("[2001:db8::25]:465", "2001:db8::25", 465);
	hop_ok("localhost:1", "localhost", 1);
	hop_bad("", "no host");
	hop_bad(":25", "no host");
	hop_bad("mx.example.net:", "port");
	hop_bad("mx.example.net:0", "port");
	hop_bad("mx.example.net:65536", "port");
	hop_bad("mx.example.net:25x", "port");
	hop_bad("2001:db8::25", "[address]");
	hop_bad("[2001:db8::25", "no ']'");
	hop_bad("[mx.example.net]:25", "not a host name or address");
	hop_bad("[2001:db8::25]x", "port");
	hop_bad("mx_1.example.net", "not a host name or address");
	hop_bad("-mx.example.net", "not a host name or address");
	hop_bad("mx..example.net", "not a host name or address");
	hop_bad("300.1.2.3", "not a host name or address");
}

static void test_table(void **state)
{
	struct route_table t;
	char why[256] = "";

	(void)state;
	assert_int_equal(route_table_parse("", &t, why, sizeof(why)), 0);
	assert_int_equal(t.count, 0);
	assert_int_equal(route_table_parse("  ", &t, why, sizeof(why)), 0);
	assert_int_equal(t.count, 0);
	assert_int_equal(route_table_parse(" Example.COM = mx1.example.net:2525 ,"
	                                   ".example.org=[2001:db8::1],*=relay.example.net",
	                                   &t, why, sizeof(why)), 0);
	assert_int_equal(t.count, 3);
	assert_string_equal(t.routes[0].domain, "example.com");
	assert_string_equal(t.routes[0].hop.host, "mx1.example.net");
	assert_int_equal(t.routes[0].hop.port, 2525);
	assert_string_equal(t.routes[1].domain, ".example.org");
	assert_string_equal(t.routes[1].hop.host, "2001:db8::1");
	assert_string_equal(t.routes[2].domain, "*");
	assert_int_equal(t.routes[2].hop.port, 25);
}

static void table_bad(const char *text, const char *why_part)
{
	struct route_table t;
	char why[256] = "";

	if (route_table_parse(text, &t, why, sizeof(why)) == 0)
		fail_msg("'%s' accepted", text);
	if (strstr(why, why_part) == NULL)
		fail_msg("'%s': '%s' does not say '%s'", text, why, why_part);
}

static void test_table_refusals(void **state)
{
	char many[ROUTE_MAX * 16 + 16] = "";

	(void)state;
	table_bad("example.com", "expected domain=host[:port]");
	table_bad("example.com=", "no host");
	table_bad("=mx.example.net", "not a domain");
	table_bad("ex ample.com=mx", "not a domain");
	table_bad(".=mx", "not a domain");
	table_bad("**=mx", "not a domain");
	table_bad("a.example=mx,", "expected domain=host[:port]");
	table_bad("a.example=mx,,b.example=mx", "expected domain=host[:port]");
	table_bad("a.example=mx:99999", "port");
	table_bad("A.example=mx1, a.EXAMPLE=mx2", "given twice");
	for (int i = 0; i <= ROUTE_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%sd%d.example=mx",
		         i > 0 ? "," : "", i);
	table_bad(many, "more than");
}

static const char *hop_for(const struct route_table *t, const char *domain)
{
	const struct route *r = route_table_find(t, domain);
	return r != NULL ? r->hop.host : NULL;
}

static void test_most_specific_route_wins(void **state)
{
	struct route_table t;
	char why[256] = "";

	(void)state;
	assert_int_equal(route_table_parse("example.com=exact, .example.com=sub, "
	                                   ".deep.example.com=deep, *=any",
	                                   &t, why, sizeof(why)), 0);
	assert_string_equal(hop_for(&t, "example.com"), "exact");
	assert_string_equal(hop_for(&t, "EXAMPLE.Com"), "exact");
	assert_string_equal(hop_for(&t, "mail.example.com"), "sub");
	assert_string_equal(hop_for(&t, "a.deep.example.com"), "deep");
	assert_string_equal(hop_for(&t, "deep.example.com"), "sub");
	assert_string_equal(hop_for(&t, "notexample.com"), "any");
	assert_string_equal(hop_for(&t, "example.org"), "any");

	assert_int_equal(route_table_parse(".example.com=sub", &t, why, sizeof(why)), 0);
	assert_null(hop_for(&t, "example.com")); /* ".domain" is its subdomains only */
	assert_null(hop_for(&t, "xexample.com"));
	assert_string_equal(hop_for(&t, "x.example.com"), "sub");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hops),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_refusals),
		cmocka_unit_test(test_most_specific_route_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
