/* test_store_lease.c - maildrop leases: exclusion, renewal, release, expiry. */
#include <time.h>

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
 * database clock counts whole seconds). The clock is moved, not waited for. */
static void test_lease_expiry(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const char *box = "alice@example.test";
	TSU_OK(s, store_lease_acquire(s, box, "crashed", 1));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "next", 60));
	store__set_clock_offset(2);
	TSU_OK(s, store_lease_acquire(s, box, "next", 60));
	/* The old owner cannot renew what it lost. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_lease_renew(s, box, "crashed", 60));
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "crashed", 60));
}

/* Entry ids of a mailbox, oldest first, into ids[] (at most max). */
static size_t entry_ids(store_t *s, const char *box, int64_t *ids, size_t max)
{
	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, box, &e, &n));
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++)
		ids[i] = e[i].id;
	free(e);
	return n;
}

/*
 * The UPDATE state's delete checks the lease in its own transaction: after
 * the lease was released (the session dropped during QUIT) or taken over
 * by another owner, it deletes nothing and says so with STORE_ENOTFOUND,
 * whatever happened to the lease before it ran.
 */
static void test_delete_needs_the_lease(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const char *box = "alice@example.test";
	int64_t ids[4];
	for (int i = 0; i < 3; i++)
		TSU_OK(s, tsu_deliver(s, box, NULL, NULL, "message\r\n"));
	assert_int_equal(entry_ids(s, box, ids, 4), 3);

	/* Never held. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_mailbox_delete(s, box, "host:1:a", ids, 1));
	/* Released between the session's last renewal and its delete. */
	TSU_OK(s, store_lease_acquire(s, box, "host:1:a", 60));
	TSU_OK(s, store_lease_renew(s, box, "host:1:a", 60));
	TSU_OK(s, store_lease_release(s, box, "host:1:a"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_mailbox_delete(s, box, "host:1:a", ids, 3));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_mailbox_delete(s, box, "host:1:a", ids, 0));
	assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 3);
	/* Taken over by another session, which now sees all three. */
	TSU_OK(s, store_lease_acquire(s, box, "host:2:b", 60));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_mailbox_delete(s, box, "host:1:a", ids, 3));
	assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 3);
	/* Another maildrop's lease does not count. */
	TSU_OK(s, store_lease_acquire(s, "bob@example.test", "host:1:a", 60));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_mailbox_delete(s, box, "host:1:a", ids, 3));
	/* The holder deletes, and its lease is left to its release. */
	TSU_OK(s, store_mailbox_delete(s, box, "host:2:b", ids, 2));
	assert_int_equal(entry_ids(s, box, ids, 4), 1);
	TSU_EXPECT(s, STORE_EBUSY, store_lease_acquire(s, box, "host:1:a", 60));
	TSU_OK(s, store_lease_release(s, box, "host:2:b"));
	assert_int_equal(TSU_COUNT(f, "pop3_locks"), 1); /* bob's */
	tsu_check_clean(s);
}

/* Lease times are unix seconds of the real clock, moved by the test offset only. */
static void test_lease_clock(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	int64_t before = (int64_t)time(NULL);
	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "a", 60));
	int64_t expires = tsu_query_int(f->db, "SELECT expires FROM pop3_locks");
	assert_in_range(expires, before + 60, (int64_t)time(NULL) + 60);
	store__set_clock_offset(1000);
	before = (int64_t)time(NULL);
	TSU_OK(s, store_lease_acquire(s, "bob@example.test", "b", 60));
	expires = tsu_query_int(f->db, "SELECT expires FROM pop3_locks WHERE owner = 'b'");
	assert_in_range(expires, before + 1060, (int64_t)time(NULL) + 1060);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lease_exclusive, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_lease_invalid, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_lease_expiry, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_delete_needs_the_lease, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_lease_clock, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
