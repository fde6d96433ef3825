/*
 * test_store_copy.c - store_copy: a whole installation into an empty
 * database, every table's rows identical afterwards (ids, flags, sizes,
 * body octets, queue state), id high-water marks carried over so new ids
 * never collide with old ones, and the refusals: a target that holds
 * anything, a source at another schema version, and a copy that fails
 * half-way (the target is empty again).
 *
 * The source is always a SQLite file. SQLite to SQLite always runs; with
 * MAIL_TEST_PG_URI (ctest's pg/test_store_copy) SQLite to PostgreSQL and
 * back runs too, on the shared database, whose schema the test empties.
 */
#include <inttypes.h>

#include "test_store_util.h"

#define MESSAGES_BEFORE_BIG 14       /* one-chunk bodies before the big one */
#define BIG_SIZE (3 * 65536 + 8191)  /* four chunks, across a chunk page */

struct copy_fixture {
	char dir[1024];
	char src[1100];
	store_t *store; /* on src */
};

/* Every table's contents, in key order, the same SQL on both backends. */
static const struct {
	const char *table;
	const char *sql;
} dumps[] = {
	{"domains", "SELECT id, name FROM domains ORDER BY id"},
	{"users", "SELECT id, domain_id, address, hash, disabled, quota, created, address_key,"
	          " case_conflict FROM users ORDER BY id"},
	{"aliases", "SELECT id, domain_id, address, target, address_key, target_key, case_conflict"
	            " FROM aliases ORDER BY id"},
	{"dkim_keys", "SELECT domain, selector, private_key, created FROM dkim_keys ORDER BY domain"},
	{"messages", "SELECT id, size, created FROM messages ORDER BY id"},
	{"message_chunks", "SELECT message_id, seq, data FROM message_chunks ORDER BY message_id, seq"},
	{"mailbox_entries", "SELECT id, user_id, message_id, size, created FROM mailbox_entries"
	                    " ORDER BY id"},
	/* Without the lease, which the copy drops (checked on its own). */
	{"queue", "SELECT id, message_id, sender, recipient, attempts, created, next_attempt, state,"
	          " last_error, dsn_notify, dsn_orcpt, dsn_ret, dsn_envid, delay_warned FROM queue"
	          " ORDER BY id"},
	/* Recounted on the target: compared per user, a missing row as zero. */
	{"mailbox_usage", "SELECT u.id, COALESCE(q.bytes, 0), COALESCE(q.messages, 0) FROM users u"
	                  " LEFT JOIN mailbox_usage q ON q.user_id = u.id ORDER BY u.id"},
};

#define NDUMPS (sizeof(dumps) / sizeof(dumps[0]))

/* The tables whose ids are never reused (AUTOINCREMENT in SQLite). */
static const char *const marked_tables[] = {"messages", "mailbox_entries", "queue"};

/* Rows as lines of '|'-separated columns: integers in decimal, text as it
 * is, blobs in lower-case hex, NULL as NULL. Caller frees. */
static char *dump(const char *db, const char *sql)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	if (tsu_is_pg(db)) {
		PGconn *conn = tsu_pg_connect(db);
		PGresult *res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			print_error("%s: %s\n", sql, PQresultErrorMessage(res));
		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		for (int r = 0; r < PQntuples(res); r++) {
			for (int c = 0; c < PQnfields(res); c++) {
				const char *v = PQgetvalue(res, r, c);
				if (PQgetisnull(res, r, c))
					v = "NULL";
				else if (PQftype(res, c) == 17 /* bytea, as \x and hex */)
					v += 2;
				fprintf(f, "%s%s", c > 0 ? "|" : "", v);
			}
			fputc('\n', f);
		}
		PQclear(res);
		PQfinish(conn);
	} else {
		sqlite3 *conn = NULL;
		sqlite3_stmt *stmt = NULL;
		assert_int_equal(sqlite3_open_v2(db, &conn, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		if (sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL) != SQLITE_OK)
			print_error("%s: %s\n", sql, sqlite3_errmsg(conn));
		assert_non_null(stmt);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(stmt); c++) {
				if (c > 0)
					fputc('|', f);
				switch (sqlite3_column_type(stmt, c)) {
				case SQLITE_NULL:
					fputs("NULL", f);
					break;
				case SQLITE_INTEGER:
					fprintf(f, "%lld", (long long)sqlite3_column_int64(stmt, c));
					break;
				case SQLITE_BLOB: {
					const unsigned char *b = sqlite3_column_blob(stmt, c);
					int n = sqlite3_column_bytes(stmt, c);
					for (int i = 0; i < n; i++)
						fprintf(f, "%02x", b[i]);
					break;
				}
				default:
					fputs((const char *)sqlite3_column_text(stmt, c), f);
					break;
				}
			}
			fputc('\n', f);
		}
		sqlite3_finalize(stmt);
		sqlite3_close(conn);
	}
	assert_int_equal(fclose(f), 0);
	return out;
}

