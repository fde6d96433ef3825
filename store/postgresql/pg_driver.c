/*
 * pg_driver.c - the statement driver (store_driver.h) over libpq:
 * prepared statements with ?N rewritten as $N, results kept until the
 * next step, transactions with the writers' lock and mailbox keys,
 * SQLSTATE to store errors, and reconnection after a lost connection.
 */
#include <assert.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg-private.h"

/* pg_advisory_xact_lock's key for the writers' lock: "MAIL" in ASCII. */
#define STORE__PG_WRITER_LOCK "1296124236"

/* Type OIDs (pg_type.h) of the columns the binary results carry. */
#define PG_BOOLOID 16
#define PG_INT8OID 20
#define PG_INT2OID 21
#define PG_INT4OID 23

int store__pg_map_sqlstate(const char *state)
{
	if (state == NULL)
		return STORE_EIO; /* no server answer: the connection is gone */
	if (strcmp(state, "23505") == 0)
		return STORE_EEXIST;
	if (strncmp(state, "23", 2) == 0)
		return STORE_EINVAL;
	/* Serialization failure and deadlock: the server rolled the
	 * transaction back, and the same work may well succeed once more.
	 * Connection exceptions (08) and the server ending the session
	 * (57P01 administrator command, 57P02 crash shutdown, 57P03 cannot
	 * connect now): the transaction died with the session. */
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
		return STORE_ERETRY;
	/* lock_timeout, statement_timeout: held by someone else for too long,
	 * which retrying at once would not change. */
	if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
		return STORE_EBUSY;
	if (strcmp(state, "XX001") == 0 || strcmp(state, "XX002") == 0)
		return STORE_ECORRUPT;
	if (strcmp(state, "53200") == 0)
		return STORE_ENOMEM;
	/* Disk full (53100), the rest: temporary for the client. */
	return STORE_EIO;
}

int store__pg_fail(store_t *store, const PGresult *res, const char *what)
{
	struct store__pg *pg = store__pg(store);
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(pg->conn);
	size_t len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* A connection that died under the statement answers with no SQLSTATE
	 * (or the server's last words): whatever it was doing is undone. */
	int err = PQstatus(pg->conn) != CONNECTION_OK ? STORE_ERETRY : store__pg_map_sqlstate(state);
	return store__fail(store, err, "%s: %.*s", what, (int)len, msg);
}

/*
 * Whether the server has closed the connection while it sat idle between
 * two of our statements (pg_terminate_backend, a restart): libpq learns it
 * only by reading, which this does without waiting, so that the caller
 * knows the next command was never sent.
 */
static bool hung_up(PGconn *conn)
{
	struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN };
	/* A FATAL message, then the end of the stream: two reads at most. */
	for (int i = 0; i < 3 && PQstatus(conn) == CONNECTION_OK && poll(&p, 1, 0) > 0; i++)
		if (!PQconsumeInput(conn))
			break;
	return PQstatus(conn) != CONNECTION_OK;
}

/* A lost connection is made again before the next statement or
 * transaction: never inside a transaction, whose work died with it. */
static int ensure_connected(store_t *store)
{
	struct store__pg *pg = store__pg(store);
	if (PQstatus(pg->conn) == CONNECTION_OK)
		return STORE_OK;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK)
		return store__fail(store, STORE_EIO, "reconnect: %s", PQerrorMessage(pg->conn));
	pg->generation++;
	pg->clock_offset = 0;
	return store__pg_configure(store);
}

