/*
 * store_driver.h - the statement driver under the store's logic.
 *
 * The store's logic (store_account.c, store_deliver.c, store_queue.c, ...)
 * exists once and runs the statements of store_sql.c through this
 * interface only. A backend implements it as one constant table of
 * function pointers, struct store__driver, which store_open() picks from
 * the `db` value (store_db.c): a file path is SQLite (store/sqlite/); a
 * postgresql:// or postgres:// URI will be libpq (store/postgresql/). No
 * file outside a backend's directory sees the engine's types.
 *
 * Handles. A backend's handle is a struct that begins with store_t (the
 * part the logic uses: errors, the statement cache, test hooks); store_open
 * allocates handle_size bytes, zeroed, and the backend casts. A statement
 * likewise begins with store__stmt_t, which carries the driver and the
 * handle so that binding and stepping need nothing else.
 *
 * Statements are prepared once per handle, on first use, from the text
 * store__sql() gives (store_sql.c: the shared text, or the backend's own
 * for the statements whose dialect differs) and kept until store_close.
 * Preparing is the only allocation; running a statement allocates nothing
 * in the driver layer. Each run is: bind, step until STORE__DONE (or stop
 * early), reset. A statement must be reset before it is run again, and is
 * never held across a call that may run it too (resolution is recursive:
 * read every row, reset, then recurse).
 *
 * Parameters are written ?1, ?2, ... in the text and bound by that number
 * (a backend whose engine spells them otherwise, libpq's $1, rewrites the
 * text when it prepares it). Text and blob pointers are not copied: they
 * must stay valid until the statement is reset. Binding cannot fail for a
 * parameter the text has; another number is a bug (asserted).
 *
 * Columns count from 0 and are valid after STORE__ROW until the next step
 * or reset of that statement, pointers included; copy what must outlive
 * that. The int64 value of NULL is 0, and of a boolean (PostgreSQL's EXISTS)
 * 0 or 1: the logic reads every flag as an integer.
 *
 * Errors: a driver function that fails has already written the handle's
 * message ("what: the engine's message") and returns a negative enum
 * store_err, so the logic only propagates the code (store-private.h).
 */
#ifndef MAIL_STORE_DRIVER_H
#define MAIL_STORE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store.h"

typedef struct store__stmt store__stmt_t;
struct store__driver;

/* The head of every backend's statement. */
struct store__stmt {
	const struct store__driver *drv;
	store_t *store;
};

/* What store__step() returns besides a negative enum store_err. DONE is 0,
 * STORE_OK, so "not a row" passes through as success where a row was
 * optional. */
enum {
	STORE__DONE = 0, /* the statement has run to its end */
	STORE__ROW = 1,  /* a result row is ready for the column getters */
};

/* The kinds of transaction (store-private.h "Transactions"). */
enum store__txn {
	STORE__TXN_READ,   /* one snapshot over several statements */
	STORE__TXN_WRITE,  /* excludes every other writer */
	STORE__TXN_SCOPED, /* excludes exclusive writers and, with lock_keys, writers of the same keys */
};

/* Reported by a backend's own checks (store_check). */
typedef void store__report_fn(void *ctx, const char *problem);

struct store__driver {
	const char *name;
	/* Bytes store_open allocates for a handle: the backend's struct,
	 * which begins with store_t. */
	size_t handle_size;
	/* Whether a STORE_OPEN_NOWAIT handle never waits and may serve the
	 * loop-safe calls on an event loop (store.h store_loop_safe): local
	 * reads only, so SQLite yes, a network round trip no. */
	bool nowait_loop_safe;
	/* How many connections writing at once pay off (store_writers_wanted):
	 * 1 where writers take one lock and a sync costs the same for one
	 * transaction as for a batch (SQLite); more where a commit is mostly
	 * network round trips and the server syncs concurrent commits
	 * together (PostgreSQL). */
	unsigned parallel_writers;
	/* Whether a process shares a few handles among its worker threads
	 * (store_pool_acquire): true where each handle costs the server a
	 * process (PostgreSQL); false where a handle is a local file open with
	 * its own cache, which each worker thread keeps for itself (SQLite). */
	bool pooled;
	/* The backend's own text per enum store__stmt_id, NULL where the
	 * shared text of store_sql.c applies (store__sql). */
	const char *const *sql;

	/* ---- the connection ---- */
	/* Opens `target` (a path, a URI) into the zeroed handle, with the
	 * store_open flags: connect (with `password` when not NULL, for a
	 * backend that logs in; never part of a message), configure, check
	 * and migrate the schema. On failure the message names the target;
	 * close still runs. */
	int (*open)(store_t *store, const char *target, const char *password, int flags);
	/* Releases what open made, after every statement was finalized; also
	 * after a failed or partial open. */
	void (*close)(store_t *store);
	/* The schema version the database holds (store_file_version). */
	int (*schema_version)(store_t *store, int *version_r);
	/* The engine's own consistency checks, run first by store_check inside
	 * its read transaction: each problem through report. 0 or an error. */
	int (*check)(store_t *store, store__report_fn *report, void *ctx);
	/* Whether a pooled handle may serve the next job: its connection is
	 * up (as far as can be told without waiting) and no transaction is
	 * open. Asked when it is given back and when it is taken again. */
	bool (*reusable)(store_t *store);

	/* ---- queue wake-ups (store.h store_wakeup); NULL when the backend
	 * has none ---- */
	/* Makes the handle's connection listen for the queue's wake-ups; it
	 * runs no statement after that. */
	int (*listen)(store_t *store);
	/* The connection's descriptor. */
	int (*listen_fd)(store_t *store);
	/* Reads what arrived without waiting: 1 when a wake-up was among it,
	 * 0 when none, STORE_EIO (with the handle's message) when the
	 * connection is lost. */
	int (*listen_drain)(store_t *store);

