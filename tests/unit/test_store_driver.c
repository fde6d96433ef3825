/*
 * test_store_driver.c - the statement driver under the store's logic
 * (store/store_driver.h), on the SQLite backend: every statement has text
 * that prepares against the current schema, a backend's own text wins
 * over the shared one, and binding, stepping, columns, changes and errors
 * behave as the interface says.
 */
#include "test_store_util.h"

/* The statements only a backend whose scoped writers run at once runs
 * (store-private.h "Scoped writes"); SQLite has no text for them. */
static bool parallel_only(enum store__stmt_id id)
{
	return id == STORE__LOCK_KEYS || id == STORE__LOCK_KEYS_TRY || id == STORE__BODY_LOCK;
}

/* Every statement id prepares: no id lacks text on this backend, and no
 * text refers to something the schema lacks. */
static void test_every_statement_prepares(void **state)
{
	struct store_fixture *f = *state;
	for (int id = 0; id < STORE__STMT_COUNT; id++) {
		if (parallel_only((enum store__stmt_id)id) && !store__scopes_parallel(f->store))
			continue;
		store__stmt_t *stmt = store__stmt(f->store, (enum store__stmt_id)id);
		if (stmt == NULL)
			fail_msg("statement %d (%s): %s", id, store__sql(f->store, (enum store__stmt_id)id),
			         store_errmsg(f->store));
		assert_ptr_equal(stmt->store, f->store);
		/* Cached: the same statement the second time. */
		assert_ptr_equal(store__stmt(f->store, (enum store__stmt_id)id), stmt);
	}
}

static void test_dialect_text(void **state)
{
	struct store_fixture *f = *state;
	/* SQLite's own text, and the shared one where it has none. */
	assert_string_equal(store__sql(f->store, STORE__BEGIN_WRITE), "BEGIN IMMEDIATE");
	assert_string_equal(store__sql(f->store, STORE__BEGIN_READ), "BEGIN");
	assert_string_equal(store__sql(f->store, STORE__COMMIT), "COMMIT");
	assert_non_null(strstr(store__sql(f->store, STORE__MESSAGE_ID_SET), "sqlite_sequence"));
}

static void test_bind_step_columns(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	store__stmt_t *add = store__stmt(s, STORE__DOMAIN_ADD);
	store__stmt_t *id = store__stmt(s, STORE__DOMAIN_ID);
	assert_non_null(add);
	assert_non_null(id);

	/* Text with a length: only the first 12 octets are bound. */
	TSU_OK(s, store__begin_write(s));
	assert_true(store__in_transaction(s));
	store__bind_textn(add, 1, "example.test-and-more", 12);
	assert_int_equal(store__step(add, "add domain"), STORE__DONE);
	assert_int_equal(store__changes(add), 1);
	store__reset(add);
	/* A failure maps to a store error and writes "what: engine message". */
	store__bind_text(add, 1, "example.test");
	assert_int_equal(store__step(add, "add it again"), STORE_EEXIST);
	assert_int_equal(strncmp(store_errmsg(s), "add it again: ", 14), 0);
	store__reset(add);
	TSU_OK(s, store__commit(s));
	assert_false(store__in_transaction(s));

	store__bind_text(id, 1, "example.test");
	assert_int_equal(store__step(id, "look up domain"), STORE__ROW);
	assert_true(store__column_int64(id, 0) > 0);
	assert_false(store__column_is_null(id, 0));
	assert_int_equal(store__step(id, "look up domain"), STORE__DONE);
	store__reset(id);
	/* Reset drops the bindings: an unbound parameter is NULL, no row. */
	assert_int_equal(store__step(id, "look up domain"), STORE__DONE);
	store__reset(id);

	/* Text and NULL columns, blobs with their length. */
	store__stmt_t *list = store__stmt(s, STORE__DOMAIN_LIST);
	assert_non_null(list);
	assert_int_equal(store__step(list, "list domains"), STORE__ROW);
	size_t len = 0;
	const char *name = store__column_text(list, 0, &len);
	assert_non_null(name);
	assert_int_equal(len, 12);
	assert_string_equal(name, "example.test");
	store__reset(list);

	TSU_OK(s, store_user_add(s, "alice@example.test", "$y$hash"));
	assert_int_equal(tsu_deliver(s, "alice@example.test", NULL, NULL, "Subject: x\r\n\r\nbody\r\n"),
	                 STORE_OK);
	store__stmt_t *chunk = store__stmt(s, STORE__CHUNK_GET);
	assert_non_null(chunk);
	store__bind_int64(chunk, 1, tsu_query_int(f->db, "SELECT id FROM messages"));
	store__bind_int(chunk, 2, 0);
	assert_int_equal(store__step(chunk, "read chunk"), STORE__ROW);
	const void *data = store__column_blob(chunk, 0, &len);
	assert_int_equal(len, 20);
	assert_memory_equal(data, "Subject: x\r\n\r\nbody\r\n", 20);
	store__reset(chunk);

	/* An empty mailbox is one row of NULLs (store_mailbox_snapshot). */
	TSU_OK(s, store_user_add(s, "bob@example.test", "$y$hash"));
	store__stmt_t *snap = store__stmt(s, STORE__SNAPSHOT);
	assert_non_null(snap);
	store__bind_text(snap, 1, "bob@example.test");
	assert_int_equal(store__step(snap, "snapshot"), STORE__ROW);
	assert_true(store__column_is_null(snap, 0));
	assert_int_equal(store__column_int64(snap, 0), 0);
	assert_null(store__column_text(snap, 0, &len));
	assert_int_equal(len, 0);
	store__reset(snap);
}

/* The backend is chosen by the `db` value: a path is SQLite, a URI is
 * PostgreSQL (here one that cannot be reached: a temporary failure). */
static void test_backend_dispatch(void **state)
{
	struct store_fixture *f = *state;
	char err[256] = "";
	store_t *store = (store_t *)&err;
	assert_ptr_equal(f->store->drv, tsu_pg_uri() != NULL ? &store__pg_driver : &store__sqlite_driver);
	assert_int_equal(f->store->drv->nowait_loop_safe, tsu_pg_uri() == NULL);
	assert_int_equal(store_open("postgres://mail@127.0.0.1:1/mail", 0, &store, err, sizeof(err)),
	                 STORE_EIO);
	assert_null(store);
	assert_non_null(strstr(err, "127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_statement_prepares, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_dialect_text, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_bind_step_columns, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_backend_dispatch, tsu_setup_empty, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
