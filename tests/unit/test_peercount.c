/*
 * test_peercount.c - live connections per address: counts go up and down
 * independently per address, entries vanish at zero, and the table grows.
 */
#include <setjmp.h>
#include <stdarg.h>
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
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
