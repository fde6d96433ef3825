/*
 * store-private.h - what the store's files share and nobody else sees: the
 * handle's common part, the statement ids, transactions, error helpers,
 * address normalisation and the delivery object's insides.
 *
 * The logic files use the statement driver (store_driver.h) and never an
 * engine's API; a backend (store/sqlite/) extends the handle with its
 * connection. Ownership: the handle (store_db.c) owns every cached
 * statement and one chunk-sized scratch buffer. Statements returned by
 * store__stmt() stay owned by the handle; callers bind, step and always
 * reset them (store__reset) before the next use of the same statement, and
 * never hold one across a call that may reuse it (resolution is recursive:
 * read every row first, reset, then recurse).
 *
 * Error convention: internal functions return 0 or a negative enum
 * store_err and have already written the handle's message when they fail,
 * so a caller only propagates the code.
 */
#ifndef MAIL_STORE_PRIVATE_H
#define MAIL_STORE_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"
#include "store_driver.h"

/* Bodies are stored in rows of this many octets, so neither writing nor
 * reading a message ever needs more than one chunk in memory. */
#define STORE__CHUNK_SIZE (64 * 1024)

/* How long a connection waits for another process's write lock before a
 * call gives up with STORE_EBUSY. */
#define STORE__BUSY_TIMEOUT_MS 5000

/* The schema version this program writes (store_schema_version); each
 * backend's schema code brings a database to it. */
#define STORE__SCHEMA_VERSION 5

/* Alias chains longer than this are treated as configuration loops:
 * store_alias_add refuses to make one, and resolution gives STORE_ELOOP. */
#define STORE__ALIAS_DEPTH 8

/* Longest address we store (RFC 5321 4.5.3.1.3: 256 octets for a path,
 * minus the angle brackets) and the size of the buffers that hold one. */
#define STORE__ADDRESS_MAX 254
#define STORE__ADDRESS_BUF (STORE__ADDRESS_MAX + 1)

/* The database's own clock in unix seconds; every time in the schema comes
 * from here so that processes on several hosts agree (store.h "Time").
 * Every backend provides a function of this name, evaluated once per
 * statement, that adds the test offset below (store__clock_offset): SQLite
 * registers it on each connection (sqlite/sqlite_open.c), PostgreSQL's
 * schema will define it (store_sql.c). */
#define STORE__SQL_NOW "mail_now()"

/* Every statement the logic runs, prepared once per handle on first use
 * (store_sql.c holds their text, or the backend's table where its dialect
 * differs). */
enum store__stmt_id {
	STORE__BEGIN_READ,
	STORE__BEGIN_WRITE,
	STORE__COMMIT,
	STORE__ROLLBACK,
	STORE__SAVEPOINT,
	STORE__ROLLBACK_TO,
	STORE__RELEASE,
	/* Backends with lock_keys only (store_driver.h): the keys of a scoped
	 * write, given as one text of comma-separated int32s, waited for or
	 * (_TRY, a STORE_OPEN_NOWAIT handle) only tried. */
	STORE__LOCK_KEYS,
	STORE__LOCK_KEYS_TRY,

	STORE__DOMAIN_ADD,
	STORE__DOMAIN_DEL,
	STORE__DOMAIN_ID,
	STORE__DOMAIN_IN_USE,
	STORE__DOMAIN_LIST,

	STORE__USER_ADD,
	STORE__USER_GET,
	STORE__USER_ID,
	STORE__USER_DEL,
	STORE__USER_SET_HASH,
	STORE__USER_SET_DISABLED,
	STORE__USER_LIST_ALL,
	STORE__USER_LIST_DOMAIN,
	STORE__USER_ENTRIES_DEL,
	STORE__USER_LEASE_DEL,
	STORE__USER_SET_QUOTA,
	STORE__QUOTA_STATE,

	STORE__ALIAS_ADD,
	STORE__ALIAS_DEL_EXACT,
	STORE__ALIAS_DEL_KEY,
	STORE__ALIAS_GROUP,
	STORE__ALIAS_EXISTS,
	STORE__ALIAS_TARGETS,
	STORE__ALIAS_SOURCES,
	STORE__ALIAS_LIST_ALL,
	STORE__ALIAS_LIST_DOMAIN,

