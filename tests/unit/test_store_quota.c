/* test_store_quota.c - mailbox usage counters, quotas, and their checks at RCPT and in the commit. */
#include <pthread.h>

#include "test_store_util.h"

#define ALICE "alice@example.test"
#define BOB "bob@example.test"

/* A body of exactly n octets (n >= 2), CRLF-terminated. */
static char *body_of(size_t n)
{
	char *b = malloc(n + 1);
	assert_non_null(b);
	memset(b, 'x', n - 2);
	memcpy(b + n - 2, "\r\n", 3);
	return b;
}

static int deliver_n(store_t *s, const char *local1, const char *local2, size_t n)
{
	char *b = body_of(n);
	int rc = tsu_deliver(s, local1, local2, NULL, b);
	free(b);
	return rc;
}

static void expect_usage(store_t *s, const char *address, uint64_t bytes, uint64_t messages)
{
	uint64_t quota;
	struct store_usage u;
	TSU_OK(s, store_user_usage(s, address, &quota, &u));
	if (u.bytes != bytes || u.messages != messages)
		print_error("%s: %llu octets in %llu messages, want %llu in %llu\n", address,
		            (unsigned long long)u.bytes, (unsigned long long)u.messages,
		            (unsigned long long)bytes, (unsigned long long)messages);
	assert_true(u.bytes == bytes && u.messages == messages);
}

static void delete_all(store_t *s, const char *box)
{
	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, box, &e, &n));
	int64_t *ids = calloc(n + 1, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = e[i].id;
	TSU_OK(s, store_lease_acquire(s, box, "test", 60));
	TSU_OK(s, store_mailbox_delete(s, box, "test", ids, n));
	TSU_OK(s, store_lease_release(s, box, "test"));
	free(ids);
	free(e);
}

/* Every way an entry comes and goes keeps the counters right. */
static void test_usage_follows_entries(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	expect_usage(s, ALICE, 0, 0);
	TSU_OK(s, deliver_n(s, ALICE, BOB, 100));
	TSU_OK(s, deliver_n(s, ALICE, NULL, 50));
	expect_usage(s, ALICE, 150, 2);
	expect_usage(s, BOB, 100, 1);
	/* The domain is case-insensitive, as everywhere. */
	expect_usage(s, "alice@EXAMPLE.test", 150, 2);

	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, ALICE, &e, &n));
	TSU_OK(s, store_lease_acquire(s, ALICE, "a", 60));
	TSU_OK(s, store_mailbox_delete(s, ALICE, "a", &e[0].id, 1));
	free(e);
	expect_usage(s, ALICE, 50, 1);
	expect_usage(s, BOB, 100, 1);
	tsu_check_clean(s);

	/* A deleted user's counters go with them. */
	TSU_OK(s, store_user_del(s, BOB));
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM mailbox_usage"), 1);
	uint64_t quota;
	struct store_usage u;
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_usage(s, BOB, &quota, &u));
	TSU_EXPECT(s, STORE_EINVAL, store_user_usage(s, "bob", &quota, &u));
	TSU_OK(s, store_user_add(s, BOB, "$y$new"));
	expect_usage(s, BOB, 0, 0);
	tsu_check_clean(s);
}

static void test_set_quota(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct store_user user;
	uint64_t quota;
	struct store_usage u;
	TSU_OK(s, store_user_set_quota(s, ALICE, 1000));
	TSU_OK(s, store_user_get(s, ALICE, &user));
	assert_int_equal(user.quota, 1000);
	TSU_OK(s, store_user_usage(s, ALICE, &quota, &u));
	assert_int_equal(quota, 1000);
	TSU_OK(s, store_user_set_quota(s, "alice@Example.TEST", (uint64_t)INT64_MAX));
	TSU_OK(s, store_user_get(s, ALICE, &user));
	assert_true(user.quota == (uint64_t)INT64_MAX);
	TSU_EXPECT(s, STORE_EINVAL, store_user_set_quota(s, ALICE, (uint64_t)INT64_MAX + 1));
	TSU_OK(s, store_user_set_quota(s, ALICE, 0));
	TSU_OK(s, store_user_get(s, ALICE, &user));
	assert_int_equal(user.quota, 0);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_set_quota(s, "zed@example.test", 1));
	TSU_EXPECT(s, STORE_EINVAL, store_user_set_quota(s, "zed", 1));
	/* Another user is untouched. */
	TSU_OK(s, store_user_get(s, BOB, &user));
	assert_int_equal(user.quota, 0);
}

