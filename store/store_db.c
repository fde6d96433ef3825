/*
 * store_db.c - the SQLite connection: open and close, per-connection
 * settings, the statement cache, transactions with busy handling, error
 * mapping, and (in MAIL_TEST_HOOKS builds only) commit fault injection.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store-private.h"

void (*store__before_commit_hook)(void);

/* store__set_clock_offset: seconds added to the database clock. */
static _Atomic int64_t clock_offset;

void store__set_clock_offset(int64_t seconds)
{
	clock_offset = seconds;
}

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
	sqlite3_result_int64(ctx, (julian_ms - INT64_C(210866760000000)) / 1000 + clock_offset);
}

#ifdef MAIL_TEST_HOOKS
/* Commits of this process, for MAILTEST_STORE_FAIL_COMMIT and _STALL_COMMIT.
 * A forked child is a new process and counts from 1 again (commit_pid
 * tells them apart). */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static long commit_count;
static pid_t commit_pid;
#endif

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK:
		return "success";
	case STORE_ENOTFOUND:
		return "not found";
	case STORE_EEXIST:
		return "already exists";
	case STORE_EBUSY:
		return "busy";
	case STORE_EIO:
		return "input/output error";
	case STORE_EINVAL:
		return "invalid argument";
	case STORE_ECORRUPT:
		return "database corrupt or from a newer version";
	case STORE_ENOMEM:
		return "out of memory";
	case STORE_ELIMIT:
		return "internal limit exceeded";
	case STORE_ELOOP:
		return "alias loop";
	case STORE_EQUOTA:
		return "mailbox quota exceeded";
	case STORE_ETOOBIG:
		return "larger than the mailbox's whole quota";
	default:
		return "unknown store error";
	}
}

bool store_loop_safe(const store_t *store)
{
	return store != NULL && store->loop_safe;
}

const char *store_errmsg(const store_t *store)
{
	if (store == NULL)
		return "no store handle";
	return store->errmsg;
}

int store__fail(store_t *store, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(store->errmsg, sizeof(store->errmsg), fmt, ap);
	va_end(ap);
	store->last_err = err;
	return err;
}

int store__map_rc(int rc)
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
	return store__fail(store, store__map_rc(rc), "%s: %s", what, sqlite3_errmsg(store->db));
}

sqlite3_stmt *store__stmt(store_t *store, enum store__stmt_id id)
{
#ifdef MAIL_TEST_HOOKS
	if (store->nowait_busy) {
		store__fail(store, STORE_EBUSY, "database is locked (MAILTEST_STORE_NOWAIT_BUSY)");
		return NULL;
	}
#endif
	if (store->stmts[id] != NULL)
		return store->stmts[id];
	int rc = sqlite3_prepare_v3(store->db, store__sql(id), -1, SQLITE_PREPARE_PERSISTENT,
	                            &store->stmts[id], NULL);
	if (rc != SQLITE_OK) {
		store__sqlite_fail(store, rc, "prepare");
		store->stmts[id] = NULL;
		return NULL;
	}
	return store->stmts[id];
}

void store__reset(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

int store__exec(store_t *store, enum store__stmt_id id, const char *what)
{
	sqlite3_stmt *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	int err = rc == SQLITE_DONE ? STORE_OK : store__sqlite_fail(store, rc, what);
	store__reset(stmt);
	return err;
}

int store__bind_text(sqlite3_stmt *stmt, int col, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, col);
	return sqlite3_bind_text(stmt, col, s, -1, SQLITE_STATIC);
}

void store__column_text(sqlite3_stmt *stmt, int col, char *dst, size_t dstlen)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);
	size_t len = (size_t)sqlite3_column_bytes(stmt, col);
	if (dstlen == 0)
		return;
	if (s == NULL)
		len = 0;
	if (len >= dstlen) {
		len = dstlen - 1;
		/* Do not leave half a UTF-8 sequence at the end. */
		while (len > 0 && (s[len] & 0xc0) == 0x80)
			len--;
	}
	if (len > 0)
		memcpy(dst, s, len);
	dst[len] = '\0';
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Runs a BEGIN (or an open-time statement) until it gets past SQLITE_BUSY.
 * busy_timeout covers most waits, but SQLite returns SQLITE_BUSY without
 * calling the busy handler in some cases (WAL recovery by another
 * connection, changing the journal mode), so we retry those ourselves
 * within the same overall budget.
 */