/* Asserts that two databases hold the same rows in every table. */
static void assert_same_contents(const char *a, const char *b)
{
	for (size_t i = 0; i < NDUMPS; i++) {
		char *da = dump(a, dumps[i].sql), *db = dump(b, dumps[i].sql);
		if (strcmp(da, db) != 0)
			fail_msg("table %s differs between %s and %s:\n%.1500s\n--- and ---\n%.1500s",
			         dumps[i].table, a, b, da, db);
		free(da);
		free(db);
	}
}

static int64_t count_rows(const char *db, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	return tsu_query_int(db, sql);
}

/* Every table of the schema holds no row. */
static void assert_empty(const char *db)
{
	static const char *const tables[] = {"domains", "users", "aliases", "dkim_keys", "messages",
	                                     "message_chunks", "mailbox_entries", "mailbox_usage",
	                                     "queue", "pop3_locks"};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (count_rows(db, tables[i]) != 0)
			fail_msg("%s: table %s is not empty", db, tables[i]);
}

/* A table's id high-water mark: the largest id it ever gave out. */
static int64_t id_mark(const char *db, const char *table)
{
	char sql[256];
	if (tsu_is_pg(db))
		snprintf(sql, sizeof(sql), "SELECT COALESCE(pg_sequence_last_value("
		         "pg_get_serial_sequence('%s', 'id')::regclass), 0)", table);
	else
		snprintf(sql, sizeof(sql),
		         "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '%s'), 0)", table);
	return tsu_query_int(db, sql);
}

static int64_t max_id(const char *db, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT COALESCE(MAX(id), 0) FROM %s", table);
	return tsu_query_int(db, sql);
}

static void deliver_body(store_t *s, const char *local1, const char *local2, const char *remote,
                         const void *body, size_t len)
{
	store_delivery_t *d = NULL;
	assert_int_equal(store_delivery_new("sender@remote.test", NULL, &d), STORE_OK);
	if (local1 != NULL)
		assert_int_equal(store_delivery_add_local(d, local1), STORE_OK);
	if (local2 != NULL)
		assert_int_equal(store_delivery_add_local(d, local2), STORE_OK);
	if (remote != NULL)
		assert_int_equal(store_delivery_add_remote_dsn(d, remote, 0x5, "rfc822;orig@far.test"),
		                 STORE_OK);
	assert_int_equal(store_delivery_set_dsn(d, 2, "envelope-42"), STORE_OK);
	assert_int_equal(store_delivery_write(d, body, len), STORE_OK);
	TSU_OK(s, store_deliver(s, d));
	store_delivery_free(&d);
}

/* The oldest or the newest entry of a mailbox (its POP3 unique id). */
static int64_t entry_at(store_t *s, const char *mailbox, bool newest)
{
	struct store_entry *entries = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, mailbox, &entries, &n));
	assert_true(n > 0);
	int64_t id = entries[newest ? n - 1 : 0].id;
	free(entries);
	return id;
}

static void delete_entry(store_t *s, const char *mailbox, int64_t id)
{
	TSU_OK(s, store_lease_acquire(s, mailbox, "test:1", 60));
	TSU_OK(s, store_mailbox_delete(s, mailbox, "test:1", &id, 1));
	TSU_OK(s, store_lease_release(s, mailbox, "test:1"));
}

/*
 * An installation with something in every table and in every column:
 * quotas, a disabled user, aliases (one to a remote address), a DKIM key,
 * one body for two mailboxes, bodies of every octet value and of several
 * chunks, deleted entries and bodies (marks above the largest id),
 * reserved message ids, queue rows pending, deferred with an error and a
 * warning, failed, and one leased, and a maildrop lease.
 */
