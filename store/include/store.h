/*
 * store.h - the mailbox database behind one header.
 *
 * Everything the daemons and mailctl know about persistence goes through
 * these calls. The SQLite backend lives in store/sqlite/, under a statement
 * driver that a PostgreSQL backend will implement too (store/store_driver.h),
 * so nothing SQLite-specific leaks through this header (no sqlite3 types,
 * no SQL).
 *
 * Threading: every call blocks. A store_t is a single database connection
 * and must be used by one thread at a time; a daemon's worker threads take
 * them from a pool (store_pool_acquire). Never call these functions on an event-loop thread, with one
 * exception: a handle for which store_loop_safe() is true may serve, on
 * the loop, the calls marked "loop-safe" below (the reads behind an SMTP
 * RCPT and a small POP3 RETR), and nothing else. Such a handle never
 * waits: when it cannot answer at once it fails with STORE_EBUSY (or
 * another error), and the caller runs the same work off the loop on a
 * handle that waits. A backend without such handles (a network round
 * trip is never cheap enough for a loop) returns false, and the daemons
 * then do all their store work off the loop.
 *
 * Errors: every function that can fail returns 0 (STORE_OK) or a negative
 * enum store_err. The text of the last failure on a handle is available
 * from store_errmsg() until the next call on that handle. No function
 * aborts on an I/O error.
 *
 * Addresses: the store takes exactly the mailboxes the SMTP parser accepts
 * (common/address/smtp_address.h, SMTPUTF8 included) and keeps them in its
 * canonical form: "local@domain", domain in lower case, the local part
 * spelled as given (the spelling is kept for display). Lookups match the
 * whole address without regard to ASCII case, as Postfix and Dovecot do:
 * Alice@example.test and alice@example.test are one user, and no second
 * address differing only by case can be added. A database from before
 * schema 2 may still hold such pairs; see store_address_problems().
 *
 * Time: lease expiry and queue due times are taken from the database's own
 * clock, never from the caller, so processes on several hosts agree.
 *
 * Write concurrency: every write call is one transaction in which its
 * checks and the writes they guard are never separated by another writer
 * (a quota, a lease, the last reference to a body). SQLite gets that from
 * one writer at a time. On PostgreSQL the hot writes are scoped: deliveries
 * (store_deliver, store_deliver_batch, a queue report's bounce), the POP3
 * calls (leases, store_mailbox_delete) and the queue runner's calls
 * (claim, report, renew, release, retry) lock only the mailboxes they touch
 * and commit in parallel with writes to other mailboxes, from any process
 * or host; queue claims skip rows another claimer is taking. Every other
 * write (domains, users, aliases, quotas, DKIM keys, message id
 * reservations, queue deletion) excludes all writers while it runs. A
 * scoped write that fails with STORE_ERETRY is run once more by the store
 * before the error is returned.
 */
#ifndef MAIL_STORE_H
#define MAIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_err {
	STORE_OK = 0,
	STORE_ENOTFOUND = -1, /* no such domain/user/alias/entry/lease */
	STORE_EEXIST = -2,    /* it already exists */
	STORE_EBUSY = -3,     /* held by someone else (lease), or database locked past the timeout */
	STORE_EIO = -4,       /* I/O error, disk full, failed sync: temporary for the client */
	STORE_EINVAL = -5,    /* bad argument (malformed address, unknown domain for a user) */
	STORE_ECORRUPT = -6,  /* the database is damaged or from a newer version */
	STORE_ENOMEM = -7,
	STORE_ELIMIT = -8,    /* an internal limit would be exceeded (message ids) */
	STORE_ELOOP = -9,     /* aliases loop or chain deeper than the store follows */
	STORE_EQUOTA = -10,   /* a mailbox has no room for it now (only the quota checks) */
	/* Larger than a limit that no waiting lifts (a mailbox's whole quota):
	 * unlike STORE_EQUOTA, retrying the same thing can never succeed. */
	STORE_ETOOBIG = -11,
	/* A serialization failure, deadlock or lost connection (PostgreSQL:
	 * SQLSTATE 40001, 40P01, class 08, or the server ending the session):
	 * nothing was written; the same call may succeed if retried. Temporary
	 * for the client, like STORE_EIO. The store already retried a write
	 * once where that was safe (see "Write concurrency" below), so a caller
	 * that gets it should not spin on it. A connection lost while COMMIT
	 * was on its way is STORE_EIO instead: whether it committed is unknown.
	 * A server that cannot be reached at all is STORE_EIO too. SQLite
	 * never returns it. */
	STORE_ERETRY = -12,
	STORE_ENOTSUP = -13,  /* the backend does not do this (store_wakeup on SQLite) */
};

/* Returns a static English description of an error code. */
const char *store_strerror(int err);

typedef struct store store_t;

/* Open flags. */
#define STORE_OPEN_CREATE  0x1 /* create the file if it does not exist */
#define STORE_OPEN_MIGRATE 0x2 /* bring the schema up to date (mailctl db migrate, daemons at start) */
/* Never wait for a lock: a locked database is STORE_EBUSY at once. For a
 * handle used on an event loop, which must not sleep (store_loop_safe). */
#define STORE_OPEN_NOWAIT  0x4
/* A process's bulk writer (smtpd's committer): checkpoints once the WAL
 * holds 32 MiB instead of SQLite's 4 MiB, so commits pay for fewer and
 * better-amortised checkpoints (each page is copied once per checkpoint,
 * however many commits rewrote it). */
