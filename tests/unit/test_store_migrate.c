/*
 * test_store_migrate.c - a schema 1 database, as the first release wrote
 * it, brought to schema 2 (addresses without regard to case): its data
 * kept, the addresses that differ only by case kept apart and reported,
 * and each old spelling still reaching what it reached before.
 */
#include "test_store_util.h"

/* Schema 1 exactly as released (store_schema.c, migration 1). */
static const char schema_v1[] =
	"CREATE TABLE domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE users (id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains (id), address TEXT NOT NULL UNIQUE,"
	"  hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,"
	"  quota INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
	"CREATE INDEX users_domain ON users (domain_id);"
	"CREATE TABLE aliases (id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains (id), address TEXT NOT NULL,"
	"  target TEXT NOT NULL, UNIQUE (address, target));"
	"CREATE INDEX aliases_domain ON aliases (domain_id);"
	"CREATE INDEX aliases_target ON aliases (target);"
	"CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE message_chunks (message_id INTEGER NOT NULL REFERENCES messages (id),"
	"  seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (message_id, seq));"
	"CREATE TABLE mailbox_entries (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  user_id INTEGER NOT NULL REFERENCES users (id),"
	"  message_id INTEGER NOT NULL REFERENCES messages (id), size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE INDEX mailbox_entries_user ON mailbox_entries (user_id, id);"
	"CREATE INDEX mailbox_entries_message ON mailbox_entries (message_id);"
	"CREATE TABLE pop3_locks (mailbox TEXT PRIMARY KEY, owner TEXT NOT NULL,"
	"  expires INTEGER NOT NULL);"
	"CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  message_id INTEGER NOT NULL REFERENCES messages (id), sender TEXT NOT NULL,"
	"  recipient TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL, next_attempt INTEGER NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until INTEGER,"
	"  last_error TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX queue_due ON queue (state, next_attempt);"
	"CREATE INDEX queue_message ON queue (message_id);"
	"PRAGMA application_id = 1296124236; PRAGMA user_version = 1;";

/*
 * What a schema 1 store let mailctl and smtpd write: three spellings of
 * one user (the lower-case one not the oldest), an alias in two
 * spellings, an alias hidden by a user that differs only by case, an
 * address the rules now refuse, and a message in Alice's mailbox.
 */
static const char data_v1[] =
	"INSERT INTO domains (id, name) VALUES (1, 'example.test');"
	"INSERT INTO users (id, domain_id, address, hash, created) VALUES"
	" (1, 1, 'Alice@example.test', '$y$A', 0),"
	" (2, 1, 'alice@example.test', '$y$a', 0),"
	" (3, 1, 'ALICE@example.test', '$y$AA', 0),"
	" (4, 1, 'Bob@example.test', '$y$b', 0),"
	" (5, 1, 'Carol@example.test', '$y$c', 0),"
	" (6, 1, 'a..b@example.test', '$y$d', 0);"
	"INSERT INTO aliases (id, domain_id, address, target) VALUES"
	" (1, 1, 'Team@example.test', 'Alice@example.test'),"
	" (2, 1, 'team@example.test', 'Bob@example.test'),"
	" (3, 1, 'Team@example.test', 'ALICE@example.test'),"
	" (4, 1, 'carol@example.test', 'bob@example.test'),"
	" (5, 1, 'postmaster@example.test', 'alice@example.test');"
	"INSERT INTO messages (id, size, created) VALUES (1, 3, 0);"
	"INSERT INTO message_chunks (message_id, seq, data) VALUES (1, 0, x'616263');"
	"INSERT INTO mailbox_entries (user_id, message_id, size, created) VALUES (1, 1, 3, 0);";

struct text {
	char text[4096];
	int count;
};

static void collect_cb(void *ctx, const char *problem)
{
	struct text *t = ctx;
	size_t len = strlen(t->text);
	snprintf(t->text + len, sizeof(t->text) - len, "%s\n", problem);
	t->count++;
}

static void dest_cb(void *ctx, enum store_rcpt_kind kind, const char *address)
{
	struct text *t = ctx;
	size_t len = strlen(t->text);
	snprintf(t->text + len, sizeof(t->text) - len, "%s%s:%s", len ? "," : "",
	         kind == STORE_RCPT_LOCAL ? "L" : "R", address);
}

static void expect_resolve(store_t *s, const char *address, const char *want)
{
	struct text t = { "", 0 };
	int rc = store_resolve(s, address, NULL, dest_cb, &t);
	if (rc != STORE_OK || strcmp(t.text, want) != 0)
		print_error("resolve(%s) = %s [%s] (%s); want [%s]\n", address, store_strerror(rc),
		            t.text, store_errmsg(s), want);
	assert_int_equal(rc, STORE_OK);
	assert_string_equal(t.text, want);
}

static void expect_user(store_t *s, const char *address, const char *stored)
{
	struct store_user u;
	TSU_OK(s, store_user_get(s, address, &u));
	assert_string_equal(u.address, stored);
}

static int setup_v1(void **state)
{
	struct store_fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	testutil_mkdtemp(f->dir, sizeof(f->dir));
	testutil_path(f->db, sizeof(f->db), f->dir, "mail.db");
	tsu_exec(f->db, schema_v1);
	tsu_exec(f->db, data_v1);
	*state = f;
	return 0;
}

