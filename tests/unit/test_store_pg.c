/*
 * test_store_pg.c - what only the PostgreSQL backend has: a connection
 * that dies inside a transaction must fail the transaction with
 * STORE_ERETRY (never finish it on a new connection, committing its
 * second half alone), one that dies between transactions is made again
 * unnoticed, and a scoped write whose connection died before its COMMIT
 * is run once more by the store. Runs as pg/ only (MAIL_TEST_PG_URI);
 * skipped elsewhere, except the SQLSTATE mapping, which needs no server.
 */
#include "test_store_util.h"
#include "postgresql/pg-private.h"

/* Ends every other session on this database: a server restart, as far as
 * our connections can tell. Only this one: the end-to-end tests on
 * PostgreSQL (e2e-pg/) may be running beside us on databases of their own. */
static void kill_connections(const char *uri)
{
	tsu_pg_exec(uri, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
	                 " WHERE datname = current_database() AND pid <> pg_backend_pid()");
}

static void test_connection_lost_inside_a_transaction(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	if (tsu_pg_uri() == NULL)
		skip();
	assert_false(store_loop_safe(s));
	TSU_OK(s, store__begin_write(s));
	TSU_OK(s, store__exec(s, STORE__DOMAIN_LIST, "list"));
	kill_connections(f->db);
	/* The rest of the transaction fails; nothing of it is committed. */
	store__stmt_t *add = store__stmt(s, STORE__DOMAIN_ADD);
	if (add != NULL) {
		store__bind_text(add, 1, "late.test");
		int rc = store__step(add, "add");
		store__reset(add);
		assert_int_equal(rc, STORE_ERETRY);
	}
	TSU_EXPECT(s, STORE_ERETRY, store__commit(s));
	store__rollback(s);
	assert_int_equal(tsu_query_int(f->db, "SELECT count(*) FROM domains WHERE name = 'late.test'"), 0);
	/* Between transactions the handle connects again by itself. */
	TSU_OK(s, store_domain_add(s, "after.test"));
	assert_int_equal(store_domain_exists(s, "after.test"), STORE_OK);
}

static void test_reconnect_between_transactions(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	if (tsu_pg_uri() == NULL)
		skip();
	for (int i = 0; i < 3; i++) {
		kill_connections(f->db);
		TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "through a restart\r\n"));
	}
	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, "alice@example.test", &e, &n));
	assert_int_equal(n, 3);
	free(e);
}

/* ---- a connection killed while its transaction waits for its COMMIT ---- */

static store_t *victim;      /* whose backend the hook ends */
static const char *victim_db;
static int kills_wanted;     /* how many more times the hook kills it */
static int hook_calls;

/* Ends the victim's backend session and waits until it is gone, as a
 * server restart or pg_terminate_backend between two statements would. */
static void kill_victim(void)
{
	PGconn *conn = tsu_pg_connect(victim_db);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 60000)",
	         PQbackendPID(store__pg(victim)->conn));
	PGresult *res = PQexec(conn, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	PQfinish(conn);
}

static void kill_before_commit_hook(void)
{
	hook_calls++;
	if (kills_wanted > 0) {
		kills_wanted--;
		kill_victim();
	}
}

static void hook_on(store_t *s, const char *db, int kills)
{
	victim = s;
	victim_db = db;
	kills_wanted = kills;
	hook_calls = 0;
	store__before_commit_hook = kill_before_commit_hook;
}

static int hook_teardown(void **state)
{
	store__before_commit_hook = NULL;
	return tsu_teardown(state);
}

static int64_t alice_entries(const char *db)
{
	return tsu_query_int(db, "SELECT COUNT(*) FROM mailbox_entries e JOIN users u"
	                         " ON u.id = e.user_id WHERE u.address = 'alice@example.test'");
}

/* Found dead before the COMMIT went out: nothing was committed, and the
 * error says that a retry may work. */
static void test_killed_before_commit_is_retryable(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	if (tsu_pg_uri() == NULL)
		skip();
	TSU_OK(s, store__begin_write(s));
	store__stmt_t *add = store__stmt(s, STORE__DOMAIN_ADD);
	assert_non_null(add);
	store__bind_text(add, 1, "late.test");
	assert_int_equal(store__step(add, "add"), STORE__DONE);
	store__reset(add);
	victim = s;
	victim_db = f->db;
	kill_victim();
	TSU_EXPECT(s, STORE_ERETRY, store__commit(s));
	assert_non_null(strstr(store_errmsg(s), "before COMMIT"));
	assert_false(store__in_transaction(s));
	assert_int_equal(tsu_query_int(f->db, "SELECT count(*) FROM domains WHERE name = 'late.test'"), 0);
}