#define STORE_OPEN_BULK    0x8
/* Create the schema in a database that has none (a new or empty file, a
 * database without tables), as STORE_OPEN_MIGRATE would, but never
 * upgrade an existing schema: an older one stays STORE_ECORRUPT, as
 * without STORE_OPEN_MIGRATE. With STORE_OPEN_CREATE, for a target that
 * must be new or empty (store_copy): a refused target is left as it was. */
#define STORE_OPEN_INIT    0x10

/*
 * Opens the database `path` names: an SQLite file, or a postgresql:// (or
 * postgres://) URI for PostgreSQL.
 * Without STORE_OPEN_MIGRATE an out-of-date schema is STORE_ECORRUPT with a
 * message that says to run `mailctl db migrate`. A schema newer than this
 * program is always STORE_ECORRUPT. On failure *store_r is NULL and `err`
 * (if not NULL) holds a message of at most errlen bytes.
 */
int store_open(const char *path, int flags, store_t **store_r, char *err, size_t errlen);

/*
 * `db` as it may be shown in a message or a log: a URI's password (in its
 * user part, or a password= parameter) replaced by "***"; anything else as
 * it is. Truncated to fit outlen; returns out.
 */
char *store_db_redacted(const char *db, char *out, size_t outlen);

/*
 * The same with a password for a backend that logs in (PostgreSQL: libpq's
 * `password`, which takes precedence over one in the URI and over
 * PGPASSFILE); NULL for none. A backend without logins (SQLite) ignores
 * it. The password is never part of a message in err.
 */
int store_open_auth(const char *path, const char *password, int flags, store_t **store_r,
                    char *err, size_t errlen);

/* Closes the handle and sets *store to NULL. Safe on NULL. */
void store_close(store_t **store);

/* ---- a process's handles: the pool ------------------------------------ */

/*
 * The handles of one process on one database. A daemon's worker threads
 * take a handle for each job (store_pool_acquire) and give it back when
 * the job is done (store_pool_release).
 *
 * PostgreSQL: a handle is a connection, and each connection is a process
 * on the server, which allows max_connections (100 by default) for all
 * clients together. So the pool opens at most max_open handles for the
 * whole process (db_connections), on demand, and keeps them open while
 * idle; a job that finds them all in use waits for one (a condition
 * variable, no polling) for at most wait_ms, then fails. A handle given
 * back with its connection broken, or inside a transaction (a bug), is
 * closed; so is an idle one the server closed meanwhile (a restart), when
 * it is taken: the job gets a fresh one instead.
 *
 * SQLite: a handle is the file opened with its own page cache, and reads
 * never leave the machine, so each worker thread keeps one handle of its
 * own for its lifetime, as the daemons always did, and max_open and
 * wait_ms do not apply: acquire never waits, release keeps the handle.
 *
 * The process's other handles (a committer's, the loop's) are opened
 * through the pool too (store_pool_open), with its target and password,
 * outside its count. Thread-safe.
 */
typedef struct store_pool store_pool_t;

struct store_pool_config {
	const char *db;       /* as store_open's path; copied */
	const char *password; /* as store_open_auth's, or NULL; copied, and wiped at free */
	unsigned max_open;    /* PostgreSQL: most pooled handles open at once (at least 1) */
	unsigned wait_ms;     /* PostgreSQL: longest wait for a free handle */
};

/* Makes a pool; opens nothing yet. STORE_EINVAL (no db, max_open 0) or
 * STORE_ENOMEM; *pool_r is NULL then. */
int store_pool_new(const struct store_pool_config *cfg, store_pool_t **pool_r);

/*
 * Frees the pool and sets *pool to NULL; safe on NULL. Every acquired
 * handle must have been released and no job may run any more (the worker
 * threads idle): closes the idle pooled handles and the worker threads'
 * own (SQLite's per-thread handles).
 */
void store_pool_free(store_pool_t **pool);

/*
 * A handle for one job on this thread, waiting for a free one as described
 * above. Returns NULL with a message in err when none could be had: the
 * database cannot be reached, or every handle stayed busy for wait_ms (the
 * caller reports a temporary failure). Give it back with
 * store_pool_release on the same thread before the job ends, and take
 * none other from the pool meanwhile (with max_open 1 that would wait
 * for itself).
 */
store_t *store_pool_acquire(store_pool_t *pool, char *err, size_t errlen);

/* Gives an acquired handle back and sets *store to NULL. Safe on NULL. */
void store_pool_release(store_pool_t *pool, store_t **store);

/* Opens a handle of the process's own on the pool's database, with its
 * password, outside the pool's count: store_open_auth. */
int store_pool_open(store_pool_t *pool, int flags, store_t **store_r, char *err, size_t errlen);

/*
 * The event loop's handle (STORE_OPEN_NOWAIT): opened when the backend's
 * handles can serve a loop (store_loop_safe); when they cannot
 * (PostgreSQL), 0 with *store_r NULL, and no connection is made for
 * nothing. Errors as store_pool_open.
 */
int store_pool_open_loop(store_pool_t *pool, store_t **store_r, char *err, size_t errlen);