int store__pg_exec(store_t *store, const char *sql, const char *what)
{
	int err = ensure_connected(store);
	if (err != STORE_OK)
		return err;
	PGresult *res = PQexec(store__pg(store)->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	err = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? STORE_OK
	                                                       : store__pg_fail(store, res, what);
	PQclear(res);
	return err;
}

/* ---- statements ---------------------------------------------------------- */

static inline struct store__pg_stmt *pgs(store__stmt_t *stmt)
{
	return (struct store__pg_stmt *)stmt;
}

/* ?N becomes $N; returns the largest N, or -1 past STORE__PG_MAX_PARAMS.
 * No text of store_sql.c has a '?' inside a literal. */
static int rewrite_params(const char *sql, char *out)
{
	int max = 0;
	for (const char *p = sql; *p != '\0'; p++) {
		if (*p == '?') {
			*out++ = '$';
			int n = atoi(p + 1);
			if (n > max)
				max = n;
			continue;
		}
		*out++ = *p;
	}
	*out = '\0';
	return max <= STORE__PG_MAX_PARAMS ? max : -1;
}

/* Prepares (again) on the current connection; learns whether the results
 * carry bytea, which are then asked for in binary (no unescaped copy). */
static int prepare_on_connection(store_t *store, struct store__pg_stmt *s)
{
	struct store__pg *pg = store__pg(store);
	PGresult *res = PQprepare(pg->conn, s->name, s->sql, 0, NULL);
	int err = PQresultStatus(res) == PGRES_COMMAND_OK ? STORE_OK
	                                                  : store__pg_fail(store, res, "prepare");
	PQclear(res);
	if (err != STORE_OK)
		return err;
	res = PQdescribePrepared(pg->conn, s->name);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		err = store__pg_fail(store, res, "describe");
		PQclear(res);
		return err;
	}
	s->binary = false;
	for (int i = 0; i < PQnfields(res); i++)
		if (PQftype(res, i) == 17 /* bytea */)
			s->binary = true;
	PQclear(res);
	s->generation = pg->generation;
	return STORE_OK;
}

static int pg_prepare(store_t *store, const char *sql, store__stmt_t **stmt_r)
{
	struct store__pg *pg = store__pg(store);
	int err = ensure_connected(store);
	if (err != STORE_OK)
		return err;
	struct store__pg_stmt *s = calloc(1, sizeof(*s));
	char *text = malloc(strlen(sql) + 1);
	if (s == NULL || text == NULL) {
		free(s);
		free(text);
		return store__fail(store, STORE_ENOMEM, "prepare: out of memory");
	}
	s->nparams = rewrite_params(sql, text);
	assert(s->nparams >= 0);
	s->sql = text;
	snprintf(s->name, sizeof(s->name), "s%u", ++pg->next_name);
	s->row = -1;
	err = prepare_on_connection(store, s);
	if (err != STORE_OK) {
		free(s->sql);
		free(s);
		return err;
	}
	s->base.drv = &store__pg_driver;
	s->base.store = store;
	*stmt_r = &s->base;
	return STORE_OK;
}

static void clear_result(struct store__pg_stmt *s)
{
	PQclear(s->res);
	s->res = NULL;
	s->row = -1;
}

static void pg_finalize(store__stmt_t *stmt)
{
	struct store__pg_stmt *s = pgs(stmt);
	clear_result(s);
	/* The server's prepared statement goes with the connection. */
	free(s->sql);
	free(s);
}

static void pg_bind_int64(store__stmt_t *stmt, int param, int64_t value)
{
	struct store__pg_stmt *s = pgs(stmt);
	assert(param >= 1 && param <= s->nparams);
	snprintf(s->ints[param - 1], sizeof(s->ints[0]), "%" PRId64, value);
	s->values[param - 1] = s->ints[param - 1];
	s->lengths[param - 1] = 0;
	s->formats[param - 1] = 0;
}

/* Text goes in binary format, which for text is its bytes with a length:
 * no terminating NUL is needed and none is copied. */
static void pg_bind_text(store__stmt_t *stmt, int param, const char *text, size_t len)
{
	struct store__pg_stmt *s = pgs(stmt);
	assert(param >= 1 && param <= s->nparams);
	s->values[param - 1] = text;
	s->lengths[param - 1] = (int)len;
	s->formats[param - 1] = 1;
}

static void pg_bind_blob(store__stmt_t *stmt, int param, const void *data, size_t len)
{
	pg_bind_text(stmt, param, data, len);
}

static void pg_bind_null(store__stmt_t *stmt, int param)
{
	struct store__pg_stmt *s = pgs(stmt);
	assert(param >= 1 && param <= s->nparams);
	s->values[param - 1] = NULL;
	s->lengths[param - 1] = 0;
	s->formats[param - 1] = 0;
}

static int sync_clock(store_t *store);

