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
	/* The SMTP parser's rules (smtp_address.h), ASCII names only. */
	static const char *const bad[] = {
		"", "a b.test", "a@b.test", "tab\t.test", "nl\n.test", "del\x7f.test", "a..b.test",
		".a.test", "a.test.", "-a.test", "a-.test", "a_b.test", "[192.0.2.1]",
		"[IPv6:2001:db8::1]", "b\xc3\xbc" "cher.test",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test", /* 64 */
	};
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
	/* A label of 63 characters is the longest. */
	TSU_OK(f->store, store_domain_add(f->store, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.test"));
	TSU_OK(f->store, store_domain_add(f->store, "xn--bcher-kva.test"));
}

static void test_domain_in_use(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	TSU_EXPECT(s, STORE_EBUSY, store_domain_del(s, "example.test"));
	TSU_OK(s, store_domain_add(s, "aliasonly.test"));
	TSU_OK(s, store_alias_add(s, "x@aliasonly.test", "alice@example.test", NULL, 0));
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
	/* Any case finds Dave, spelled as stored; no second spelling can be added. */
	TSU_OK(s, store_user_get(s, "dave@example.test", &u));
	assert_string_equal(u.address, "Dave@example.test");
	TSU_OK(s, store_user_get(s, "DAVE@Example.Test", &u));
	assert_string_equal(u.address, "Dave@example.test");
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "dave@example.test", "$y$x"));
	assert_string_equal(store_errmsg(s),
	                    "dave@example.test differs from user Dave@example.test only by case");
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "Dave@example.TEST", "$y$x"));
	assert_string_equal(store_errmsg(s), "user Dave@example.test already exists");
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "eve@nowhere.test", "$y$x"));
	assert_non_null(strstr(store_errmsg(s), "nowhere.test"));

	TSU_OK(s, store_user_set_hash(s, "dAVE@example.test", "$2b$new"));
	TSU_OK(s, store_user_set_disabled(s, "DAVE@example.test", 7));
	TSU_OK(s, store_user_get(s, "Dave@example.test", &u));
	assert_string_equal(u.hash, "$2b$new");
	assert_int_equal(u.disabled, 1);
	TSU_OK(s, store_user_set_disabled(s, "Dave@example.test", 0));
	TSU_OK(s, store_user_get(s, "Dave@example.test", &u));
	assert_int_equal(u.disabled, 0);
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_set_hash(s, "nobody@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_set_disabled(s, "nobody@example.test", 1));

	TSU_OK(s, store_user_del(s, "dave@EXAMPLE.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_del(s, "Dave@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "Dave@example.test", &u));
	/* The address is free again, in any spelling. */
	TSU_OK(s, store_user_add(s, "dave@example.test", "$y$x"));
	TSU_OK(s, store_user_get(s, "Dave@example.test", &u));
	assert_string_equal(u.address, "dave@example.test");
}

/* What the address rules (smtp_address.h) refuse. The store refuses the
 * same for new rows; the last few it still takes to name an old row. */
static const struct {
	const char *address;
	bool legacy; /* schema 1 could have stored it: lookups take it, adds do not */
} bad_addresses[] = {
	{ "", false },
	{ "alice", false },
	{ "@example.test", false },
	{ "alice@", false },
	{ "al ice@example.test", false },
	{ "alice@exa mple.test", false },
	{ "al\rice@example.test", false },
	{ "alice@example.test\n", false },
	{ "\"unterminated@example.test", true },
	{ "a..b@example.test", true },
	{ "a.@example.test", true },
	{ ".a@example.test", true },
	{ "a\"b@example.test", true },
	{ "a@b@example.test", true },
	{ "alice@-example.test", true },
	{ "alice@example..test", true },
	{ "alice@[300.1.1.1]", true },
	/* 65 octets of local part, and a label of 64 characters */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test", true },
	{ "a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.example.test", true },
};

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
	for (size_t i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
		const char *bad = bad_addresses[i].address;
		int lookup = bad_addresses[i].legacy ? STORE_ENOTFOUND : STORE_EINVAL;
		print_message("%s\n", testutil_show(bad, strlen(bad)));
		TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, bad, "$y$x"));
		TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, bad, "alice@example.test", NULL, 0));
		TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, "x@example.test", bad, NULL, 0));
		TSU_EXPECT(s, lookup, store_user_get(s, bad, &u));
		TSU_EXPECT(s, lookup, store_user_del(s, bad));
		TSU_EXPECT(s, lookup, store_user_set_hash(s, bad, "$y$x"));
		TSU_EXPECT(s, lookup, store_user_set_disabled(s, bad, 1));
	}
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, longaddr, "$y$x"));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, NULL, "$y$x"));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "new@example.test", ""));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "new@example.test", NULL));
	TSU_EXPECT(s, STORE_EINVAL, store_user_add(s, "new@example.test", longhash));
	TSU_EXPECT(s, STORE_EINVAL, store_user_set_hash(s, "alice@example.test", longhash));
	/* 64 octets of local part is the longest accepted. */
	char maxaddr[80];
	memset(maxaddr, 'm', 64);
	memcpy(maxaddr + 64, "@example.test", 14);
	TSU_OK(s, store_user_add(s, maxaddr, "$y$x"));
	TSU_OK(s, store_user_get(s, maxaddr, &u));
	assert_string_equal(u.address, maxaddr);
}

