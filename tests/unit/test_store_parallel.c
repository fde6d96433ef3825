/*
 * test_store_parallel.c - writers on several handles at once (store.h
 * "Write concurrency"). On PostgreSQL the scoped writes run together: a
 * delivery to one mailbox commits while another mailbox's transaction is
 * open, and waits only for a transaction of its own mailbox; queue claims
 * skip the rows another claimer is taking. On both backends: parallel
 * deliveries to overlapping mailboxes with quotas keep exact counts and
 * never overshoot a quota, and parallel deletes of the references to
 * shared bodies leave no orphan (store_check).
 *
 * Worker threads never call cmocka's assertions (they jump back into the
 * test's own stack): they record their results, and the test checks them
 * after joining. A wait that the old global writers' lock would have made
 * endless ends on the handle's lock_timeout (STORE_EBUSY) instead.
 */
#include <pthread.h>
#include <time.h>

#include "test_store_util.h"
#include "postgresql/pg-private.h"

#define ALICE "alice@example.test"
#define BOB "bob@example.test"
#define CAROL "carol@other.test"
#define DAVE "dave@example.test"

static const char *const mailboxes[] = { ALICE, BOB, CAROL, DAVE };
#define MAILBOXES 4

/* Message bodies of exactly this many octets. */
#define BODY_SIZE 1000

static void make_body(char *body, int tag)
{
	int n = snprintf(body, BODY_SIZE + 1, "Subject: %d\r\n\r\n", tag);
	memset(body + n, 'x', BODY_SIZE - n - 2);
	memcpy(body + BODY_SIZE - 2, "\r\n", 3);
}

/* A delivery of a BODY_SIZE body to up to two mailboxes and a remote
 * recipient; NULL when building it failed (no cmocka in threads). */
static store_delivery_t *new_delivery(const char *local1, const char *local2, const char *remote,
                                      int tag)
{
	char body[BODY_SIZE + 1];
	store_delivery_t *d = NULL;
	if (store_delivery_new("sender@remote.test", NULL, &d) != STORE_OK)
		return NULL;
	make_body(body, tag);
	if ((local1 != NULL && store_delivery_add_local(d, local1) != STORE_OK) ||
	    (local2 != NULL && store_delivery_add_local(d, local2) != STORE_OK) ||
	    (remote != NULL && store_delivery_add_remote(d, remote) != STORE_OK) ||
	    store_delivery_write(d, body, BODY_SIZE) != STORE_OK)
		store_delivery_free(&d);
	return d;
}

static int deliver(store_t *s, const char *local1, const char *local2, const char *remote, int tag)
{
	store_delivery_t *d = new_delivery(local1, local2, remote, tag);
	if (d == NULL)
		return STORE_ENOMEM;
	int rc = store_deliver(s, d);
	store_delivery_free(&d);
	return rc;
}

static store_t *open_handle(const char *db)
{
	char err[256];
	store_t *s = NULL;
	return store_open(db, 0, &s, err, sizeof(err)) == STORE_OK ? s : NULL;
}

static int64_t count_sql(const char *db, const char *fmt, const char *arg)
{
	char sql[512];
	snprintf(sql, sizeof(sql), fmt, arg);
	return tsu_query_int(db, sql);
}

static int64_t entries_of(const char *db, const char *mailbox)
{
	return count_sql(db, "SELECT COUNT(*) FROM mailbox_entries e JOIN users u ON u.id = e.user_id"
	                     " WHERE u.address = '%s'", mailbox);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/*
 * Waits until `n` sessions wait for an advisory lock (the writers' lock or
 * a mailbox key), as pg_locks shows. Not a timing assertion: the bound
 * only turns a wait that never comes into a failure instead of a hang.
 */
static void wait_for_lock_waiters(const char *uri, int n)
{
	PGconn *conn = tsu_pg_connect(uri);
	for (int i = 0; i < 6000; i++) {
		PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_locks"
		                             " WHERE locktype = 'advisory' AND NOT granted");
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		int waiting = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (waiting >= n) {
			PQfinish(conn);
			return;
		}
		sleep_ms(10);
	}
	PQfinish(conn);
	fail_msg("no session came to wait for the lock");
}

/* ---- scopes: who waits for whom (PostgreSQL) ----------------------------- */

struct waiter {
	pthread_t thread;
	store_t *store;
	const char *mailbox; /* deliver to it; NULL: add the domain new.test */
	int rc;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->rc = w->mailbox != NULL ? deliver(w->store, w->mailbox, NULL, NULL, 99)
	                           : store_domain_add(w->store, "new.test");
	return NULL;
}