/*
 * The health check (/healthz): whether the database answers now, by
 * reading its schema version. SQLite opens the file afresh (a handle kept
 * open would still answer for a file that went away); PostgreSQL asks on
 * a pooled connection rather than make one per probe. Blocks. Returns 0
 * or an error with a message in err.
 */
int store_pool_probe(store_pool_t *pool, char *err, size_t errlen);

/* The pool's gauges, for metrics. pooled is false on SQLite, where the
 * counts stay 0. */
struct store_pool_stats {
	bool pooled;
	unsigned max_open;
	unsigned open;   /* pooled handles open now, in use or idle */
	unsigned in_use; /* acquired and not yet released */
	unsigned waiting; /* jobs waiting for a handle now */
	uint64_t wait_timeouts; /* acquires that gave up after wait_ms */
};
void store_pool_stats(store_pool_t *pool, struct store_pool_stats *stats_r);

/* ---- queue wake-ups ----------------------------------------------------- */

/*
 * Word from the database that the queue has rows due that nobody holds:
 * one was added, retried (store_queue_retry), or handed back (a deferral
 * whose time has come does not count: the runner's periodic scan finds
 * those). For queue runners in several processes, on several hosts, that
 * share one database, so mail committed by one is sent by any at once.
 * PostgreSQL has it (LISTEN/NOTIFY on a connection of its own, the
 * notifications sent at commit and folded together); SQLite does not (one
 * host, and the process that commits kicks its own runner).
 *
 * A wake-up says "look now", nothing more: several changes may come as
 * one, and some may come when there is nothing left to claim.
 */
typedef struct store_wakeup store_wakeup_t;

/* Whether the pool's backend has wake-ups. Connects to nothing: loop-safe. */
bool store_wakeup_supported(const store_pool_t *pool);

/*
 * Opens the wake-ups' own connection (outside the pool's count) and
 * starts listening. Blocks: call it off the loop. STORE_ENOTSUP when the
 * backend has none; another error with a message in err.
 */
int store_wakeup_open(store_pool_t *pool, store_wakeup_t **w_r, char *err, size_t errlen);

/* The descriptor to watch for reading (uv_poll); valid until close. */
int store_wakeup_fd(const store_wakeup_t *w);

/*
 * Reads what the descriptor has, without waiting: loop-safe. Returns 1 when
 * a wake-up was among it, 0 when not, or STORE_EIO when the connection is
 * lost (with a message in err): close it and open another, and look at
 * the queue then, since wake-ups were missed meanwhile.
 */
int store_wakeup_drain(store_wakeup_t *w, char *err, size_t errlen);

/* Closes the connection and sets *w to NULL. Safe on NULL. */
void store_wakeup_close(store_wakeup_t **w);

/*
 * Whether the loop-safe calls (see "Threading" above) may run on an event
 * loop through this handle: true only for a handle opened with
 * STORE_OPEN_NOWAIT on a backend whose reads are local and never wait
 * (SQLite's); false for every other handle, and for NULL. The calls are
 * store_resolve, store_quota_check, store_reader_open and
 * store_reader_next; their errors there include STORE_EBUSY, after which
 * the caller retries the work off the loop.
 */
bool store_loop_safe(const store_t *store);

/*
 * How many handles writing at once pay off on the backend `db` names: 1
 * for SQLite (one writer at a time, and a batch syncs as cheaply as one
 * transaction), more for PostgreSQL, whose commits are mostly round trips
 * and are synced together by the server. smtpd runs that many committers.
 */
unsigned store_writers_wanted(const char *db);

/* Message of the last failure on this handle; never NULL. */
const char *store_errmsg(const store_t *store);

/* The schema version this program writes, and the one the file has. */
int store_schema_version(void);
int store_file_version(store_t *store, int *version_r);

/*
 * Runs the database's integrity checks plus our own (orphaned chunks,
 * bodies without references, sizes that disagree with their chunks). Each
 * problem is reported through `cb`; returns 0 when none was found,
 * STORE_ECORRUPT when some were, another error if the check itself failed.
 */
typedef void store_problem_cb(void *ctx, const char *problem);
int store_check(store_t *store, store_problem_cb *cb, void *ctx);

/*
 * The address problems store_check also reports, on their own, for
 * `mailctl db migrate` and the daemons' start: users, or alias sources,
 * that differ from another only by case (schema 1 compared local parts
 * exactly, and the migration to schema 2 keeps them apart rather than
 * merge them: each spelling keeps reaching what it reached before, other
 * spellings reach the first one listed); aliases hidden by a user that
 * differs from them only by case; and stored addresses the address rules
 * now refuse. Calls cb once per problem; returns their number (0 when
 * none) or a negative error.
 */
int store_address_problems(store_t *store, store_problem_cb *cb, void *ctx);

/* ---- domains --------------------------------------------------------- */

typedef void store_name_cb(void *ctx, const char *name);

/* Adds a local domain (stored lower-case). STORE_EEXIST if present. */
int store_domain_add(store_t *store, const char *domain);
/* Removes a domain, and its DKIM key if it has one. STORE_EBUSY if users
 * or aliases still belong to it. */
int store_domain_del(store_t *store, const char *domain);
int store_domain_list(store_t *store, store_name_cb *cb, void *ctx);
/* 0 if the domain is local, STORE_ENOTFOUND if not. */
int store_domain_exists(store_t *store, const char *domain);

/* ---- DKIM keys ------------------------------------------------------- */