static int step_retrying(store_t *store, sqlite3_stmt *stmt)
{
	int64_t deadline = monotonic_ms() + store->busy_ms;
	for (;;) {
		int rc = sqlite3_step(stmt);
		if ((rc & 0xff) != SQLITE_BUSY || monotonic_ms() >= deadline)
			return rc;
		sqlite3_reset(stmt);
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
}

static int begin(store_t *store, enum store__stmt_id id)
{
	sqlite3_stmt *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id);
	int rc = step_retrying(store, stmt);
	int err = rc == SQLITE_DONE ? STORE_OK : store__sqlite_fail(store, rc, "begin transaction");
	sqlite3_reset(stmt);
	return err;
}

int store__begin_write(store_t *store)
{
	return begin(store, STORE__BEGIN_WRITE);
}

int store__begin_read(store_t *store)
{
	return begin(store, STORE__BEGIN_READ);
}

void store__rollback(store_t *store)
{
	/* SQLite may already have rolled back by itself (SQLITE_FULL, IOERR). */
	if (sqlite3_get_autocommit(store->db))
		return;
	sqlite3_stmt *stmt = store__stmt(store, STORE__ROLLBACK);
	if (stmt == NULL)
		return;
	sqlite3_step(stmt);
	sqlite3_reset(stmt);
}

void store__end_read(store_t *store)
{
	if (sqlite3_get_autocommit(store->db))
		return;
	sqlite3_stmt *stmt = store__stmt(store, STORE__COMMIT);
	if (stmt == NULL)
		return;
	/* A read-only COMMIT cannot lose data; if it fails, roll back. */
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		sqlite3_reset(stmt);
		store__rollback(store);
		return;
	}
	sqlite3_reset(stmt);
}

#ifdef MAIL_TEST_HOOKS
/* This process's number for the commit starting now: 1, 2, ... */
static long commit_number(void)
{
	pthread_mutex_lock(&commit_lock);
	pid_t pid = getpid();
	if (commit_pid != pid) {
		commit_pid = pid;
		commit_count = 0;
	}
	long n = ++commit_count;
	pthread_mutex_unlock(&commit_lock);
	return n;
}

/* The commit hooks (store.h): 0 to go on with the commit, or the error
 * that replaces it. */
static int commit_hooks(store_t *store)
{
	if (store->fail_commit_at == 0 && store->stall_commit_at == 0)
		return STORE_OK;
	long n = commit_number();
	if (store->stall_commit_at > 0 && n == store->stall_commit_at) {
		/* Hold the open transaction so a test can kill us here. */
		struct timespec ts = { store->stall_commit_ms / 1000,
		                       (long)(store->stall_commit_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	if (store->fail_commit_at > 0 && n == store->fail_commit_at) {
		store__rollback(store);
		return store__fail(store, STORE_EIO, "commit: failed by MAILTEST_STORE_FAIL_COMMIT");
	}
	return STORE_OK;
}
#endif

int store__commit(store_t *store)
{
	if (sqlite3_get_autocommit(store->db)) {
		/* A statement error made SQLite roll back on its own. */
		return store__fail(store, STORE_EIO, "commit: the transaction was rolled back");
	}
	if (store__before_commit_hook != NULL)
		store__before_commit_hook();
#ifdef MAIL_TEST_HOOKS
	int hooked = commit_hooks(store);
	if (hooked != STORE_OK)
		return hooked;
#endif
	sqlite3_stmt *stmt = store__stmt(store, STORE__COMMIT);
	if (stmt == NULL) {
		int err = store->last_err;
		store__rollback(store);
		return err;
	}
	int rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		int err = store__sqlite_fail(store, rc, "commit");
		store__rollback(store);
		return err;
	}
	return STORE_OK;
}

int store__finish(store_t *store, int err)
{
	if (err != STORE_OK) {
		store__rollback(store);
		return err;
	}
	return store__commit(store);
}

#ifdef MAIL_TEST_HOOKS
/* MAILTEST_STORE_FAIL_COMMIT=N; 0 when unset or malformed. */
static long fail_commit_from_env(void)
{
	const char *s = getenv("MAILTEST_STORE_FAIL_COMMIT");
	if (s == NULL || *s == '\0')
		return 0;
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return 0;
	return n;
}

/* MAILTEST_STORE_STALL_COMMIT=N:MS into *n_r and *ms_r; both 0 when unset or malformed. */
static void stall_commit_from_env(long *n_r, long *ms_r)
{
	const char *s = getenv("MAILTEST_STORE_STALL_COMMIT");
	char *end;

	*n_r = *ms_r = 0;
	if (s == NULL || *s == '\0')
		return;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno != 0 || *end != ':' || n < 0)
		return;
	long ms = strtol(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || ms < 0)
		return;
	*n_r = n;
	*ms_r = ms;
}

#endif

/* Runs one open-time statement (PRAGMA); when value_r is given, copies the
 * first column of the first row there. */
static int exec_setup(store_t *store, const char *sql, char *value_r, size_t value_len)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, sql);
	rc = step_retrying(store, stmt);
	if (rc == SQLITE_ROW && value_r != NULL)
		store__column_text(stmt, 0, value_r, value_len);
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