static void test_v1_needs_migrate(void **state)
{
	struct store_fixture *f = *state;
	char err[512] = "";
	store_t *s = NULL;
	assert_int_equal(store_open(f->db, 0, &s, err, sizeof(err)), STORE_ECORRUPT);
	assert_non_null(strstr(err, "version 1 is older"));
	assert_non_null(strstr(err, "mailctl db migrate"));
	assert_int_equal(tsu_query_int(f->db, "PRAGMA user_version"), 1);
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	assert_int_equal(tsu_query_int(f->db, "PRAGMA user_version"), 5);
	assert_int_equal(store_schema_version(), 5);
	/* Schema 3 counted the message already in Alice's mailbox. */
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM mailbox_usage"), 1);
	assert_int_equal(tsu_query_int(f->db, "SELECT messages FROM mailbox_usage"), 1);
	assert_int_equal(tsu_query_int(f->db, "SELECT bytes FROM mailbox_usage"),
	                 tsu_query_int(f->db, "SELECT size FROM mailbox_entries"));
}

static void test_v1_conflicts_reported(void **state)
{
	struct store_fixture *f = *state;
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	store_t *s = f->store;
	struct text t = { "", 0 };
	assert_int_equal(store_address_problems(s, collect_cb, &t), 4);
	assert_string_equal(t.text,
		"users differ only by case: alice@example.test Alice@example.test "
		"ALICE@example.test (each takes mail and logins under its own spelling, other "
		"spellings go to alice@example.test)\n"
		"aliases differ only by case: team@example.test Team@example.test (each keeps its "
		"own targets, other spellings go to team@example.test)\n"
		"alias carol@example.test is never used: user Carol@example.test differs from it "
		"only by case\n"
		"user a..b@example.test is not a valid address (address syntax error): no mail can "
		"reach it\n");
	/* store_check reports them too. */
	unsigned problems = 0;
	TSU_EXPECT(s, STORE_ECORRUPT, store_check(s, tsu_problem_cb, &problems));
	assert_int_equal(problems, 4);
	/* Nothing was merged or lost. */
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM users"), 6);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM aliases"), 5);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM mailbox_entries"), 1);
}

static void test_v1_spellings_keep_their_meaning(void **state)
{
	struct store_fixture *f = *state;
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	store_t *s = f->store;
	/* Each stored spelling reaches its own row; any other reaches the
	 * lower-case one. */
	expect_user(s, "Alice@example.test", "Alice@example.test");
	expect_user(s, "ALICE@example.test", "ALICE@example.test");
	expect_user(s, "alice@example.test", "alice@example.test");
	expect_user(s, "aLiCe@example.test", "alice@example.test");
	expect_user(s, "bob@example.test", "Bob@example.test");
	expect_user(s, "a..b@example.test", "a..b@example.test");
	expect_resolve(s, "Alice@example.test", "L:Alice@example.test");
	expect_resolve(s, "alicE@example.test", "L:alice@example.test");
	expect_resolve(s, "Team@example.test", "L:Alice@example.test,L:ALICE@example.test");
	expect_resolve(s, "team@example.test", "L:Bob@example.test");
	expect_resolve(s, "TEAM@example.test", "L:Bob@example.test");
	/* The user wins over the alias it hides. */
	expect_resolve(s, "carol@example.test", "L:Carol@example.test");
	expect_resolve(s, "postmaster@example.test", "L:alice@example.test");
	/* Alice's mail is still hers. */
	struct store_entry *entries = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, "Alice@example.test", &entries, &n));
	assert_int_equal(n, 1);
	free(entries);
	TSU_OK(s, store_mailbox_snapshot(s, "alice@example.test", &entries, &n));
	assert_int_equal(n, 0);
	/* No further spelling can be added. */
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "aLICE@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "TEAM@example.test", "$y$x"));
}

static void test_v1_conflicts_resolved(void **state)
{
	struct store_fixture *f = *state;
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	store_t *s = f->store;
	struct text t = { "", 0 };
	/* The exact spelling names the row to remove. */
	TSU_OK(s, store_user_del(s, "ALICE@example.test"));
	expect_user(s, "ALICE@example.test", "alice@example.test");
	TSU_OK(s, store_user_del(s, "alice@example.test"));
	/* The last of a group answers to every spelling. */
	expect_user(s, "ALICE@example.test", "Alice@example.test");
	expect_user(s, "alice@example.test", "Alice@example.test");
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "alice@example.test", "$y$x"));
	TSU_OK(s, store_alias_del(s, "team@example.test", "bob@example.test"));
	TSU_OK(s, store_alias_del(s, "carol@example.test", "bob@example.test"));
	TSU_OK(s, store_user_del(s, "a..b@example.test"));
	assert_int_equal(store_address_problems(s, collect_cb, &t), 0);
	assert_string_equal(t.text, "");
	tsu_check_clean(s);
	expect_resolve(s, "TEAM@example.test", "L:Alice@example.test");
}

/* Migrating again, or opening the result, changes nothing. */
static void test_v1_migrate_twice(void **state)
{
	struct store_fixture *f = *state;
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	store_close(&f->store);
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	store_close(&f->store);
	f->store = tsu_open(f->db, 0);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM users WHERE case_conflict <> 0"), 2);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM aliases WHERE case_conflict <> 0"), 2);
	expect_user(f->store, "Alice@example.test", "Alice@example.test");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_v1_needs_migrate, setup_v1, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_v1_conflicts_reported, setup_v1, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_v1_spellings_keep_their_meaning, setup_v1,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_v1_conflicts_resolved, setup_v1, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_v1_migrate_twice, setup_v1, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