/* RCPT's question: is there room for anything at all? */
static void test_quota_check(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_quota_check(s, ALICE, 0)); /* no quota, empty */
	TSU_OK(s, deliver_n(s, ALICE, NULL, 100));
	TSU_OK(s, store_quota_check(s, ALICE, 0)); /* no quota */
	TSU_OK(s, store_user_set_quota(s, ALICE, 101));
	TSU_OK(s, store_quota_check(s, ALICE, 0)); /* one octet left */
	TSU_OK(s, store_user_set_quota(s, ALICE, 100));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 0)); /* at quota */
	assert_non_null(strstr(store_errmsg(s), "100 of 100 octets"));
	TSU_OK(s, store_user_set_quota(s, ALICE, 10));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 0)); /* over (quota lowered) */
	TSU_OK(s, store_quota_check(s, BOB, 0));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_quota_check(s, "zed@example.test", 0));
	TSU_EXPECT(s, STORE_EINVAL, store_quota_check(s, "zed", 0));
	delete_all(s, ALICE);
	TSU_OK(s, store_quota_check(s, ALICE, 0));
}

/* RCPT after MAIL ... SIZE= (RFC 1870): room for the declared size, and
 * whether it could ever fit. */
static void test_quota_check_declared_size(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_quota_check(s, ALICE, UINT64_MAX)); /* no quota: anything goes */
	TSU_OK(s, store_user_set_quota(s, ALICE, 1000));
	TSU_OK(s, store_quota_check(s, ALICE, 1000)); /* fills the empty mailbox exactly */
	TSU_EXPECT(s, STORE_ETOOBIG, store_quota_check(s, ALICE, 1001));
	assert_non_null(strstr(store_errmsg(s), "1001 octets is larger than its quota of 1000"));
	TSU_EXPECT(s, STORE_ETOOBIG, store_quota_check(s, ALICE, UINT64_MAX));
	TSU_OK(s, deliver_n(s, ALICE, NULL, 600));
	TSU_OK(s, store_quota_check(s, ALICE, 400));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 401)); /* fits once emptied */
	assert_non_null(strstr(store_errmsg(s), "401 octets does not fit its quota (600 of 1000"));
	TSU_EXPECT(s, STORE_ETOOBIG, store_quota_check(s, ALICE, 1001));
	/* Full, or over a lowered quota: the whole quota still decides what is
	 * permanent. */
	TSU_OK(s, store_user_set_quota(s, ALICE, 600));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 1));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 600));
	TSU_EXPECT(s, STORE_ETOOBIG, store_quota_check(s, ALICE, 601));
	TSU_OK(s, store_user_set_quota(s, ALICE, 100));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 100));
	TSU_EXPECT(s, STORE_ETOOBIG, store_quota_check(s, ALICE, 101));
	TSU_OK(s, store_quota_check(s, BOB, UINT64_MAX));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_quota_check(s, "zed@example.test", 1));
}

/* The commit admits a message only if it fits every local mailbox. */
static void test_deliver_respects_quota(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_user_set_quota(s, ALICE, 1000));
	TSU_OK(s, deliver_n(s, ALICE, NULL, 600));
	/* 401 octets would pass the quota by one: nothing of it is stored. */
	TSU_EXPECT(s, STORE_EQUOTA, deliver_n(s, ALICE, NULL, 401));
	assert_non_null(strstr(store_errmsg(s), ALICE));
	assert_int_equal(TSU_COUNT(f, "messages"), 1);
	assert_int_equal(TSU_COUNT(f, "message_chunks"), 1);
	/* Exactly filling it is allowed; then it is full. */
	TSU_OK(s, deliver_n(s, ALICE, NULL, 400));
	expect_usage(s, ALICE, 1000, 2);
	TSU_EXPECT(s, STORE_EQUOTA, deliver_n(s, ALICE, NULL, 2));
	TSU_EXPECT(s, STORE_EQUOTA, store_quota_check(s, ALICE, 0));
	/* Several recipients: one full mailbox refuses the whole message,
	 * in whichever order the recipients come. */
	TSU_EXPECT(s, STORE_EQUOTA, deliver_n(s, BOB, ALICE, 10));
	TSU_EXPECT(s, STORE_EQUOTA, deliver_n(s, ALICE, BOB, 10));
	expect_usage(s, BOB, 0, 0);
	assert_int_equal(TSU_COUNT(f, "messages"), 2);
	/* Remote recipients count against nobody's quota. */
	TSU_OK(s, tsu_deliver(s, NULL, NULL, "far@away.test", "remote\r\n"));
	expect_usage(s, ALICE, 1000, 2);
	/* Room again after a delete. */
	delete_all(s, ALICE);
	TSU_OK(s, deliver_n(s, ALICE, BOB, 1000));
	tsu_check_clean(s);
}