static int run(store__stmt_t *stmt, const char *what)
{
	struct store__pg_stmt *s = pgs(stmt);
	store_t *store = stmt->store;
	struct store__pg *pg = store__pg(store);
	int err;

	/* Outside a transaction a lost connection is made again here; inside
	 * one the statement fails and the transaction with it. */
	if (!pg->txn) {
		err = ensure_connected(store);
		if (err == STORE_OK)
			err = sync_clock(store); /* a statement that is its own transaction */
		if (err != STORE_OK)
			return err;
	} else if (PQstatus(pg->conn) != CONNECTION_OK) {
		return store__fail(store, STORE_ERETRY,
		                   "%s: the connection was lost in a transaction", what);
	}
	if (s->generation != pg->generation) {
		err = prepare_on_connection(store, s);
		if (err != STORE_OK)
			return err;
	}
	s->res = PQexecPrepared(pg->conn, s->name, s->nparams, s->values, s->lengths, s->formats,
	                        s->binary ? 1 : 0);
	switch (PQresultStatus(s->res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK: {
		const char *n = PQcmdTuples(s->res);
		s->changes = n != NULL && *n != '\0' ? strtoll(n, NULL, 10) : 0;
		return STORE_OK;
	}
	default:
		err = store__pg_fail(store, s->res, what);
		clear_result(s);
		return err;
	}
}

static int pg_step(store__stmt_t *stmt, const char *what)
{
	struct store__pg_stmt *s = pgs(stmt);
	if (s->res == NULL) {
		int err = run(stmt, what);
		if (err != STORE_OK)
			return err;
	}
	if (s->row + 1 < PQntuples(s->res)) {
		s->row++;
		return STORE__ROW;
	}
	return STORE__DONE;
}

static int64_t pg_column_int64(store__stmt_t *stmt, int col)
{
	struct store__pg_stmt *s = pgs(stmt);
	if (s->row < 0 || PQgetisnull(s->res, s->row, col))
		return 0;
	const char *v = PQgetvalue(s->res, s->row, col);
	if (!s->binary) {
		/* Text: integers and NUMERIC (a SUM) as digits, booleans as t/f. */
		if (*v == 't')
			return 1;
		if (*v == 'f')
			return 0;
		return strtoll(v, NULL, 10);
	}
	const unsigned char *b = (const unsigned char *)v;
	switch (PQftype(s->res, col)) {
	case PG_BOOLOID:
		return b[0] != 0;
	case PG_INT2OID:
		return (int16_t)(b[0] << 8 | b[1]);
	case PG_INT4OID:
		return (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
	case PG_INT8OID: {
		uint64_t u = 0;
		for (int i = 0; i < 8; i++)
			u = u << 8 | b[i];
		return (int64_t)u;
	}
	default:
		assert(!"an integer column of another type in a binary result");
		return 0;
	}
}

static const char *pg_column_text(store__stmt_t *stmt, int col, size_t *len_r)
{
	struct store__pg_stmt *s = pgs(stmt);
	if (s->row < 0 || PQgetisnull(s->res, s->row, col)) {
		*len_r = 0;
		return NULL;
	}
	/* libpq ends every value with a NUL, binary ones included. */
	*len_r = (size_t)PQgetlength(s->res, s->row, col);
	return PQgetvalue(s->res, s->row, col);
}

/* Statements that return bytea get binary results (prepare_on_connection),
 * so a blob is its raw bytes, never an escaped copy. */
static const void *pg_column_blob(store__stmt_t *stmt, int col, size_t *len_r)
{
	return pg_column_text(stmt, col, len_r);
}

static bool pg_column_is_null(store__stmt_t *stmt, int col)
{
	struct store__pg_stmt *s = pgs(stmt);
	return s->row < 0 || PQgetisnull(s->res, s->row, col);
}

static int64_t pg_changes(store__stmt_t *stmt)
{
	return pgs(stmt)->changes;
}

static void pg_reset(store__stmt_t *stmt)
{
	struct store__pg_stmt *s = pgs(stmt);
	clear_result(s);
	for (int i = 0; i < s->nparams; i++)
		s->values[i] = NULL;
}

/* ---- transactions -------------------------------------------------------- */

/* Also for an aborted transaction, or one whose connection died: it still
 * needs its ROLLBACK (which ends it here whatever the server says). */
static bool pg_in_transaction(store_t *store)
{
	return store__pg(store)->txn;
}

/* The test clock (store__set_clock_offset) as the connection's setting,
 * read by mail_now() (pg_schema.c). */
static int sync_clock(store_t *store)
{
	struct store__pg *pg = store__pg(store);
	int64_t offset = store__clock_offset();
	if (offset == pg->clock_offset)
		return STORE_OK;
	char sql[80];
	snprintf(sql, sizeof(sql), "SET mail.clock_offset = '%" PRId64 "'", offset);
	int err = store__pg_exec(store, sql, "set the clock offset");
	if (err == STORE_OK)
		pg->clock_offset = offset;
	return err;
}

/* The writers' lock as each kind of write takes it: exclusive, or shared
 * by the scoped writers; tried instead of waited for on a no-wait handle. */
static const char *writer_lock_sql(enum store__txn kind, bool nowait)
{
	if (kind == STORE__TXN_SCOPED)
		return nowait ? "SELECT pg_try_advisory_xact_lock_shared(" STORE__PG_WRITER_LOCK ")"
		              : "SELECT pg_advisory_xact_lock_shared(" STORE__PG_WRITER_LOCK ")";
	return nowait ? "SELECT pg_try_advisory_xact_lock(" STORE__PG_WRITER_LOCK ")"
	              : "SELECT pg_advisory_xact_lock(" STORE__PG_WRITER_LOCK ")";
}

/*
 * A read transaction is one snapshot (REPEATABLE READ), as SQLite's WAL
 * read is. A write transaction takes the writers' lock first, which is
 * what BEGIN IMMEDIATE gives the logic on SQLite: a check and the write it
 * guards are never separated by another writer (store_sql.c). A scoped
 * write takes that lock shared, so scoped writers run together (READ
 * COMMITTED) while every exclusive one waits for them all, and then its
 * mailbox keys (pg_lock_keys). A no-wait handle tries the lock and is
 * STORE_EBUSY when it is held.
 */
/* Runs a transaction's first statement. A connection the server closed (a
 * restart) shows only when used: nothing has been done yet, so it is made
 * again and the statement runs once more. NULL, with *err_r set, when the
 * connection cannot be made again. */
static PGresult *begin_exec(store_t *store, const char *sql, int *err_r)
{
	struct store__pg *pg = store__pg(store);
	PGresult *res = PQexec(pg->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || PQstatus(pg->conn) == CONNECTION_OK)
		return res;
	PQclear(res);
	*err_r = ensure_connected(store);
	return *err_r == STORE_OK ? PQexec(pg->conn, sql) : NULL;
}

static int pg_begin(store_t *store, enum store__txn kind)
{
	struct store__pg *pg = store__pg(store);
	int err = ensure_connected(store);
	if (err == STORE_OK)
		err = sync_clock(store);
	if (err != STORE_OK)
		return err;
	/* A write's BEGIN and the writers' lock go in one round trip (a simple
	 * query of two statements runs as one transaction block; PQexec
	 * returns the last result, or the first error). */
	bool write = kind != STORE__TXN_READ;
	char sql[160];
	if (write)
		snprintf(sql, sizeof(sql), "BEGIN; %s", writer_lock_sql(kind, pg->nowait));
	else
		snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	PGresult *res = begin_exec(store, sql, &err);
	if (res == NULL)
		return err;
	pg->txn = true;
	if (PQresultStatus(res) != (write ? PGRES_TUPLES_OK : PGRES_COMMAND_OK))
		err = store__pg_fail(store, res, write ? "begin transaction and take the writers' lock"
		                                       : "begin transaction");
	else if (write && pg->nowait && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		err = store__fail(store, STORE_EBUSY, "take the writers' lock: held by another writer");
	PQclear(res);
	if (err != STORE_OK) {
		PQclear(PQexec(pg->conn, "ROLLBACK"));
		pg->txn = false;
	}
	return err;
}

/* Longest text of one key: a sign, ten digits and a comma. */
#define KEY_TEXT_MAX 12

/*
 * The mailbox keys of a scoped write, in one round trip: one prepared
 * statement over the list as text (pg_sql.c, STORE__LOCK_KEYS), whose
 * function scan takes them in the order given, which is ascending.
 */
static int pg_lock_keys(store_t *store, const uint32_t *keys, size_t n)
{
	struct store__pg *pg = store__pg(store);
	char small[16 * KEY_TEXT_MAX + 1];
	size_t cap = n * KEY_TEXT_MAX + 1;
	char *text = cap <= sizeof(small) ? small : malloc(cap);
	if (text == NULL)
		return store__fail(store, STORE_ENOMEM, "out of memory");
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s%" PRId32, i > 0 ? "," : "",
		                        (int32_t)keys[i]);
	store__stmt_t *stmt = store__stmt(store, pg->nowait ? STORE__LOCK_KEYS_TRY : STORE__LOCK_KEYS);
	int err = stmt != NULL ? STORE_OK : store->last_err;
	if (stmt != NULL) {
		store__bind_textn(stmt, 1, text, len);
		int rc = store__step(stmt, "lock the mailboxes");
		if (rc < 0)
			err = rc;
		else if (pg->nowait && (rc != STORE__ROW || store__column_int64(stmt, 0) != 0))
			err = store__fail(store, STORE_EBUSY, "lock the mailboxes: held by another writer");
		store__reset(stmt);
	}
	if (text != small)
		free(text);
	return err;
}

/*
 * COMMIT, and what its failure means: a connection found dead before the
 * COMMIT went out committed nothing (STORE_ERETRY); one lost while it was
 * on its way may have committed or not, which no retry may guess
 * (STORE_EIO).
 */
static int pg_commit(store_t *store, const char *what)
{
	struct store__pg *pg = store__pg(store);
	if (hung_up(pg->conn))
		return what != NULL ? store__fail(store, STORE_ERETRY,
		                                  "%s: the connection was lost before COMMIT", what)
		                    : STORE_ERETRY;
	PGresult *res = PQexec(pg->conn, "COMMIT");
	int err = STORE_OK;
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (PQstatus(pg->conn) != CONNECTION_OK)
			err = what != NULL ? store__fail(store, STORE_EIO,
			                                 "%s: the connection was lost during COMMIT, "
			                                 "which may or may not have committed", what)
			                   : STORE_EIO;
		else
			err = what != NULL ? store__pg_fail(store, res, what) : STORE_EIO;
	} else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* COMMIT of an aborted transaction answers ROLLBACK. */
		err = what != NULL ? store__fail(store, STORE_EIO, "%s: the transaction was aborted", what)
		                   : STORE_EIO;
	}
	PQclear(res);
	/* A COMMIT that answered is over either way; one that failed to reach
	 * the server is left for the caller's rollback. */
	if (PQstatus(pg->conn) == CONNECTION_OK && err == STORE_OK)
		pg->txn = false;
	return err;
}

