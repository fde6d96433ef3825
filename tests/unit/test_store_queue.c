/* test_store_queue.c - the outbound queue: claim, outcomes, operator calls,
 * lease expiry and two concurrent claimers. */
#include <sys/wait.h>
#include <unistd.h>

#include "test_store_util.h"

struct listing {
	struct store_queue_item items[64];
	size_t count;
};

static void list_cb(void *ctx, const struct store_queue_item *item)
{
	struct listing *l = ctx;
	assert_true(l->count < 64);
	l->items[l->count++] = *item;
}

static struct store_queue_item *find(struct listing *l, int64_t id)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->items[i].id == id)
			return &l->items[i];
	return NULL;
}

static void relist(store_t *s, struct listing *l)
{
	l->count = 0;
	TSU_OK(s, store_queue_list(s, list_cb, l));
}

static struct store_queue_item *claim(store_t *s, const char *owner, int lease, size_t max,
                                      size_t *count_r)
{
	struct store_queue_item *items = (struct store_queue_item *)&count_r;
	TSU_OK(s, store_queue_claim(s, owner, lease, max, &items, count_r));
	if (*count_r == 0)
		assert_null(items);
	return items;
}

/* Three queue rows: two share one body, the third shares its body with a
 * mailbox entry. */
static int setup_queue(void **state)
{
	tsu_setup(state);
	struct store_fixture *f = *state;
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("alice@example.test", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_remote(d, "r1@far.test"), STORE_OK);
	assert_int_equal(store_delivery_add_remote(d, "r2@far.test"), STORE_OK);
	assert_int_equal(store_delivery_write(d, "body one\r\n", 10), STORE_OK);
	TSU_OK(f->store, store_deliver(f->store, d));
	store_delivery_free(&d);
	TSU_OK(f->store, tsu_deliver(f->store, "bob@example.test", NULL, "r3@far.test", "two\r\n"));
	return 0;
}

static void test_queue_lifecycle(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct listing l = { .count = 0 };
	relist(s, &l);
	assert_int_equal(l.count, 3);
	assert_string_equal(l.items[0].sender, "alice@example.test");
	assert_string_equal(l.items[0].recipient, "r1@far.test");
	assert_string_equal(l.items[2].sender, "sender@remote.test");
	assert_int_equal(l.items[0].attempts, 0);
	assert_int_equal(l.items[0].state, STORE_QUEUE_PENDING);
	assert_string_equal(l.items[0].last_error, "");
	assert_true(l.items[0].created > 1600000000);
	assert_true(l.items[0].next_attempt >= l.items[0].created);
	assert_int_equal(l.items[0].message_id, l.items[1].message_id);
	int64_t q1 = l.items[0].id, q2 = l.items[1].id, q3 = l.items[2].id;
	int64_t body1 = l.items[0].message_id;

	/* Claiming: oldest first, never what anyone holds. */
	size_t n;
	struct store_queue_item *c = claim(s, "A", 60, 2, &n);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].id, q1);
	assert_int_equal(c[1].id, q2);
	assert_string_equal(c[1].recipient, "r2@far.test");
	free(c);
	c = claim(s, "A", 60, 10, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].id, q3);
	free(c);
	c = claim(s, "B", 60, 10, &n);
	assert_int_equal(n, 0);
	c = claim(s, "B", 60, 0, &n);
	assert_int_equal(n, 0);

	/* Deferral: counted, recorded, not due until later. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_defer(s, q1, "B", 0, "x"));
	TSU_OK(s, store_queue_defer(s, q1, "A", 3600, "451 4.3.0 try later"));
	relist(s, &l);
	assert_int_equal(find(&l, q1)->attempts, 1);
	assert_string_equal(find(&l, q1)->last_error, "451 4.3.0 try later");
	assert_true(find(&l, q1)->next_attempt >= find(&l, q1)->created + 3600);
	c = claim(s, "B", 60, 10, &n);
	assert_int_equal(n, 0);

	/* Permanent failure stays out of claims until retried. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_fail(s, q2, "B", "x"));
	TSU_OK(s, store_queue_fail(s, q2, "A", "550 5.1.1 no such user"));
	relist(s, &l);
	assert_int_equal(find(&l, q2)->state, STORE_QUEUE_FAILED);
	assert_int_equal(find(&l, q2)->attempts, 1);
	TSU_OK(s, store_queue_retry(s, q2));
	relist(s, &l);
	assert_int_equal(find(&l, q2)->state, STORE_QUEUE_PENDING);
	c = claim(s, "B", 60, 10, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].id, q2);
	assert_int_equal(c[0].attempts, 1);
	free(c);
	TSU_OK(s, store_queue_retry(s, 0)); /* q1 due again */
	c = claim(s, "B", 60, 10, &n);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].id, q1);
	free(c);

	/* Delivered: only by the holder; the body goes with its last reference. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_delivered(s, q3, "B"));
	TSU_OK(s, store_queue_delivered(s, q3, "A"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_delivered(s, q3, "A"));
	assert_int_equal(TSU_COUNT(f, "messages"), 2); /* bob still has "two" */
	TSU_OK(s, store_queue_delivered(s, q1, "B"));
	assert_int_equal(TSU_COUNT(f, "messages"), 2); /* q2 still holds body one */
	TSU_OK(s, store_queue_delivered(s, q2, "B"));
	assert_int_equal(TSU_COUNT(f, "messages"), 1);
	store_reader_t *r = NULL;
	TSU_EXPECT(s, STORE_ENOTFOUND, store_reader_open(s, body1, &r));
	relist(s, &l);
	assert_int_equal(l.count, 0);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_retry(s, q1));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_delete(s, q1));
	TSU_OK(s, store_queue_retry(s, 0));
	TSU_OK(s, store_queue_delete(s, 0));
	tsu_check_clean(s);
}

