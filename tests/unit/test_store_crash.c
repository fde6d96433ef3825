/* test_store_crash.c - failures: injected commit failures, a full disk,
 * two writing processes, and a writer killed inside its transaction. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlite/sqlite-private.h" /* white box: the connection, the error map */
#include "test_store_util.h"

static store_delivery_t *delivery(const char *local, const char *remote, size_t size, char fillc)
{
	store_delivery_t *d = NULL;
	char block[4096];
	memset(block, fillc, sizeof(block));
	assert_int_equal(store_delivery_new("s@remote.test", NULL, &d), STORE_OK);
	if (local != NULL)
		assert_int_equal(store_delivery_add_local(d, local), STORE_OK);
	if (remote != NULL)
		assert_int_equal(store_delivery_add_remote(d, remote), STORE_OK);
	for (size_t off = 0; off < size; off += sizeof(block)) {
		size_t len = size - off < sizeof(block) ? size - off : sizeof(block);
		assert_int_equal(store_delivery_write(d, block, len), STORE_OK);
	}
	return d;
}

/* Child-process checks report through the exit status (no cmocka there). */
#define CHILD_CHECK(cond, code) \
	do {                    \
		if (!(cond))    \
			_exit(code); \
	} while (0)

static void wait_child(pid_t pid, int want_signal)
{
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (want_signal) {
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), want_signal);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		print_error("child failed: status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Commit 2 of a fresh process fails: a big delivery to two mailboxes and
 * the queue leaves no trace, and the commits around it are unaffected. */
static void test_fail_commit_single(void **state)
{
	struct store_fixture *f = *state;
#ifndef MAIL_TEST_HOOKS
	TESTUTIL_SKIP("MAILTEST_STORE_FAIL_COMMIT needs a -DMAIL_TEST_HOOKS=ON build");
#endif
	store_close(&f->store);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store_t *s = NULL;
		setenv("MAILTEST_STORE_FAIL_COMMIT", "2", 1);
		CHILD_CHECK(store_open(f->db, 0, &s, NULL, 0) == STORE_OK, 10);
		store_delivery_t *d = delivery("alice@example.test", NULL, 100, 'a');
		CHILD_CHECK(store_deliver(s, d) == STORE_OK, 11);
		store_delivery_free(&d);
		d = delivery("alice@example.test", "far@away.test", 1024 * 1024, 'b');
		CHILD_CHECK(store_delivery_add_local(d, "bob@example.test") == STORE_OK, 12);
		CHILD_CHECK(store_deliver(s, d) == STORE_EIO, 13);
		CHILD_CHECK(strstr(store_errmsg(s), "MAILTEST_STORE_FAIL_COMMIT") != NULL, 14);
		CHILD_CHECK(store_deliver(s, d) == STORE_OK, 15); /* commit 3 */
		store_delivery_free(&d);
		store_close(&s);
		_exit(0);
	}
	wait_child(pid, 0);
	f->store = tsu_open(f->db, 0);
	assert_int_equal(TSU_COUNT(f, "messages"), 2);
	assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 3);
	assert_int_equal(TSU_COUNT(f, "queue"), 1);
	tsu_check_clean(f->store);
}

/* A failed group commit stores none of its members. */
static void test_fail_commit_batch(void **state)
{
	struct store_fixture *f = *state;
#ifndef MAIL_TEST_HOOKS
	TESTUTIL_SKIP("MAILTEST_STORE_FAIL_COMMIT needs a -DMAIL_TEST_HOOKS=ON build");
#endif
	store_close(&f->store);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		store_t *s = NULL;
		setenv("MAILTEST_STORE_FAIL_COMMIT", "1", 1);
		CHILD_CHECK(store_open(f->db, 0, &s, NULL, 0) == STORE_OK, 10);
		store_delivery_t *d[3] = {
			delivery("alice@example.test", NULL, 10, 'x'),
			delivery("bob@example.test", "far@away.test", 500 * 1024, 'y'),
			delivery("carol@other.test", NULL, 10, 'z'),
		};
		int results[3] = { 1, 1, 1 };
		CHILD_CHECK(store_deliver_batch(s, d, 3, results) == STORE_EIO, 11);
		for (int i = 0; i < 3; i++)
			CHILD_CHECK(results[i] == STORE_EIO, 12);
		CHILD_CHECK(store_deliver_batch(s, d, 3, results) == STORE_OK, 13);
		for (int i = 0; i < 3; i++) {
			CHILD_CHECK(results[i] == STORE_OK, 14);
			store_delivery_free(&d[i]);
		}
		store_close(&s);
		_exit(0);
	}
	wait_child(pid, 0);
	f->store = tsu_open(f->db, 0);
	assert_int_equal(TSU_COUNT(f, "messages"), 3);
	assert_int_equal(TSU_COUNT(f, "queue"), 1);
	tsu_check_clean(f->store);
}