static void pg_rollback(store_t *store)
{
	struct store__pg *pg = store__pg(store);
	if (!pg->txn)
		return;
	if (PQstatus(pg->conn) == CONNECTION_OK)
		PQclear(PQexec(pg->conn, "ROLLBACK"));
	pg->txn = false;
}

/* PostgreSQL checks its own pages and foreign keys as it goes; there is no
 * file for the store to check (amcheck would be the operator's tool). */
static int pg_check(store_t *store, store__report_fn *report, void *ctx)
{
	(void)store;
	(void)report;
	(void)ctx;
	return STORE_OK;
}

/*
 * A connection serves the pool's next job only up and outside a
 * transaction: a broken one would cost that job its first statement. One
 * the server closed while it was idle (a restart) looks up until read:
 * reading what has arrived, without waiting, shows its end. The server's
 * last words come first (an error saying why), the end of the stream on
 * the next read; both are parsed here, so nothing is left in libpq's
 * buffer for the next statement to take for its own answer.
 */
static bool pg_reusable(store_t *store)
{
	struct store__pg *pg = store__pg(store);
	if (pg->txn || PQstatus(pg->conn) != CONNECTION_OK ||
	    PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
		return false;
	bool up = PQconsumeInput(pg->conn) == 1 && PQconsumeInput(pg->conn) == 1;
	(void)PQisBusy(pg->conn); /* parses it: an error while idle is a notice */
	return up && PQstatus(pg->conn) == CONNECTION_OK;
}

const struct store__driver store__pg_driver = {
	.name = "postgresql",
	.handle_size = sizeof(struct store__pg),
	/* Every call is a network round trip: never on an event loop. */
	.nowait_loop_safe = false,
	.parallel_writers = 2,
	/* A connection is a server process: a few, shared by the workers. */
	.pooled = true,
	.sql = store__pg_sql,

	.open = store__pg_open,
	.close = store__pg_close,
	.schema_version = store__pg_schema_version,
	.check = pg_check,
	.reusable = pg_reusable,
	.listen = store__pg_listen,
	.listen_fd = store__pg_listen_fd,
	.listen_drain = store__pg_listen_drain,

	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.column_int64 = pg_column_int64,
	.column_text = pg_column_text,
	.column_blob = pg_column_blob,
	.column_is_null = pg_column_is_null,
	.changes = pg_changes,
	.reset = pg_reset,

	.begin = pg_begin,
	.lock_keys = pg_lock_keys,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.in_transaction = pg_in_transaction,
};
