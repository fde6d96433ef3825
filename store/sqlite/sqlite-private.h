/*
 * sqlite-private.h - the SQLite backend's own header: its handle and
 * statement, and what its files share. Only store/sqlite/ includes
 * <sqlite3.h>; the rest of the store sees the driver (store_driver.h).
 * White-box unit tests that must reach the connection (a PRAGMA, a fake
 * VFS) include this header too.
 *
 * Files: sqlite_driver.c (statements, transactions, errors, the driver
 * table), sqlite_open.c (connection, settings, the mail_now() clock),
 * sqlite_schema.c (schema and migrations), sqlite_check.c (SQLite's own
 * integrity checks), sqlite_sql.c (the statements in SQLite's dialect).
 */
#ifndef MAIL_STORE_SQLITE_PRIVATE_H
#define MAIL_STORE_SQLITE_PRIVATE_H

#include <sqlite3.h>

#include "store-private.h"

/* The handle: store_t first (store_driver.h "Handles"). */
struct store__sqlite {
	store_t base;
	sqlite3 *db;
	int busy_ms; /* how long a statement waits for a lock (STORE_OPEN_NOWAIT: 0) */
};

/* A cached statement: the driver's head, then SQLite's. */
struct store__sqlite_stmt {
	store__stmt_t base;
	sqlite3_stmt *stmt;
};

static inline struct store__sqlite *store__sqlite(store_t *store)
{
	return (struct store__sqlite *)store;
}

/* The connection of a handle opened on the SQLite backend (white-box tests). */
sqlite3 *store__sqlite_db(store_t *store);

/* ---- sqlite_driver.c --------------------------------------------------- */

/* The store error for an SQLite result code (no message). */
int store__sqlite_map_rc(int rc);
/* Maps an SQLite result code to a store error, copying sqlite3_errmsg()
 * into the handle's message at once, prefixed by `what`. */
int store__sqlite_fail(store_t *store, int rc, const char *what);
/*
 * Steps a statement until it gets past SQLITE_BUSY (a BEGIN, an open-time
 * PRAGMA). busy_timeout covers most waits, but SQLite returns SQLITE_BUSY
 * without calling the busy handler in some cases (WAL recovery by another
 * connection, changing the journal mode), so these are retried here within
 * the same overall budget. Returns SQLite's result code.
 */
int store__sqlite_step_retrying(store_t *store, sqlite3_stmt *stmt);

/* ---- sqlite_open.c ----------------------------------------------------- */

/* The driver's open; SQLite has no logins, so the password is ignored. */
int store__sqlite_open(store_t *store, const char *path, const char *password, int flags);
void store__sqlite_close(store_t *store);

/* ---- sqlite_schema.c --------------------------------------------------- */

/* PRAGMA user_version: the driver's schema_version. */
int store__sqlite_schema_version(store_t *store, int *version_r);
/* Reads the file's schema version and refuses files that are not ours or
 * are newer than this program. Changes nothing in the file. */
int store__sqlite_schema_identify(store_t *store, int *version_r);
/* Brings a file of `version` up to date when `migrate` is set; an older
 * file is STORE_ECORRUPT otherwise. */
int store__sqlite_schema_prepare(store_t *store, int version, int migrate);

/* ---- sqlite_check.c ---------------------------------------------------- */

/* PRAGMA integrity_check and foreign_key_check: the driver's check. */
int store__sqlite_check(store_t *store, store__report_fn *report, void *ctx);

/* ---- sqlite_sql.c ------------------------------------------------------ */

/* The statements whose SQLite text differs from store_sql.c's, or that
 * only SQLite has; NULL elsewhere. */
extern const char *const store__sqlite_sql[STORE__STMT_COUNT];

#endif
