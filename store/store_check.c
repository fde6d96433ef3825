/*
 * store_check.c - `mailctl db check`: SQLite's own integrity checks and
 * ours, over one read snapshot so a concurrent delivery cannot show up as
 * a half-written body.
 */
#include <stdio.h>
#include <string.h>

#include "store-private.h"

struct check {
	store_t *store;
	store_problem_cb *cb;
	void *ctx;
	unsigned problems;
};

static void report(struct check *c, const char *problem)
{
	c->problems++;
	c->cb(c->ctx, problem);
}

/* Formats one problem from a result row. */
typedef void check_row_fn(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len);

static int run_check(struct check *c, enum store__stmt_id id, check_row_fn *fn, const char *what)
{
	sqlite3_stmt *stmt;
	char buf[512];
	STORE__STMT_OR_RETURN(stmt, c->store, id);
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		buf[0] = '\0';
		fn(c, stmt, buf, sizeof(buf));
		if (buf[0] != '\0')
			report(c, buf);
	}
	int err = rc == SQLITE_DONE ? STORE_OK : store__sqlite_fail(c->store, rc, what);
	store__reset(stmt);
	return err;
}

static void row_integrity(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	const char *text = (const char *)sqlite3_column_text(stmt, 0);
	if (text != NULL && strcmp(text, "ok") != 0)
		snprintf(buf, len, "integrity: %s", text);
}

static void row_foreign_key(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	const char *table = (const char *)sqlite3_column_text(stmt, 0);
	const char *parent = (const char *)sqlite3_column_text(stmt, 2);
	snprintf(buf, len, "foreign key: %s row %lld refers to a missing %s row",
	         table != NULL ? table : "?", (long long)sqlite3_column_int64(stmt, 1),
	         parent != NULL ? parent : "?");
}

static void row_orphan_chunks(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "chunks of message %lld have no message row",
	         (long long)sqlite3_column_int64(stmt, 0));
}

static void row_message_size(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "message %lld has size %lld but its chunks hold %lld octets",
	         (long long)sqlite3_column_int64(stmt, 0), (long long)sqlite3_column_int64(stmt, 1),
	         (long long)sqlite3_column_int64(stmt, 2));
}

static void row_chunk_sequence(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "message %lld: %lld chunks numbered %lld..%lld (gaps)",
	         (long long)sqlite3_column_int64(stmt, 0), (long long)sqlite3_column_int64(stmt, 1),
	         (long long)sqlite3_column_int64(stmt, 2), (long long)sqlite3_column_int64(stmt, 3));
}

static void row_entry_size(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "mailbox entry %lld has size %lld but its message has %lld",
	         (long long)sqlite3_column_int64(stmt, 0), (long long)sqlite3_column_int64(stmt, 1),
	         (long long)sqlite3_column_int64(stmt, 2));
}

static void row_unreferenced(struct check *c, sqlite3_stmt *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "message %lld is referenced by no mailbox and no queue item",
	         (long long)sqlite3_column_int64(stmt, 0));
}

static const struct {
	enum store__stmt_id id;
	check_row_fn *fn;
	const char *what;
} checks[] = {
	{ STORE__CHECK_INTEGRITY, row_integrity, "integrity check" },
	{ STORE__CHECK_FOREIGN_KEYS, row_foreign_key, "foreign key check" },
	{ STORE__CHECK_ORPHAN_CHUNKS, row_orphan_chunks, "orphan chunk check" },
	{ STORE__CHECK_MESSAGE_SIZES, row_message_size, "message size check" },
	{ STORE__CHECK_CHUNK_SEQUENCE, row_chunk_sequence, "chunk sequence check" },
	{ STORE__CHECK_ENTRY_SIZES, row_entry_size, "entry size check" },
	{ STORE__CHECK_UNREFERENCED, row_unreferenced, "unreferenced body check" },
};

int store_check(store_t *store, store_problem_cb *cb, void *ctx)
{
	struct check c = { .store = store, .cb = cb, .ctx = ctx };
	int err = store__begin_read(store);
	for (size_t i = 0; err == STORE_OK && i < sizeof(checks) / sizeof(checks[0]); i++)
		err = run_check(&c, checks[i].id, checks[i].fn, checks[i].what);
	store__end_read(store);
	if (err != STORE_OK)
		return err;
	if (c.problems > 0)
		return store__fail(store, STORE_ECORRUPT, "%u problem%s found", c.problems,
		                   c.problems == 1 ? "" : "s");
	return STORE_OK;
}