	STORE__MESSAGE_ADD,
	STORE__MESSAGE_ADD_AS,
	STORE__MESSAGE_ID_LAST,
	STORE__MESSAGE_ID_SET,
	STORE__MESSAGE_ID_INIT,
	STORE__CHUNK_ADD,
	STORE__ENTRY_ADD,
	STORE__QUEUE_ADD,

	STORE__SNAPSHOT,
	STORE__ENTRY_DEL,
	STORE__BODY_LOCK,
	STORE__BODY_REFERENCED,
	STORE__BODY_CHUNKS_DEL,
	STORE__BODY_MESSAGE_DEL,
	STORE__MESSAGE_SIZE,
	STORE__CHUNK_GET,

	STORE__LEASE_ACQUIRE,
	STORE__LEASE_RENEW,
	STORE__LEASE_RELEASE,
	STORE__LEASE_HELD,

	STORE__QUEUE_LIST,
	STORE__QUEUE_CLAIM,
	STORE__QUEUE_DELIVERED,
	STORE__QUEUE_DEFER,
	STORE__QUEUE_FAIL,
	STORE__QUEUE_DUE,
	STORE__QUEUE_STATS,
	STORE__QUEUE_RENEW,
	STORE__QUEUE_RELEASE,
	STORE__QUEUE_LEASED,
	STORE__QUEUE_RETRY_ONE,
	STORE__QUEUE_RETRY_ALL,
	STORE__QUEUE_DELETE_ONE,
	STORE__QUEUE_DELETE_ALL,

	STORE__DKIM_SET,
	STORE__DKIM_GET,
	STORE__DKIM_DEL,

	STORE__CHECK_ORPHAN_CHUNKS,
	STORE__CHECK_MESSAGE_SIZES,
	STORE__CHECK_CHUNK_SEQUENCE,
	STORE__CHECK_ENTRY_SIZES,
	STORE__CHECK_UNREFERENCED,
	STORE__CHECK_USER_CONFLICTS,
	STORE__CHECK_ALIAS_CONFLICTS,
	STORE__CHECK_ALIAS_HIDDEN,
	STORE__CHECK_USER_ADDRESSES,
	STORE__CHECK_ALIAS_ADDRESSES,
	STORE__CHECK_USAGE,

	/* store_copy.c: the target's emptiness, id high-water marks, and each
	 * table read in batches (_READ, keyset pages) and written (_WRITE). */
	STORE__COPY_TARGET_USED,
	STORE__COPY_ID_LAST,
	STORE__COPY_ID_SET,
	STORE__COPY_ID_INIT,
	STORE__COPY_DOMAINS_READ,
	STORE__COPY_DOMAINS_WRITE,
	STORE__COPY_USERS_READ,
	STORE__COPY_USERS_WRITE,
	STORE__COPY_ALIASES_READ,
	STORE__COPY_ALIASES_WRITE,
	STORE__COPY_DKIM_READ,
	STORE__COPY_DKIM_WRITE,
	STORE__COPY_MESSAGES_READ,
	STORE__COPY_MESSAGES_WRITE,
	STORE__COPY_CHUNKS_READ,
	STORE__COPY_ENTRIES_READ,
	STORE__COPY_ENTRIES_WRITE,
	STORE__COPY_QUEUE_READ,
	STORE__COPY_QUEUE_WRITE,

	STORE__STMT_COUNT
};

/* store_sql.c: the SQL text of a statement id on this handle's backend. */
const char *store__sql(const store_t *store, enum store__stmt_id id);

/* The common part of every backend's handle (store_driver.h "Handles"). */
struct store {
	const struct store__driver *drv;
	store__stmt_t *stmts[STORE__STMT_COUNT];
	/* Scratch space for one body chunk read back from a spill file; kept
	 * for the handle's lifetime so a commit allocates nothing per chunk. */
	unsigned char *chunk_buf;
	/* Opened with STORE_OPEN_NOWAIT: store_loop_safe() says yes. */
	bool loop_safe;
	/* The test hooks (store.h), read at open in a MAIL_TEST_HOOKS build
	 * and always 0 in any other (the fields stay, so that the layout
	 * does not depend on the option). MAILTEST_STORE_FAIL_COMMIT=N: */
	long fail_commit_at;
	/* ... with ":retry": STORE_ERETRY, for N and the store's retries. */
	bool fail_commit_retry;
	/* MAILTEST_STORE_STALL_COMMIT=N:MS: */
	long stall_commit_at, stall_commit_ms;
	/* MAILTEST_STORE_NOWAIT_BUSY on a STORE_OPEN_NOWAIT handle, once open. */
	bool nowait_busy;
	int last_err; /* the error store__fail last returned */
	char errmsg[512];
};

