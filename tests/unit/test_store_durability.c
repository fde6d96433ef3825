/*
 * test_store_durability.c - every handle the store opens can write, and
 * every one must keep the durability contract (DESIGN.md): WAL,
 * synchronous=FULL, and a commit that has synced the WAL before it
 * returns.
 *
 * The crash tests kill with SIGKILL, which leaves the page cache to the
 * kernel, so they would pass with synchronous=OFF; only a power loss would
 * show the difference. This test checks the cause instead of the effect:
 * the settings of each handle, for every combination of open flags, and the
 * syncs themselves, counted by a VFS shim wrapped around SQLite's default
 * one (each commit must sync the -wal file at least once).
 */
#include <stdatomic.h>

#include "sqlite/sqlite-private.h" /* white box: the handle's sqlite3 connection */
#include "test_store_util.h"

/* ---- a VFS that counts xSync per kind of file ------------------------- */

struct cfile {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, allocated right after this struct */
	bool wal;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs counting_vfs;
static atomic_int wal_syncs;

#define REAL(f) (((struct cfile *)(f))->real)

static int c_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int c_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int c_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int c_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int c_sync(sqlite3_file *f, int flags)
{
	if (((struct cfile *)f)->wal)
		wal_syncs++;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int c_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int c_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int c_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int c_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int c_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int c_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int c_device_characteristics(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int c_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}

static int c_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void c_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int c_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int c_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}

static int c_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods counting_io = {
	.iVersion = 3,
	.xClose = c_close,
	.xRead = c_read,
	.xWrite = c_write,
	.xTruncate = c_truncate,
	.xSync = c_sync,
	.xFileSize = c_file_size,
	.xLock = c_lock,
	.xUnlock = c_unlock,
	.xCheckReservedLock = c_check_reserved,
	.xFileControl = c_file_control,
	.xSectorSize = c_sector_size,
	.xDeviceCharacteristics = c_device_characteristics,
	.xShmMap = c_shm_map,
	.xShmLock = c_shm_lock,
	.xShmBarrier = c_shm_barrier,
	.xShmUnmap = c_shm_unmap,
	.xFetch = c_fetch,
	.xUnfetch = c_unfetch,
};

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct cfile *cf = (struct cfile *)f;
	(void)vfs;
	cf->real = (sqlite3_file *)(cf + 1);
	cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
	int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
	/* SQLite calls xClose only when pMethods is set, as the real open left it. */
	cf->base.pMethods = cf->real->pMethods != NULL ? &counting_io : NULL;
	return rc;
}

static int c_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int c_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int c_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static int c_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int c_sleep(sqlite3_vfs *vfs, int us)
{
	return real_vfs->xSleep(real_vfs, us);
}

static int c_current_time(sqlite3_vfs *vfs, double *out)
{
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int c_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xGetLastError(real_vfs, n, out);
}

static int c_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

static int group_setup(void **state)
{
	real_vfs = sqlite3_vfs_find(NULL);
	assert_non_null(real_vfs);
	assert_true(real_vfs->iVersion >= 2);
	counting_vfs = (sqlite3_vfs){
		.iVersion = 2,
		.szOsFile = (int)sizeof(struct cfile) + real_vfs->szOsFile,
		.mxPathname = real_vfs->mxPathname,
		.zName = "counting",
		.xOpen = c_open,
		.xDelete = c_delete,
		.xAccess = c_access,
		.xFullPathname = c_full_pathname,
		.xRandomness = c_randomness,
		.xSleep = c_sleep,
		.xCurrentTime = c_current_time,
		.xGetLastError = c_last_error,
		.xCurrentTimeInt64 = c_current_time_int64,
	};
	/* The default VFS from now on: store_open names none. */
	assert_int_equal(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
	return 0;
}

static int group_teardown(void **state)
{
	sqlite3_vfs_unregister(&counting_vfs);
	return 0;
}

/* ---- the checks ---------------------------------------------------------- */

static void expect_pragma(store_t *store, const char *pragma, const char *want, int flags)
{
	char sql[64], got[32] = "";
	sqlite3_stmt *stmt;

	snprintf(sql, sizeof(sql), "PRAGMA %s", pragma);
	assert_int_equal(sqlite3_prepare_v2(store__sqlite_db(store), sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		snprintf(got, sizeof(got), "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	if (strcmp(got, want) != 0)
		fail_msg("open flags 0x%x: PRAGMA %s = %s, want %s", (unsigned)flags, pragma, got, want);
}

/* A write through the store must sync the WAL before it returns. */
#define EXPECT_SYNCED(flags, call)                                                            \
	do {                                                                                      \
		int before_ = wal_syncs;                                                              \
		assert_int_equal((call), STORE_OK);                                                   \
		if (wal_syncs == before_)                                                             \
			fail_msg("open flags 0x%x: %s returned without syncing the WAL", (unsigned)(flags), \
			         #call);                                                                  \
	} while (0)

static void test_every_handle_is_durable(void **state)
{
	struct store_fixture *f = *state;
	static const int all = STORE_OPEN_CREATE | STORE_OPEN_MIGRATE | STORE_OPEN_NOWAIT |
	                       STORE_OPEN_BULK;
	char domain[64];

	/* The fixture's handle was opened through the counting VFS too. */
	EXPECT_SYNCED(STORE_OPEN_CREATE | STORE_OPEN_MIGRATE,
	              store_domain_add(f->store, "fixture.test"));
	store_close(&f->store);
	for (int flags = 0; flags <= all; flags++) {
		if ((flags & ~all) != 0)
			continue;
		store_t *s = tsu_open(f->db, flags);
		expect_pragma(s, "journal_mode", "wal", flags);
		expect_pragma(s, "synchronous", "2", flags); /* FULL */
		expect_pragma(s, "foreign_keys", "1", flags);
		snprintf(domain, sizeof(domain), "d%d.test", flags);
		EXPECT_SYNCED(flags, store_domain_add(s, domain));
		EXPECT_SYNCED(flags, tsu_deliver(s, "alice@example.test", NULL, NULL, "x\r\n"));
		store_close(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_handle_is_durable, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