/*
 * The DKIM signing key of a local domain (RFC 6376): its selector (the
 * DNS name of the public key is SELECTOR._domainkey.DOMAIN) and the
 * private key as PEM text; one per domain. The store keeps the text as it
 * is given; common/dkim.h parses it.
 */
#define STORE_DKIM_SELECTOR_MAX 63
/* Sets the key of a local domain, replacing any it had. STORE_ENOTFOUND
 * when the domain is not local, STORE_EINVAL for a malformed domain, an
 * empty or over-long (STORE_DKIM_SELECTOR_MAX) selector, or an empty PEM. */
int store_dkim_key_set(store_t *store, const char *domain, const char *selector,
                       const char *pem);
/* The key of a domain: the selector into selector[0..selector_len) and the
 * PEM text as a malloc'd string in *pem_r (the caller frees it, after
 * wiping it). STORE_ENOTFOUND when the domain has none (*pem_r is NULL). */
int store_dkim_key_get(store_t *store, const char *domain, char *selector,
                       size_t selector_len, char **pem_r);
/* Removes a domain's key. STORE_ENOTFOUND when it has none. */
int store_dkim_key_del(store_t *store, const char *domain);

/* ---- users ----------------------------------------------------------- */

struct store_user {
	int64_t id;
	char address[256];
	char hash[256];  /* crypt(3) string */
	int disabled;
	uint64_t quota;  /* octets; 0 = unlimited */
};

/* Adds a user. STORE_EINVAL when the domain is not a local domain or the
 * address is malformed; STORE_EEXIST when the address, in any case, exists
 * as a user or alias (the message names the existing spelling). The other
 * user calls find the user without regard to case and also accept the
 * addresses schema 1 could store that the rules now refuse, so that such
 * a user can still be shown, disabled or deleted. */
int store_user_add(store_t *store, const char *address, const char *hash);
/* Removes a user and their mailbox (bodies freed when unreferenced). */
int store_user_del(store_t *store, const char *address);
int store_user_set_hash(store_t *store, const char *address, const char *hash);
int store_user_set_disabled(store_t *store, const char *address, int disabled);
/* Fills *user_r. STORE_ENOTFOUND if there is no such user. */
int store_user_get(store_t *store, const char *address, struct store_user *user_r);
/* Lists users, of one domain or of all when domain is NULL. */
int store_user_list(store_t *store, const char *domain, store_name_cb *cb, void *ctx);

/* ---- quotas ---------------------------------------------------------- */

/*
 * A user's quota is the most octets their mailbox may hold (struct
 * store_user's quota; 0 = unlimited), counted as POP3 serves the messages
 * (trace headers included). Deliveries enforce it inside their commit: a
 * delivery that would take any of its local mailboxes past its quota
 * stores nothing (in a group commit it fails alone). It is STORE_ETOOBIG
 * when the message is larger than some local mailbox's whole quota, so it
 * would not fit even in that mailbox emptied, and STORE_EQUOTA when it
 * only does not fit the room left now. A message that fills a mailbox
 * exactly is accepted; from then on the mailbox is full
 * (store_quota_check) until messages are deleted.
 */
struct store_usage {
	uint64_t bytes;    /* octets in the mailbox */
	uint64_t messages; /* mailbox entries */
};

/* Sets a user's quota; 0 removes it. STORE_ENOTFOUND if no such user,
 * STORE_EINVAL for a quota beyond INT64_MAX. */
int store_user_set_quota(store_t *store, const char *address, uint64_t quota);

/* The user's quota and what their mailbox holds now, from one snapshot.
 * STORE_ENOTFOUND if no such user. */
int store_user_usage(store_t *store, const char *address, uint64_t *quota_r,
                     struct store_usage *usage_r);

/*
 * For SMTP RCPT: whether the local mailbox (as store_resolve returns it)
 * can take a message of `size` octets, the size the client declared with
 * MAIL FROM ... SIZE= (RFC 1870), or 0 when it declared none. Returns
 * STORE_ETOOBIG when `size` is larger than the mailbox's whole quota (no
 * such message can ever fit); STORE_EQUOTA when the mailbox is at or over
 * its quota, or has less room left than `size`; 0 when it has room or no
 * quota; STORE_ENOTFOUND if there is no such user. Loop-safe: two
 * indexed lookups (STORE_EBUSY on a loop-safe handle when the database is
 * locked).
 */
int store_quota_check(store_t *store, const char *mailbox, uint64_t size);

/* ---- aliases --------------------------------------------------------- */

/*
 * What resolution needs from the configuration. Every member may be NULL
 * or "" for "none".
 */
struct store_resolve_config {
	/* Characters that start a recipient extension (recipient_delimiter):
	 * alice+tag@ reaches alice@ unless alice+tag@ exists itself. */
	const char *recipient_delimiter;
	/* Where postmaster@DOMAIN goes when DOMAIN has no postmaster user or
	 * alias (postmaster_address). */
	const char *postmaster_address;
	/* Where a domain-less "postmaster" (RFC 5321 4.5.1) belongs: this
	 * domain or its nearest local parent. smtpd passes its hostname. */
	const char *default_domain;
};

/* store_alias_add flags. */
#define STORE_ALIAS_FORCE 0x1 /* a local target need not exist (yet) */

