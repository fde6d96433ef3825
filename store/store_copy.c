/*
 * store_copy.c - a whole database into an empty one, on either backend
 * (store.h store_copy): one read snapshot of the source, one write
 * transaction on the target, every table read in keyset pages and written
 * row by row through the statement driver, with its ids and their
 * high-water marks.
 *
 * Tables go in foreign key order (domains before users, bodies before
 * their chunks and entries), so the target's constraints hold after each
 * row. mailbox_usage is not read: the target's triggers count the entries
 * as they arrive. pop3_locks is not read either (leases of sessions on the
 * source), and queue rows are read without their lease.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "store-private.h"

/* Rows of a table per page: one page is all a backend that buffers whole
 * results (libpq) holds at once. */
#define COPY_PAGE_ROWS 512
/* Body chunks per page: at most 1 MiB of bodies in memory at once. */
#define COPY_PAGE_CHUNKS 16
/* The one text key (dkim_keys.domain) is a domain name: at most 255
 * octets (RFC 1035 2.3.4), and the store keeps no longer one. */
#define COPY_TEXT_KEY_BUF 256

#define NO_COUNTER SIZE_MAX

/* How a table's pages are keyed. */
enum copy_key {
	KEY_ID,    /* column 0, an integer id: ?1, the limit ?2 */
	KEY_TEXT,  /* column 0, text: ?1, the limit ?2 */
	KEY_CHUNK, /* columns 0 and 1, (message_id, seq): ?1, ?2, the limit ?3 */
};

struct copy_table {
	const char *name;
	enum store__stmt_id read, write;
	/* One letter per column, read and written in the same order:
	 * i integer, t text, b blob. */
	const char *columns;
	enum copy_key key;
	int page;
	size_t counter; /* offsetof the store_copy_stats field it counts, or NO_COUNTER */
};

#define COUNTER(field) offsetof(struct store_copy_stats, field)

static const struct copy_table copy_tables[] = {
	{"domains", STORE__COPY_DOMAINS_READ, STORE__COPY_DOMAINS_WRITE, "it", KEY_ID,
	 COPY_PAGE_ROWS, COUNTER(domains)},
	{"users", STORE__COPY_USERS_READ, STORE__COPY_USERS_WRITE, "iittiiiti", KEY_ID,
	 COPY_PAGE_ROWS, COUNTER(users)},
	{"aliases", STORE__COPY_ALIASES_READ, STORE__COPY_ALIASES_WRITE, "iitttti", KEY_ID,
	 COPY_PAGE_ROWS, COUNTER(aliases)},
	{"dkim_keys", STORE__COPY_DKIM_READ, STORE__COPY_DKIM_WRITE, "ttti", KEY_TEXT,
	 COPY_PAGE_ROWS, COUNTER(dkim_keys)},
	{"messages", STORE__COPY_MESSAGES_READ, STORE__COPY_MESSAGES_WRITE, "iii", KEY_ID,
	 COPY_PAGE_ROWS, COUNTER(messages)},
	/* Their octets count as stats.bytes (the blob column). */
	{"message_chunks", STORE__COPY_CHUNKS_READ, STORE__CHUNK_ADD, "iib", KEY_CHUNK,
	 COPY_PAGE_CHUNKS, NO_COUNTER},
	{"mailbox_entries", STORE__COPY_ENTRIES_READ, STORE__COPY_ENTRIES_WRITE, "iiiii", KEY_ID,
	 COPY_PAGE_ROWS, COUNTER(entries)},
	{"queue", STORE__COPY_QUEUE_READ, STORE__COPY_QUEUE_WRITE, "iittiiiitititi", KEY_ID,
	 COPY_PAGE_ROWS, COUNTER(queue)},
};

#define COPY_TABLES (sizeof(copy_tables) / sizeof(copy_tables[0]))

struct copy {
	store_t *src, *dst;
	store_t *failed; /* the side whose message explains the failure */
	store_copy_progress_cb *progress;
	void *ctx;
	struct store_copy_stats stats;
	/* Per KEY_ID table: the largest id copied (a mark never lower). */
	int64_t max_id[COPY_TABLES];
};

/* Remembers which handle holds the message of a failure; returns rc. */
static int failed_on(struct copy *c, store_t *side, int rc)
{
	if (rc < 0 && c->failed == NULL)
		c->failed = side;
	return rc;
}

static store__stmt_t *stmt_on(struct copy *c, store_t *side, enum store__stmt_id id)
{
	store__stmt_t *stmt = store__stmt(side, id);
	if (stmt == NULL)
		failed_on(c, side, side->last_err);
	return stmt;
}

/* Both ends hold this program's schema: a handle is opened at it, but
 * another program may have changed the file since. */