static void populate(store_t *s, const char *db)
{
	tsu_populate(s);
	tsu_exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
	             " WHERE i < 600)"
	             " INSERT INTO domains (name) SELECT 'd' || i || '.test' FROM n");
	TSU_OK(s, store_user_set_quota(s, "alice@example.test", 10 * 1024 * 1024));
	TSU_OK(s, store_alias_add(s, "postmaster@example.test", "alice@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "team@example.test", "alice@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "team@example.test", "bob@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "team@example.test", "Far@Remote.test", NULL, 0));
	TSU_OK(s, store_dkim_key_set(s, "example.test", "sel1", "-----BEGIN PRIVATE KEY-----\n"
	                                                        "MIIE...\n-----END PRIVATE KEY-----\n"));

	char small[64];
	for (int i = 0; i < MESSAGES_BEFORE_BIG; i++) {
		int n = snprintf(small, sizeof(small), "Subject: %d\r\n\r\nbody %d\r\n", i, i);
		deliver_body(s, i % 2 ? "alice@example.test" : "bob@example.test",
		             i % 3 ? NULL : "carol@other.test", NULL, small, (size_t)n);
	}
	unsigned char *big = malloc(BIG_SIZE);
	assert_non_null(big);
	for (size_t i = 0; i < BIG_SIZE; i++)
		big[i] = (unsigned char)(i * 7 + i / 256);
	deliver_body(s, "alice@example.test", "bob@example.test", NULL, big, BIG_SIZE);
	free(big);
	deliver_body(s, "alice@example.test", NULL, "x@far.test", "Subject: both\r\n\r\n", 17);
	deliver_body(s, NULL, NULL, "y@far.test", "Subject: y\r\n\r\n", 14);
	deliver_body(s, NULL, NULL, "z@far.test", "Subject: z\r\n\r\n", 14);
	deliver_body(s, NULL, NULL, "w@far.test", "Subject: w\r\n\r\n", 14);

	TSU_OK(s, store_user_set_disabled(s, "carol@other.test", 1));

	/* A gap in the entries, and the newest entry and its body gone:
	 * both marks above the largest id left. */
	delete_entry(s, "bob@example.test", entry_at(s, "bob@example.test", false));
	deliver_body(s, "bob@example.test", NULL, NULL, "Subject: gone\r\n\r\n", 17);
	delete_entry(s, "bob@example.test", entry_at(s, "bob@example.test", true));
	int64_t first = 0;
	TSU_OK(s, store_message_ids_reserve(s, 5, &first));

	/* Queue rows in every state: x pending, y deferred with an error and
	 * a warning, z failed, w claimed (its lease is not copied). */
	struct store_queue_item *items = NULL;
	size_t n = 0;
	TSU_OK(s, store_queue_claim(s, "runner", 300, 10, &items, &n));
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(items[i].recipient, "y@far.test") == 0)
			TSU_OK(s, store_queue_defer(s, items[i].id, "runner", 600, "451 4.4.1 no answer"));
		else if (strcmp(items[i].recipient, "z@far.test") == 0)
			TSU_OK(s, store_queue_fail(s, items[i].id, "runner", "550 5.1.1 no such user"));
	}
	free(items);
	tsu_exec(db, "UPDATE queue SET delay_warned = 1 WHERE recipient = 'y@far.test'");
	/* x back to unclaimed (the runner would hand back only all of its rows). */
	tsu_exec(db, "UPDATE queue SET lease_owner = NULL, lease_until = NULL"
	             " WHERE recipient = 'x@far.test'");
	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "pop3:session", 600));
	tsu_check_clean(s);
}

static int setup(void **state)
{
	struct copy_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	testutil_mkdtemp(f->dir, sizeof(f->dir));
	testutil_path(f->src, sizeof(f->src), f->dir, "src.db");
	f->store = tsu_open(f->src, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE);
	*state = f;
	return 0;
}

static int setup_populated(void **state)
{
	setup(state);
	struct copy_fixture *f = *state;
	populate(f->store, f->src);
	return 0;
}

static int teardown(void **state)
{
	struct copy_fixture *f = *state;
	store_close(&f->store);
	testutil_rmtree(f->dir);
	free(f);
	return 0;
}

/* A target at `db` with no rows: a new file, or the PostgreSQL database
 * with its schema dropped, given the schema by STORE_OPEN_INIT. */
static store_t *open_target(const char *db)
{
	if (tsu_is_pg(db))
		tsu_pg_exec(db, "SET client_min_messages = warning;"
		                " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public");
	return tsu_open(db, STORE_OPEN_CREATE | STORE_OPEN_INIT);
}