/*
 * Adds alias `from` -> `to`. `from` must be in a local domain and no user
 * (in any case); `to` may be a local user, another alias or a remote
 * address. Refused: a local `to` that is neither a user nor an alias,
 * also after removing a recipient extension per cfg (STORE_ENOTFOUND,
 * unless STORE_ALIAS_FORCE); a `to` that leads back to `from`, or a chain
 * deeper than resolution follows (STORE_ELOOP); a target the alias already
 * has, in any case (STORE_EEXIST). cfg may be NULL.
 */
int store_alias_add(store_t *store, const char *from, const char *to,
                    const struct store_resolve_config *cfg, unsigned flags);
/* Removes one target of an alias, both matched without regard to case. */
int store_alias_del(store_t *store, const char *from, const char *to);
typedef void store_alias_cb(void *ctx, const char *from, const char *to);
int store_alias_list(store_t *store, const char *domain, store_alias_cb *cb, void *ctx);
/* Addresses the user may use as a sender: their own and every alias that
 * resolves to them, as stored (compare them without regard to case).
 * Calls cb once per address. While a schema 1 database still holds
 * spellings that differ only by case (store_address_problems), aliases to
 * any spelling of the user's address count. */
int store_user_sender_addresses(store_t *store, const char *user, store_name_cb *cb, void *ctx);

/* ---- recipient resolution -------------------------------------------- */

enum store_rcpt_kind {
	STORE_RCPT_LOCAL,   /* a local mailbox */
	STORE_RCPT_REMOTE,  /* not one of our domains: relay decision is the caller's */
};

/* Called once per final destination. */
typedef void store_rcpt_cb(void *ctx, enum store_rcpt_kind kind, const char *address);

/*
 * Resolves a recipient address through aliases to local mailboxes (their
 * stored spelling) and remote addresses, matching without regard to case.
 * An address that is neither a user nor an alias is tried again without
 * its recipient extension (cfg->recipient_delimiter).
 *
 * postmaster@DOMAIN (RFC 5321 4.5.1), for a local DOMAIN, goes to its user
 * or alias, else to cfg->postmaster_address, else is STORE_ENOTFOUND. A
 * domain-less "postmaster" is postmaster@ of cfg->default_domain or of its
 * nearest parent domain that is local (mx.example.test: example.test),
 * else cfg->postmaster_address. Never to anyone else.
 *
 * Returns 0 and calls `cb` for each destination; STORE_ENOTFOUND when the
 * domain is local but the address leads to no enabled user or remote
 * address (SMTP 550 5.1.1); STORE_ELOOP when aliases loop or nest deeper
 * than the store follows; STORE_EINVAL for a malformed address. An address
 * in a non-local domain gives one STORE_RCPT_REMOTE callback with itself.
 * cfg may be NULL (no extensions, no postmaster_address). Loop-safe: a
 * few lookups in small tables; on a loop-safe handle `cb` may have been
 * called for some destinations before an error such as STORE_EBUSY, which
 * the caller then discards.
 */
int store_resolve(store_t *store, const char *address, const struct store_resolve_config *cfg,
                  store_rcpt_cb *cb, void *ctx);

/* ---- delivery -------------------------------------------------------- */

/*
 * A delivery is one accepted message on its way into the store: a body
 * written in pieces, the envelope sender and the resolved recipients. It
 * is built without a store handle (so the protocol thread can fill it) and
 * committed later, alone or in a batch.
 *
 * The body is held in memory. A body larger than STORE_DELIVERY_MEMORY_MAX
 * is moved, in pieces of about that size, to an unlinked temporary file,
 * so a large message is never whole in memory. Writing never touches the
 * file; the caller moves the buffered octets with store_delivery_spill,
 * which blocks, when store_delivery_spill_wanted says so. A daemon writes
 * on its event loop and spills on a worker thread, and does not write
 * while a spill runs.
 *
 * The body passed in is exactly what POP3 will serve: CRLF lines, trace
 * headers included, no dot-stuffing. Its size is counted here.
 */
typedef struct store_delivery store_delivery_t;

/* A body of at most this many octets stays in memory until its commit. */
#define STORE_DELIVERY_MEMORY_MAX (256 * 1024)

/* sender may be "" (null reverse-path). tmpdir NULL means $TMPDIR or /tmp. */
int store_delivery_new(const char *sender, const char *tmpdir, store_delivery_t **delivery_r);
/*
 * Gives the delivery the message id its body will be stored under: one
 * from store_message_ids_reserve(), used once. Without it, the commit
 * takes the next free id.
 */
void store_delivery_set_id(store_delivery_t *delivery, int64_t id);
/* Adds a local mailbox (as returned by store_resolve: the stored spelling). Duplicates are ignored. */
int store_delivery_add_local(store_delivery_t *delivery, const char *mailbox);
/* Adds a remote recipient (a queue row). Duplicates are ignored. */
int store_delivery_add_remote(store_delivery_t *delivery, const char *recipient);
/*
 * The same with the recipient's DSN parameters (RFC 3461), kept with its
 * queue row as given: NOTIFY as the caller's bit set (0: not given) and
 * ORCPT (NULL or "": not given; at most 511 octets).
 */
int store_delivery_add_remote_dsn(store_delivery_t *delivery, const char *recipient,
                                  unsigned notify, const char *orcpt);
