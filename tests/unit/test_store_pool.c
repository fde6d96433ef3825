/*
 * test_store_pool.c - the pool of a process's handles (store.h
 * store_pool_*) and the queue's wake-ups (store_wakeup_*).
 *
 * On SQLite (unit/) each thread keeps its own handle and the pool never
 * waits; on PostgreSQL (pg/, MAIL_TEST_PG_URI) the pool never has more
 * connections open than it may, which the server itself is asked
 * (pg_stat_activity), a job waits for a handle on a condition variable
 * and gives up after the pool's wait, a broken connection is replaced,
 * and a queue row that becomes due wakes a listener.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "test_store_util.h"

/* The application_name of the pool's connections, to count them alone. */
#define POOL_APP "test_store_pool"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The fixture's database, with an application_name on PostgreSQL. */
static void pool_db(const struct store_fixture *f, char *out, size_t len)
{
	if (tsu_pg_uri() != NULL)
		snprintf(out, len, "%s?application_name=" POOL_APP, f->db);
	else
		snprintf(out, len, "%s", f->db);
}

static store_pool_t *pool_new(const struct store_fixture *f, unsigned max_open, unsigned wait_ms)
{
	char db[1200];
	pool_db(f, db, sizeof(db));
	struct store_pool_config cfg = { .db = db, .max_open = max_open, .wait_ms = wait_ms };
	store_pool_t *pool = NULL;
	assert_int_equal(store_pool_new(&cfg, &pool), STORE_OK);
	assert_non_null(pool);
	return pool;
}

static store_t *acquire(store_pool_t *pool)
{
	char err[256] = "";
	store_t *s = store_pool_acquire(pool, err, sizeof(err));
	if (s == NULL)
		print_error("store_pool_acquire: %s\n", err);
	assert_non_null(s);
	return s;
}

/* The pool's connections the server has now (PostgreSQL). */
static int64_t server_connections(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_stat_activity"
	                             " WHERE application_name = '" POOL_APP "'");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	int64_t n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

static void test_config_is_checked(void **state)
{
	struct store_fixture *f = *state;
	store_pool_t *pool = NULL;
	struct store_pool_config none = { .db = "", .max_open = 1 };
	assert_int_equal(store_pool_new(&none, &pool), STORE_EINVAL);
	assert_null(pool);
	struct store_pool_config zero = { .db = f->db, .max_open = 0 };
	assert_int_equal(store_pool_new(&zero, &pool), STORE_EINVAL);
	assert_null(pool);
	store_pool_free(&pool); /* safe on NULL */
}

/* ---- SQLite: a handle per thread --------------------------------------- */

struct thread_acquire {
	store_pool_t *pool;
	store_t *got;
};

static void *acquire_main(void *arg)
{
	struct thread_acquire *t = arg;
	char err[256];
	t->got = store_pool_acquire(t->pool, err, sizeof(err));
	store_t *s = t->got;
	if (s != NULL && store_domain_exists(s, "example.test") != STORE_OK)
		t->got = NULL;
	store_pool_release(t->pool, &s);
	return NULL;
}

static void test_sqlite_keeps_a_handle_per_thread(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() != NULL)
		TESTUTIL_SKIP("about SQLite's per-thread handles");
	store_pool_t *pool = pool_new(f, 1, 10);

	store_t *mine = acquire(pool);
	store_t *held = mine;
	store_pool_release(pool, &held);
	assert_null(held);
	/* The thread's own handle again, kept open between jobs. */
	held = acquire(pool);
	assert_ptr_equal(held, mine);
	/* max_open does not apply: another thread gets its own at once. */
	struct thread_acquire t = { .pool = pool };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, acquire_main, &t), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_non_null(t.got);
	assert_ptr_not_equal(t.got, mine);
	TSU_OK(held, store_domain_exists(held, "example.test"));
	store_pool_release(pool, &held);

	struct store_pool_stats st;
	store_pool_stats(pool, &st);
	assert_false(st.pooled);
	/* The loop's handle: SQLite's no-wait handles may serve a loop. */
	store_t *loop = NULL;
	char err[256];
	assert_int_equal(store_pool_open_loop(pool, &loop, err, sizeof(err)), STORE_OK);
	assert_true(store_loop_safe(loop));
	store_close(&loop);
	assert_int_equal(store_pool_probe(pool, err, sizeof(err)), STORE_OK);
	/* Frees the main thread's handle too (the other thread's closed at its exit). */
	store_pool_free(&pool);
	assert_null(pool);
}

/* ---- PostgreSQL: a bounded pool --------------------------------------- */

#define WORKERS 8
#define ROUNDS 25

struct worker {
	store_pool_t *pool;
	atomic_int *failures;
	atomic_int *over;
	atomic_int *finished;
	unsigned max_open;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char err[256];
	for (int i = 0; i < ROUNDS; i++) {
		store_t *s = store_pool_acquire(w->pool, err, sizeof(err));
		if (s == NULL) {
			atomic_fetch_add(w->failures, 1);
			continue;
		}
		struct store_pool_stats st;
		store_pool_stats(w->pool, &st);
		if (st.open > w->max_open || st.in_use > w->max_open)
			atomic_fetch_add(w->over, 1);
		if (store_domain_exists(s, "example.test") != STORE_OK)
			atomic_fetch_add(w->failures, 1);
		sleep_ms(2); /* hold it a little, so that others must wait */
		store_pool_release(w->pool, &s);
	}
	atomic_fetch_add(w->finished, 1);
	return NULL;
}

