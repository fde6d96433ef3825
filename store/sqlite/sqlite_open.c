/*
 * sqlite_open.c - the SQLite connection: opening (and creating) the file,
 * the per-connection settings (WAL, synchronous=FULL, busy timeout, the
 * STORE_OPEN_NOWAIT and STORE_OPEN_BULK handles), the mail_now() clock,
 * and closing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite-private.h"

/*
 * mail_now(): SQLite's 'now' in unix seconds (its VFS clock, as
 * strftime('%s','now') reads it) plus the test offset. Registered as
 * deterministic so that, like 'now', it is evaluated once per statement
 * run: a statement that compares and sets times sees one instant.
 */
static void sql_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
	sqlite3_int64 julian_ms = 0;

	(void)argc;
	(void)argv;
	if (vfs == NULL || vfs->iVersion < 2 || vfs->xCurrentTimeInt64 == NULL ||
	    vfs->xCurrentTimeInt64(vfs, &julian_ms) != SQLITE_OK) {
		sqlite3_result_error(ctx, "mail_now: no clock", -1);
		return;
	}
	/* Julian day 2440587.5 is the unix epoch. */
	sqlite3_result_int64(ctx, (julian_ms - INT64_C(210866760000000)) / 1000 +
	                              store__clock_offset());
}

/* Runs one open-time statement (PRAGMA); when value_r is given, copies the
 * first column of the first row there. */
static int exec_setup(store_t *store, const char *sql, char *value_r, size_t value_len)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(store__sqlite(store)->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, sql);
	rc = store__sqlite_step_retrying(store, stmt);
	if (rc == SQLITE_ROW && value_r != NULL) {
		const unsigned char *value = sqlite3_column_text(stmt, 0);
		snprintf(value_r, value_len, "%s", value != NULL ? (const char *)value : "");
	}
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(stmt);
	int err = rc == SQLITE_DONE ? STORE_OK : store__sqlite_fail(store, rc, sql);
	sqlite3_finalize(stmt);
	return err;
}

/* Page cache per connection, in KiB (SQLite's default is 2000). */
#define STORE__CACHE_KIB "512"

/* WAL pages before a STORE_OPEN_BULK handle's commit runs a checkpoint (SQLite's default: 1000). */
#define STORE__BULK_CHECKPOINT_PAGES "8192"

static int configure(store_t *store, int flags)
{
	char mode[16] = "";
	/* WAL: readers (POP3 sessions) never block the writer and vice versa. */
	int err = exec_setup(store, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
	if (err != STORE_OK)
		return err;
	if (strcmp(mode, "wal") != 0)
		return store__fail(store, STORE_EIO, "cannot switch the database to WAL mode (got %s)",
		                   mode);
	/* FULL: a commit is synced before it returns, which is what lets smtpd
	 * answer 250 (docs/DESIGN.md "Durability and group commit"). */
	err = exec_setup(store, "PRAGMA synchronous = FULL", NULL, 0);
	if (err == STORE_OK)
		err = exec_setup(store, "PRAGMA foreign_keys = ON", NULL, 0);
	/* A big message grows the WAL by its size; give the space back after
	 * the next checkpoint instead of keeping the high-water mark. */
	if (err == STORE_OK)
		err = exec_setup(store, "PRAGMA journal_size_limit = 67108864", NULL, 0);
	/* A daemon holds one connection per worker thread (dozens), and reading
	 * a large body through each would fill every connection's page cache
	 * (2 MiB by default). The OS page cache already holds hot pages; this
	 * one only needs a group commit's worth of dirty pages. */
	if (err == STORE_OK)
		err = exec_setup(store, "PRAGMA cache_size = -" STORE__CACHE_KIB, NULL, 0);
	if (err == STORE_OK && (flags & STORE_OPEN_BULK))
		err = exec_setup(store, "PRAGMA wal_autocheckpoint = " STORE__BULK_CHECKPOINT_PAGES, NULL, 0);
	return err;
}

int store__sqlite_open(store_t *store, const char *path, const char *password, int flags)
{
	(void)password;
	struct store__sqlite *sq = store__sqlite(store);
	struct stat st;
	if (!(flags & STORE_OPEN_CREATE) && stat(path, &st) != 0 && errno == ENOENT)
		return store__fail(store, STORE_ENOTFOUND, "%s: no such database file", path);
	int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (flags & STORE_OPEN_CREATE) {
		oflags |= SQLITE_OPEN_CREATE;
		/* The file holds password hashes and everyone's mail: create it
		 * owner-only whatever the umask. SQLite gives the -wal and -shm
		 * files the database file's mode. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return store__fail(store, errno == ENOSPC ? STORE_EIO : STORE_EINVAL,
			                   "%s: %s", path, strerror(errno));
		close(fd);
	}
	int rc = sqlite3_open_v2(path, &sq->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		if (sq->db == NULL)
			return store__fail(store, STORE_ENOMEM, "%s: out of memory", path);
		return store__fail(store, store__sqlite_map_rc(rc), "%s: %s", path,
		                   sqlite3_errmsg(sq->db));
	}
	sqlite3_extended_result_codes(sq->db, 1);
	rc = sqlite3_create_function_v2(sq->db, "mail_now", 0,
	                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	                                sql_now, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, "register mail_now()");
	sq->busy_ms = (flags & STORE_OPEN_NOWAIT) ? 0 : STORE__BUSY_TIMEOUT_MS;
	sqlite3_busy_timeout(sq->db, sq->busy_ms);
	/* Identify the file before configuring it: switching a stranger's
	 * database to WAL would already change it. */
	int version = 0;
	int err = store__sqlite_schema_identify(store, &version);
	if (err == STORE_OK)
		err = configure(store, flags);
	/* STORE_OPEN_INIT: a file without a schema (identify found no tables)
	 * gets one; an older schema is left for `mailctl db migrate`. */
	bool migrate = (flags & STORE_OPEN_MIGRATE) || ((flags & STORE_OPEN_INIT) && version == 0);
	if (err == STORE_OK)
		err = store__sqlite_schema_prepare(store, version, migrate);
	if (err != STORE_OK) {
		/* Say which file: the caller shows this to an operator. */
		char msg[sizeof(store->errmsg)];
		memcpy(msg, store->errmsg, sizeof(msg));
		store__fail(store, err, "%s: %s", path, msg);
	}
	return err;
}

void store__sqlite_close(store_t *store)
{
	/* close_v2 would defer; every statement is finalized, so close now. */
	sqlite3_close(store__sqlite(store)->db);
}
