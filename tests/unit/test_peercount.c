/*
 * test_peercount.c - live connections per client: counts go up and down
 * independently per client, entries vanish at zero, and the table grows.
 * A client is an IPv4 address or an IPv6 /64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "peercount.h"

static void test_counts(void **state)
{
	struct peercount pc;

	peercount_init(&pc);
	assert_int_equal(peercount_get(&pc, "192.0.2.1"), 0);
	assert_int_equal(peercount_add(&pc, "192.0.2.1"), 0);
	assert_int_equal(peercount_add(&pc, "192.0.2.1"), 0);
	assert_int_equal(peercount_add(&pc, "2001:db8::1"), 0);
	assert_int_equal(peercount_get(&pc, "192.0.2.1"), 2);
	assert_int_equal(peercount_get(&pc, "2001:db8::1"), 1);
	assert_int_equal(peercount_get(&pc, "192.0.2.10"), 0);
	peercount_remove(&pc, "192.0.2.1");
	assert_int_equal(peercount_get(&pc, "192.0.2.1"), 1);
	peercount_remove(&pc, "192.0.2.1");
	assert_int_equal(peercount_get(&pc, "192.0.2.1"), 0);
	assert_int_equal(pc.nentries, 1);
	peercount_free(&pc);
	assert_int_equal(pc.nentries, 0);
}

/* max_connections_per_ip counts an IPv6 client by its /64, as the failed-login budget does. */
static void test_ipv6_prefix(void **state)
{
	static const struct {
		const char *a, *b;
		bool same;
	} cases[] = {
		{ "2001:db8::1", "2001:db8::2", true },
		{ "2001:db8::1", "2001:db8:0:0:ffff:ffff:ffff:ffff", true },
		{ "2001:db8::1", "2001:DB8::1:2:3:4", true },
		{ "2001:db8::1", "2001:db8:0:1::1", false },
		{ "2001:db8::1", "2001:db9::1", false },
		{ "::ffff:192.0.2.1", "192.0.2.1", true },
		{ "::ffff:192.0.2.1", "::ffff:192.0.2.2", false },
		{ "192.0.2.1", "192.0.2.2", false },
		{ "::1", "::2", true },
	};
	struct peercount pc;

	peercount_init(&pc);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(peercount_add(&pc, cases[i].a), 0);
		assert_int_equal(peercount_add(&pc, cases[i].b), 0);
		unsigned want = cases[i].same ? 2 : 1;
		if (peercount_get(&pc, cases[i].a) != want || peercount_get(&pc, cases[i].b) != want)
			fail_msg("%s and %s: counts %u and %u, want %u each", cases[i].a, cases[i].b,
			         peercount_get(&pc, cases[i].a), peercount_get(&pc, cases[i].b), want);
		assert_int_equal(pc.nentries, cases[i].same ? 1 : 2);
		peercount_remove(&pc, cases[i].b);
		peercount_remove(&pc, cases[i].a);
		assert_int_equal(pc.nentries, 0);
	}
	/* 1000 addresses of one /64 are one client. */
	char addr[PEERCOUNT_ADDR_MAX];
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "2001:db8:1:2:%x::%x", i, i * 7);
		assert_int_equal(peercount_add(&pc, addr), 0);
	}
	assert_int_equal(pc.nentries, 1);
	assert_int_equal(peercount_get(&pc, "2001:db8:1:2::"), 1000);
	peercount_free(&pc);
}

static void test_many(void **state)
{
	struct peercount pc;
	char addr[PEERCOUNT_ADDR_MAX];

	peercount_init(&pc);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 5000; i++) {
			snprintf(addr, sizeof(addr), "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
			assert_int_equal(peercount_add(&pc, addr), 0);
		}
	}
	assert_int_equal(pc.nentries, 5000);
	assert_true(pc.nbuckets >= 5000);
	for (int i = 0; i < 5000; i++) {
		snprintf(addr, sizeof(addr), "10.%d.%d.%d", i / 65536, (i / 256) % 256, i % 256);
		assert_int_equal(peercount_get(&pc, addr), 3);
		for (int round = 0; round < 3; round++)
			peercount_remove(&pc, addr);
	}
	assert_int_equal(pc.nentries, 0);
	peercount_free(&pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_ipv6_prefix),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
