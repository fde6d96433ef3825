/* test_store_lease.c - maildrop leases: exclusion, renewal, release, expiry. */
#include <unistd.h>

#include "test_store_util.h"

static void test_lease_exclusive(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const char *box = "alice@example.test";
	TSU_OK(s, store_lease_acquire(s, box, "host:1:a", 60));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "host:2:b", 60));
	/* The domain is case-insensitive: the same maildrop. */
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, "alice@EXAMPLE.test", "host:2:b", 60));
	/* Another maildrop is independent. */
	TSU_OK(s, store_lease_acquire(s, "bob@example.test", "host:2:b", 60));
	/* Re-acquiring one's own lease renews it. */
	TSU_OK(s, store_lease_acquire(s, box, "host:1:a", 60));
	TSU_OK(s, store_lease_renew(s, box, "host:1:a", 120));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_lease_renew(s, box, "host:2:b", 60));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_lease_renew(s, "carol@other.test", "host:1:a", 60));
	/* Releasing someone else's lease does nothing. */
	TSU_OK(s, store_lease_release(s, box, "host:2:b"));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "host:2:b", 60));
	TSU_OK(s, store_lease_release(s, box, "host:1:a"));
	TSU_OK(s, store_lease_release(s, box, "host:1:a")); /* twice is fine */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_lease_renew(s, box, "host:1:a", 60));
	TSU_OK(s, store_lease_acquire(s, box, "host:2:b", 60));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "host:1:a", 60));
}

static void test_lease_invalid(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_EXPECT(s, STORE_EINVAL, store_lease_acquire(s, "alice", "o", 60));
	TSU_EXPECT(s, STORE_EINVAL, store_lease_acquire(s, "alice@example.test", "", 60));
	TSU_EXPECT(s, STORE_EINVAL, store_lease_acquire(s, "alice@example.test", NULL, 60));
	TSU_EXPECT(s, STORE_EINVAL, store_lease_acquire(s, "alice@example.test", "o", -1));
	TSU_EXPECT(s, STORE_EINVAL, store_lease_renew(s, NULL, "o", 60));
	TSU_EXPECT(s, STORE_EINVAL, store_lease_release(s, "alice@example.test", NULL));
}

/* A lease of 1 s is held for at least 1 s and gone after 2 s (the
 * database clock counts whole seconds). */
static void test_lease_expiry(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const char *box = "alice@example.test";
	TSU_OK(s, store_lease_acquire(s, box, "crashed", 1));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "next", 60));
	usleep(2100 * 1000);
	TSU_OK(s, store_lease_acquire(s, box, "next", 60));
	/* The old owner cannot renew what it lost. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_lease_renew(s, box, "crashed", 60));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "crashed", 60));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lease_exclusive, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_lease_invalid, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_lease_expiry, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