/* A full disk (simulated with max_page_count) is STORE_EIO and rolls the
 * delivery back; so is every other I/O class of SQLite error. */
static void test_disk_full(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	int64_t pages = tsu_query_int(f->db, "PRAGMA page_count");
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages + 20);
	assert_int_equal(sqlite3_exec(store__sqlite_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
	store_delivery_t *big = delivery("alice@example.test", NULL, 400 * 1024, 'f');
	TSU_EXPECT(s, STORE_EIO, store_deliver(s, big));
	assert_int_equal(TSU_COUNT(f, "messages"), 0);

	/* In a group commit the member that does not fit fails alone, or the
	 * whole group does; either way results and contents agree. */
	store_delivery_t *d[3] = { delivery("bob@example.test", NULL, 10, 'x'), big,
		                   delivery("carol@other.test", NULL, 10, 'z') };
	int results[3];
	int rc = store_deliver_batch(s, d, 3, results);
	assert_int_equal(results[1], STORE_EIO);
	int64_t ok = 0;
	for (int i = 0; i < 3; i++)
		ok += results[i] == STORE_OK;
	assert_int_equal(rc == STORE_OK ? ok : 0, ok);
	assert_int_equal(TSU_COUNT(f, "messages"), ok);
	tsu_check_clean(s);

	assert_int_equal(sqlite3_exec(store__sqlite_db(s), "PRAGMA max_page_count = 1073741823", NULL, NULL, NULL),
	                 SQLITE_OK);
	TSU_OK(s, store_deliver(s, big));
	for (int i = 0; i < 3; i++)
		store_delivery_free(&d[i]);
	tsu_check_clean(s);

	static const struct {
		int rc, err;
	} map[] = {
		{ SQLITE_FULL, STORE_EIO },         { SQLITE_IOERR, STORE_EIO },
		{ SQLITE_IOERR_FSYNC, STORE_EIO },  { SQLITE_IOERR_WRITE, STORE_EIO },
		{ SQLITE_CANTOPEN, STORE_EIO },     { SQLITE_BUSY, STORE_EBUSY },
		{ SQLITE_BUSY_SNAPSHOT, STORE_EBUSY }, { SQLITE_LOCKED, STORE_EBUSY },
		{ SQLITE_NOMEM, STORE_ENOMEM },     { SQLITE_CORRUPT, STORE_ECORRUPT },
		{ SQLITE_NOTADB, STORE_ECORRUPT },  { SQLITE_CONSTRAINT_UNIQUE, STORE_EEXIST },
		{ SQLITE_CONSTRAINT_FOREIGNKEY, STORE_EINVAL }, { SQLITE_TOOBIG, STORE_EIO },
		{ SQLITE_DONE, STORE_OK },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(store__sqlite_map_rc(map[i].rc), map[i].err);
}

/* Two processes deliver at the same time, singly and in groups; busy
 * waiting serialises them and nothing is lost. */
static void test_two_writers(void **state)
{
	struct store_fixture *f = *state;
	enum { SINGLE = 60, BATCHES = 10, BATCH = 8 };
	const char *boxes[2] = { "alice@example.test", "bob@example.test" };
	store_close(&f->store);
	pid_t pids[2];
	for (int k = 0; k < 2; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] != 0)
			continue;
		store_t *s = NULL;
		CHILD_CHECK(store_open(f->db, 0, &s, NULL, 0) == STORE_OK, 10);
		for (int i = 0; i < SINGLE; i++) {
			store_delivery_t *d = delivery(boxes[k], NULL, 1000 + (size_t)i, (char)('a' + k));
			CHILD_CHECK(store_deliver(s, d) == STORE_OK, 11);
			store_delivery_free(&d);
		}
		store_delivery_t *d[BATCH];
		int results[BATCH];
		for (int i = 0; i < BATCH; i++)
			d[i] = delivery(boxes[k], "far@away.test", 2000, (char)('A' + k));
		for (int b = 0; b < BATCHES; b++) {
			CHILD_CHECK(store_deliver_batch(s, d, BATCH, results) == STORE_OK, 12);
			for (int i = 0; i < BATCH; i++)
				CHILD_CHECK(results[i] == STORE_OK, 13);
		}
		for (int i = 0; i < BATCH; i++)
			store_delivery_free(&d[i]);
		store_close(&s);
		_exit(0);
	}
	for (int k = 0; k < 2; k++)
		wait_child(pids[k], 0);
	f->store = tsu_open(f->db, 0);
	const int per_child = SINGLE + BATCHES * BATCH;
	assert_int_equal(TSU_COUNT(f, "messages"), 2 * per_child);
	assert_int_equal(TSU_COUNT(f, "queue"), 2 * BATCHES * BATCH);
	for (int k = 0; k < 2; k++) {
		struct store_entry *e = NULL;
		size_t n = 0;
		TSU_OK(f->store, store_mailbox_snapshot(f->store, boxes[k], &e, &n));
		assert_int_equal(n, per_child);
		for (int i = 0; i < SINGLE; i++)
			assert_int_equal(e[i].size, 1000 + i);
		size_t len;
		char *body = tsu_read_message(f->store, e[n - 1].message_id, &len);
		assert_int_equal(len, 2000);
		assert_int_equal(body[0], 'A' + k);
		assert_int_equal(body[1999], 'A' + k);
		free(body);
		free(e);
	}
	tsu_check_clean(f->store);
}

