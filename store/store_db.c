/*
 * store_db.c - the handle, whatever the backend: choosing the backend at
 * open, close, errors, the statement cache, transactions over the driver's
 * (store_driver.h), the database clock's test offset, and (in
 * MAIL_TEST_HOOKS builds only) commit fault injection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int64_t store__clock_offset(void)
{
	return clock_offset;
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
	case STORE_ENOTSUP:
		return "not supported by this database";
	case STORE_ERETRY:
		return "temporary database failure (nothing was written; try again)";
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

store__stmt_t *store__stmt(store_t *store, enum store__stmt_id id)
{
#ifdef MAIL_TEST_HOOKS
	if (store->nowait_busy) {
		store__fail(store, STORE_EBUSY, "database is locked (MAILTEST_STORE_NOWAIT_BUSY)");
		return NULL;
	}
#endif
	if (store->stmts[id] != NULL)
		return store->stmts[id];
	if (store->drv->prepare(store, store__sql(store, id), &store->stmts[id]) != STORE_OK) {
		store->stmts[id] = NULL;
		return NULL;
	}
	return store->stmts[id];
}

int store__exec(store_t *store, enum store__stmt_id id, const char *what)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id);
	int rc;
	while ((rc = store__step(stmt, what)) == STORE__ROW)
		;
	store__reset(stmt);
	return rc;
}

void store__column_copy(store__stmt_t *stmt, int col, char *dst, size_t dstlen)
{
	size_t len = 0;
	const char *s = store__column_text(stmt, col, &len);
	if (dstlen == 0)
		return;
	if (s == NULL)
		len = 0;
	if (len >= dstlen) {
		len = dstlen - 1;
		/* Do not leave half a UTF-8 sequence at the end. */
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	if (len > 0)
		memcpy(dst, s, len);
	dst[len] = '\0';
}

int store__begin_write(store_t *store)
{
	return store->drv->begin(store, STORE__TXN_WRITE);
}

int store__begin_read(store_t *store)
{
	return store->drv->begin(store, STORE__TXN_READ);
}

bool store__in_transaction(store_t *store)
{
	return store->drv->in_transaction(store);
}

void store__rollback(store_t *store)
{
	store->drv->rollback(store);
}

void store__end_read(store_t *store)
{
	if (!store->drv->in_transaction(store))
		return;
	/* A read-only COMMIT cannot lose data; if it fails, roll back. */
	if (store->drv->commit(store, NULL) != STORE_OK)
		store->drv->rollback(store);
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
	/* A retryable failure also fails the store's retries of the call
	 * (store__again), so that its caller gets it. */
	long last = store->fail_commit_at + (store->fail_commit_retry ? STORE__RETRIES : 0);
	if (store->fail_commit_at > 0 && n >= store->fail_commit_at && n <= last) {
		store__rollback(store);
		return store__fail(store, store->fail_commit_retry ? STORE_ERETRY : STORE_EIO,
		                   "commit: failed by MAILTEST_STORE_FAIL_COMMIT");
	}
	return STORE_OK;
}
#endif

int store__commit(store_t *store)
{
	if (!store->drv->in_transaction(store)) {
		/* A statement error made the engine roll back on its own. */
		return store__fail(store, STORE_EIO, "commit: the transaction was rolled back");
	}
	if (store__before_commit_hook != NULL)
		store__before_commit_hook();
#ifdef MAIL_TEST_HOOKS
	int hooked = commit_hooks(store);
	if (hooked != STORE_OK)
		return hooked;
#endif
	return store__commit_uncounted(store, "commit");
}