/* A scoped write is run again once on a new connection: stored once. */
static void test_scoped_write_retried_once(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	if (tsu_pg_uri() == NULL)
		skip();
	hook_on(s, f->db, 1);
	TSU_OK(s, tsu_deliver(s, "alice@example.test", NULL, NULL, "killed once\r\n"));
	assert_int_equal(hook_calls, 2);
	assert_int_equal(alice_entries(f->db), 1);

	/* Killed at the retry too: STORE_ERETRY, and nothing stored. */
	hook_on(s, f->db, 2);
	TSU_EXPECT(s, STORE_ERETRY, tsu_deliver(s, "alice@example.test", NULL, NULL, "twice\r\n"));
	assert_int_equal(hook_calls, 2);
	assert_int_equal(alice_entries(f->db), 1);
	assert_int_equal(TSU_COUNT(f, "messages"), 1);

	/* The POP3 and queue calls are scoped writes as well. */
	hook_on(s, f->db, 1);
	TSU_OK(s, store_lease_acquire(s, "alice@example.test", "pop3-1", 60));
	assert_int_equal(hook_calls, 2);
	struct store_entry *e = NULL;
	size_t n = 0;
	TSU_OK(s, store_mailbox_snapshot(s, "alice@example.test", &e, &n));
	assert_int_equal(n, 1);
	hook_on(s, f->db, 1);
	TSU_OK(s, store_mailbox_delete(s, "alice@example.test", "pop3-1", &e[0].id, 1));
	free(e);
	assert_int_equal(hook_calls, 2);
	assert_int_equal(alice_entries(f->db), 0);
	assert_int_equal(TSU_COUNT(f, "messages"), 0);

	/* An exclusive write is not retried: its caller decides. */
	hook_on(s, f->db, 1);
	TSU_EXPECT(s, STORE_ERETRY, store_domain_add(s, "late.test"));
	assert_int_equal(hook_calls, 1);
	store__before_commit_hook = NULL;
	TSU_OK(s, store_domain_add(s, "late.test"));
	tsu_check_clean(s);
}

/* Every statement prepares on PostgreSQL: its own texts (pg_sql.c) and
 * the shared ones, against its schema. */
static void test_every_statement_prepares(void **state)
{
	struct store_fixture *f = *state;
	if (tsu_pg_uri() == NULL)
		skip();
	assert_true(store__scopes_parallel(f->store));
	for (int id = 0; id < STORE__STMT_COUNT; id++)
		if (store__stmt(f->store, (enum store__stmt_id)id) == NULL)
			fail_msg("statement %d (%s): %s", id, store__sql(f->store, (enum store__stmt_id)id),
			         store_errmsg(f->store));
}

/* SQLSTATE to store errors (store.h STORE_ERETRY): the server undid the
 * transaction and the same work may succeed, or it timed out waiting. */
static void test_sqlstate_mapping(void **state)
{
	(void)state;
	static const struct {
		const char *state;
		int err;
	} cases[] = {
		{ "40001", STORE_ERETRY }, /* serialization_failure */
		{ "40P01", STORE_ERETRY }, /* deadlock_detected */
		{ "08006", STORE_ERETRY }, /* connection_failure */
		{ "08003", STORE_ERETRY }, /* connection_does_not_exist */
		{ "57P01", STORE_ERETRY }, /* admin_shutdown: pg_terminate_backend */
		{ "57P02", STORE_ERETRY }, /* crash_shutdown */
		{ "55P03", STORE_EBUSY },  /* lock_not_available: lock_timeout */
		{ "57014", STORE_EBUSY },  /* query_canceled: statement_timeout */
		{ "23505", STORE_EEXIST },
		{ "23503", STORE_EINVAL },
		{ "53100", STORE_EIO },    /* disk_full */
		{ "XX001", STORE_ECORRUPT },
		{ NULL, STORE_EIO },       /* no answer at all */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = store__pg_map_sqlstate(cases[i].state);
		if (err != cases[i].err)
			fail_msg("%s: %s, want %s", cases[i].state ? cases[i].state : "(none)",
			         store_strerror(err), store_strerror(cases[i].err));
	}
	assert_non_null(strstr(store_strerror(STORE_ERETRY), "temporary"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sqlstate_mapping),
		cmocka_unit_test_setup_teardown(test_every_statement_prepares, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_killed_before_commit_is_retryable, tsu_setup,
		                                hook_teardown),
		cmocka_unit_test_setup_teardown(test_scoped_write_retried_once, tsu_setup,
		                                hook_teardown),
		cmocka_unit_test_setup_teardown(test_connection_lost_inside_a_transaction, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_between_transactions, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