/* A handle whose lock waits outlast any slowness of the test machine. */
static store_t *patient_handle(const char *db)
{
	store_t *s = tsu_open(db, 0);
	TSU_OK(s, store__pg_exec(s, "SET lock_timeout = '300s'", "set lock_timeout"));
	return s;
}

static void test_scopes_of_other_mailboxes_commit_together(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("PostgreSQL only: SQLite has one writer at a time");
	store_t *a = f->store;
	store_t *b = tsu_open(f->db, 0);

	/* A: a delivery to alice, written and not committed. */
	store_delivery_t *d = new_delivery(ALICE, NULL, NULL, 1);
	assert_non_null(d);
	TSU_OK(a, store__begin_mailbox(a, ALICE));
	TSU_OK(a, store__deliver_in_txn(a, d));
	store_delivery_free(&d);

	/* B delivers to bob and commits meanwhile: the old writers' lock
	 * would have held it until its lock_timeout (STORE_EBUSY). */
	TSU_OK(b, deliver(b, BOB, NULL, NULL, 2));
	assert_int_equal(entries_of(f->db, BOB), 1);
	/* A queue claim names no mailbox: it does not wait either. */
	struct store_queue_item *items = NULL;
	size_t n = 0;
	TSU_OK(b, store_queue_claim(b, "runner", 60, 10, &items, &n));
	assert_int_equal(n, 0);
	free(items);

	/* B's delivery to alice waits for A, and an exclusive write waits
	 * for every scoped one. */
	struct waiter to_alice = { .store = patient_handle(f->db), .mailbox = ALICE };
	struct waiter admin = { .store = patient_handle(f->db), .mailbox = NULL };
	assert_int_equal(pthread_create(&to_alice.thread, NULL, waiter_main, &to_alice), 0);
	wait_for_lock_waiters(f->db, 1);
	assert_int_equal(pthread_create(&admin.thread, NULL, waiter_main, &admin), 0);
	wait_for_lock_waiters(f->db, 2);
	assert_int_equal(entries_of(f->db, ALICE), 0);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM domains WHERE name = 'new.test'"),
	                 0);

	TSU_OK(a, store__commit(a));
	assert_int_equal(pthread_join(to_alice.thread, NULL), 0);
	assert_int_equal(pthread_join(admin.thread, NULL), 0);
	TSU_EXPECT(to_alice.store, STORE_OK, to_alice.rc);
	TSU_EXPECT(admin.store, STORE_OK, admin.rc);
	assert_int_equal(entries_of(f->db, ALICE), 2);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM domains WHERE name = 'new.test'"),
	                 1);
	store_close(&to_alice.store);
	store_close(&admin.store);
	store_close(&b);
	tsu_check_clean(a);
}

/* Names that differ by case are one mailbox, and one key. */
static void test_scope_is_the_mailbox_in_any_case(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("PostgreSQL only: SQLite has one writer at a time");
	store_t *a = f->store;
	TSU_OK(a, store__begin_mailbox(a, "ALICE@example.test"));
	struct waiter w = { .store = patient_handle(f->db), .mailbox = ALICE };
	assert_int_equal(pthread_create(&w.thread, NULL, waiter_main, &w), 0);
	wait_for_lock_waiters(f->db, 1);
	TSU_OK(a, store__commit(a));
	assert_int_equal(pthread_join(w.thread, NULL), 0);
	TSU_EXPECT(w.store, STORE_OK, w.rc);
	store_close(&w.store);
}

/* A delivery to more mailboxes than a scope locks one by one (store_scope.c)
 * takes the writers' lock exclusively: it waits for a scoped writer of a
 * mailbox it does not name, and is delivered in full after it. */
#define MANY 40

struct many {
	pthread_t thread;
	store_t *store;
	int rc;
};

static void *many_main(void *arg)
{
	struct many *m = arg;
	store_delivery_t *d = NULL;
	char body[BODY_SIZE + 1], box[64];
	m->rc = store_delivery_new("sender@remote.test", NULL, &d);
	for (int i = 0; m->rc == STORE_OK && i < MANY; i++) {
		snprintf(box, sizeof(box), "u%02d@example.test", i);
		m->rc = store_delivery_add_local(d, box);
	}
	make_body(body, 7);
	if (m->rc == STORE_OK)
		m->rc = store_delivery_write(d, body, BODY_SIZE);
	if (m->rc == STORE_OK)
		m->rc = store_deliver(m->store, d);
	store_delivery_free(&d);
	return NULL;
}

