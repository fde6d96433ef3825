/*
 * pg-private.h - the PostgreSQL backend's own header (libpq): its handle
 * and statement, and what its files share. Only store/postgresql/
 * includes <libpq-fe.h>.
 *
 * Files: pg_driver.c (statements, transactions, errors, reconnection, the
 * driver table), pg_schema.c (connection set-up, the schema), pg_sql.c
 * (the statements in PostgreSQL's dialect), pg_listen.c (the queue's
 * wake-ups: LISTEN/NOTIFY).
 */
#ifndef MAIL_STORE_PG_PRIVATE_H
#define MAIL_STORE_PG_PRIVATE_H

#include <libpq-fe.h>

#include "store-private.h"

/* The handle: store_t first (store_driver.h "Handles"). */
struct store__pg {
	store_t base;
	PGconn *conn;
	/* Bumped by every reconnection: a statement prepared on an older
	 * connection is prepared again before it runs. */
	unsigned generation;
	unsigned next_name;      /* prepared statement names s1, s2, ... */
	bool nowait;             /* STORE_OPEN_NOWAIT: the writer lock is tried, not waited for */
	/* Between our BEGIN and its COMMIT or ROLLBACK, even when the server
	 * has aborted it or the connection is gone: no reconnection then, or
	 * the rest of a transaction would run (and commit) without its start. */
	bool txn;
	int64_t clock_offset;    /* mail.clock_offset as last SET on this connection */
};

/* The key space of the mailbox keys of scoped writes (pg_lock_keys): the
 * first half of pg_advisory_xact_lock's two-int form, "MBOX" in ASCII. The
 * writers' lock is in the one-bigint form, a key space of its own. */
#define STORE__PG_MAILBOX_LOCKS "1296191320"

/* How long a statement waits for a lock (SQLite's busy timeout,
 * STORE__BUSY_TIMEOUT_MS) before failing with STORE_EBUSY. */
#define STORE__PG_LOCK_TIMEOUT "5s"

/* Seconds a connection attempt may take when the URI does not say
 * (libpq's own default is to wait as long as TCP does, minutes for a host
 * that drops packets, during which a worker or a shutdown would wait). */
#define STORE__PG_CONNECT_TIMEOUT "10"

/* The channel of the queue's wake-ups (pg_schema.c's trigger, pg_listen.c). */
#define STORE__PG_QUEUE_CHANNEL "mail_queue"

/* Most parameters any statement of store_sql.c has. */
#define STORE__PG_MAX_PARAMS 16

struct store__pg_stmt {
	store__stmt_t base;
	char name[16];
	char *sql;               /* the text with $N, kept to prepare again after a reconnect */
	unsigned generation;     /* of the connection it was prepared on */
	int nparams;
	bool binary;             /* results in binary format: the statement returns bytea */
	const char *values[STORE__PG_MAX_PARAMS];
	int lengths[STORE__PG_MAX_PARAMS];
	int formats[STORE__PG_MAX_PARAMS];
	char ints[STORE__PG_MAX_PARAMS][24]; /* int64 parameters as text */
	PGresult *res;           /* of the current run; NULL before the first step */
	int row;                 /* the current row of res, -1 before the first */
	int64_t changes;
};

static inline struct store__pg *store__pg(store_t *store)
{
	return (struct store__pg *)store;
}

/* ---- pg_driver.c -------------------------------------------------------- */

/* The store error for a failed result (by SQLSTATE; STORE_ERETRY when
 * the connection is gone), with the message "what: server's message"
 * written on the handle. */
int store__pg_fail(store_t *store, const PGresult *res, const char *what);
/* The store error for a SQLSTATE (NULL: none came). */
int store__pg_map_sqlstate(const char *state);
/* Runs a command without parameters (SET, BEGIN, DDL). */
int store__pg_exec(store_t *store, const char *sql, const char *what);

/* ---- pg_schema.c -------------------------------------------------------- */

int store__pg_open(store_t *store, const char *uri, const char *password, int flags);
void store__pg_close(store_t *store);
int store__pg_schema_version(store_t *store, int *version_r);
/* After a reconnection: the per-connection settings again. */
int store__pg_configure(store_t *store);

/* ---- pg_listen.c -------------------------------------------------------- */

/* The driver's listen, listen_fd and listen_drain (store_driver.h). */
int store__pg_listen(store_t *store);
int store__pg_listen_fd(store_t *store);
int store__pg_listen_drain(store_t *store);

/* ---- pg_sql.c ----------------------------------------------------------- */

extern const char *const store__pg_sql[STORE__STMT_COUNT];

/* The driver table (pg_driver.c). */
extern const struct store__driver store__pg_driver;

#endif