static int open_sqlite(store_t *store, const char *path, int flags)
{
	if (strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0)
		return store__fail(store, STORE_EINVAL, "%s: the PostgreSQL backend is not built", path);
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
	int rc = sqlite3_open_v2(path, &store->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		if (store->db == NULL)
			return store__fail(store, STORE_ENOMEM, "%s: out of memory", path);
		return store__fail(store, store__map_rc(rc), "%s: %s", path, sqlite3_errmsg(store->db));
	}
	sqlite3_extended_result_codes(store->db, 1);
	rc = sqlite3_create_function_v2(store->db, "mail_now", 0,
	                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
	                                sql_now, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, "register mail_now()");
	store->busy_ms = (flags & STORE_OPEN_NOWAIT) ? 0 : STORE__BUSY_TIMEOUT_MS;
	sqlite3_busy_timeout(store->db, store->busy_ms);
	/* Identify the file before configuring it: switching a stranger's
	 * database to WAL would already change it. */
	int version = 0;
	int err = store__schema_identify(store, &version);
	if (err == STORE_OK)
		err = configure(store, flags);
	if (err == STORE_OK)
		err = store__schema_prepare(store, version, (flags & STORE_OPEN_MIGRATE) != 0);
	if (err != STORE_OK) {
		/* Say which file: the caller shows this to an operator. */
		char msg[sizeof(store->errmsg)];
		memcpy(msg, store->errmsg, sizeof(msg));
		store__fail(store, err, "%s: %s", path, msg);
	}
	return err;
}

int store_open(const char *path, int flags, store_t **store_r, char *err, size_t errlen)
{
	*store_r = NULL;
	if (path == NULL || *path == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no database path given");
		return STORE_EINVAL;
	}
	store_t *store = calloc(1, sizeof(*store));
	if (store == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "out of memory");
		return STORE_ENOMEM;
	}
#ifdef MAIL_TEST_HOOKS
	/* Before the open: a migration's commit counts too. */
	store->fail_commit_at = fail_commit_from_env();
	stall_commit_from_env(&store->stall_commit_at, &store->stall_commit_ms);
#endif
	int rc = open_sqlite(store, path, flags);
	if (rc != STORE_OK) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", store->errmsg);
		store_close(&store);
		return rc;
	}
	/* SQLite's reads are local: a handle that never waits may serve the
	 * loop-safe calls (store.h). */
	store->loop_safe = (flags & STORE_OPEN_NOWAIT) != 0;
#ifdef MAIL_TEST_HOOKS
	const char *busy = getenv("MAILTEST_STORE_NOWAIT_BUSY");
	store->nowait_busy = (flags & STORE_OPEN_NOWAIT) && busy != NULL && strcmp(busy, "1") == 0;
#endif
	*store_r = store;
	return STORE_OK;
}

void store_close(store_t **storep)
{
	store_t *store = *storep;
	if (store == NULL)
		return;
	for (size_t i = 0; i < STORE__STMT_COUNT; i++)
		sqlite3_finalize(store->stmts[i]);
	/* close_v2 would defer; every statement is finalized, so close now. */
	sqlite3_close(store->db);
	free(store->chunk_buf);
	free(store);
	*storep = NULL;
}