static void test_many_mailboxes_take_the_lock_exclusively(void **state)
{
	struct store_fixture *f = *state;
	char box[64];
	for (int i = 0; i < MANY; i++) {
		snprintf(box, sizeof(box), "u%02d@example.test", i);
		TSU_OK(f->store, store_user_add(f->store, box, "$y$hash"));
	}
	struct many m = { .store = tsu_pg_uri() != NULL ? patient_handle(f->db) : f->store };
	if (tsu_pg_uri() != NULL) {
		TSU_OK(f->store, store__begin_mailbox(f->store, ALICE));
		assert_int_equal(pthread_create(&m.thread, NULL, many_main, &m), 0);
		wait_for_lock_waiters(f->db, 1);
		TSU_OK(f->store, store__commit(f->store));
		assert_int_equal(pthread_join(m.thread, NULL), 0);
		store_close(&m.store);
	} else {
		many_main(&m);
	}
	assert_int_equal(m.rc, STORE_OK);
	for (int i = 0; i < MANY; i++) {
		snprintf(box, sizeof(box), "u%02d@example.test", i);
		assert_int_equal(entries_of(f->db, box), 1);
	}
}

/* ---- queue claims skip each other's rows (PostgreSQL) --------------------- */

static void test_claims_skip_rows_being_claimed(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("PostgreSQL only: SQLite has one writer at a time");
	store_t *a = f->store;
	store_t *b = tsu_open(f->db, 0);
	for (int i = 0; i < 6; i++)
		TSU_OK(a, deliver(a, NULL, NULL, "r@remote.test", i));

	/* A claims two rows and keeps its transaction open: they are locked. */
	int64_t mine[2] = { 0, 0 };
	size_t got = 0;
	TSU_OK(a, store__begin_scoped(a, NULL));
	store__stmt_t *claim = store__stmt(a, STORE__QUEUE_CLAIM);
	assert_non_null(claim);
	store__bind_text(claim, 1, "a");
	store__bind_int(claim, 2, 600);
	store__bind_int64(claim, 3, 2);
	int rc;
	while ((rc = store__step(claim, "claim")) == STORE__ROW) {
		assert_true(got < 2);
		mine[got++] = store__column_int64(claim, 0);
	}
	store__reset(claim);
	assert_int_equal(rc, STORE__DONE);
	assert_int_equal(got, 2);

	/* B takes the other four at once, without waiting for A. */
	struct store_queue_item *items = NULL;
	size_t n = 0;
	TSU_OK(b, store_queue_claim(b, "b", 600, 10, &items, &n));
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_true(items[i].id != mine[0] && items[i].id != mine[1]);
	free(items);

	TSU_OK(a, store__commit(a));
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM queue WHERE lease_owner = 'a'"), 2);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM queue WHERE lease_owner = 'b'"), 4);
	/* Nothing is left for a third. */
	TSU_OK(b, store_queue_claim(b, "c", 600, 10, &items, &n));
	assert_int_equal(n, 0);
	assert_null(items);
	store_close(&b);
}

/* ---- many claimers at once (both backends) --------------------------------- */

#define CLAIM_ROWS 30
#define CLAIMERS 3

struct claimer {
	pthread_t thread;
	const char *db;
	char owner[16];
	int64_t ids[CLAIM_ROWS + 1];
	size_t count;
	int rc;
};

static void *claimer_main(void *arg)
{
	struct claimer *c = arg;
	store_t *s = open_handle(c->db);
	c->rc = s != NULL ? STORE_OK : STORE_EIO;
	while (c->rc == STORE_OK) {
		struct store_queue_item *items = NULL;
		size_t n = 0;
		c->rc = store_queue_claim(s, c->owner, 600, 4, &items, &n);
		for (size_t i = 0; i < n && c->count <= CLAIM_ROWS; i++)
			c->ids[c->count++] = items[i].id;
		free(items);
		if (n == 0)
			break;
	}
	store_close(&s);
	return NULL;
}