static store_delivery_t *delivery_n(const char *local1, const char *local2, size_t n)
{
	store_delivery_t *d = NULL;
	char *b = body_of(n);
	assert_int_equal(store_delivery_new("sender@remote.test", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, local1), STORE_OK);
	if (local2 != NULL)
		assert_int_equal(store_delivery_add_local(d, local2), STORE_OK);
	assert_int_equal(store_delivery_write(d, b, n), STORE_OK);
	free(b);
	return d;
}

/*
 * One group commit with messages of several sessions: a member that does
 * not fit fails alone, and the quota counts the members committed before
 * it in the same transaction.
 */
static void test_batch_member_over_quota_fails_alone(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_user_set_quota(s, ALICE, 1000));
	store_delivery_t *d[5] = {
		delivery_n(ALICE, NULL, 600), /* fits */
		delivery_n(ALICE, NULL, 600), /* would pass it after the first */
		delivery_n(BOB, NULL, 600),   /* bob has no quota */
		delivery_n(ALICE, NULL, 400), /* fills alice exactly */
		delivery_n(BOB, ALICE, 2),    /* alice is full now: bob gets nothing either */
	};
	int results[5];
	TSU_OK(s, store_deliver_batch(s, d, 5, results));
	assert_int_equal(results[0], STORE_OK);
	assert_int_equal(results[1], STORE_EQUOTA);
	assert_int_equal(results[2], STORE_OK);
	assert_int_equal(results[3], STORE_OK);
	assert_int_equal(results[4], STORE_EQUOTA);
	for (size_t i = 0; i < 5; i++)
		store_delivery_free(&d[i]);
	expect_usage(s, ALICE, 1000, 2);
	expect_usage(s, BOB, 600, 1);
	assert_int_equal(TSU_COUNT(f, "messages"), 3);
	tsu_check_clean(s);
}

/* A message larger than a mailbox's whole quota can never be delivered:
 * STORE_ETOOBIG, stored for nobody, whatever else the recipients' states. */
static void test_deliver_larger_than_quota_is_permanent(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_user_set_quota(s, ALICE, 1000));
	TSU_EXPECT(s, STORE_ETOOBIG, deliver_n(s, ALICE, NULL, 1001)); /* the mailbox is empty */
	assert_non_null(strstr(store_errmsg(s), "1001 octets is larger than its quota of 1000"));
	TSU_EXPECT(s, STORE_ETOOBIG, deliver_n(s, BOB, ALICE, 1001));
	/* Its remote recipients get nothing either. */
	char *big = body_of(5000);
	TSU_EXPECT(s, STORE_ETOOBIG, tsu_deliver(s, ALICE, NULL, "far@away.test", big));
	free(big);
	assert_int_equal(TSU_COUNT(f, "messages"), 0);
	assert_int_equal(TSU_COUNT(f, "queue"), 0);
	expect_usage(s, BOB, 0, 0);
	/* Permanent wins over full, in either order: bob is full now, alice
	 * could never take it. */
	TSU_OK(s, store_user_set_quota(s, BOB, 100));
	TSU_OK(s, deliver_n(s, BOB, NULL, 100));
	TSU_EXPECT(s, STORE_ETOOBIG, deliver_n(s, BOB, ALICE, 1001));
	TSU_EXPECT(s, STORE_ETOOBIG, deliver_n(s, ALICE, BOB, 1001));
	/* Only full: temporary, with the full mailbox's message. */
	TSU_EXPECT(s, STORE_EQUOTA, deliver_n(s, ALICE, BOB, 50));
	assert_non_null(strstr(store_errmsg(s), "mailbox " BOB " is full"));
	TSU_EXPECT(s, STORE_EQUOTA, deliver_n(s, BOB, ALICE, 50));
	assert_non_null(strstr(store_errmsg(s), "mailbox " BOB " is full"));
	expect_usage(s, ALICE, 0, 0);
	expect_usage(s, BOB, 100, 1);
	/* In a group commit the member fails alone. */
	store_delivery_t *d[3] = {
		delivery_n(ALICE, NULL, 600),
		delivery_n(ALICE, NULL, 1001),
		delivery_n(ALICE, NULL, 400),
	};
	int results[3];
	TSU_OK(s, store_deliver_batch(s, d, 3, results));
	assert_int_equal(results[0], STORE_OK);
	assert_int_equal(results[1], STORE_ETOOBIG);
	assert_int_equal(results[2], STORE_OK);
	for (size_t i = 0; i < 3; i++)
		store_delivery_free(&d[i]);
	expect_usage(s, ALICE, 1000, 2);
	tsu_check_clean(s);
}

