/*
 * store_check.c - `mailctl db check`: the database engine's own checks
 * (the driver's: sqlite/sqlite_check.c) and ours, over one read snapshot so
 * a concurrent delivery cannot show up as a half-written body.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_address.h"
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

/* The driver's check reports through this. */
static void report_cb(void *ctx, const char *problem)
{
	report(ctx, problem);
}

/* Formats one problem from a result row. */
typedef void check_row_fn(struct check *c, store__stmt_t *stmt, char *buf, size_t len);

static int run_check(struct check *c, enum store__stmt_id id, check_row_fn *fn, const char *what)
{
	store__stmt_t *stmt;
	char buf[512];
	STORE__STMT_OR_RETURN(stmt, c->store, id);
	int rc;
	while ((rc = store__step(stmt, what)) == STORE__ROW) {
		buf[0] = '\0';
		fn(c, stmt, buf, sizeof(buf));
		if (buf[0] != '\0')
			report(c, buf);
	}
	store__reset(stmt);
	return rc;
}

static void row_orphan_chunks(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "chunks of message %lld have no message row",
	         (long long)store__column_int64(stmt, 0));
}

static void row_message_size(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "message %lld has size %lld but its chunks hold %lld octets",
	         (long long)store__column_int64(stmt, 0), (long long)store__column_int64(stmt, 1),
	         (long long)store__column_int64(stmt, 2));
}

static void row_chunk_sequence(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "message %lld: %lld chunks numbered %lld..%lld (gaps)",
	         (long long)store__column_int64(stmt, 0), (long long)store__column_int64(stmt, 1),
	         (long long)store__column_int64(stmt, 2), (long long)store__column_int64(stmt, 3));
}

static void row_entry_size(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "mailbox entry %lld has size %lld but its message has %lld",
	         (long long)store__column_int64(stmt, 0), (long long)store__column_int64(stmt, 1),
	         (long long)store__column_int64(stmt, 2));
}

static void row_unreferenced(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	snprintf(buf, len, "message %lld is referenced by no mailbox and no queue item",
	         (long long)store__column_int64(stmt, 0));
}

static void row_usage(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	const char *address = store__column_str(stmt, 0);
	snprintf(buf, len, "mailbox %s is counted as %lld octets in %lld messages but holds "
	         "%lld octets in %lld", address != NULL ? address : "?",
	         (long long)store__column_int64(stmt, 1), (long long)store__column_int64(stmt, 2),
	         (long long)store__column_int64(stmt, 3), (long long)store__column_int64(stmt, 4));
}


/* ---- addresses (store_address_problems) ------------------------------- */

static void row_user_conflict(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	const char *names = store__column_str(stmt, 0);
	char first[STORE__ADDRESS_BUF];
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(names != NULL ? names : "", " "),
	         names != NULL ? names : "");
	snprintf(buf, len, "users differ only by case: %s (each takes mail and logins under its "
	         "own spelling, other spellings go to %s)", names != NULL ? names : "?", first);
}

static void row_alias_conflict(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	const char *names = store__column_str(stmt, 0);
	char first[STORE__ADDRESS_BUF];
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(names != NULL ? names : "", " "),
	         names != NULL ? names : "");
	snprintf(buf, len, "aliases differ only by case: %s (each keeps its own targets, other "
	         "spellings go to %s)", names != NULL ? names : "?", first);
}

static void row_alias_hidden(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	const char *alias = store__column_str(stmt, 0);
	const char *user = store__column_str(stmt, 1);
	snprintf(buf, len, "alias %s is never used: user %s differs from it only by case",
	         alias != NULL ? alias : "?", user != NULL ? user : "?");
}

/* Writes a problem when a stored address is not one the rules accept as
 * it stands. */