static int check_version(struct copy *c, store_t *side, const char *advice)
{
	int version = 0;
	int rc = side->drv->schema_version(side, &version);
	if (rc == STORE_OK && version != STORE__SCHEMA_VERSION)
		rc = store__fail(side, STORE_ECORRUPT,
		                 "database schema version %d is not this program's (%d): %s", version,
		                 STORE__SCHEMA_VERSION, advice);
	return failed_on(c, side, rc);
}

/* Inside the target's write transaction, so nobody fills it meanwhile. */
static int check_target_empty(struct copy *c)
{
	store__stmt_t *used = stmt_on(c, c->dst, STORE__COPY_TARGET_USED);
	if (used == NULL)
		return c->dst->last_err;
	int rc = store__step(used, "look for rows in the target");
	if (rc == STORE__ROW)
		rc = store__fail(c->dst, STORE_EEXIST,
		                 "not empty (table %s has rows): the copy needs a new or empty database",
		                 store__column_str(used, 0));
	store__reset(used);
	return failed_on(c, c->dst, rc);
}

/* Binds one column of the source's current row to the same parameter of
 * the target's insert. The pointers stay valid until the source steps. */
static void bind_column(struct copy *c, char type, store__stmt_t *r, store__stmt_t *w, int col)
{
	size_t len = 0;
	if (store__column_is_null(r, col)) {
		store__bind_null(w, col + 1);
		return;
	}
	switch (type) {
	case 'i':
		store__bind_int64(w, col + 1, store__column_int64(r, col));
		break;
	case 't': {
		const char *text = store__column_text(r, col, &len);
		store__bind_textn(w, col + 1, text != NULL ? text : "", len);
		break;
	}
	default: {
		/* An empty blob may come back as NULL data: bind it as empty, not NULL. */
		const void *data = store__column_blob(r, col, &len);
		store__bind_blob(w, col + 1, data != NULL ? data : "", len);
		c->stats.bytes += len;
		break;
	}
	}
}

static void count_row(struct copy *c, const struct copy_table *t)
{
	if (t->counter != NO_COUNTER)
		(*(uint64_t *)((char *)&c->stats + t->counter))++;
}

/* The key of a page: what comes after the last row copied. */
struct page_key {
	int64_t id, seq;
	char text[COPY_TEXT_KEY_BUF];
};

static void bind_key(store__stmt_t *r, const struct copy_table *t, const struct page_key *key)
{
	switch (t->key) {
	case KEY_ID:
		store__bind_int64(r, 1, key->id);
		store__bind_int(r, 2, t->page);
		break;
	case KEY_TEXT:
		store__bind_text(r, 1, key->text);
		store__bind_int(r, 2, t->page);
		break;
	case KEY_CHUNK:
		store__bind_int64(r, 1, key->id);
		store__bind_int64(r, 2, key->seq);
		store__bind_int(r, 3, t->page);
		break;
	}
}

/* Reads the current row's key into *next (not the bound one: SQLite may
 * read a bound text while it steps). */
static int save_key(struct copy *c, const struct copy_table *t, store__stmt_t *r,
                    struct page_key *next)
{
	size_t len = 0;
	const char *text;
	switch (t->key) {
	case KEY_ID:
		next->id = store__column_int64(r, 0);
		break;
	case KEY_CHUNK:
		next->id = store__column_int64(r, 0);
		next->seq = store__column_int64(r, 1);
		break;
	case KEY_TEXT:
		text = store__column_text(r, 0, &len);
		if (text == NULL || len >= sizeof(next->text) || memchr(text, '\0', len) != NULL)
			return failed_on(c, c->src,
			                 store__fail(c->src, STORE_ECORRUPT,
			                             "copy %s: a key that is no domain name", t->name));
		memcpy(next->text, text, len);
		next->text[len] = '\0';
		break;
	}
	return STORE_OK;
}

/* One table, page by page; each row is inserted before the source steps on. */
static int copy_table(struct copy *c, size_t index)
{
	const struct copy_table *t = &copy_tables[index];
	store__stmt_t *r = stmt_on(c, c->src, t->read);
	store__stmt_t *w = r != NULL ? stmt_on(c, c->dst, t->write) : NULL;
	if (r == NULL || w == NULL)
		return c->failed->last_err;
	char read_what[64], write_what[64];
	snprintf(read_what, sizeof(read_what), "copy %s: read", t->name);
	snprintf(write_what, sizeof(write_what), "copy %s: write", t->name);
	int ncols = (int)strlen(t->columns);
	struct page_key key = {0}, next = {0};

	for (;;) {
		bind_key(r, t, &key);
		int rows = 0, rc;
		while ((rc = store__step(r, read_what)) == STORE__ROW) {
			rows++;
			for (int col = 0; col < ncols; col++)
				bind_column(c, t->columns[col], r, w, col);
			int wrc = store__step(w, write_what);
			store__reset(w);
			if (wrc < 0) {
				rc = failed_on(c, c->dst, wrc);
				break;
			}
			count_row(c, t);
			rc = save_key(c, t, r, &next);
			if (rc < 0)
				break;
			if (t->key == KEY_ID && next.id > c->max_id[index])
				c->max_id[index] = next.id;
		}
		store__reset(r);
		if (rc < 0)
			return failed_on(c, c->src, rc);
		key = next;
		if (c->progress != NULL)
			c->progress(c->ctx, t->name, &c->stats);
		if (rows < t->page)
			return STORE_OK;
	}
}

