/*
 * sqlite_driver.c - the statement driver (store_driver.h) over SQLite:
 * statements, transactions with busy handling, error mapping, and the
 * driver table store_open picks for a file path.
 */
#include <assert.h>
#include <stdlib.h>
#include <time.h>

#include "sqlite-private.h"

sqlite3 *store__sqlite_db(store_t *store)
{
	return store__sqlite(store)->db;
}

int store__sqlite_map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return STORE_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return STORE_EBUSY;
	case SQLITE_NOMEM:
		return STORE_ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return STORE_ECORRUPT;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return STORE_EEXIST;
		return STORE_EINVAL;
	default:
		/* SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_READONLY and
		 * the rest: the client should try again later. SQLITE_TOOBIG too:
		 * a row past SQLite's limits is our bug or a config mismatch, not
		 * a full mailbox (STORE_EQUOTA comes from the quota checks only). */
		return STORE_EIO;
	}
}

int store__sqlite_fail(store_t *store, int rc, const char *what)
{
	/* sqlite3_errmsg() is overwritten by the next call on the connection
	 * (including the ROLLBACK that usually follows), so copy it now. */
	return store__fail(store, store__sqlite_map_rc(rc), "%s: %s", what,
	                   sqlite3_errmsg(store__sqlite(store)->db));
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int store__sqlite_step_retrying(store_t *store, sqlite3_stmt *stmt)
{
	int64_t deadline = monotonic_ms() + store__sqlite(store)->busy_ms;
	for (;;) {
		int rc = sqlite3_step(stmt);
		if ((rc & 0xff) != SQLITE_BUSY || monotonic_ms() >= deadline)
			return rc;
		sqlite3_reset(stmt);
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

/* ---- statements ---------------------------------------------------------- */

static inline sqlite3_stmt *sq(store__stmt_t *stmt)
{
	return ((struct store__sqlite_stmt *)stmt)->stmt;
}

static int sq_prepare(store_t *store, const char *sql, store__stmt_t **stmt_r)
{
	struct store__sqlite_stmt *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return store__fail(store, STORE_ENOMEM, "prepare: out of memory");
	int rc = sqlite3_prepare_v3(store__sqlite(store)->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	                            &s->stmt, NULL);
	if (rc != SQLITE_OK) {
		int err = store__sqlite_fail(store, rc, "prepare");
		sqlite3_finalize(s->stmt);
		free(s);
		return err;
	}
	s->base.drv = &store__sqlite_driver;
	s->base.store = store;
	*stmt_r = &s->base;
	return STORE_OK;
}

static void sq_finalize(store__stmt_t *stmt)
{
	sqlite3_finalize(sq(stmt));
	free(stmt);
}

/* Binding fails only for a parameter the statement does not have (a bug)
 * or a value past SQLite's limits, which no caller passes: chunks are
 * STORE__CHUNK_SIZE, text is an address or a short message. */
static void sq_bind_int64(store__stmt_t *stmt, int param, int64_t value)
{
	int rc = sqlite3_bind_int64(sq(stmt), param, value);
	assert(rc == SQLITE_OK);
	(void)rc;
}

/* STATIC: the caller's buffer outlives the step; store__reset drops it. */
static void sq_bind_text(store__stmt_t *stmt, int param, const char *text, size_t len)
{
	int rc = sqlite3_bind_text(sq(stmt), param, text, (int)len, SQLITE_STATIC);
	assert(rc == SQLITE_OK);
	(void)rc;
}

static void sq_bind_blob(store__stmt_t *stmt, int param, const void *data, size_t len)
{
	int rc = sqlite3_bind_blob(sq(stmt), param, data, (int)len, SQLITE_STATIC);
	assert(rc == SQLITE_OK);
	(void)rc;
}

static void sq_bind_null(store__stmt_t *stmt, int param)
{
	int rc = sqlite3_bind_null(sq(stmt), param);
	assert(rc == SQLITE_OK);
	(void)rc;
}

static int sq_step(store__stmt_t *stmt, const char *what)
{
	int rc = sqlite3_step(sq(stmt));
	if (rc == SQLITE_ROW)
		return STORE__ROW;
	if (rc == SQLITE_DONE)
		return STORE__DONE;
	return store__sqlite_fail(stmt->store, rc, what);
}

static int64_t sq_column_int64(store__stmt_t *stmt, int col)
{
	return sqlite3_column_int64(sq(stmt), col);
}

static const char *sq_column_text(store__stmt_t *stmt, int col, size_t *len_r)
{
	/* Text first, then its length (SQLite's rule for the pair). */
	const char *text = (const char *)sqlite3_column_text(sq(stmt), col);
	*len_r = text != NULL ? (size_t)sqlite3_column_bytes(sq(stmt), col) : 0;
	return text;
}

static const void *sq_column_blob(store__stmt_t *stmt, int col, size_t *len_r)
{
	const void *data = sqlite3_column_blob(sq(stmt), col);
	*len_r = (size_t)sqlite3_column_bytes(sq(stmt), col);
	return data;
}

static bool sq_column_is_null(store__stmt_t *stmt, int col)
{
	return sqlite3_column_type(sq(stmt), col) == SQLITE_NULL;
}

static int64_t sq_changes(store__stmt_t *stmt)
{
	return sqlite3_changes(store__sqlite(stmt->store)->db);
}

/* Also drops the bindings' references (SQLITE_STATIC blobs must not
 * outlive their buffer inside the statement). */
static void sq_reset(store__stmt_t *stmt)
{
	sqlite3_reset(sq(stmt));
	sqlite3_clear_bindings(sq(stmt));
}

/* ---- transactions -------------------------------------------------------- */

static bool sq_in_transaction(store_t *store)
{
	return !sqlite3_get_autocommit(store__sqlite(store)->db);
}

/* The cached statement (STORE__BEGIN_*, COMMIT, ROLLBACK) as SQLite's. */
static sqlite3_stmt *cached(store_t *store, enum store__stmt_id id)
{
	store__stmt_t *stmt = store__stmt(store, id);
	return stmt != NULL ? sq(stmt) : NULL;
}

/* Writes take BEGIN IMMEDIATE (sqlite_sql.c): the write lock up front.
 * One writer at a time, so a scoped write is an exclusive one (there is
 * no lock_keys). */
static int sq_begin(store_t *store, enum store__txn kind)
{
	sqlite3_stmt *stmt = cached(store, kind == STORE__TXN_READ ? STORE__BEGIN_READ
	                                                           : STORE__BEGIN_WRITE);
	if (stmt == NULL)
		return store->last_err;
	int rc = store__sqlite_step_retrying(store, stmt);
	int err = rc == SQLITE_DONE ? STORE_OK : store__sqlite_fail(store, rc, "begin transaction");
	sqlite3_reset(stmt);
	return err;
}

static int sq_commit(store_t *store, const char *what)
{
	sqlite3_stmt *stmt = cached(store, STORE__COMMIT);
	if (stmt == NULL)
		return store->last_err;
	int rc = sqlite3_step(stmt);
	int err = STORE_OK;
	if (rc != SQLITE_DONE)
		err = what != NULL ? store__sqlite_fail(store, rc, what) : store__sqlite_map_rc(rc);
	sqlite3_reset(stmt);
	return err;
}

static void sq_rollback(store_t *store)
{
	/* SQLite may already have rolled back by itself (SQLITE_FULL, IOERR). */
	if (!sq_in_transaction(store))
		return;
	sqlite3_stmt *stmt = cached(store, STORE__ROLLBACK);
	if (stmt == NULL)
		return;
	sqlite3_step(stmt);
	sqlite3_reset(stmt);
}

/* Per-thread handles are never given back (store_pool_release keeps
 * them); this is only asked of a pooled backend's. */
static bool sq_reusable(store_t *store)
{
	return !sq_in_transaction(store);
}

const struct store__driver store__sqlite_driver = {
	.name = "sqlite",
	.handle_size = sizeof(struct store__sqlite),
	/* Reads are local and a no-wait handle never sleeps. */
	.nowait_loop_safe = true,
	.parallel_writers = 1,
	/* A handle is a file open: each worker thread keeps its own. */
	.pooled = false,
	.sql = store__sqlite_sql,

	.open = store__sqlite_open,
	.close = store__sqlite_close,
	.schema_version = store__sqlite_schema_version,
	.check = store__sqlite_check,
	.reusable = sq_reusable,
	/* One host: the process that commits kicks its own runner. */
	.listen = NULL,

	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.bind_int64 = sq_bind_int64,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.column_int64 = sq_column_int64,
	.column_text = sq_column_text,
	.column_blob = sq_column_blob,
	.column_is_null = sq_column_is_null,
	.changes = sq_changes,
	.reset = sq_reset,

	.begin = sq_begin,
	.lock_keys = NULL, /* one writer at a time: scopes need no keys */
	.commit = sq_commit,
	.rollback = sq_rollback,
	.in_transaction = sq_in_transaction,
};
