/* test_store_open.c - opening, creating, migrating and refusing databases. */
#include <fcntl.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_store_util.h"

static void open_fail(const char *path, int flags, int want, const char *needle)
{
	char err[512] = "";
	store_t *store = (store_t *)&err; /* must be reset to NULL */
	int rc = store_open(path, flags, &store, err, sizeof(err));
	if (rc != want || strstr(err, needle) == NULL)
		print_error("store_open(%s) = %s, message \"%s\"; want %s with \"%s\"\n", path,
		            store_strerror(rc), err, store_strerror(want), needle);
	assert_int_equal(rc, want);
	assert_null(store);
	assert_non_null(strstr(err, needle));
}

static void expect_journal_mode(const char *path, const char *want)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), want);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static void test_missing_file(void **state)
{
	char dir[1024], path[1100];
	testutil_mkdtemp(dir, sizeof(dir));
	testutil_path(path, sizeof(path), dir, "none.db");
	open_fail(path, STORE_OPEN_MIGRATE, STORE_ENOTFOUND, "no such database");
	assert_int_equal(access(path, F_OK), -1); /* not created by the attempt */
	open_fail("", STORE_OPEN_CREATE, STORE_EINVAL, "no database path");
	/* A server that cannot be reached: temporary, and the message says where. */
	open_fail("postgresql://mail@127.0.0.1:1/mail", STORE_OPEN_CREATE, STORE_EIO, "127.0.0.1");
	/* NULL err buffer is allowed. */
	store_t *store = NULL;
	assert_int_equal(store_open(path, 0, &store, NULL, 0), STORE_ENOTFOUND);
	assert_null(store);
	testutil_rmtree(dir);
}

static void test_create_needs_migrate(void **state)
{
	char dir[1024], path[1100];
	testutil_mkdtemp(dir, sizeof(dir));
	testutil_path(path, sizeof(path), dir, "mail.db");
	/* A new file is version 0: out of date until migrated. */
	open_fail(path, STORE_OPEN_CREATE, STORE_ECORRUPT, "mailctl db migrate");
	store_t *store = tsu_open(path, STORE_OPEN_MIGRATE);
	int version = -1;
	TSU_OK(store, store_file_version(store, &version));
	assert_int_equal(version, store_schema_version());
	assert_true(store_schema_version() >= 1);
	store_close(&store);
	assert_null(store);
	store_close(&store); /* safe on NULL */

	/* Up to date: opens without MIGRATE; WAL is persistent in the file. */
	store = tsu_open(path, 0);
	store_close(&store);
	assert_int_equal(tsu_query_int(path, "PRAGMA user_version"), store_schema_version());
	expect_journal_mode(path, "wal");
	testutil_rmtree(dir);
}

static void test_old_file(void **state)
{
	char dir[1024], path[1100];
	testutil_mkdtemp(dir, sizeof(dir));
	testutil_path(path, sizeof(path), dir, "old.db");
	/* An empty SQLite file with version 0, as an old program would leave. */
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	open_fail(path, 0, STORE_ECORRUPT, "older");
	store_t *store = tsu_open(path, STORE_OPEN_MIGRATE);
	TSU_OK(store, store_domain_add(store, "example.test"));
	store_close(&store);
	/* Migrating an up-to-date file keeps its data. */
	store = tsu_open(path, STORE_OPEN_MIGRATE);
	TSU_OK(store, store_domain_exists(store, "example.test"));
	store_close(&store);
	testutil_rmtree(dir);
}

static void test_newer_file(void **state)
{
	struct store_fixture *f = *state;
	store_close(&f->store);
	tsu_exec(f->db, "PRAGMA user_version = 999");
	open_fail(f->db, 0, STORE_ECORRUPT, "newer");
	open_fail(f->db, STORE_OPEN_MIGRATE | STORE_OPEN_CREATE, STORE_ECORRUPT, "newer");
	assert_int_equal(tsu_query_int(f->db, "PRAGMA user_version"), 999);
}

