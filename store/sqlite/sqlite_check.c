/*
 * sqlite_check.c - SQLite's own consistency checks, which `mailctl db
 * check` (store_check) runs before the store's: the file's structure
 * (PRAGMA integrity_check) and the foreign keys (PRAGMA foreign_key_check,
 * which SQLite enforces only on the connections that turn them on).
 */
#include <stdio.h>
#include <string.h>

#include "sqlite-private.h"

/* Formats one problem from a result row; leaves buf empty for none. */
typedef void row_fn(sqlite3_stmt *stmt, char *buf, size_t len);

static void row_integrity(sqlite3_stmt *stmt, char *buf, size_t len)
{
	const char *text = (const char *)sqlite3_column_text(stmt, 0);
	if (text != NULL && strcmp(text, "ok") != 0)
		snprintf(buf, len, "integrity: %s", text);
}

static void row_foreign_key(sqlite3_stmt *stmt, char *buf, size_t len)
{
	const char *table = (const char *)sqlite3_column_text(stmt, 0);
	const char *parent = (const char *)sqlite3_column_text(stmt, 2);
	snprintf(buf, len, "foreign key: %s row %lld refers to a missing %s row",
	         table != NULL ? table : "?", (long long)sqlite3_column_int64(stmt, 1),
	         parent != NULL ? parent : "?");
}

static int run_pragma(store_t *store, const char *sql, row_fn *fn, const char *what,
                      store__report_fn *report, void *ctx)
{
	sqlite3_stmt *stmt;
	char buf[512];
	int rc = sqlite3_prepare_v2(store__sqlite(store)->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, "prepare");
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		buf[0] = '\0';
		fn(stmt, buf, sizeof(buf));
		if (buf[0] != '\0')
			report(ctx, buf);
	}
	int err = rc == SQLITE_DONE ? STORE_OK : store__sqlite_fail(store, rc, what);
	sqlite3_finalize(stmt);
	return err;
}

int store__sqlite_check(store_t *store, store__report_fn *report, void *ctx)
{
	int err = run_pragma(store, "PRAGMA integrity_check", row_integrity, "integrity check",
	                     report, ctx);
	if (err == STORE_OK)
		err = run_pragma(store, "PRAGMA foreign_key_check", row_foreign_key,
		                 "foreign key check", report, ctx);
	return err;
}