/* Whatever the SMTP parser accepts can be stored, in its canonical form. */
static void test_user_quoted(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct store_user u;
	static const struct {
		const char *in, *stored;
	} cases[] = {
		{ "\"a b\"@example.test", "\"a b\"@example.test" },
		{ "\"a@b\"@example.test", "\"a@b\"@example.test" },
		{ "\"john.doe\"@example.test", "john.doe@example.test" },
		{ "\"q\\\"x\"@example.test", "\"q\\\"x\"@example.test" },
		{ "\"a\\ c\"@Example.TEST", "\"a c\"@example.test" },
		{ "Ünï@example.test", "Ünï@example.test" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].in);
		TSU_OK(s, store_user_add(s, cases[i].in, "$y$x"));
		TSU_OK(s, store_user_get(s, cases[i].in, &u));
		assert_string_equal(u.address, cases[i].stored);
		TSU_OK(s, store_user_get(s, cases[i].stored, &u));
		assert_string_equal(u.address, cases[i].stored);
	}
	/* Case-insensitive inside quotes too; non-ASCII compares as written. */
	TSU_OK(s, store_user_get(s, "\"A B\"@example.test", &u));
	assert_string_equal(u.address, "\"a b\"@example.test");
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "\"A@B\"@example.test", "$y$x"));
	TSU_OK(s, store_user_get(s, "ÜNï@example.test", &u));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "ünï@example.test", &u));
	TSU_OK(s, store_user_del(s, "\"a@b\"@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "\"a@b\"@example.test", &u));
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
	TSU_OK(s, store_alias_add(s, "info@Example.Test", "alice@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "Info@example.test", "bob@EXAMPLE.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "sales@other.test", "someone@remote.test", NULL, 0));
	/* A target an alias has, in any case, is there already. */
	TSU_EXPECT(s, STORE_EEXIST, store_alias_add(s, "info@example.test", "alice@example.test", NULL, 0));
	TSU_EXPECT(s, STORE_EEXIST, store_alias_add(s, "INFO@example.test", "ALICE@example.test", NULL, 0));
	assert_string_equal(store_errmsg(s), "alias info@example.test -> ALICE@example.test already exists");
	TSU_EXPECT(s, STORE_EEXIST, store_alias_add(s, "alice@example.test", "bob@example.test", NULL, 0));
	TSU_EXPECT(s, STORE_EEXIST, store_alias_add(s, "Alice@example.test", "bob@example.test", NULL, 0));
	assert_string_equal(store_errmsg(s), "alice@example.test is a user");
	TSU_EXPECT(s, STORE_EINVAL, store_alias_add(s, "x@remote.test", "alice@example.test", NULL, 0));
	TSU_EXPECT(s, STORE_ELOOP, store_alias_add(s, "self@example.test", "SELF@EXAMPLE.test", NULL, 0));
	/* A user cannot take an alias's address, in any case. */
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "info@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_EEXIST, store_user_add(s, "INFO@example.test", "$y$x"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_user_get(s, "info@example.test", &u));

	TSU_OK(s, store_alias_list(s, NULL, alias_cb, &n));
	assert_string_equal(n.text, "Info@example.test>bob@example.test,"
	                            "info@example.test>alice@example.test,"
	                            "sales@other.test>someone@remote.test");
	n.text[0] = '\0';
	TSU_OK(s, store_alias_list(s, "other.test", alias_cb, &n));
	assert_string_equal(n.text, "sales@other.test>someone@remote.test");
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_list(s, "nope.test", alias_cb, &n));

	TSU_OK(s, store_alias_del(s, "INFO@example.TEST", "Alice@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_del(s, "info@example.test", "alice@example.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_del(s, "info@example.test", "carol@other.test"));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_del(s, "nope@example.test", "bob@example.test"));
	TSU_EXPECT(s, STORE_EINVAL, store_alias_del(s, "info@example.test", NULL));
	n.text[0] = '\0';
	TSU_OK(s, store_alias_list(s, "example.test", alias_cb, &n));
	assert_string_equal(n.text, "Info@example.test>bob@example.test");
}