static void test_queue_delete_and_errors(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct listing l = { .count = 0 };
	relist(s, &l);
	/* Deleting one of two rows that share a body keeps the body. */
	TSU_OK(s, store_queue_delete(s, l.items[0].id));
	assert_int_equal(TSU_COUNT(f, "messages"), 2);
	TSU_OK(s, store_queue_delete(s, l.items[1].id));
	assert_int_equal(TSU_COUNT(f, "messages"), 1);

	/* Errors longer than the item's field are cut to fit. */
	size_t n;
	struct store_queue_item *c = claim(s, "A", 60, 1, &n);
	assert_int_equal(n, 1);
	char longerr[2000];
	memset(longerr, 'e', sizeof(longerr) - 1);
	longerr[sizeof(longerr) - 1] = '\0';
	TSU_OK(s, store_queue_defer(s, c[0].id, "A", 0, longerr));
	relist(s, &l);
	assert_int_equal(strlen(l.items[0].last_error), sizeof(l.items[0].last_error) - 1);
	free(c);

	TSU_EXPECT(s, STORE_EINVAL, store_queue_claim(s, "", 60, 1, &c, &n));
	TSU_EXPECT(s, STORE_EINVAL, store_queue_claim(s, NULL, 60, 1, &c, &n));
	TSU_EXPECT(s, STORE_EINVAL, store_queue_defer(s, 1, "A", -5, "x"));
	TSU_EXPECT(s, STORE_EINVAL, store_queue_delivered(s, 1, NULL));
	TSU_EXPECT(s, STORE_EINVAL, store_queue_fail(s, 1, "", "x"));
	tsu_check_clean(s);
}

/* A crashed runner's claim expires and another takes the row over; the
 * first can no longer report on it. */
static void test_queue_lease_expiry(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	size_t n;
	struct store_queue_item *c = claim(s, "crashed", 1, 10, &n);
	assert_int_equal(n, 3);
	free(c);
	c = claim(s, "next", 60, 10, &n);
	assert_int_equal(n, 0);
	/* The claim of 1 s is gone 2 s later: move the database clock. */
	store__set_clock_offset(2);
	c = claim(s, "next", 60, 10, &n);
	assert_int_equal(n, 3);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_delivered(s, c[0].id, "crashed"));
	TSU_OK(s, store_queue_delivered(s, c[0].id, "next"));
	free(c);
}

/* Two processes claim from one queue at once: every row goes to exactly
 * one of them. */
