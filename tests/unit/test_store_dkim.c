/*
 * test_store_dkim.c - DKIM keys in the store (schema v4): set, replace,
 * get, delete, only for local domains, gone with their domain, and a
 * version 3 file migrated to hold them.
 */
#include "test_store_util.h"

#define PEM_A "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
#define PEM_B "-----BEGIN RSA PRIVATE KEY-----\nBBBB\n-----END RSA PRIVATE KEY-----\n"

static void expect_key(store_t *s, const char *domain, const char *selector, const char *pem)
{
	char sel[STORE_DKIM_SELECTOR_MAX + 1] = "";
	char *got = NULL;
	TSU_OK(s, store_dkim_key_get(s, domain, sel, sizeof(sel), &got));
	assert_string_equal(sel, selector);
	assert_non_null(got);
	assert_string_equal(got, pem);
	free(got);
}

static void expect_no_key(store_t *s, const char *domain)
{
	char sel[STORE_DKIM_SELECTOR_MAX + 1] = "";
	char *got = (char *)"x";
	TSU_EXPECT(s, STORE_ENOTFOUND, store_dkim_key_get(s, domain, sel, sizeof(sel), &got));
	assert_null(got);
}

static void test_set_get_replace(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	expect_no_key(s, "example.test");
	TSU_OK(s, store_dkim_key_set(s, "Example.TEST", "mail", PEM_A));
	/* The domain is matched in lower case, as everywhere in the store. */
	expect_key(s, "example.test", "mail", PEM_A);
	expect_key(s, "EXAMPLE.test", "mail", PEM_A);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM dkim_keys WHERE domain = "
	                                      "'example.test' AND created > 0"), 1);
	/* Set replaces: one key per domain. */
	TSU_OK(s, store_dkim_key_set(s, "example.test", "2026", PEM_B));
	expect_key(s, "example.test", "2026", PEM_B);
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM dkim_keys"), 1);
	expect_no_key(s, "other.test");
	/* A selector cut to the caller's buffer, at a character boundary. */
	char small[3];
	char *pem = NULL;
	TSU_OK(s, store_dkim_key_get(s, "example.test", small, sizeof(small), &pem));
	assert_string_equal(small, "20");
	free(pem);
}

static void test_set_refused(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_EXPECT(s, STORE_ENOTFOUND, store_dkim_key_set(s, "remote.test", "mail", PEM_A));
	assert_non_null(strstr(store_errmsg(s), "not a local domain"));
	TSU_EXPECT(s, STORE_EINVAL, store_dkim_key_set(s, "bad..domain", "mail", PEM_A));
	TSU_EXPECT(s, STORE_EINVAL, store_dkim_key_set(s, "example.test", "", PEM_A));
	TSU_EXPECT(s, STORE_EINVAL, store_dkim_key_set(s, "example.test", "mail", ""));
	char long_selector[STORE_DKIM_SELECTOR_MAX + 2];
	memset(long_selector, 'a', sizeof(long_selector) - 1);
	long_selector[sizeof(long_selector) - 1] = '\0';
	TSU_EXPECT(s, STORE_EINVAL, store_dkim_key_set(s, "example.test", long_selector, PEM_A));
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM dkim_keys"), 0);
}

static void test_del(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_EXPECT(s, STORE_ENOTFOUND, store_dkim_key_del(s, "example.test"));
	TSU_OK(s, store_dkim_key_set(s, "example.test", "mail", PEM_A));
	TSU_OK(s, store_dkim_key_set(s, "other.test", "mail", PEM_B));
	TSU_OK(s, store_dkim_key_del(s, "EXAMPLE.test"));
	expect_no_key(s, "example.test");
	expect_key(s, "other.test", "mail", PEM_B);
}

/* The key goes with its domain; a domain that is refused keeps it. */
static void test_domain_del_takes_key(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_OK(s, store_domain_add(s, "empty.test"));
	TSU_OK(s, store_dkim_key_set(s, "empty.test", "mail", PEM_A));
	TSU_OK(s, store_dkim_key_set(s, "other.test", "mail", PEM_B));
	TSU_EXPECT(s, STORE_EBUSY, store_domain_del(s, "other.test"));
	expect_key(s, "other.test", "mail", PEM_B);
	TSU_OK(s, store_domain_del(s, "empty.test"));
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM dkim_keys"), 1);
	/* Added again, the domain has no key until one is made. */
	TSU_OK(s, store_domain_add(s, "empty.test"));
	expect_no_key(s, "empty.test");
	tsu_check_clean(s);
}

/* A version 3 file (no dkim_keys) needs `db migrate`, then holds keys
 * and keeps everything it had. */
static void test_migrate_from_v3(void **state)
{
	tsu_sqlite_only(); /* PostgreSQL starts at the current schema */
	struct store_fixture *f = *state;
	store_close(&f->store);
	tsu_exec(f->db, TSU_UNDO_V5 "DROP TABLE dkim_keys; PRAGMA user_version = 3");
	char err[256] = "";
	store_t *old = NULL;
	assert_int_equal(store_open(f->db, 0, &old, err, sizeof(err)), STORE_ECORRUPT);
	assert_non_null(strstr(err, "version 3 is older"));
	assert_non_null(strstr(err, "mailctl db migrate"));
	f->store = tsu_open(f->db, STORE_OPEN_MIGRATE);
	store_t *s = f->store;
	assert_int_equal(tsu_query_int(f->db, "PRAGMA user_version"), store_schema_version());
	assert_int_equal(tsu_query_int(f->db, "SELECT COUNT(*) FROM users"), 3);
	expect_no_key(s, "example.test");
	TSU_OK(s, store_dkim_key_set(s, "example.test", "mail", PEM_A));
	expect_key(s, "example.test", "mail", PEM_A);
	/* Opening it again changes nothing. */
	store_close(&f->store);
	f->store = s = tsu_open(f->db, 0);
	expect_key(s, "example.test", "mail", PEM_A);
	tsu_check_clean(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_get_replace, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_set_refused, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_del, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_domain_del_takes_key, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v3, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
