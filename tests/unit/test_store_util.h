/*
 * test_store_util.h - fixtures shared by the test_store_*.c unit tests.
 *
 * Each test gets a fresh directory with a migrated database, optionally
 * populated with two local domains and a few users; teardown closes the
 * handle and removes the directory. Helpers count rows with a separate raw
 * SQLite connection, so they see only committed data, as another process
 * would.
 *
 * With MAIL_TEST_PG_URI set (ctest's pg/ copies of the logic tests, on the
 * cluster of tests/tools/pgcluster.sh), the same tests run on PostgreSQL:
 * each fixture empties the database's schema first, and the helpers run
 * their SQL through libpq. Tests of SQLite's files call tsu_sqlite_only().
 */
#ifndef MAIL_TEST_STORE_UTIL_H
#define MAIL_TEST_STORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "store-private.h" /* store__set_clock_offset */
#include "testutil.h"

struct store_fixture {
	char dir[1024];
	char db[1100];
	store_t *store;
};

static inline store_t *tsu_open(const char *path, int flags)
{
	char err[512] = "";
	store_t *store = NULL;
	int rc = store_open(path, flags, &store, err, sizeof(err));
	if (rc != STORE_OK)
		print_error("store_open(%s): %s (%s)\n", path, store_strerror(rc), err);
	assert_int_equal(rc, STORE_OK);
	assert_non_null(store);
	return store;
}

/* Asserts a store call's result, printing the handle's message if it differs. */
/* Undoes schema version 5 (the queue's DSN columns), for tests that take a
 * file back to an older version. */
#define TSU_UNDO_V5                                                                    \
	"ALTER TABLE queue DROP COLUMN dsn_notify; ALTER TABLE queue DROP COLUMN dsn_orcpt;" \
	"ALTER TABLE queue DROP COLUMN dsn_ret; ALTER TABLE queue DROP COLUMN dsn_envid;"         \
	"ALTER TABLE queue DROP COLUMN delay_warned;"

#define TSU_EXPECT(store, expected, call)                                                     \
	do {                                                                                  \
		int tsu_rc_ = (call);                                                         \
		if (tsu_rc_ != (expected))                                                    \
			print_error("%s:%d: %s = %s, want %s: %s\n", __FILE__, __LINE__, #call, \
			            store_strerror(tsu_rc_), store_strerror(expected),        \
			            store_errmsg(store));                                     \
		assert_int_equal(tsu_rc_, (expected));                                        \
	} while (0)
#define TSU_OK(store, call) TSU_EXPECT(store, STORE_OK, call)

/* The PostgreSQL database the tests run on, or NULL for SQLite files. */
static inline const char *tsu_pg_uri(void)
{
	const char *uri = getenv("MAIL_TEST_PG_URI");
	return uri != NULL && *uri != '\0' ? uri : NULL;
}

static inline bool tsu_is_pg(const char *db)
{
	return strncmp(db, "postgresql://", 13) == 0;
}

/* Skips a test that is about SQLite's files, on a PostgreSQL run. */
#define tsu_sqlite_only()                                                   \
	do {                                                                \
		if (tsu_pg_uri() != NULL) {                                 \
			print_message("SKIPPED: about SQLite files\n");     \
			skip();                                             \
		}                                                           \
	} while (0)

static inline PGconn *tsu_pg_connect(const char *uri)
{
	PGconn *conn = PQconnectdb(uri);
	if (PQstatus(conn) != CONNECTION_OK)
		print_error("%s: %s\n", uri, PQerrorMessage(conn));
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	return conn;
}

static inline void tsu_pg_exec(const char *uri, const char *sql)
{
	PGconn *conn = tsu_pg_connect(uri);
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		print_error("%s: %s\n", sql, PQresultErrorMessage(res));
	assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
	PQclear(res);
	PQfinish(conn);
}