static void test_two_claimers(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	enum { ROWS = 60 };
	for (int i = 0; i < ROWS - 3; i += 3) {
		store_delivery_t *d = NULL;
		char rcpt[64];
		assert_int_equal(store_delivery_new("", NULL, &d), STORE_OK);
		for (int j = 0; j < 3; j++) {
			snprintf(rcpt, sizeof(rcpt), "r%d@far.test", i + j);
			assert_int_equal(store_delivery_add_remote(d, rcpt), STORE_OK);
		}
		assert_int_equal(store_delivery_write(d, "x\r\n", 3), STORE_OK);
		TSU_OK(s, store_deliver(s, d));
		store_delivery_free(&d);
	}
	store_close(&f->store);
	int fds[2][2];
	pid_t pids[2];
	for (int k = 0; k < 2; k++) {
		assert_int_equal(pipe(fds[k]), 0);
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			store_t *cs = NULL;
			int status = 1;
			char owner[32];
			snprintf(owner, sizeof(owner), "runner%d", k);
			if (store_open(f->db, 0, &cs, NULL, 0) == STORE_OK) {
				struct store_queue_item *items;
				size_t count;
				status = 0;
				do {
					if (store_queue_claim(cs, owner, 60, 2, &items, &count) != STORE_OK) {
						status = 2;
						break;
					}
					for (size_t i = 0; i < count; i++)
						if (write(fds[k][1], &items[i].id, sizeof(int64_t)) !=
						    (ssize_t)sizeof(int64_t))
							status = 3;
					free(items);
				} while (count > 0);
				store_close(&cs);
			}
			_exit(status);
		}
		close(fds[k][1]);
	}
	int seen[ROWS + 1] = { 0 };
	int total = 0;
	for (int k = 0; k < 2; k++) {
		int64_t id;
		while (read(fds[k][0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
			assert_true(id >= 1 && id <= ROWS);
			seen[id]++;
			total++;
		}
		close(fds[k][0]);
		int status = 0;
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(total, ROWS);
	for (int id = 1; id <= ROWS; id++)
		assert_int_equal(seen[id], 1);
	f->store = tsu_open(f->db, 0);
}

/* Outcomes in one transaction, with the bounce for the failed ones. */
static void test_queue_report(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	size_t n;
	struct store_queue_item *c = claim(s, "runner", 60, 10, &n);
	assert_int_equal(n, 3);
	store_delivery_t *bounce = NULL;
	assert_int_equal(store_delivery_new("", NULL, &bounce), STORE_OK);
	assert_int_equal(store_delivery_add_local(bounce, "alice@example.test"), STORE_OK);
	assert_int_equal(store_delivery_write(bounce, "report\r\n", 8), STORE_OK);
	struct store_queue_outcome o[4] = {
		{ .id = c[0].id, .verdict = STORE_QUEUE_REMOVE },
		{ .id = c[1].id, .verdict = STORE_QUEUE_DEFER, .delay_seconds = 300, .error = "451 later" },
		{ .id = c[2].id, .verdict = STORE_QUEUE_FAIL, .error = "550 no" },
		{ .id = 9999, .verdict = STORE_QUEUE_REMOVE },
	};
	TSU_OK(s, store_queue_report(s, "runner", o, 4, bounce));
	store_delivery_free(&bounce);
	assert_int_equal(o[0].status, STORE_OK);
	assert_int_equal(o[1].status, STORE_OK);
	assert_int_equal(o[2].status, STORE_OK);
	assert_int_equal(o[3].status, STORE_ENOTFOUND);
	struct listing l = { .count = 0 };
	relist(s, &l);
	assert_int_equal(l.count, 2);
	assert_null(find(&l, c[0].id));
	assert_string_equal(find(&l, c[1].id)->last_error, "451 later");
	assert_int_equal(find(&l, c[1].id)->attempts, 1);
	assert_int_equal(find(&l, c[2].id)->state, STORE_QUEUE_FAILED);
	struct store_entry *entries = NULL;
	TSU_OK(s, store_mailbox_snapshot(s, "alice@example.test", &entries, &n));
	assert_int_equal(n, 1);
	free(entries);
	free(c);
}

/* A bounce that cannot be stored rolls the outcomes back with it. */
static void test_queue_report_rollback(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	size_t n;
	struct store_queue_item *c = claim(s, "runner", 60, 10, &n);
	store_delivery_t *bounce = NULL;
	assert_int_equal(store_delivery_new("", NULL, &bounce), STORE_OK);
	assert_int_equal(store_delivery_add_local(bounce, "nobody@example.test"), STORE_OK);
	assert_int_equal(store_delivery_write(bounce, "report\r\n", 8), STORE_OK);
	struct store_queue_outcome o = { .id = c[0].id, .verdict = STORE_QUEUE_REMOVE };
	TSU_EXPECT(s, STORE_ENOTFOUND, store_queue_report(s, "runner", &o, 1, bounce));
	store_delivery_free(&bounce);
	struct listing l = { .count = 0 };
	relist(s, &l);
	assert_int_equal(l.count, 3);
	free(c);
}

/* Renewing keeps a claim past its first expiry; releasing hands it back
 * untried; an operator cannot delete what a runner is sending. */
static void test_queue_renew_release_delete(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	size_t n;
	struct store_queue_item *c = claim(s, "runner", 2, 10, &n);
	assert_int_equal(n, 3);
	TSU_OK(s, store_queue_renew(s, "runner", 60));
	store__set_clock_offset(10);
	free(claim(s, "other", 60, 10, &n));
	assert_int_equal(n, 0);
	TSU_EXPECT(s, STORE_EBUSY, store_queue_delete(s, c[0].id));
	TSU_OK(s, store_queue_delete(s, 0)); /* deletes nothing: all leased */
	struct listing l = { .count = 0 };
	relist(s, &l);
	assert_int_equal(l.count, 3);
	TSU_OK(s, store_queue_release(s, "runner"));
	relist(s, &l);
	assert_int_equal(l.items[0].attempts, 0);
	TSU_OK(s, store_queue_delete(s, c[0].id));
	free(c);
	c = claim(s, "other", 60, 10, &n);
	assert_int_equal(n, 2);
	free(c);
	store__set_clock_offset(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_lifecycle, setup_queue, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_queue_delete_and_errors, setup_queue, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_queue_lease_expiry, setup_queue, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_two_claimers, setup_queue, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_queue_report, setup_queue, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_queue_report_rollback, setup_queue, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_queue_renew_release_delete, setup_queue, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