/* The message's RET (0 none, 1 FULL, 2 HDRS) and ENVID (NULL: none; at most 127 octets). */
int store_delivery_set_dsn(store_delivery_t *delivery, int ret, const char *envid);
/*
 * Appends body bytes to the memory buffer; no I/O, so an event loop may
 * call it. The buffer grows by whatever is written until the caller
 * spills it. Returns 0, STORE_ENOMEM, or STORE_EIO once a spill failed.
 */
int store_delivery_write(store_delivery_t *delivery, const void *data, size_t len);
/*
 * 1 when more than STORE_DELIVERY_MEMORY_MAX octets are buffered: spill
 * them before writing much more. 0 otherwise, and always after a spill
 * failed (there is nothing left to do but to refuse the message).
 */
int store_delivery_spill_wanted(const store_delivery_t *delivery);
/*
 * Moves the buffered octets to the delivery's temporary file in tmpdir,
 * creating the file on the first call. Blocking disk I/O: call it on a
 * worker thread, and touch the delivery from no other thread meanwhile.
 * Returns 0, or STORE_EIO (a message of at most errlen bytes in err, if
 * not NULL) when the file cannot be created or written (a full disk:
 * ENOSPC), after which writes and commits of this delivery fail too.
 */
int store_delivery_spill(store_delivery_t *delivery, char *err, size_t errlen);
/* 1 once the delivery has a temporary file (see store_delivery_free). */
int store_delivery_spilled(const store_delivery_t *delivery);
/* Octets written so far. */
uint64_t store_delivery_size(const store_delivery_t *delivery);
/*
 * Frees the delivery and sets *delivery to NULL. For a spilled delivery
 * this closes its file, and closing the last descriptor of an unlinked
 * file frees its blocks: disk work, for a worker thread like the spill.
 */
void store_delivery_free(store_delivery_t **delivery);

/*
 * Message ids (the body's id: store_entry.message_id, store_queue_item.
 * message_id) are never reused. smtpd also shows a message's id to
 * people (its queue id: the 250 reply, logs, the Received: header), and
 * must know it before the body is written, long before the commit. So
 * ids can be reserved: this takes `count` (1 to 1,000,000) consecutive
 * ids, first in *first_r, that no commit will pick by itself, in a
 * synced transaction, so no other process on this database, and no
 * later run of this one, gets any of them. Each is meant for one
 * store_delivery_set_id(); ids never used are simply never seen.
 */
int store_message_ids_reserve(store_t *store, unsigned count, int64_t *first_r);

/*
 * Commits one delivery: the body, one mailbox entry per local mailbox and
 * one queue row per remote recipient, in one transaction that is synced to
 * disk before this returns 0. After an error nothing of it is stored.
 * STORE_EQUOTA when the message would take a local mailbox past its quota,
 * STORE_ETOOBIG when it is larger than a local mailbox's whole quota (see
 * "quotas" above): the whole delivery is refused, for every recipient.
 */
int store_deliver(store_t *store, store_delivery_t *delivery);

/*
 * Group commit: commits `n` deliveries in one transaction and one sync.
 * results_r[i] receives each delivery's outcome; a delivery that fails
 * (e.g. a mailbox deleted meanwhile, or over its quota) is rolled back
 * alone and the others still commit. Quotas count the deliveries before it
 * in the same batch. Returns 0 when the transaction committed (check results_r),
 * or an error when it did not, in which case every results_r[i] is that
 * error and nothing was stored.
 */
int store_deliver_batch(store_t *store, store_delivery_t *const *deliveries, size_t n, int *results_r);

/* ---- mailboxes (POP3) ------------------------------------------------ */

struct store_entry {
	int64_t id;         /* mailbox entry id: stable forever, unique in the store (POP3 UIDL) */
	int64_t message_id; /* the body */
	uint64_t size;      /* exact octets of the stored CRLF form */
};

/*
 * Mailboxes are named by their user's address. The snapshot finds the
 * user as store_user_get does; deletion and leases take the stored
 * spelling (struct store_user.address), as pop3d has it from its login.
 *
 * Takes the snapshot of a mailbox, oldest first. *entries_r is allocated
 * with malloc (NULL when empty) and owned by the caller. STORE_ENOTFOUND if
 * there is no such user.
 */
int store_mailbox_snapshot(store_t *store, const char *mailbox, struct store_entry **entries_r,
                           size_t *count_r);

/*
 * The POP3 UPDATE state (RFC 1939 6): deletes the given entries of one
 * mailbox in one synced transaction, and frees each body no longer
 * referenced by any mailbox entry or queue row, if and only if `owner`
 * still holds the mailbox's lease (store_lease_acquire). The check and the
 * delete are one transaction, so a lease released or taken over meanwhile
 * (the session dropped, the lease expired and another host took it) can
 * never let a second session see messages that are about to vanish.
 * Returns STORE_ENOTFOUND, having deleted nothing, when `owner` does not
 * hold the lease (as store_lease_renew does); the lease itself is left as
 * it is. Ids that are already gone are ignored (an operator may have
 * deleted them with the user). n may be 0: only the lease is checked.
 */
int store_mailbox_delete(store_t *store, const char *mailbox, const char *owner,
                         const int64_t *entry_ids, size_t n);