static void test_foreign_files(void **state)
{
	char dir[1024], path[1100], junk[1100];
	testutil_mkdtemp(dir, sizeof(dir));
	testutil_path(path, sizeof(path), dir, "other.db");
	tsu_exec(path, "CREATE TABLE t (x)");
	open_fail(path, STORE_OPEN_MIGRATE, STORE_ECORRUPT, "not a mail database");
	assert_int_equal(tsu_query_int(path, "SELECT COUNT(*) FROM sqlite_master"), 1);
	expect_journal_mode(path, "delete"); /* refused before being touched */
	/* Right version number, wrong application. */
	tsu_exec(path, "PRAGMA user_version = 1");
	open_fail(path, 0, STORE_ECORRUPT, "application id");

	testutil_path(junk, sizeof(junk), dir, "junk.db");
	int fd = open(junk, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	char bytes[4096];
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)(i * 7 + 3);
	assert_int_equal(write(fd, bytes, sizeof(bytes)), (ssize_t)sizeof(bytes));
	close(fd);
	open_fail(junk, STORE_OPEN_MIGRATE, STORE_ECORRUPT, junk);
	testutil_rmtree(dir);
}

static void test_strerror_errmsg(void **state)
{
	static const int codes[] = { STORE_OK, STORE_ENOTFOUND, STORE_EEXIST, STORE_EBUSY,
		                     STORE_EIO, STORE_EINVAL, STORE_ECORRUPT, STORE_ENOMEM,
		                     STORE_ELIMIT, STORE_ELOOP, STORE_EQUOTA, STORE_ETOOBIG };
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(store_strerror(codes[i]));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(store_strerror(codes[i]), store_strerror(codes[j]));
	}
	assert_string_equal(store_strerror(-1000), "unknown store error");
	assert_non_null(store_errmsg(NULL));
	struct store_fixture *f = *state;
	assert_non_null(store_errmsg(f->store));
	TSU_EXPECT(f->store, STORE_EINVAL, store_domain_add(f->store, "bad domain"));
	assert_non_null(strstr(store_errmsg(f->store), "malformed"));
}