static void test_parallel_claimers_take_disjoint_rows(void **state)
{
	struct store_fixture *f = *state;
	for (int i = 0; i < CLAIM_ROWS; i++)
		TSU_OK(f->store, deliver(f->store, NULL, NULL, "r@remote.test", i));
	struct claimer c[CLAIMERS];
	memset(c, 0, sizeof(c));
	for (int i = 0; i < CLAIMERS; i++) {
		c[i].db = f->db;
		snprintf(c[i].owner, sizeof(c[i].owner), "runner%d", i);
		assert_int_equal(pthread_create(&c[i].thread, NULL, claimer_main, &c[i]), 0);
	}
	size_t total = 0;
	int64_t seen[CLAIM_ROWS * CLAIMERS + CLAIMERS];
	for (int i = 0; i < CLAIMERS; i++) {
		assert_int_equal(pthread_join(c[i].thread, NULL), 0);
		if (c[i].rc != STORE_OK)
			fail_msg("claimer %d: %s", i, store_strerror(c[i].rc));
		for (size_t k = 0; k < c[i].count; k++) {
			for (size_t j = 0; j < total; j++)
				if (seen[j] == c[i].ids[k])
					fail_msg("row %lld claimed twice", (long long)seen[j]);
			seen[total++] = c[i].ids[k];
		}
	}
	assert_int_equal(total, CLAIM_ROWS);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM queue WHERE lease_owner IS NULL"),
	                 0);
}

/* ---- deliveries and quotas (both backends) ---------------------------------- */

#define WRITERS 4
#define MESSAGES 30
#define BATCH 5

/* Quotas in octets, 0: none. Each mailbox is offered 60 messages. */
static const uint64_t quotas[MAILBOXES] = { 30 * BODY_SIZE, 25 * BODY_SIZE + 500, 0,
                                            20 * BODY_SIZE };

struct writer {
	pthread_t thread;
	const char *db;
	int index;
	int accepted[MAILBOXES]; /* deliveries stored, per mailbox */
	int messages;            /* deliveries stored */
	int refused;             /* STORE_EQUOTA */
	int failed;              /* anything else */
	int first_failure;
};

/* Message i of writer w goes to two neighbouring mailboxes, so every pair
 * of writers shares mailboxes. */
static int first_mailbox(const struct writer *w, int i)
{
	return (w->index + i) % MAILBOXES;
}

static void count_result(struct writer *w, int i, int rc)
{
	if (rc == STORE_OK) {
		w->accepted[first_mailbox(w, i)]++;
		w->accepted[(first_mailbox(w, i) + 1) % MAILBOXES]++;
		w->messages++;
	} else if (rc == STORE_EQUOTA) {
		w->refused++;
	} else {
		if (w->failed++ == 0)
			w->first_failure = rc;
	}
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	store_t *s = open_handle(w->db);
	if (s == NULL) {
		w->failed = 1;
		w->first_failure = STORE_EIO;
		return NULL;
	}
	/* Even writers commit one by one, odd ones in group commits. */
	for (int i = 0; i < MESSAGES; i += BATCH) {
		store_delivery_t *batch[BATCH];
		int results[BATCH];
		for (int k = 0; k < BATCH; k++) {
			int m = first_mailbox(w, i + k);
			batch[k] = new_delivery(mailboxes[m], mailboxes[(m + 1) % MAILBOXES], NULL,
			                        w->index * 1000 + i + k);
			results[k] = batch[k] != NULL ? STORE_OK : STORE_ENOMEM;
		}
		if (w->index % 2 == 1)
			store_deliver_batch(s, batch, BATCH, results);
		else
			for (int k = 0; k < BATCH; k++)
				if (batch[k] != NULL)
					results[k] = store_deliver(s, batch[k]);
		for (int k = 0; k < BATCH; k++) {
			count_result(w, i + k, results[k]);
			store_delivery_free(&batch[k]);
		}
	}
	store_close(&s);
	return NULL;
}

static void test_parallel_deliveries_keep_quotas_and_counts(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_user_add(s, DAVE, "$y$hash-d"));
	for (int m = 0; m < MAILBOXES; m++)
		TSU_OK(s, store_user_set_quota(s, mailboxes[m], quotas[m]));

	struct writer w[WRITERS];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < WRITERS; i++) {
		w[i].db = f->db;
		w[i].index = i;
		assert_int_equal(pthread_create(&w[i].thread, NULL, writer_main, &w[i]), 0);
	}
	int accepted[MAILBOXES] = { 0 }, messages = 0, refused = 0;
	for (int i = 0; i < WRITERS; i++) {
		assert_int_equal(pthread_join(w[i].thread, NULL), 0);
		if (w[i].failed > 0)
			fail_msg("writer %d: %d failed, the first with %s", i, w[i].failed,
			         store_strerror(w[i].first_failure));
		for (int m = 0; m < MAILBOXES; m++)
			accepted[m] += w[i].accepted[m];
		messages += w[i].messages;
		refused += w[i].refused;
	}
	print_message("stored %d messages, %d refused for quota\n", messages, refused);
	assert_int_equal(messages + refused, WRITERS * MESSAGES);
	assert_true(refused > 0); /* the quotas were reached */

	/* Exactly what was acknowledged is stored, and no quota is overrun. */
	assert_int_equal(TSU_COUNT(f, "messages"), messages);
	for (int m = 0; m < MAILBOXES; m++) {
		uint64_t quota = 0;
		struct store_usage u;
		TSU_OK(s, store_user_usage(s, mailboxes[m], &quota, &u));
		assert_int_equal(entries_of(f->db, mailboxes[m]), accepted[m]);
		assert_int_equal(u.messages, (uint64_t)accepted[m]);
		assert_int_equal(u.bytes, (uint64_t)accepted[m] * BODY_SIZE);
		if (quota > 0 && u.bytes > quota)
			fail_msg("%s holds %llu octets over its quota of %llu", mailboxes[m],
			         (unsigned long long)u.bytes, (unsigned long long)quota);
	}
	tsu_check_clean(s);
}