/*
 * A message reader returns a body chunk by chunk. Each read is its own short
 * query, so a slow client never holds a database snapshot open. A reader is
 * not tied to the handle it was opened with: each read takes a handle on
 * the same database, so successive reads may run on different worker
 * threads with other handles (store_pool_acquire). Opening and
 * reading are loop-safe, for a body of one chunk (64 KiB) at most: a
 * longer one is read off the loop. After an error on a loop-safe handle
 * the reader may have moved: close it and start over off the loop.
 */
typedef struct store_reader store_reader_t;

int store_reader_open(store_t *store, int64_t message_id, store_reader_t **reader_r);
/*
 * Returns the next chunk in *data_r / *len_r, valid until the next call on
 * the reader. *len_r == 0 means the end of the body. STORE_ENOTFOUND when
 * the body was deleted meanwhile.
 */
int store_reader_next(store_t *store, store_reader_t *reader, const void **data_r, size_t *len_r);
/* Frees the reader (no database access) and sets *reader to NULL. */
void store_reader_close(store_reader_t **reader);

/* ---- maildrop leases (RFC 1939 exclusive access) --------------------- */

/*
 * Takes the lease on a mailbox for `owner` (unique per session and host,
 * e.g. "host:pid:session") for ttl_seconds. STORE_EBUSY when another owner
 * holds an unexpired lease. Re-acquiring one's own lease renews it.
 */
int store_lease_acquire(store_t *store, const char *mailbox, const char *owner, int ttl_seconds);
/* Extends the lease. STORE_ENOTFOUND when the owner no longer holds it. */
int store_lease_renew(store_t *store, const char *mailbox, const char *owner, int ttl_seconds);
/* Releases the lease if `owner` holds it; otherwise does nothing and returns 0. */
int store_lease_release(store_t *store, const char *mailbox, const char *owner);

/* ---- outbound queue -------------------------------------------------- */

enum store_queue_state {
	STORE_QUEUE_PENDING = 0,  /* waiting for its next attempt */
	STORE_QUEUE_FAILED = 1,   /* permanent failure; awaiting a bounce or deletion */
};

struct store_queue_item {
	int64_t id;
	int64_t message_id;
	char sender[256];
	char recipient[256];
	int attempts;
	int64_t created;      /* unix seconds, database clock */
	int64_t next_attempt; /* unix seconds, database clock */
	enum store_queue_state state;
	char last_error[512];
	/* RFC 3461, as the client gave them (store_delivery_add_remote_dsn). */
	unsigned dsn_notify; /* NOTIFY as a bit set; 0: not given */
	char dsn_orcpt[512]; /* ORCPT, "" when not given */
	int dsn_ret;         /* RET: 0 not given, 1 FULL, 2 HDRS */
	char dsn_envid[128]; /* ENVID, "" when not given */
	bool delay_warned;   /* the sender has been told of the delay */
};

typedef void store_queue_cb(void *ctx, const struct store_queue_item *item);
int store_queue_list(store_t *store, store_queue_cb *cb, void *ctx);

/*
 * Claims up to `max` pending items that are due and not leased by anyone,
 * leasing them to `owner` for lease_seconds. Safe with several processes:
 * an item is claimed by one owner at a time. *items_r is malloc'ed (NULL
 * when nothing is due) and owned by the caller.
 */
int store_queue_claim(store_t *store, const char *owner, int lease_seconds, size_t max,
                      struct store_queue_item **items_r, size_t *count_r);
/*
 * What became of a claimed item (store_queue_report). REMOVE: delivered,
 * or failed and reported to its sender; the row goes, and its body when
 * nothing else references it. DEFER: a temporary failure, tried again
 * after delay_seconds. FAIL: a permanent failure that could not be
 * reported (a null sender, RFC 5321 4.5.5): kept in state FAILED for the
 * operator (mailctl queue list / delete).
 */
enum store_queue_verdict {
	STORE_QUEUE_REMOVE,
	STORE_QUEUE_DEFER,
	STORE_QUEUE_FAIL,
};

struct store_queue_outcome {
	int64_t id;
	enum store_queue_verdict verdict;
	int delay_seconds; /* DEFER */
	bool warned;       /* DEFER: the report committed with it warns of the delay */
	const char *error; /* DEFER, FAIL: the last error, for the operator */
	int status;        /* out: 0, or STORE_ENOTFOUND when the row is gone or no longer ours */
};

/*
 * Records the outcomes of claimed items in one synced transaction, each
 * only if `owner` still holds its lease (else that outcome's status is
 * STORE_ENOTFOUND and the others still apply). `bounce`, when not NULL,
 * is the delivery status notification for the failed ones, committed in
 * the same transaction, so a report is never lost nor sent twice for the
 * same outcome. Returns 0 when the transaction committed (see each
 * status), or the error that rolled everything back (e.g. STORE_EQUOTA
 * from the bounce's local mailbox).
 */
int store_queue_report(store_t *store, const char *owner, struct store_queue_outcome *outcomes,
                       size_t n, store_delivery_t *bounce);
/* The claimed item was delivered: remove it (and its body when unreferenced). */
int store_queue_delivered(store_t *store, int64_t id, const char *owner);
/* Temporary failure: retry after delay_seconds; records the error, counts the attempt. */
int store_queue_defer(store_t *store, int64_t id, const char *owner, int delay_seconds,
                      const char *error);