static inline struct store_fixture *tsu_fixture_new(void)
{
	struct store_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	testutil_mkdtemp(f->dir, sizeof(f->dir));
	testutil_path(f->db, sizeof(f->db), f->dir, "mail.db");
	if (tsu_pg_uri() != NULL) {
		snprintf(f->db, sizeof(f->db), "%s", tsu_pg_uri());
		tsu_pg_exec(f->db, "SET client_min_messages = warning;"
		                   " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	}
	f->store = tsu_open(f->db, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE);
	return f;
}

/* example.test with alice and bob, other.test with carol. */
static inline void tsu_populate(store_t *store)
{
	TSU_OK(store, store_domain_add(store, "example.test"));
	TSU_OK(store, store_domain_add(store, "other.test"));
	TSU_OK(store, store_user_add(store, "alice@example.test", "$y$hash-a"));
	TSU_OK(store, store_user_add(store, "bob@example.test", "$y$hash-b"));
	TSU_OK(store, store_user_add(store, "carol@other.test", "$y$hash-c"));
}

static inline int tsu_setup_empty(void **state)
{
	*state = tsu_fixture_new();
	return 0;
}

static inline int tsu_setup(void **state)
{
	struct store_fixture *f = tsu_fixture_new();
	tsu_populate(f->store);
	*state = f;
	return 0;
}

static inline int tsu_teardown(void **state)
{
	struct store_fixture *f = *state;
	store__set_clock_offset(0); /* a test that moved the clock may have failed half-way */
	store_close(&f->store);
	assert_null(f->store);
	testutil_rmtree(f->dir);
	free(f);
	return 0;
}

/* One integer from a query over a separate connection (committed data). */
static inline int64_t tsu_query_int(const char *db_path, const char *sql)
{
	if (tsu_is_pg(db_path)) {
		PGconn *conn = tsu_pg_connect(db_path);
		PGresult *res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			print_error("%s: %s\n", sql, PQresultErrorMessage(res));
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		assert_true(PQntuples(res) >= 1);
		const char *v = PQgetvalue(res, 0, 0);
		int64_t n = *v == 't' ? 1 : *v == 'f' ? 0 : strtoll(v, NULL, 10);
		PQclear(res);
		PQfinish(conn);
		return n;
	}
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		print_error("%s: %s\n", sql, sqlite3_errmsg(db));
	assert_int_equal(rc, SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

/* Runs SQL over a separate connection (to make or tamper with a file). */
static inline void tsu_exec(const char *db_path, const char *sql)
{
	if (tsu_is_pg(db_path)) {
		tsu_pg_exec(db_path, sql);
		return;
	}
	sqlite3 *db = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		print_error("%s: %s\n", sql, msg != NULL ? msg : "?");
	sqlite3_free(msg);
	assert_int_equal(rc, SQLITE_OK);
	sqlite3_close(db);
}

static inline void tsu_problem_cb(void *ctx, const char *problem)
{
	unsigned *count = ctx;
	(*count)++;
	print_message("store_check: %s\n", problem);
}

/* Asserts that store_check finds nothing wrong. */
static inline void tsu_check_clean(store_t *store)
{
	unsigned problems = 0;
	TSU_OK(store, store_check(store, tsu_problem_cb, &problems));
	assert_int_equal(problems, 0);
}

/* Delivers `body` from sender to up to two local mailboxes and one remote
 * recipient (NULL to skip); returns the store's result. */
static inline int tsu_deliver(store_t *store, const char *local1, const char *local2,
                              const char *remote, const char *body)
{
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("sender@remote.test", NULL, &d), STORE_OK);
	if (local1 != NULL)
		assert_int_equal(store_delivery_add_local(d, local1), STORE_OK);
	if (local2 != NULL)
		assert_int_equal(store_delivery_add_local(d, local2), STORE_OK);
	if (remote != NULL)
		assert_int_equal(store_delivery_add_remote(d, remote), STORE_OK);
	assert_int_equal(store_delivery_write(d, body, strlen(body)), STORE_OK);
	int rc = store_deliver(store, d);
	store_delivery_free(&d);
	assert_null(d);
	return rc;
}

/* Reads a whole message into a malloc'ed, NUL-terminated buffer. */
static inline char *tsu_read_message(store_t *store, int64_t message_id, size_t *len_r)
{
	store_reader_t *reader = NULL;
	TSU_OK(store, store_reader_open(store, message_id, &reader));
	char *out = NULL;
	size_t len = 0;
	for (;;) {
		const void *data;
		size_t n;
		TSU_OK(store, store_reader_next(store, reader, &data, &n));
		if (n == 0)
			break;
		out = realloc(out, len + n + 1);
		assert_non_null(out);
		memcpy(out + len, data, n);
		len += n;
	}
	store_reader_close(&reader);
	assert_null(reader);
	if (out == NULL) {
		out = malloc(1);
		assert_non_null(out);
	}
	out[len] = '\0';
	*len_r = len;
	return out;
}

/* Counting rows of the tables a delivery writes. */
#define TSU_COUNT(f, table) tsu_query_int((f)->db, "SELECT COUNT(*) FROM " table)

#endif