struct progress {
	unsigned calls;
	bool done;
	char last_table[32];
	struct store_copy_stats last;
};

static void progress_cb(void *ctx, const char *table, const struct store_copy_stats *stats)
{
	struct progress *p = ctx;
	assert_false(p->done); /* "done" comes last, once */
	p->calls++;
	p->done = strcmp(table, "done") == 0;
	snprintf(p->last_table, sizeof(p->last_table), "%s", table);
	p->last = *stats;
}

/* Copies and asserts success, the stats against the target's rows, and
 * that the copy's rows equal the source's. */
static void copy_ok(store_t *src, const char *src_db, store_t *dst, const char *dst_db)
{
	struct progress p = {0};
	struct store_copy_stats st;
	char err[512] = "";
	int rc = store_copy(src, dst, progress_cb, &p, &st, err, sizeof(err));
	if (rc != STORE_OK)
		fail_msg("store_copy %s -> %s: %s (%s)", src_db, dst_db, store_strerror(rc), err);
	assert_true(p.done);
	assert_true(p.calls > NDUMPS); /* a call per page, more than one for domains */
	assert_memory_equal(&p.last, &st, sizeof(st));
	assert_int_equal(st.domains, count_rows(dst_db, "domains"));
	assert_int_equal(st.users, count_rows(dst_db, "users"));
	assert_int_equal(st.aliases, count_rows(dst_db, "aliases"));
	assert_int_equal(st.dkim_keys, count_rows(dst_db, "dkim_keys"));
	assert_int_equal(st.messages, count_rows(dst_db, "messages"));
	assert_int_equal(st.bytes, tsu_query_int(dst_db, "SELECT SUM(LENGTH(data)) FROM message_chunks"));
	assert_int_equal(st.entries, count_rows(dst_db, "mailbox_entries"));
	assert_int_equal(st.queue, count_rows(dst_db, "queue"));
	assert_same_contents(src_db, dst_db);
	/* What a running installation has that a copy must not take along. */
	assert_int_equal(count_rows(dst_db, "pop3_locks"), 0);
	assert_int_equal(tsu_query_int(dst_db, "SELECT COUNT(*) FROM queue"
	                                       " WHERE lease_owner IS NOT NULL OR lease_until IS NOT NULL"), 0);
	for (size_t i = 0; i < sizeof(marked_tables) / sizeof(marked_tables[0]); i++)
		assert_int_equal(id_mark(dst_db, marked_tables[i]), id_mark(src_db, marked_tables[i]));
	tsu_check_clean(dst);
}

/*
 * The copy works like the source: every id it hands out now is above
 * every id of the source (marks, not only the largest row), and its
 * mailboxes, quotas and reads answer as the source's did.
 */
static void assert_target_usable(store_t *dst, const char *dst_db, const char *src_db)
{
	int64_t entry_mark = id_mark(src_db, "mailbox_entries");
	int64_t message_mark = id_mark(src_db, "messages");
	int64_t queue_mark = id_mark(src_db, "queue");
	assert_true(entry_mark > max_id(src_db, "mailbox_entries"));
	assert_true(message_mark > max_id(src_db, "messages"));

	struct store_user u;
	TSU_OK(dst, store_user_get(dst, "alice@example.test", &u));
	assert_int_equal(u.quota, 10 * 1024 * 1024);
	TSU_OK(dst, store_user_get(dst, "carol@other.test", &u));
	assert_int_equal(u.disabled, 1);
	uint64_t quota = 0;
	struct store_usage usage;
	TSU_OK(dst, store_user_usage(dst, "alice@example.test", &quota, &usage));
	assert_true(usage.bytes > BIG_SIZE);

	/* The big body reads back octet for octet. */
	struct store_entry *entries = NULL;
	size_t n = 0;
	TSU_OK(dst, store_mailbox_snapshot(dst, "alice@example.test", &entries, &n));
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		if (entries[i].size != BIG_SIZE)
			continue;
		size_t len = 0;
		unsigned char *body = (unsigned char *)tsu_read_message(dst, entries[i].message_id, &len);
		assert_int_equal(len, BIG_SIZE);
		for (size_t k = 0; k < len; k++)
			assert_int_equal(body[k], (unsigned char)(k * 7 + k / 256));
		free(body);
		found = true;
	}
	free(entries);
	assert_true(found);

	/* New rows in every id table. */
	TSU_OK(dst, store_domain_add(dst, "new.test"));
	TSU_OK(dst, store_user_add(dst, "dan@new.test", "$y$hash-d"));
	TSU_OK(dst, store_alias_add(dst, "postmaster@new.test", "dan@new.test", NULL, 0));
	TSU_OK(dst, tsu_deliver(dst, "dan@new.test", "alice@example.test", "v@far.test", "new\r\n"));
	assert_true(entry_at(dst, "dan@new.test", true) > entry_mark);
	assert_true(max_id(dst_db, "messages") > message_mark);
	assert_true(max_id(dst_db, "queue") > queue_mark);
	int64_t first = 0;
	TSU_OK(dst, store_message_ids_reserve(dst, 1, &first));
	assert_true(first > max_id(dst_db, "messages"));
	tsu_check_clean(dst);
}