/* Two processes (here: threads with their own handles) race one message
 * each into a mailbox with room for one: exactly one wins, every time. */
struct racer {
	const char *db;
	pthread_barrier_t *start;
	int result;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	store_t *s = tsu_open(r->db, 0);
	store_delivery_t *d = delivery_n(ALICE, NULL, 600);
	pthread_barrier_wait(r->start);
	r->result = store_deliver(s, d);
	store_delivery_free(&d);
	store_close(&s);
	return NULL;
}

static void test_concurrent_deliveries_race_the_quota(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_user_set_quota(s, ALICE, 1000));
	for (int round = 0; round < 20; round++) {
		pthread_barrier_t start;
		pthread_t threads[2];
		struct racer racers[2];
		pthread_barrier_init(&start, NULL, 2);
		for (int i = 0; i < 2; i++) {
			racers[i] = (struct racer){ .db = f->db, .start = &start };
			assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(threads[i], NULL);
		pthread_barrier_destroy(&start);
		int ok = (racers[0].result == STORE_OK) + (racers[1].result == STORE_OK);
		int full = (racers[0].result == STORE_EQUOTA) + (racers[1].result == STORE_EQUOTA);
		if (ok != 1 || full != 1)
			print_error("round %d: results %s and %s\n", round,
			            store_strerror(racers[0].result), store_strerror(racers[1].result));
		assert_int_equal(ok, 1);
		assert_int_equal(full, 1);
		expect_usage(s, ALICE, 600, 1);
		delete_all(s, ALICE);
	}
	tsu_check_clean(s);
}

/* Migrating a version 2 file counts the entries it already holds. */
static void test_migration_counts_existing_entries(void **state)
{
	tsu_sqlite_only(); /* PostgreSQL starts at the current schema */
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, deliver_n(s, ALICE, BOB, 100));
	TSU_OK(s, deliver_n(s, ALICE, NULL, 30));
	store_close(&f->store);
	/* Back to version 2: no counters, no triggers (and no DKIM keys,
	 * version 4, nor the queue's DSN columns, version 5). */
	tsu_exec(f->db, TSU_UNDO_V5 "DROP TRIGGER mailbox_usage_insert; DROP TRIGGER mailbox_usage_delete;"
	                "DROP TRIGGER mailbox_usage_update; DROP TABLE mailbox_usage;"
	                "DROP TABLE dkim_keys;"
	                "PRAGMA user_version = 2");
	char err[256] = "";
	store_t *old = NULL;
	assert_int_equal(store_open(f->db, 0, &old, err, sizeof(err)), STORE_ECORRUPT);
	assert_non_null(strstr(err, "mailctl db migrate"));
	f->store = s = tsu_open(f->db, STORE_OPEN_MIGRATE);
	assert_int_equal(tsu_query_int(f->db, "PRAGMA user_version"), store_schema_version());
	expect_usage(s, ALICE, 130, 2);
	expect_usage(s, BOB, 100, 1);
	expect_usage(s, "carol@other.test", 0, 0);
	TSU_OK(s, deliver_n(s, BOB, NULL, 5));
	expect_usage(s, BOB, 105, 2);
	tsu_check_clean(s);
}

/* `mailctl db check` notices counters that disagree with the entries. */
static void test_check_finds_wrong_counters(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, deliver_n(s, ALICE, NULL, 100));
	tsu_exec(f->db, "UPDATE mailbox_usage SET bytes = bytes + 1");
	unsigned problems = 0;
	TSU_EXPECT(s, STORE_ECORRUPT, store_check(s, tsu_problem_cb, &problems));
	assert_int_equal(problems, 1);
	tsu_exec(f->db, "UPDATE mailbox_usage SET bytes = bytes - 1;"
	                "INSERT INTO mailbox_usage (user_id, bytes, messages)"
	                " SELECT id, 0, 1 FROM users WHERE address = 'bob@example.test'");
	problems = 0;
	TSU_EXPECT(s, STORE_ECORRUPT, store_check(s, tsu_problem_cb, &problems));
	assert_int_equal(problems, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_usage_follows_entries, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_set_quota, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_quota_check, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_quota_check_declared_size, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_respects_quota, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_deliver_larger_than_quota_is_permanent, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_batch_member_over_quota_fails_alone, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_deliveries_race_the_quota, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_migration_counts_existing_entries, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_check_finds_wrong_counters, tsu_setup,
		                                tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