/* ---- the last references to shared bodies, removed at once (both) ------------ */

#define SHARED 30
#define ROUNDS 4

/* What removes references: a POP3 session of one mailbox, or a queue runner. */
struct remover {
	pthread_t thread;
	pthread_barrier_t *start;
	const char *db;
	const char *mailbox; /* NULL: the queue runner */
	int rc;
};

/* POP3: takes the lease, then deletes each entry in its own UPDATE. */
static int remove_entries(store_t *s, const char *mailbox)
{
	struct store_entry *entries = NULL;
	size_t n = 0;
	int rc = store_lease_acquire(s, mailbox, mailbox, 60);
	if (rc == STORE_OK)
		rc = store_mailbox_snapshot(s, mailbox, &entries, &n);
	for (size_t i = 0; rc == STORE_OK && i < n; i++)
		rc = store_mailbox_delete(s, mailbox, mailbox, &entries[i].id, 1);
	free(entries);
	if (rc == STORE_OK)
		rc = store_lease_release(s, mailbox, mailbox);
	return rc;
}

/* The runner: each queue row delivered and removed on its own. */
static int remove_queue_rows(store_t *s)
{
	struct store_queue_item *items = NULL;
	size_t n = 0;
	int rc = store_queue_claim(s, "runner", 600, SHARED, &items, &n);
	for (size_t i = 0; rc == STORE_OK && i < n; i++)
		rc = store_queue_delivered(s, items[i].id, "runner");
	free(items);
	return rc;
}

static void *remover_main(void *arg)
{
	struct remover *r = arg;
	store_t *s = open_handle(r->db);
	pthread_barrier_wait(r->start);
	r->rc = s == NULL ? STORE_EIO : r->mailbox != NULL ? remove_entries(s, r->mailbox)
	                                                   : remove_queue_rows(s);
	store_close(&s);
	return NULL;
}

static void test_parallel_removals_leave_no_orphan(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const char *owners[] = { ALICE, BOB, NULL };
	for (int round = 0; round < ROUNDS; round++) {
		/* Every body is shared by two mailboxes and a queue row. */
		for (int i = 0; i < SHARED; i++)
			TSU_OK(s, deliver(s, ALICE, BOB, "r@remote.test", i));
		pthread_barrier_t start;
		assert_int_equal(pthread_barrier_init(&start, NULL, 3), 0);
		struct remover r[3];
		memset(r, 0, sizeof(r));
		for (int i = 0; i < 3; i++) {
			r[i] = (struct remover){ .start = &start, .db = f->db, .mailbox = owners[i] };
			assert_int_equal(pthread_create(&r[i].thread, NULL, remover_main, &r[i]), 0);
		}
		for (int i = 0; i < 3; i++) {
			assert_int_equal(pthread_join(r[i].thread, NULL), 0);
			if (r[i].rc != STORE_OK)
				fail_msg("round %d, %s: %s", round, owners[i] ? owners[i] : "runner",
				         store_strerror(r[i].rc));
		}
		pthread_barrier_destroy(&start);
		/* Every reference is gone, so is every body. */
		assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 0);
		assert_int_equal(TSU_COUNT(f, "queue"), 0);
		assert_int_equal(TSU_COUNT(f, "messages"), 0);
		assert_int_equal(TSU_COUNT(f, "message_chunks"), 0);
		tsu_check_clean(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scopes_of_other_mailboxes_commit_together,
		                                tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_scope_is_the_mailbox_in_any_case, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_many_mailboxes_take_the_lock_exclusively,
		                                tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_claims_skip_rows_being_claimed, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_claimers_take_disjoint_rows, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_deliveries_keep_quotas_and_counts,
		                                tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_parallel_removals_leave_no_orphan, tsu_setup,
		                                tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