/* ---- store_db.c: errors, statements, transactions --------------------- */

/* The backend a `db` value names: a postgresql:// or postgres:// URI, or
 * else the path of an SQLite file. */
const struct store__driver *store__driver_for(const char *target);

/* Formats the handle's message and returns err. */
int store__fail(store_t *store, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The cached statement for id, prepared on first use; NULL after setting
 * the handle's message if preparing failed. */
store__stmt_t *store__stmt(store_t *store, enum store__stmt_id id);
/* Fetches the cached statement into `stmt`, or returns the error from the
 * enclosing function. */
#define STORE__STMT_OR_RETURN(stmt, store, id)                          \
	do {                                                            \
		(stmt) = store__stmt((store), (id));                    \
		if ((stmt) == NULL)                                     \
			return (store)->last_err;                       \
	} while (0)
/* Runs a statement that returns no rows (or whose rows are ignored) to
 * the end and resets it. */
int store__exec(store_t *store, enum store__stmt_id id, const char *what);
/* Copies a text column into a buffer of dstlen bytes, cutting at a UTF-8
 * character boundary when it does not fit. */
void store__column_copy(store__stmt_t *stmt, int col, char *dst, size_t dstlen);

/*
 * Transactions (store_driver.h "transactions"). A write transaction takes
 * the write lock up front (SQLite: BEGIN IMMEDIATE), so a busy database is
 * waited for instead of failing half-way and writers are serialised; a
 * read transaction gives a consistent view over several queries.
 * store__commit applies fault injection and rolls back when COMMIT fails;
 * store__rollback is safe when no transaction is open. Savepoints are
 * plain statements (STORE__SAVEPOINT, ...) run with store__exec.
 *
 * Scoped writes (store_scope.c) are the hot writes that may run together
 * on a backend with lock_keys (PostgreSQL, READ COMMITTED): each names the
 * mailboxes whose checks it relies on (quota, lease) and locks them before
 * its first read, in ascending key order, so that writers of one mailbox
 * are serialised as by BEGIN IMMEDIATE and writers of different ones are
 * not, and never wait for each other in a cycle. What they share beyond
 * mailboxes is made safe row by row: queue rows by their lease_owner
 * conditions and by locking in ascending id order (claims skip locked
 * rows), and a body's last reference by locking its message row before
 * looking for references (store_body.c), message rows in ascending id
 * order and after every other lock of the transaction. Lock order within
 * a transaction: the writers' lock, mailbox keys, queue rows, message
 * rows. Every other write is store__begin_write: exclusive. On SQLite a
 * scoped write is exactly an exclusive one.
 */
int store__begin_write(store_t *store);
int store__begin_read(store_t *store);

/* The mailboxes a scoped write names (store_scope.c): lock keys, gathered
 * in any order; store__begin_scoped sorts them. Empty on a backend without
 * lock_keys, where adding costs nothing. */
struct store__scope {
	uint32_t *keys;
	size_t count, cap;
};
/* Adds the mailbox a normalised address names (by its lookup key, so that
 * spellings that differ by case are one mailbox). 0 or STORE_ENOMEM. */
int store__scope_add(store_t *store, struct store__scope *scope, const char *mailbox);
/* Adds every local mailbox of a delivery. */
int store__scope_add_delivery(store_t *store, struct store__scope *scope,
                              const store_delivery_t *d);
/* Begins a scoped write transaction and locks the scope's keys (NULL: no
 * keys, only row-level conflicts, as the queue's calls). The scope may be
 * freed once this returns. */
int store__begin_scoped(store_t *store, struct store__scope *scope);
/* The same for one mailbox (a normalised address). */
int store__begin_mailbox(store_t *store, const char *mailbox);
void store__scope_free(struct store__scope *scope);
/* Whether scoped writers run at once on this handle's backend: then the
 * logic locks what READ COMMITTED would otherwise let two of them miss. */
static inline bool store__scopes_parallel(const store_t *store)
{
	return store->drv->lock_keys != NULL;
}

/* How often a scoped write call runs again after STORE_ERETRY (store.h):
 * nothing was written, and a second try on a new connection, or after the
 * other side of a deadlock has finished, usually succeeds. */
#define STORE__RETRIES 1
/* Whether a call whose attempt number `attempt` (from 0) failed with err
 * should run again. */
static inline bool store__again(int err, int attempt)
{
	return err == STORE_ERETRY && attempt < STORE__RETRIES;
}
int store__commit(store_t *store);
/* A COMMIT that the fault injection hooks neither see nor count (message
 * id reservations, store_deliver.c); rolls back when it fails. */
int store__commit_uncounted(store_t *store, const char *what);
/* Ends a read transaction (no fault injection: nothing is written). */
void store__end_read(store_t *store);
void store__rollback(store_t *store);
/* Whether a transaction is open (false after the engine rolled one back
 * by itself). */
bool store__in_transaction(store_t *store);
/* Ends a transaction: commits when err is 0, otherwise rolls back and
 * returns err unchanged. */
int store__finish(store_t *store, int err);

/*
 * Test hook: when set, called inside every write transaction of the
 * process right before COMMIT, after all of its writes. The crash tests use
 * it to stop a writer in the middle of a transaction and kill it.
 */
extern void (*store__before_commit_hook)(void);

/*
 * Test hook: moves the database clock (STORE__SQL_NOW) of every handle of
 * the process `seconds` ahead of the real one, so tests of lease and queue
 * expiry need not wait for the clock. 0 restores it. Thread-safe.
 */
void store__set_clock_offset(int64_t seconds);
/* The offset, for the backends' clock functions. */
int64_t store__clock_offset(void);

/* ---- store_pool.c --------------------------------------------------------- */

/* The backend of the pool's database (store_wakeup.c). */
const struct store__driver *store__pool_driver(const store_pool_t *pool);

/* ---- store_account.c --------------------------------------------------- */

/* The id of a normalised local domain; STORE_ENOTFOUND if not local. */
int store__domain_id(store_t *store, const char *domain, int64_t *id_r);

/* Runs a bound write statement and resets it; STORE_ENOTFOUND (with
 * `missing` as the message) when it changed no row. */
int store__exec_changes(store_t *store, store__stmt_t *stmt, const char *what, const char *missing);
/* Binds the domain filter of a listing as ?1: STORE_ENOTFOUND for an
 * unknown domain, so a typo is not reported as an empty list. */
int store__bind_domain_filter(store_t *store, store__stmt_t *stmt, const char *domain);

struct store__strings;

/* A user row as a lookup finds it. */
struct store__user_row {
	int64_t id;
	int disabled;
	char address[STORE__ADDRESS_BUF]; /* as stored: the spelling for display */
};
/*
 * The user a normalised address names, without regard to case: the row
 * spelled exactly so if there is one (only a schema 1 database can hold
 * several spellings, sqlite/sqlite_schema.c), else the one whose key matches.
 * STORE_ENOTFOUND if there is none.
 */
int store__user_find(store_t *store, const char *address, struct store__user_row *row_r);
/* STORE_EEXIST, with a message naming the stored spelling, when a user
 * answers to the normalised address in any case. */
int store__check_not_user(store_t *store, const char *address);
/*
 * The targets of the alias a normalised address names (the spelling
 * chosen as for users), gathered into *targets (which the caller frees);
 * none when it is no alias.
 */
int store__alias_targets(store_t *store, const char *address, struct store__strings *targets);

/* ---- store_quota.c ------------------------------------------------------ */

/*
 * Inside the caller's transaction: STORE_ETOOBIG (with a message) when
 * `size` octets are more than the normalised mailbox's whole quota,
 * STORE_EQUOTA when adding them would take it past its quota, STORE_OK
 * when they fit or there is no quota. A mailbox that does not exist
 * passes: the entry insert reports it.
 */
int store__quota_admits(store_t *store, const char *mailbox, uint64_t size);

/* ---- store_address.c --------------------------------------------------- */

/* Validates an address by the SMTP parser's rules (smtp_address_normalize:
 * any mailbox SMTP accepts, SMTPUTF8 included) and writes its canonical
 * form into out. Returns 0 or STORE_EINVAL. */
int store__address_normalize(const char *in, char out[STORE__ADDRESS_BUF]);
/* The same, but also takes what schema 1 could store and the rules now
 * refuse (local@domain without spaces or control bytes), with the domain
 * lower-cased: so that such a row can still be named to delete it. */
int store__address_normalize_legacy(const char *in, char out[STORE__ADDRESS_BUF]);
/* A local domain: an ASCII domain name by the same rules, lower-cased. */
int store__domain_normalize(const char *in, char out[STORE__ADDRESS_BUF]);
/* The lookup key of a normalised address (smtp_address_key). */
void store__address_key(const char *address, char out[STORE__ADDRESS_BUF]);
/* Points at the domain part of a normalised address (after its last '@'). */
const char *store__address_domain(const char *address);
/* 1 when the local part of a normalised address is "postmaster" in any
 * case (RFC 5321 4.5.1: the reserved name is case-insensitive). */
int store__address_is_postmaster(const char *address);

/* ---- store_body.c ------------------------------------------------------ */

/* Inside a write transaction, after the references it removed: deletes
 * the body (chunks and message row) when no mailbox entry and no queue row
 * references it any more. Where scoped writers run at once it locks the
 * message row first, so that of two transactions removing the last two
 * references the second looks only after the first has committed (else
 * each sees the other's row and neither deletes: an orphan). */
int store__body_release(store_t *store, int64_t message_id);

/* A growable list of message ids to release after a bulk delete. */
struct store__ids {
	int64_t *ids;
	size_t count, cap;
};
int store__ids_push(store_t *store, struct store__ids *list, int64_t id);
/* Steps a bound statement to its end, pushing column 0 of every row (a
 * DELETE ... RETURNING message_id), and resets it. */
int store__ids_collect(store_t *store, store__stmt_t *stmt, struct store__ids *list,
                       const char *what);
/* Releases every body in the list, in ascending id order and each once
 * (the list is sorted in place; the caller still frees it). */
int store__ids_release_all(store_t *store, struct store__ids *list);
void store__ids_free(struct store__ids *list);

/* ---- store_strings.c ---------------------------------------------------- */

/* A growable list of owned strings. Listing calls gather their rows here
 * and call back only after the statement is reset, so a callback may call
 * the store again and never runs while a read snapshot is open. */
struct store__strings {
	char **items;
	size_t count, cap;
};
/* Appends a copy of s. Returns 0 or STORE_ENOMEM. */
int store__strings_push(struct store__strings *list, const char *s);
int store__strings_contains(const struct store__strings *list, const char *s);
void store__strings_free(struct store__strings *list);
/* Frees the items from index `count` on, keeping the first `count`. */
void store__strings_truncate(struct store__strings *list, size_t count);
/* Steps a bound statement to its end, pushing its text columns 0 .. ncols-1
 * of every row, and resets it. */
int store__strings_collect(store_t *store, store__stmt_t *stmt, int ncols,
                           struct store__strings *list, const char *what);

/* ---- store_deliver.c --------------------------------------------------- */

/* Checks and writes one delivery inside the caller's write transaction. */
int store__deliver_in_txn(store_t *store, store_delivery_t *d);

/* ---- store_delivery.c: the delivery object ---------------------------- */

struct store_delivery {
	char sender[STORE__ADDRESS_BUF];
	char *tmpdir;                 /* NULL: $TMPDIR or /tmp */
	struct store__strings local;  /* normalised mailbox addresses */
	struct store__strings remote; /* normalised remote recipients */
	/* Per remote recipient, in the same order: RFC 3461 NOTIFY and ORCPT. */
	unsigned *remote_notify;
	struct store__strings remote_orcpt;
	int dsn_ret;
	char dsn_envid[128];
	uint64_t size;                /* octets written */
	int64_t id;                   /* reserved message id (store_delivery_set_id); 0: the next */
	/* The octets not in the spill file: the whole body until the first
	 * spill, then what was written since the last one. The file holds
	 * the first size - buf_len octets. */
	unsigned char *buf;
	size_t buf_len, buf_cap;
	int fd;                       /* spill file, -1 until the first spill */
	int spill_failed;             /* spilling failed: writes and commits refuse */
};

/* Reads up to len octets of the spill file at offset into buf. Returns
 * the count read, or -1 with errno set. */
ssize_t store__delivery_pread(store_delivery_t *delivery, void *buf, size_t len, uint64_t offset);

#endif
