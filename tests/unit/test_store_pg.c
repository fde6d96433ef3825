/*
 * test_store_pg.c - what only the PostgreSQL backend has: a connection
 * that dies inside a transaction must fail the transaction (never finish
 * it on a new connection, committing its second half alone), and one that
 * dies between transactions is made again unnoticed. Runs as pg/ only
 * (MAIL_TEST_PG_URI); skipped elsewhere.
 */
#include "test_store_util.h"

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
		assert_true(rc < 0);
	}
	assert_true(store__commit(s) < 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connection_lost_inside_a_transaction, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_between_transactions, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