/* The alias graph stays one resolution can follow (store_alias.c). */
static void test_alias_checks(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const struct store_resolve_config plus = { .recipient_delimiter = "+" };
	/* A local target must be somebody, unless forced; remote ones need not. */
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_add(s, "a@example.test", "ghost@example.test", NULL, 0));
	assert_string_equal(store_errmsg(s), "ghost@example.test is neither a user nor an alias");
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_add(s, "a@example.test", "ghost@OTHER.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "a@example.test", "ghost@example.test", NULL, STORE_ALIAS_FORCE));
	TSU_OK(s, store_alias_add(s, "a@example.test", "anyone@remote.test", NULL, 0));
	/* ... found in any case, or without its extension when there is a delimiter. */
	TSU_OK(s, store_alias_add(s, "b@example.test", "CAROL@other.test", NULL, 0));
	TSU_EXPECT(s, STORE_ENOTFOUND, store_alias_add(s, "b@example.test", "bob+x@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "b@example.test", "bob+x@example.test", &plus, 0));
	TSU_OK(s, store_alias_add(s, "b@example.test", "a+y@example.test", &plus, 0));

	/* Loops are refused, also through several aliases, in any case and
	 * through an extension. */
	TSU_OK(s, store_alias_add(s, "loop1@example.test", "loop2@example.test", NULL, STORE_ALIAS_FORCE));
	TSU_EXPECT(s, STORE_ELOOP, store_alias_add(s, "loop2@example.test", "loop1@example.test", NULL, 0));
	assert_string_equal(store_errmsg(s),
	                    "alias loop: loop1@example.test leads back to loop2@example.test");
	TSU_OK(s, store_alias_add(s, "loop2@example.test", "loop3@example.test", NULL, STORE_ALIAS_FORCE));
	TSU_EXPECT(s, STORE_ELOOP, store_alias_add(s, "LOOP3@example.test", "Loop1@example.test", NULL, 0));
	TSU_EXPECT(s, STORE_ELOOP, store_alias_add(s, "loop3@example.test", "loop1+x@example.test", &plus, 0));
	TSU_OK(s, store_alias_add(s, "loop3@example.test", "loop1+x@example.test", NULL, STORE_ALIAS_FORCE));

	/* A chain of 8 aliases is the longest resolution follows: c1 -> ... -> c8 -> alice. */
	char from[64], to[64];
	for (int i = 8; i >= 1; i--) {
		snprintf(from, sizeof(from), "c%d@example.test", i);
		if (i == 8)
			snprintf(to, sizeof(to), "alice@example.test");
		else
			snprintf(to, sizeof(to), "c%d@example.test", i + 1);
		TSU_OK(s, store_alias_add(s, from, to, NULL, 0));
	}
	/* Above the top and below the bottom both make 9. */
	TSU_EXPECT(s, STORE_ELOOP, store_alias_add(s, "c0@example.test", "c1@example.test", NULL, 0));
	assert_string_equal(store_errmsg(s), "alias chain too deep: c0@example.test -> "
	                    "c1@example.test would make a chain of 9 aliases (at most 8)");
	TSU_OK(s, store_alias_add(s, "d@example.test", "alice@example.test", NULL, 0));
	TSU_EXPECT(s, STORE_ELOOP, store_alias_add(s, "c8@example.test", "d@example.test", NULL, 0));
	/* A branch beside the chain is fine. */
	TSU_OK(s, store_alias_add(s, "c7@example.test", "d@example.test", NULL, 0));
}

static void test_sender_addresses(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	struct names n = { "" };
	TSU_OK(s, store_alias_add(s, "info@example.test", "ALICE@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "Team@example.test", "INFO@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "team@example.test", "bob@example.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "ali@other.test", "alice@EXAMPLE.test", NULL, 0));
	TSU_OK(s, store_alias_add(s, "bobonly@example.test", "bob@example.test", NULL, 0));
	TSU_OK(s, store_user_sender_addresses(s, "Alice@Example.test", names_cb, &n));
	assert_string_equal(n.text,
	                    "alice@example.test,ali@other.test,info@example.test,Team@example.test");
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
		cmocka_unit_test_setup_teardown(test_user_quoted, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_user_list, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_list_reentrant, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_aliases, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_alias_checks, tsu_setup, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_sender_addresses, tsu_setup, tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