static int hook_fd = -1;

/* Runs in the child right before COMMIT: tell the parent, then wait to
 * be killed. */
static void stop_before_commit(void)
{
	char c = 'x';
	if (write(hook_fd, &c, 1) != 1)
		_exit(20);
	for (;;)
		pause();
}

/* Starts a child that stops inside its write transaction, then kills it. */
static void kill_writer_mid_transaction(struct store_fixture *f, int batch)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		store_t *s = NULL;
		CHILD_CHECK(store_open(f->db, 0, &s, NULL, 0) == STORE_OK, 10);
		hook_fd = fds[1];
		store__before_commit_hook = stop_before_commit;
		/* 6 MB: more than the page cache, so uncommitted pages reach the WAL. */
		store_delivery_t *d[2] = {
			delivery("alice@example.test", "far@away.test", 6 * 1024 * 1024, 'k'),
			delivery("bob@example.test", NULL, 100, 'l'),
		};
		int results[2];
		if (batch)
			store_deliver_batch(s, d, 2, results);
		else
			store_deliver(s, d[0]);
		_exit(21); /* not reached */
	}
	close(fds[1]);
	char c;
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	wait_child(pid, SIGKILL);
	/* The test means something only if uncommitted pages reached the WAL. */
	char wal[1200];
	struct stat st;
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 4 * 1024 * 1024);
}

static void test_writer_killed(void **state)
{
	struct store_fixture *f = *state;
	TSU_OK(f->store, tsu_deliver(f->store, "alice@example.test", NULL, NULL, "before\r\n"));
	store_close(&f->store);
	kill_writer_mid_transaction(f, 0);
	kill_writer_mid_transaction(f, 1);

	f->store = tsu_open(f->db, 0);
	store_t *s = f->store;
	assert_int_equal(TSU_COUNT(f, "messages"), 1);
	assert_int_equal(TSU_COUNT(f, "message_chunks"), 1);
	assert_int_equal(TSU_COUNT(f, "mailbox_entries"), 1);
	assert_int_equal(TSU_COUNT(f, "queue"), 0);
	tsu_check_clean(s);
	/* The database takes writes again, big and small. */
	store_delivery_t *d = delivery("bob@example.test", "far@away.test", 3 * 1024 * 1024, 'n');
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "after\r\n"));
	assert_int_equal(TSU_COUNT(f, "messages"), 3);
	tsu_check_clean(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fail_commit_single, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_fail_commit_batch, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_two_writers, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_writer_killed, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