static void check_address(const char *what, const char *addr, char *buf, size_t len)
{
	char canon[STORE__ADDRESS_BUF];
	enum smtp_address_error e = smtp_address_normalize(addr, canon, sizeof(canon));
	if (e != SMTP_ADDRESS_OK)
		snprintf(buf, len, "%s %s is not a valid address (%s): no mail can reach it",
		         what, addr, smtp_address_strerror(e));
	else if (strcmp(canon, addr) != 0)
		snprintf(buf, len, "%s %s is not in canonical form: mail to %s does not reach it",
		         what, addr, canon);
}

static void row_user_address(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	const char *addr = store__column_str(stmt, 0);
	check_address("user", addr != NULL ? addr : "", buf, len);
}

static void row_alias_address(struct check *c, store__stmt_t *stmt, char *buf, size_t len)
{
	const char *addr = store__column_str(stmt, 0);
	const char *target = store__column_str(stmt, 1);
	check_address("alias", addr != NULL ? addr : "", buf, len);
	if (buf[0] == '\0') {
		char what[STORE__ADDRESS_BUF + 32];
		snprintf(what, sizeof(what), "target of alias %s:", addr != NULL ? addr : "?");
		check_address(what, target != NULL ? target : "", buf, len);
	}
}

static const struct {
	enum store__stmt_id id;
	check_row_fn *fn;
	const char *what;
} address_checks[] = {
	{ STORE__CHECK_USER_CONFLICTS, row_user_conflict, "user case check" },
	{ STORE__CHECK_ALIAS_CONFLICTS, row_alias_conflict, "alias case check" },
	{ STORE__CHECK_ALIAS_HIDDEN, row_alias_hidden, "hidden alias check" },
	{ STORE__CHECK_USER_ADDRESSES, row_user_address, "user address check" },
	{ STORE__CHECK_ALIAS_ADDRESSES, row_alias_address, "alias address check" },
};

static int run_address_checks(struct check *c)
{
	int err = STORE_OK;
	for (size_t i = 0; err == STORE_OK && i < sizeof(address_checks) / sizeof(address_checks[0]); i++)
		err = run_check(c, address_checks[i].id, address_checks[i].fn, address_checks[i].what);
	return err;
}

int store_address_problems(store_t *store, store_problem_cb *cb, void *ctx)
{
	struct check c = { .store = store, .cb = cb, .ctx = ctx };
	int err = store__begin_read(store);
	if (err == STORE_OK)
		err = run_address_checks(&c);
	store__end_read(store);
	return err != STORE_OK ? err : (int)c.problems;
}

/* ---- everything (store_check) ---------------------------------------- */

static const struct {
	enum store__stmt_id id;
	check_row_fn *fn;
	const char *what;
} checks[] = {
	{ STORE__CHECK_ORPHAN_CHUNKS, row_orphan_chunks, "orphan chunk check" },
	{ STORE__CHECK_MESSAGE_SIZES, row_message_size, "message size check" },
	{ STORE__CHECK_CHUNK_SEQUENCE, row_chunk_sequence, "chunk sequence check" },
	{ STORE__CHECK_ENTRY_SIZES, row_entry_size, "entry size check" },
	{ STORE__CHECK_UNREFERENCED, row_unreferenced, "unreferenced body check" },
	{ STORE__CHECK_USAGE, row_usage, "mailbox usage check" },
};

int store_check(store_t *store, store_problem_cb *cb, void *ctx)
{
	struct check c = { .store = store, .cb = cb, .ctx = ctx };
	int err = store__begin_read(store);
	if (err == STORE_OK)
		err = store->drv->check(store, report_cb, &c);
	for (size_t i = 0; err == STORE_OK && i < sizeof(checks) / sizeof(checks[0]); i++)
		err = run_check(&c, checks[i].id, checks[i].fn, checks[i].what);
	if (err == STORE_OK)
		err = run_address_checks(&c);
	store__end_read(store);
	if (err != STORE_OK)
		return err;
	if (c.problems > 0)
		return store__fail(store, STORE_ECORRUPT, "%u problem%s found", c.problems,
		                   c.problems == 1 ? "" : "s");
	return STORE_OK;
}