static void test_sqlite_to_sqlite(void **state)
{
	struct copy_fixture *f = *state;
	char dst_db[1100];
	testutil_path(dst_db, sizeof(dst_db), f->dir, "copy.db");
	store_t *dst = open_target(dst_db);
	copy_ok(f->store, f->src, dst, dst_db);
	assert_target_usable(dst, dst_db, f->src);
	store_close(&dst);
}

static void test_sqlite_to_postgresql_and_back(void **state)
{
	struct copy_fixture *f = *state;
	const char *pg = tsu_pg_uri();
	if (pg == NULL) {
		print_message("SKIPPED: no MAIL_TEST_PG_URI\n");
		skip();
	}
	store_t *mid = open_target(pg);
	copy_ok(f->store, f->src, mid, pg);

	char back_db[1100];
	testutil_path(back_db, sizeof(back_db), f->dir, "back.db");
	store_t *back = open_target(back_db);
	copy_ok(mid, pg, back, back_db);
	assert_same_contents(f->src, back_db);
	/* PostgreSQL's plain identities are past the copied ids as well. */
	static const char *const plain[] = {"domains", "users", "aliases"};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(id_mark(pg, plain[i]), max_id(pg, plain[i]));

	assert_target_usable(mid, pg, f->src);
	assert_target_usable(back, back_db, f->src);
	store_close(&back);
	store_close(&mid);
}

/* A target with anything in it is refused before a row is written. */
static void test_target_not_empty(void **state)
{
	struct copy_fixture *f = *state;
	char dst_db[1100];
	const char *pg = tsu_pg_uri();
	testutil_path(dst_db, sizeof(dst_db), f->dir, "copy.db");
	const char *targets[] = {dst_db, pg};
	for (size_t t = 0; t < 2 && targets[t] != NULL; t++) {
		const char *db = targets[t];
		store_t *dst = open_target(db);
		TSU_OK(dst, store_domain_add(dst, "mine.test"));
		char err[512] = "";
		struct store_copy_stats st;
		assert_int_equal(store_copy(f->store, dst, NULL, NULL, &st, err, sizeof(err)),
		                 STORE_EEXIST);
		assert_non_null(strstr(err, "target: not empty (table domains has rows)"));
		assert_int_equal(st.domains, 0);
		assert_int_equal(count_rows(db, "domains"), 1);
		/* A maildrop lease alone is something too. */
		TSU_OK(dst, store_domain_del(dst, "mine.test"));
		TSU_OK(dst, store_lease_acquire(dst, "someone@mine.test", "pop3:x", 60));
		assert_int_equal(store_copy(f->store, dst, NULL, NULL, NULL, err, sizeof(err)),
		                 STORE_EEXIST);
		assert_non_null(strstr(err, "pop3_locks"));
		/* The source is no target either (the same file by another name). */
		store_close(&dst);
	}
	store_t *again = tsu_open(f->src, 0);
	char err[512] = "";
	assert_int_equal(store_copy(f->store, again, NULL, NULL, NULL, err, sizeof(err)),
	                 STORE_EEXIST);
	store_close(&again);
}

/* A source (or target) whose schema another program changed after the
 * handle was opened. */