/* An integer from a one-row statement with the table name as ?1 (and an
 * optional ?2), run on one side; *changes_r gets its changes(). */
static int run_id_stmt(struct copy *c, store_t *side, enum store__stmt_id id, const char *table,
                       int64_t value, int64_t *result_r, int64_t *changes_r, const char *what)
{
	store__stmt_t *stmt = stmt_on(c, side, id);
	if (stmt == NULL)
		return side->last_err;
	store__bind_text(stmt, 1, table);
	if (id != STORE__COPY_ID_LAST)
		store__bind_int64(stmt, 2, value);
	int rc = store__step(stmt, what);
	if (rc == STORE__ROW && result_r != NULL)
		*result_r = store__column_int64(stmt, 0);
	while (rc == STORE__ROW)
		rc = store__step(stmt, what);
	store__reset(stmt);
	if (rc == STORE_OK && changes_r != NULL)
		*changes_r = store__changes(stmt);
	return failed_on(c, side, rc);
}

/*
 * Each id table's high-water mark: the larger of the source's (ids it gave
 * out or reserved, rows since deleted included) and the largest id copied,
 * raised to on the target, so the target never hands out an id the
 * source's clients may have seen (an old POP3 unique id, a queue id).
 */
static int copy_id_marks(struct copy *c)
{
	for (size_t i = 0; i < COPY_TABLES; i++) {
		const struct copy_table *t = &copy_tables[i];
		if (t->key != KEY_ID)
			continue;
		int64_t mark = 0, changes = 0;
		int rc = run_id_stmt(c, c->src, STORE__COPY_ID_LAST, t->name, 0, &mark, NULL,
		                     "read an id high-water mark");
		if (rc < 0)
			return rc;
		if (c->max_id[i] > mark)
			mark = c->max_id[i];
		if (mark <= 0)
			continue;
		rc = run_id_stmt(c, c->dst, STORE__COPY_ID_SET, t->name, mark, NULL, &changes,
		                 "set an id high-water mark");
		if (rc == STORE_OK && changes == 0)
			rc = run_id_stmt(c, c->dst, STORE__COPY_ID_INIT, t->name, mark, NULL, NULL,
			                 "set an id high-water mark");
		if (rc < 0)
			return rc;
	}
	return STORE_OK;
}

static int copy_all(struct copy *c)
{
	int rc = failed_on(c, c->dst, store__begin_write(c->dst));
	if (rc == STORE_OK)
		rc = check_version(c, c->dst, "copy into a new database");
	if (rc == STORE_OK)
		rc = check_target_empty(c);
	if (rc == STORE_OK)
		rc = failed_on(c, c->src, store__begin_read(c->src));
	if (rc == STORE_OK)
		rc = check_version(c, c->src, "run `mailctl db migrate` on it first");
	for (size_t i = 0; rc == STORE_OK && i < COPY_TABLES; i++)
		rc = copy_table(c, i);
	if (rc == STORE_OK)
		rc = copy_id_marks(c);
	store__end_read(c->src);
	if (rc == STORE_OK)
		return failed_on(c, c->dst, store__commit(c->dst));
	store__rollback(c->dst);
	return rc;
}

int store_copy(store_t *src, store_t *dst, store_copy_progress_cb *progress, void *ctx,
               struct store_copy_stats *stats_r, char *err, size_t errlen)
{
	struct copy c = {.src = src, .dst = dst, .progress = progress, .ctx = ctx};
	int rc = copy_all(&c);
	if (stats_r != NULL)
		*stats_r = c.stats;
	if (rc == STORE_OK) {
		if (progress != NULL)
			progress(ctx, "done", &c.stats);
		return STORE_OK;
	}
	if (err != NULL && errlen > 0) {
		store_t *side = c.failed != NULL ? c.failed : dst;
		snprintf(err, errlen, "%s: %s", side == src ? "source" : "target", store_errmsg(side));
	}
	return rc;
}