static void ignore_rcpt(void *ctx, enum store_rcpt_kind kind, const char *address)
{
	(void)ctx;
	(void)kind;
	(void)address;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* STORE_OPEN_NOWAIT: a locked database is STORE_EBUSY at once, never a
 * wait of the busy timeout (5 s); and the MAILTEST_STORE_NOWAIT_BUSY hook
 * (MAIL_TEST_HOOKS builds). */
static void test_nowait(void **state)
{
	struct store_fixture *f = *state;
	store_t *store = NULL;
	char err[256];

	tsu_populate(f->store);
	store_close(&f->store);
	/* Another process holding the file in exclusive locking mode. */
	sqlite3 *holder;
	assert_int_equal(sqlite3_open(f->db, &holder), SQLITE_OK);
	assert_int_equal(sqlite3_exec(holder, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	double t0 = now_s();
	assert_int_equal(store_open(f->db, STORE_OPEN_NOWAIT, &store, err, sizeof(err)), STORE_EBUSY);
	assert_null(store);
	/* Generous: the point is that it did not wait for the 5 s timeout. */
	assert_true(now_s() - t0 < 2.5);
	sqlite3_close(holder);

#ifdef MAIL_TEST_HOOKS
	setenv("MAILTEST_STORE_NOWAIT_BUSY", "1", 1);
	store = tsu_open(f->db, STORE_OPEN_NOWAIT);
	TSU_EXPECT(store, STORE_EBUSY, store_resolve(store, "alice@example.test", NULL, ignore_rcpt, NULL));
	store_close(&store);
	/* Handles that wait are not affected. */
	f->store = tsu_open(f->db, 0);
	TSU_EXPECT(f->store, STORE_OK, store_resolve(f->store, "alice@example.test", NULL, ignore_rcpt, NULL));
	unsetenv("MAILTEST_STORE_NOWAIT_BUSY");
#else
	f->store = tsu_open(f->db, 0);
	TESTUTIL_SKIP("MAILTEST_STORE_NOWAIT_BUSY needs a -DMAIL_TEST_HOOKS=ON build");
#endif
}

/* store_loop_safe: only a no-wait handle may serve the loop-safe calls,
 * and it answers them (the calls RCPT and small RETRs make on the loop). */
static void test_loop_safe(void **state)
{
	struct store_fixture *f = *state;
	store_delivery_t *d = NULL;
	store_reader_t *reader = NULL;
	const void *data;
	size_t len;

	assert_false(store_loop_safe(NULL));
	assert_false(store_loop_safe(f->store));
	tsu_populate(f->store);
	assert_int_equal(store_delivery_new("", NULL, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	assert_int_equal(store_delivery_write(d, "Subject: x\r\n\r\nhi\r\n", 19), STORE_OK);
	TSU_OK(f->store, store_deliver(f->store, d));
	store_delivery_free(&d);
	struct store_entry *entries = NULL;
	size_t count = 0;
	TSU_OK(f->store, store_mailbox_snapshot(f->store, "alice@example.test", &entries, &count));
	assert_int_equal(count, 1);

	store_t *loop = tsu_open(f->db, STORE_OPEN_NOWAIT);
	assert_true(store_loop_safe(loop));
	TSU_OK(loop, store_resolve(loop, "alice@example.test", NULL, ignore_rcpt, NULL));
	TSU_OK(loop, store_quota_check(loop, "alice@example.test", 100));
	TSU_OK(loop, store_reader_open(loop, entries[0].message_id, &reader));
	TSU_OK(loop, store_reader_next(loop, reader, &data, &len));
	assert_int_equal(len, 19);
	assert_memory_equal(data, "Subject: x\r\n\r\nhi\r\n", 19);
	store_reader_close(&reader);
	store_close(&loop);
	free(entries);
}

/* Two processes creating and migrating the same new file at once: the
 * version is re-read under the write lock, so one migrates, one waits. */
static void test_concurrent_migrate(void **state)
{
	char dir[1024], path[1100];
	testutil_mkdtemp(dir, sizeof(dir));
	testutil_path(path, sizeof(path), dir, "race.db");
	pid_t pids[2];
	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			store_t *store = NULL;
			char err[512] = "";
			int rc = store_open(path, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE, &store, err,
			                    sizeof(err));
			if (rc == STORE_OK) {
				rc = store_domain_add(store, i == 0 ? "a.test" : "b.test");
				if (rc != STORE_OK)
					snprintf(err, sizeof(err), "%s", store_errmsg(store));
			}
			if (rc != STORE_OK)
				print_error("child %d: %s (%s)\n", i, store_strerror(rc), err);
			store_close(&store);
			_exit(rc == STORE_OK ? 0 : 1);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status = 0;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(tsu_query_int(path, "SELECT COUNT(*) FROM domains"), 2);
	testutil_rmtree(dir);
}

/* What messages and logs show of `db`: never a URI's password. */
static void test_db_redacted(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "/var/lib/mail/mail.db", "/var/lib/mail/mail.db" },
		{ "postgresql://mail@db.example/mail", "postgresql://mail@db.example/mail" },
		{ "postgresql://mail:s3cret@db.example:5432/mail",
		  "postgresql://mail:***@db.example:5432/mail" },
		{ "postgres://mail:p@ss@db/mail", "postgres://mail:***@db/mail" },
		{ "postgresql://db/mail?user=mail&password=s3cret&sslmode=require",
		  "postgresql://db/mail?user=mail&password=***&sslmode=require" },
		{ "postgresql://db/mail?password=s3cret", "postgresql://db/mail?password=***" },
		{ "postgresql://db/mail?xpassword=kept", "postgresql://db/mail?xpassword=kept" },
		{ "postgresql://mail:only@db", "postgresql://mail:***@db" },
		{ "postgresql://u:pa?ss@db/mail", "postgresql://u:***@db/mail" },
		{ "postgresql://u:pa?ss@db", "postgresql://u:***@db" },
	};
	char out[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(store_db_redacted(cases[i][0], out, sizeof(out)), cases[i][1]);
	char tiny[12];
	assert_string_equal(store_db_redacted("postgresql://mail:s3cret@db", tiny, sizeof(tiny)),
	                    "postgresql:");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_redacted),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_create_needs_migrate),
		cmocka_unit_test(test_old_file),
		cmocka_unit_test_setup_teardown(test_newer_file, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test(test_foreign_files),
		cmocka_unit_test_setup_teardown(test_strerror_errmsg, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test(test_concurrent_migrate),
		cmocka_unit_test_setup_teardown(test_nowait, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_loop_safe, tsu_setup_empty, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