/* Permanent failure: state FAILED, records the error. */
int store_queue_fail(store_t *store, int64_t id, const char *owner, const char *error);
/* Extends the lease of every item `owner` holds (a delivery still running). */
int store_queue_renew(store_t *store, const char *owner, int lease_seconds);
/* Hands every item `owner` holds back, untried (a runner shutting down). */
int store_queue_release(store_t *store, const char *owner);
/*
 * The queue at a glance, for metrics: rows pending and failed, and the
 * age in seconds of the oldest row (0 when empty), by the database clock.
 * One aggregate read over the queue (it grows with the queue); loop-safe
 * on a STORE_OPEN_NOWAIT handle (STORE_EBUSY when the database is locked).
 */
int store_queue_stats(store_t *store, uint64_t *pending_r, uint64_t *failed_r,
                      uint64_t *oldest_age_r);
/* Operator: make an item (or all items when id == 0) due now and pending. */
int store_queue_retry(store_t *store, int64_t id);
/*
 * Operator: delete an item (or all when id == 0), freeing unreferenced
 * bodies. An item a runner holds (its lease unexpired) is being sent and
 * is not deleted: STORE_EBUSY for one item; "all" deletes the others.
 */
int store_queue_delete(store_t *store, int64_t id);

/* ---- copying a whole database ---------------------------------------- */

/* What store_copy has copied so far. */
struct store_copy_stats {
	uint64_t domains;
	uint64_t users;
	uint64_t aliases;
	uint64_t dkim_keys;
	uint64_t messages;  /* bodies */
	uint64_t bytes;     /* octets of those bodies (their chunks) */
	uint64_t entries;   /* mailbox entries */
	uint64_t queue;     /* outbound queue rows */
};

/* Called after each batch of rows, with the table being copied ("domains",
 * "message_chunks", ...) and the totals so far; and once at the end with
 * table "done". It must not call the store on either handle. */
typedef void store_copy_progress_cb(void *ctx, const char *table,
                                    const struct store_copy_stats *stats);

/*
 * Copies everything an installation holds from `src` into `dst`, which
 * may be of either backend (SQLite to PostgreSQL, back, or to another
 * file): domains, users (hashes, quotas, flags), aliases, DKIM keys,
 * message bodies, mailbox entries and the outbound queue, with their ids,
 * so POP3 unique ids (entry ids), queue ids (message ids) and sizes stay
 * what clients and operators saw. The ids' high-water marks go along too
 * (every message, entry and queue id the source ever gave out or
 * reserved, rows since deleted included), so the target never hands out
 * one of them again, and every id table of the target goes on past the
 * largest id copied (PostgreSQL's identity sequences). Mailbox
 * usage is recounted from the copied entries; maildrop leases (pop3d
 * sessions) are not copied, and queue rows arrive unclaimed (the runner
 * that held one is not on the target).
 *
 * `dst` must hold no rows at all (a new or emptied database): otherwise
 * STORE_EEXIST and nothing is written. Both must be at this program's
 * schema version (STORE_ECORRUPT: run `mailctl db migrate` on the source
 * first).
 *
 * The source is read in one read transaction, so the copy is one
 * snapshot of it; writers may go on meanwhile, and what they commit after
 * the snapshot is not in the copy (stop the daemons first when switching
 * over). The target is written in one write transaction: on any failure
 * it is rolled back and `dst` is empty again, so the copy can simply be
 * run again. Memory stays bounded whatever the size: rows and body chunks
 * are read in batches of a bounded size (store_copy.c).
 *
 * Returns 0, or a negative error with a message in err (at most errlen
 * bytes; "source: ..." or "target: ..." says which side failed). stats_r,
 * when not NULL, receives what was copied (on failure: what was written
 * before it, now rolled back). progress may be NULL.
 */
int store_copy(store_t *src, store_t *dst, store_copy_progress_cb *progress, void *ctx,
               struct store_copy_stats *stats_r, char *err, size_t errlen);

/* ---- test hooks ------------------------------------------------------ */

/*
 * Compiled only with the CMake option MAIL_TEST_HOOKS (the test suite's
 * builds); in any other build these variables are never read. Their
 * MAILTEST_ prefix keeps them apart from the MAIL_<KEY> config overrides.
 *
 * MAILTEST_STORE_FAIL_COMMIT=N: the Nth commit (counted per process from
 * 1) fails with STORE_EIO after its writes and before COMMIT, and is
 * rolled back. MAILTEST_STORE_FAIL_COMMIT=N:retry fails it with
 * STORE_ERETRY instead, and the commits of the store's retries of the
 * same call too (see "Write concurrency"; meant for a scoped write, such
 * as a delivery or a POP3 lease, whose caller then gets STORE_ERETRY). MAILTEST_STORE_STALL_COMMIT=N:MS makes the Nth commit wait
 * MS milliseconds at the same point, holding its transaction open, so a
 * crash test can kill the process inside it. Both are read once at
 * store_open and count the same commits (store_message_ids_reserve's
 * are not counted). MAILTEST_STORE_NOWAIT_BUSY=1 makes every statement
 * on a STORE_OPEN_NOWAIT handle fail with STORE_EBUSY once the handle is
 * open, as a locked database would, so that the daemons' fallbacks to
 * their waiting handles can be tested. MAILTEST_STORE_SPILL_GATE=PATH
 * makes every store_delivery_spill wait, once its temporary file exists
 * and before writing to it, until PATH exists (for at most a minute), so
 * a test can hold a spill in flight: the file is open and empty until the
 * gate opens. Read at every spill.
 */

#endif