	/* ---- statements ---- */
	int (*prepare)(store_t *store, const char *sql, store__stmt_t **stmt_r);
	void (*finalize)(store__stmt_t *stmt);
	void (*bind_int64)(store__stmt_t *stmt, int param, int64_t value);
	void (*bind_text)(store__stmt_t *stmt, int param, const char *text, size_t len);
	void (*bind_blob)(store__stmt_t *stmt, int param, const void *data, size_t len);
	void (*bind_null)(store__stmt_t *stmt, int param);
	/* STORE__ROW, STORE__DONE, or an error with the message "what: ...". */
	int (*step)(store__stmt_t *stmt, const char *what);
	int64_t (*column_int64)(store__stmt_t *stmt, int col);
	/* NULL for SQL NULL (*len_r 0); text is NUL-terminated as well. */
	const char *(*column_text)(store__stmt_t *stmt, int col, size_t *len_r);
	const void *(*column_blob)(store__stmt_t *stmt, int col, size_t *len_r);
	bool (*column_is_null)(store__stmt_t *stmt, int col);
	/* Rows the statement's last run inserted, updated or deleted itself
	 * (not through triggers), once it returned STORE__DONE; still valid
	 * after its reset, until the next statement runs on the handle. */
	int64_t (*changes)(store__stmt_t *stmt);
	/* Ends the run and drops the bindings (their pointers included). */
	void (*reset)(store__stmt_t *stmt);

	/* ---- transactions ---- */
	/* A write transaction (STORE__TXN_WRITE) takes the database's write
	 * lock up front, exclusively, so that a check and the write it guards
	 * are never separated by another writer (the logic relies on it). A
	 * scoped one (STORE__TXN_SCOPED) takes the same lock shared: scoped
	 * writers run together and exclude the exclusive ones; what they must
	 * not do at once they name with lock_keys right after. A read
	 * transaction gives one snapshot over several statements. All wait
	 * for a lock as long as the handle may (STORE_OPEN_NOWAIT: not at
	 * all). A backend without lock_keys runs scoped as exclusive. */
	int (*begin)(store_t *store, enum store__txn kind);
	/* Inside a scoped transaction, before any statement: locks `keys` (n
	 * of them, ascending and distinct, so that two writers never wait for
	 * each other in a cycle) until the transaction ends; a scoped writer
	 * of any of them waits. NULL where scoped writers are serialised
	 * anyway (SQLite): then the logic also skips what it does only
	 * because scoped writers run at once (store-private.h). */
	int (*lock_keys)(store_t *store, const uint32_t *keys, size_t n);
	/* COMMIT. On failure writes "what: ..." unless what is NULL (ending a
	 * read transaction, whose failure nobody reports) and returns the
	 * error; the caller then rolls back. */
	int (*commit)(store_t *store, const char *what);
	/* ROLLBACK, when a transaction is open; leaves the message alone. */
	void (*rollback)(store_t *store);
	/* Whether a transaction is open: false also after the engine rolled
	 * one back by itself (SQLite does, on a full disk or an I/O error). */
	bool (*in_transaction)(store_t *store);
};

/* The backends built into this program. */
extern const struct store__driver store__sqlite_driver;
extern const struct store__driver store__pg_driver;

/* ---- what the logic calls: one indirect call each ---------------------- */

static inline void store__bind_int64(store__stmt_t *stmt, int param, int64_t value)
{
	stmt->drv->bind_int64(stmt, param, value);
}

static inline void store__bind_int(store__stmt_t *stmt, int param, int value)
{
	stmt->drv->bind_int64(stmt, param, value);
}

/* Binds a NUL-terminated string, or NULL when s is NULL. */
static inline void store__bind_text(store__stmt_t *stmt, int param, const char *s)
{
	if (s == NULL)
		stmt->drv->bind_null(stmt, param);
	else
		stmt->drv->bind_text(stmt, param, s, strlen(s));
}

static inline void store__bind_textn(store__stmt_t *stmt, int param, const char *s, size_t len)
{
	stmt->drv->bind_text(stmt, param, s, len);
}

static inline void store__bind_blob(store__stmt_t *stmt, int param, const void *data, size_t len)
{
	stmt->drv->bind_blob(stmt, param, data, len);
}

static inline void store__bind_null(store__stmt_t *stmt, int param)
{
	stmt->drv->bind_null(stmt, param);
}

static inline int store__step(store__stmt_t *stmt, const char *what)
{
	return stmt->drv->step(stmt, what);
}

static inline int64_t store__column_int64(store__stmt_t *stmt, int col)
{
	return stmt->drv->column_int64(stmt, col);
}

/* The low 32 bits, as SQLite's sqlite3_column_int() gives them. */
static inline int store__column_int(store__stmt_t *stmt, int col)
{
	return (int)stmt->drv->column_int64(stmt, col);
}

static inline const char *store__column_text(store__stmt_t *stmt, int col, size_t *len_r)
{
	return stmt->drv->column_text(stmt, col, len_r);
}

/* The same as a C string, its length unwanted. */
static inline const char *store__column_str(store__stmt_t *stmt, int col)
{
	size_t len;
	return stmt->drv->column_text(stmt, col, &len);
}

static inline const void *store__column_blob(store__stmt_t *stmt, int col, size_t *len_r)
{
	return stmt->drv->column_blob(stmt, col, len_r);
}

static inline bool store__column_is_null(store__stmt_t *stmt, int col)
{
	return stmt->drv->column_is_null(stmt, col);
}

static inline int64_t store__changes(store__stmt_t *stmt)
{
	return stmt->drv->changes(stmt);
}

static inline void store__reset(store__stmt_t *stmt)
{
	stmt->drv->reset(stmt);
}

#endif