static void test_schema_version_mismatch(void **state)
{
	struct copy_fixture *f = *state;
	char dst_db[1100], err[512] = "";
	testutil_path(dst_db, sizeof(dst_db), f->dir, "copy.db");
	store_t *dst = open_target(dst_db);
	tsu_exec(f->src, "PRAGMA user_version = 4");
	assert_int_equal(store_copy(f->store, dst, NULL, NULL, NULL, err, sizeof(err)),
	                 STORE_ECORRUPT);
	assert_non_null(strstr(err, "source: database schema version 4"));
	assert_non_null(strstr(err, "run `mailctl db migrate` on it first"));
	assert_empty(dst_db);
	tsu_exec(f->src, "PRAGMA user_version = 5");

	tsu_exec(dst_db, "PRAGMA user_version = 4");
	assert_int_equal(store_copy(f->store, dst, NULL, NULL, NULL, err, sizeof(err)),
	                 STORE_ECORRUPT);
	assert_non_null(strstr(err, "target: database schema version 4"));
	tsu_exec(dst_db, "PRAGMA user_version = 5");
	store_close(&dst);
}

/* A copy that fails half-way (here: at the queue, after every body) is
 * rolled back: the target is empty again, and the next copy succeeds. */
static void test_failure_leaves_target_empty(void **state)
{
	struct copy_fixture *f = *state;
	char dst_db[1100];
	const char *pg = tsu_pg_uri();
	testutil_path(dst_db, sizeof(dst_db), f->dir, "copy.db");
	const char *targets[] = {dst_db, pg};
	for (size_t t = 0; t < 2 && targets[t] != NULL; t++) {
		const char *db = targets[t];
		store_t *dst = open_target(db);
		if (tsu_is_pg(db))
			tsu_exec(db, "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS"
			             " $$ BEGIN RAISE EXCEPTION 'boom'; END $$;"
			             " CREATE TRIGGER boom BEFORE INSERT ON queue FOR EACH ROW"
			             " EXECUTE FUNCTION boom()");
		else
			tsu_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON queue"
			             " BEGIN SELECT RAISE(ABORT, 'boom'); END");
		char err[512] = "";
		struct store_copy_stats st;
		int rc = store_copy(f->store, dst, NULL, NULL, &st, err, sizeof(err));
		assert_true(rc < 0);
		assert_non_null(strstr(err, "target: copy queue: write: "));
		assert_non_null(strstr(err, "boom"));
		assert_true(st.messages > 0 && st.entries > 0); /* it got that far */
		assert_empty(db);
		tsu_exec(db, tsu_is_pg(db) ? "DROP TRIGGER boom ON queue" : "DROP TRIGGER boom");
		copy_ok(f->store, f->src, dst, db);
		store_close(&dst);
	}
}

/* Nothing to copy is a copy too: the target stays empty and usable. */
static void test_empty_source(void **state)
{
	struct copy_fixture *f = *state;
	char dst_db[1100], err[512] = "";
	testutil_path(dst_db, sizeof(dst_db), f->dir, "copy.db");
	store_t *dst = open_target(dst_db);
	struct store_copy_stats st, zero = {0};
	TSU_OK(dst, store_copy(f->store, dst, NULL, NULL, &st, err, sizeof(err)));
	assert_memory_equal(&st, &zero, sizeof(st));
	assert_empty(dst_db);
	TSU_OK(dst, store_domain_add(dst, "example.test"));
	store_close(&dst);
}

/* STORE_OPEN_INIT gives a file without a schema one, but leaves an older
 * schema as it is (a refused target is not upgraded). */
static void test_open_init(void **state)
{
	struct copy_fixture *f = *state;
	char path[1100];
	testutil_path(path, sizeof(path), f->dir, "old.db");
	store_t *s = tsu_open(path, STORE_OPEN_CREATE | STORE_OPEN_INIT);
	TSU_OK(s, store_domain_add(s, "example.test"));
	store_close(&s);
	tsu_exec(path, TSU_UNDO_V5 "PRAGMA user_version = 4");
	char err[512] = "";
	assert_int_equal(store_open(path, STORE_OPEN_CREATE | STORE_OPEN_INIT, &s, err, sizeof(err)),
	                 STORE_ECORRUPT);
	assert_null(s);
	assert_non_null(strstr(err, "older"));
	assert_int_equal(tsu_query_int(path, "PRAGMA user_version"), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sqlite_to_sqlite, setup_populated, teardown),
		cmocka_unit_test_setup_teardown(test_sqlite_to_postgresql_and_back, setup_populated,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_target_not_empty, setup_populated, teardown),
		cmocka_unit_test_setup_teardown(test_schema_version_mismatch, setup_populated, teardown),
		cmocka_unit_test_setup_teardown(test_failure_leaves_target_empty, setup_populated,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_empty_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_init, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