static void test_pg_never_opens_more_than_max(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("about PostgreSQL's pooled connections");
	store_pool_t *pool = pool_new(f, 2, 60000);
	atomic_int failures = 0, over = 0, finished = 0;
	struct worker w = { .pool = pool, .failures = &failures, .over = &over,
	                    .finished = &finished, .max_open = 2 };
	pthread_t th[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w), 0);

	/* The server's count while they run: never more than two. */
	PGconn *watch = tsu_pg_connect(f->db);
	int64_t most = 0;
	struct store_pool_stats st;
	while (atomic_load(&finished) < WORKERS) {
		int64_t n = server_connections(watch);
		if (n > most)
			most = n;
		sleep_ms(1);
	}
	for (int i = 0; i < WORKERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	/* Idle ones are kept: the last look sees them. */
	int64_t last = server_connections(watch);
	most = last > most ? last : most;
	print_message("most connections seen: %lld\n", (long long)most);
	assert_true(most >= 1 && most <= 2);
	assert_int_equal(atomic_load(&failures), 0);
	assert_int_equal(atomic_load(&over), 0);
	store_pool_stats(pool, &st);
	assert_true(st.pooled);
	assert_int_equal(st.max_open, 2);
	assert_int_equal(st.in_use, 0);
	assert_true(st.open >= 1 && st.open <= 2); /* idle ones are kept */
	assert_int_equal(st.wait_timeouts, 0);
	store_pool_free(&pool);
	/* Freeing closes them. */
	while (server_connections(watch) != 0)
		sleep_ms(10);
	PQfinish(watch);
}

struct waiter {
	store_pool_t *pool;
	store_t *got;
	char err[256];
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->got = store_pool_acquire(w->pool, w->err, sizeof(w->err));
	return NULL;
}

static void test_pg_waits_for_a_free_handle(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("about PostgreSQL's pooled connections");

	/* A short wait runs out: a temporary failure with a message. */
	store_pool_t *pool = pool_new(f, 1, 50);
	store_t *held = acquire(pool);
	struct waiter w = { .pool = pool };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_null(w.got);
	assert_non_null(strstr(w.err, "db_connections"));
	struct store_pool_stats st;
	store_pool_stats(pool, &st);
	assert_int_equal(st.wait_timeouts, 1);
	assert_int_equal(st.open, 1);
	store_pool_release(pool, &held);
	store_pool_free(&pool);

	/* A long one ends when the handle comes back, and gets that one. */
	pool = pool_new(f, 1, 600000);
	held = acquire(pool);
	store_t *first = held;
	w = (struct waiter){ .pool = pool };
	assert_int_equal(pthread_create(&th, NULL, waiter_main, &w), 0);
	do {
		sleep_ms(1);
		store_pool_stats(pool, &st);
	} while (st.waiting == 0);
	store_pool_release(pool, &held);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_ptr_equal(w.got, first);
	store_pool_stats(pool, &st);
	assert_int_equal(st.open, 1);
	assert_int_equal(st.in_use, 1);
	assert_int_equal(st.waiting, 0);
	store_pool_release(pool, &w.got);
	store_pool_free(&pool);
}

/* Ends the pool's server sessions, waiting until they are gone: a
 * restart, as far as they can tell. */
static void kill_pool_connections(const char *uri)
{
	tsu_pg_exec(uri, "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity"
	                 " WHERE application_name = '" POOL_APP "'");
}

/* /healthz's probe does not wait for the sessions' work: with every pooled
 * connection busy it answers at once, on a connection of its own. */
static void test_pg_probe_does_not_wait_for_a_busy_pool(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("about PostgreSQL's pooled connections");
	store_pool_t *pool = pool_new(f, 1, 600000); /* a wait would hang the test */
	store_t *busy = acquire(pool);
	char err[256] = "";
	assert_int_equal(store_pool_probe(pool, err, sizeof(err)), STORE_OK);
	struct store_pool_stats st;
	store_pool_stats(pool, &st);
	assert_int_equal(st.open, 1);
	assert_int_equal(st.wait_timeouts, 0);
	store_pool_release(pool, &busy);
	store_pool_free(&pool);
}

/* While the server cannot be reached, a failed connect is not tried again
 * at once: the next job fails fast with a temporary error that says when. */
static void test_pg_unreachable_server_backs_off(void **state)
{
	(void)state;
	struct store_pool_config cfg = {
		/* Port 1 on loopback: refused at once, no server there. */
		.db = "postgresql://mail@127.0.0.1:1/mail", .max_open = 2, .wait_ms = 1000
	};
	store_pool_t *pool = NULL;
	char err[512];
	assert_int_equal(store_pool_new(&cfg, &pool), STORE_OK);
	assert_null(store_pool_acquire(pool, err, sizeof(err)));
	assert_null(strstr(err, "next attempt"));
	assert_null(store_pool_acquire(pool, err, sizeof(err)));
	assert_non_null(strstr(err, "could not be reached; next attempt in"));
	struct store_pool_stats st;
	store_pool_stats(pool, &st);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.in_use, 0);
	store_pool_free(&pool);
}

