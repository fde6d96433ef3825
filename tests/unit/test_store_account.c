/* test_store_account.c - domains, users and aliases: CRUD and errors. */
#include "test_store_util.h"

/* Gathers listed names into one "a,b,c" string. */
struct names {
	char text[4096];
};

static void names_cb(void *ctx, const char *name)
{
	struct names *n = ctx;
	size_t len = strlen(n->text);
	snprintf(n->text + len, sizeof(n->text) - len, "%s%s", len ? "," : "", name);
}

static void alias_cb(void *ctx, const char *from, const char *to)
{
	struct names *n = ctx;
	size_t len = strlen(n->text);
	snprintf(n->text + len, sizeof(n->text) - len, "%s%s>%s", len ? "," : "", from, to);
}

static void test_domains(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct names n = { "" };
	TSU_OK(s, store_domain_list(s, names_cb, &n));
	assert_string_equal(n.text, "");
	TSU_OK(s, store_domain_add(s, "Example.TEST"));
	TSU_OK(s, store_domain_add(s, "a.test"));
	TSU_EXPECT(s, STORE_EEXIST, store_domain_add(s, "example.test"));
	TSU_OK(s, store_domain_exists(s, "EXAMPLE.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_domain_exists(s, "nope.test"));
	TSU_OK(s, store_domain_list(s, names_cb, &n));
	assert_string_equal(n.text, "a.test,example.test");
	TSU_OK(s, store_domain_del(s, "A.Test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_domain_del(s, "a.test"));
	n.text[0] = '\0';
	TSU_OK(s, store_domain_list(s, names_cb, &n));
	assert_string_equal(n.text, "example.test");
}

static void test_domain_invalid(void **state)
{
	struct store_fixture *f = *state;
	static const char *const bad[] = { "", "a b.test", "a@b.test", "tab\t.test", "nl\n.test",
		                           "del\x7f.test" };
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TSU_EXPECT(f->store, STORE_EINVAL, store_domain_add(f->store, bad[i]));
		TSU_EXPECT(f->store, STORE_EINVAL, store_domain_del(f->store, bad[i]));
		TSU_EXPECT(f->store, STORE_EINVAL, store_domain_exists(f->store, bad[i]));
	}
	TSU_EXPECT(f->store, STORE_EINVAL, store_domain_add(f->store, longname));
	TSU_EXPECT(f->store, STORE_EINVAL, store_domain_add(f->store, NULL));
}

static void test_domain_in_use(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_EXPECT(s, STORE_EBUSY, store_domain_del(s, "example.test"));
	TSU_OK(s, store_domain_add(s, "aliasonly.test"));
	TSU_OK(s, store_alias_add(s, "x@aliasonly.test", "alice@example.test"));
	TSU_EXPECT(s, STORE_EBUSY, store_domain_del(s, "aliasonly.test"));
	TSU_OK(s, store_alias_del(s, "x@aliasonly.test", "alice@example.test"));
	TSU_OK(s, store_domain_del(s, "aliasonly.test"));
}

static void test_users(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct store_user u;
	TSU_OK(s, store_user_add(s, "Dave@EXAMPLE.Test", "$6$salt$hash"));
	TSU_OK(s, store_user_get(s, "Dave@example.test", &u));
	assert_string_equal(u.address, "Dave@example.test");
	assert_string_equal(u.hash, "$6$salt$hash");
	assert_int_equal(u.disabled, 0);
	assert_int_equal(u.quota, 0);
	assert_true(u.id > 0);
	/* The local part is exact: dave is another user. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "dave@example.test", &u));
	TSU_OK(s, store_user_add(s, "dave@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "Dave@example.TEST", "$y$x"));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "eve@nowhere.test", "$y$x"));
	assert_non_null(strstr(store_errmsg(s), "nowhere.test"));

	TSU_OK(s, store_user_set_hash(s, "Dave@example.test", "$2b$new"));
	TSU_OK(s, store_user_set_disabled(s, "Dave@example.test", 7));
	TSU_OK(s, store_user_get(s, "Dave@example.test", &u));
	assert_string_equal(u.hash, "$2b$new");
	assert_int_equal(u.disabled, 1);
	TSU_OK(s, store_user_set_disabled(s, "Dave@example.test", 0));
	TSU_OK(s, store_user_get(s, "Dave@example.test", &u));
	assert_int_equal(u.disabled, 0);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_set_hash(s, "nobody@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_set_disabled(s, "nobody@example.test", 1));

	TSU_OK(s, store_user_del(s, "Dave@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_del(s, "Dave@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "Dave@example.test", &u));
	TSU_OK(s, store_user_get(s, "dave@example.test", &u));
}

static void test_user_invalid(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct store_user u;
	char longaddr[300], longhash[300];
	memset(longaddr, 'a', sizeof(longaddr));
	memcpy(longaddr + sizeof(longaddr) - 14, "@example.test", 14);
	memset(longhash, 'h', sizeof(longhash) - 1);
	longhash[sizeof(longhash) - 1] = '\0';
	static const char *const bad[] = {
		"", "alice", "@example.test", "alice@", "a@b@example.test", "al ice@example.test",
		"alice@exa mple.test", "al\rice@example.test", "alice@example.test\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, bad[i], "$y$x"));
		TSU_EXPECT(s, STORE_EINVAL, store_user_get(s, bad[i], &u));
		TSU_EXPECT(s, STORE_EINVAL, store_user_del(s, bad[i]));
		TSU_EXPECT(s, STORE_EINVAL, store_user_set_hash(s, bad[i], "$y$x"));
		TSU_EXPECT(s, STORE_EINVAL, store_user_set_disabled(s, bad[i], 1));
		TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, bad[i], "alice@example.test"));
		TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, "x@example.test", bad[i]));
	}
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, longaddr, "$y$x"));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, NULL, "$y$x"));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "new@example.test", ""));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "new@example.test", NULL));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "new@example.test", longhash));
	TSU_EXPECT(s, STORE_EINVAL, store_user_set_hash(s, "alice@example.test", longhash));
	/* 254 octets is the longest accepted address. */
	char maxaddr[255];
	memset(maxaddr, 'm', sizeof(maxaddr) - 1);
	memcpy(maxaddr + 254 - 13, "@example.test", 14);
	TSU_OK(s, store_user_add(s, maxaddr, "$y$x"));
	TSU_OK(s, store_user_get(s, maxaddr, &u));
	assert_string_equal(u.address, maxaddr);
}

static void test_user_list(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct names n = { "" };
	TSU_OK(s, store_user_list(s, NULL, names_cb, &n));
	assert_string_equal(n.text, "alice@example.test,bob@example.test,carol@other.test");
	n.text[0] = '\0';
	TSU_OK(s, store_user_list(s, "OTHER.test", names_cb, &n));
	assert_string_equal(n.text, "carol@other.test");
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_list(s, "nope.test", names_cb, &n));
	TSU_EXPECT(s, STORE_EINVAL, store_user_list(s, "bad domain", names_cb, &n));
}

/* A callback may call the store again: lists call back after their query. */
static void reenter_cb(void *ctx, const char *name)
{
	store_t *s = ctx;
	struct store_user u;
	struct names n = { "" };
	assert_int_equal(store_user_get(s, name, &u), STORE_OK);
	assert_int_equal(store_user_list(s, NULL, names_cb, &n), STORE_OK);
}

static void test_list_reentrant(void **state)
{
	struct store_fixture *f = *state;
	TSU_OK(f->store, store_user_list(f->store, NULL, reenter_cb, f->store));
}

static void test_aliases(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct names n = { "" };
	struct store_user u;
	TSU_OK(s, store_alias_add(s, "info@Example.Test", "alice@example.test"));
	TSU_OK(s, store_alias_add(s, "info@example.test", "bob@EXAMPLE.test"));
	TSU_OK(s, store_alias_add(s, "sales@other.test", "someone@remote.test"));
	TSU_EXPECT(s, STORE_EEXIST, store_alias_add(s, "info@example.test", "alice@example.test"));
	TSU_EXPECT(s, STORE_EEXIST, store_alias_add(s, "alice@example.test", "bob@example.test"));
	TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, "x@remote.test", "alice@example.test"));
	TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, "self@example.test", "self@EXAMPLE.test"));
	/* A user cannot take an alias's address. */
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "info@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "info@example.test", &u));

	TSU_OK(s, store_alias_list(s, NULL, alias_cb, &n));
	assert_string_equal(n.text, "info@example.test>alice@example.test,"
	                            "info@example.test>bob@example.test,"
	                            "sales@other.test>someone@remote.test");
	n.text[0] = '\0';
	TSU_OK(s, store_alias_list(s, "other.test", alias_cb, &n));
	assert_string_equal(n.text, "sales@other.test>someone@remote.test");
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_list(s, "nope.test", alias_cb, &n));

	TSU_OK(s, store_alias_del(s, "info@example.TEST", "alice@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_del(s, "info@example.test", "alice@example.test"));
	/* The local part is exact. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_del(s, "INFO@example.test", "bob@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_del(s, "info@example.test", "carol@other.test"));
	TSU_EXPECT(s, STORE_EINVAL, store_alias_del(s, "info@example.test", NULL));
	n.text[0] = '\0';
	TSU_OK(s, store_alias_list(s, "example.test", alias_cb, &n));
	assert_string_equal(n.text, "info@example.test>bob@example.test");
}

static void test_sender_addresses(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct names n = { "" };
	TSU_OK(s, store_alias_add(s, "info@example.test", "alice@example.test"));
	TSU_OK(s, store_alias_add(s, "team@example.test", "info@example.test"));
	TSU_OK(s, store_alias_add(s, "team@example.test", "bob@example.test"));
	TSU_OK(s, store_alias_add(s, "ali@other.test", "alice@EXAMPLE.test"));
	TSU_OK(s, store_alias_add(s, "bobonly@example.test", "bob@example.test"));
	TSU_OK(s, store_user_sender_addresses(s, "alice@Example.test", names_cb, &n));
	assert_string_equal(n.text,
	                    "alice@example.test,ali@other.test,info@example.test,team@example.test");
	n.text[0] = '\0';
	TSU_OK(s, store_user_sender_addresses(s, "carol@other.test", names_cb, &n));
	assert_string_equal(n.text, "carol@other.test");
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_sender_addresses(s, "x@example.test", names_cb, &n));
	TSU_EXPECT(s, STORE_EINVAL, store_user_sender_addresses(s, "x", names_cb, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domains, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_domain_invalid, tsu_setup_empty, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_domain_in_use, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_users, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_user_invalid, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_user_list, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_list_reentrant, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_aliases, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_sender_addresses, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