int store__commit_uncounted(store_t *store, const char *what)
{
	int err = store->drv->commit(store, what);
	if (err != STORE_OK)
		store->drv->rollback(store);
	return err;
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
/* MAILTEST_STORE_FAIL_COMMIT=N or N:retry; 0 when unset or malformed. */
static long fail_commit_from_env(bool *retry_r)
{
	const char *s = getenv("MAILTEST_STORE_FAIL_COMMIT");
	*retry_r = false;
	if (s == NULL || *s == '\0')
		return 0;
	char *end;
	errno = 0;
	long n = strtol(s, &end, 10);
	if (errno != 0 || n < 0)
		return 0;
	if (strcmp(end, ":retry") == 0)
		*retry_r = true;
	else if (*end != '\0')
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

const struct store__driver *store__driver_for(const char *target)
{
	if (strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0)
		return &store__pg_driver;
	return &store__sqlite_driver;
}

/* Appends n bytes of s to out (of outlen, *len used so far), truncating. */
static void append(char *out, size_t outlen, size_t *len, const char *s, size_t n)
{
	if (*len + 1 >= outlen)
		return;
	if (n > outlen - 1 - *len)
		n = outlen - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

char *store_db_redacted(const char *db, char *out, size_t outlen)
{
	size_t len = 0;
	if (outlen == 0)
		return out;
	out[0] = '\0';
	const char *scheme_end = strstr(db, "://");
	if (store__driver_for(db) != &store__pg_driver || scheme_end == NULL) {
		append(out, outlen, &len, db, strlen(db));
		return out;
	}
	const char *p = scheme_end + 3;
	/* The user part ends at the last '@' before the path, as libpq reads
	 * it: a password may hold a raw '?' (and '@' only percent-encoded,
	 * but the last one is safe either way). */
	const char *auth_end = p + strcspn(p, "/");
	const char *at = NULL;
	for (const char *q = p; q < auth_end; q++)
		if (*q == '@')
			at = q;
	const char *colon = at != NULL ? memchr(p, ':', (size_t)(at - p)) : NULL;
	if (colon != NULL) {
		append(out, outlen, &len, db, (size_t)(colon + 1 - db));
		append(out, outlen, &len, "***", 3);
		p = at;
	} else {
		append(out, outlen, &len, db, (size_t)(p - db));
	}
	/* The rest, with the value of every password= parameter hidden. */
	while (*p != '\0') {
		const char *param = strstr(p, "password=");
		if (param == NULL || (param != p && param[-1] != '?' && param[-1] != '&')) {
			size_t n = param == NULL ? strlen(p) : (size_t)(param - p) + 9;
			append(out, outlen, &len, p, n);
			p += n;
			continue;
		}
		append(out, outlen, &len, p, (size_t)(param + 9 - p));
		append(out, outlen, &len, "***", 3);
		p = param + 9 + strcspn(param + 9, "&");
	}
	return out;
}

unsigned store_writers_wanted(const char *db)
{
	return db != NULL ? store__driver_for(db)->parallel_writers : 1;
}

int store_open(const char *path, int flags, store_t **store_r, char *err, size_t errlen)
{
	return store_open_auth(path, NULL, flags, store_r, err, errlen);
}

int store_open_auth(const char *path, const char *password, int flags, store_t **store_r,
                    char *err, size_t errlen)
{
	*store_r = NULL;
	if (path == NULL || *path == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no database path given");
		return STORE_EINVAL;
	}
	const struct store__driver *drv = store__driver_for(path);
	store_t *store = calloc(1, drv->handle_size);
	if (store == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "out of memory");
		return STORE_ENOMEM;
	}
	store->drv = drv;
#ifdef MAIL_TEST_HOOKS
	/* Before the open: a migration's commit counts too. */
	store->fail_commit_at = fail_commit_from_env(&store->fail_commit_retry);
	stall_commit_from_env(&store->stall_commit_at, &store->stall_commit_ms);
#endif
	int rc = drv->open(store, path, password, flags);
	if (rc != STORE_OK) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", store->errmsg);
		store_close(&store);
		return rc;
	}
	/* A handle that never waits may serve the loop-safe calls (store.h),
	 * when the backend's reads are local. */
	store->loop_safe = (flags & STORE_OPEN_NOWAIT) != 0 && drv->nowait_loop_safe;
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
		if (store->stmts[i] != NULL)
			store->drv->finalize(store->stmts[i]);
	store->drv->close(store);
	free(store->chunk_buf);
	free(store);
	*storep = NULL;
}

int store_schema_version(void)
{
	return STORE__SCHEMA_VERSION;
}

int store_file_version(store_t *store, int *version_r)
{
	return store->drv->schema_version(store, version_r);
}