static void test_pg_broken_handle_is_replaced(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		TESTUTIL_SKIP("about PostgreSQL's pooled connections");
	store_pool_t *pool = pool_new(f, 1, 60000);
	/* An idle connection the server closed (a restart) is replaced when taken. */
	store_t *s = acquire(pool);
	store_pool_release(pool, &s);
	kill_pool_connections(f->db);
	s = acquire(pool);
	TSU_OK(s, store_domain_exists(s, "example.test"));
	struct store_pool_stats st;
	store_pool_stats(pool, &st);
	assert_int_equal(st.open, 1);
	/* One that breaks while a job holds it fails that job... */
	kill_pool_connections(f->db);
	assert_true(store_domain_exists(s, "example.test") < 0);
	/* ...and is closed when given back. */
	store_pool_release(pool, &s);
	store_pool_stats(pool, &st);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.in_use, 0);
	/* The next job gets a fresh connection that works. */
	s = acquire(pool);
	TSU_OK(s, store_domain_exists(s, "example.test"));
	store_pool_release(pool, &s);

	/* The probe too goes round a dead idle connection. */
	char err[256] = "";
	kill_pool_connections(f->db);
	int rc = store_pool_probe(pool, err, sizeof(err));
	if (rc != STORE_OK)
		print_error("probe: %s\n", err);
	assert_int_equal(rc, STORE_OK);
	store_pool_stats(pool, &st);
	assert_int_equal(st.open, 1);
	/* PostgreSQL handles never serve a loop: none is opened for it. */
	store_t *loop = (store_t *)1;
	assert_int_equal(store_pool_open_loop(pool, &loop, err, sizeof(err)), STORE_OK);
	assert_null(loop);
	store_pool_free(&pool);
}

/* ---- queue wake-ups ------------------------------------------------------ */

/* Waits (generously: a failure, not a timing, is what is tested) until
 * the wake-up's descriptor is readable and reads it; its drain's result. */
static int wait_and_drain(store_wakeup_t *w)
{
	char err[256] = "";
	for (;;) {
		struct pollfd p = { .fd = store_wakeup_fd(w), .events = POLLIN };
		int n = poll(&p, 1, 60000);
		assert_true(n >= 0);
		if (n == 0)
			return 0;
		int rc = store_wakeup_drain(w, err, sizeof(err));
		if (rc != 0)
			return rc;
	}
}

static void test_pg_due_rows_wake_listeners(void **state)
{
	struct store_fixture *f = *state;
	store_pool_t *pool = pool_new(f, 1, 60000);
	store_wakeup_t *w = NULL;
	char err[256] = "";
	if (tsu_pg_uri() == NULL) {
		assert_false(store_wakeup_supported(pool));
		assert_int_equal(store_wakeup_open(pool, &w, err, sizeof(err)), STORE_ENOTSUP);
		assert_null(w);
		assert_non_null(strstr(err, "sqlite"));
		store_wakeup_close(&w); /* safe on NULL */
		store_pool_free(&pool);
		return;
	}
	assert_true(store_wakeup_supported(pool));
	int rc = store_wakeup_open(pool, &w, err, sizeof(err));
	if (rc != STORE_OK)
		print_error("store_wakeup_open: %s\n", err);
	assert_int_equal(rc, STORE_OK);
	/* Nothing yet. */
	assert_int_equal(store_wakeup_drain(w, err, sizeof(err)), 0);

	/* A remote recipient accepted: its row is due at once. */
	store_t *s = f->store;
	TSU_OK(s, tsu_deliver(s, NULL, NULL, "far@remote.test", "queued\r\n"));
	assert_int_equal(wait_and_drain(w), 1);

	/* Claimed, then deferred to later: then retried by the operator. */
	struct store_queue_item *items = NULL;
	size_t n = 0;
	TSU_OK(s, store_queue_claim(s, "runner", 600, 10, &items, &n));
	assert_int_equal(n, 1);
	int64_t id = items[0].id;
	free(items);
	TSU_OK(s, store_queue_defer(s, id, "runner", 3600, "451 later"));
	TSU_OK(s, store_queue_retry(s, id));
	assert_int_equal(wait_and_drain(w), 1);

	/* A lost connection is reported, for the caller to make another. */
	kill_pool_connections(f->db);
	assert_true(wait_and_drain(w) < 0);
	store_wakeup_close(&w);
	assert_null(w);
	store_pool_free(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_is_checked, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_keeps_a_handle_per_thread, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_pg_never_opens_more_than_max, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_pg_waits_for_a_free_handle, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_pg_probe_does_not_wait_for_a_busy_pool, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_pg_unreachable_server_backs_off, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_pg_broken_handle_is_replaced, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_pg_due_rows_wake_listeners, tsu_setup,
		                                tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
