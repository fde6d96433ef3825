/* test_store_resolve.c - recipient resolution, table-driven. */
#include "test_store_util.h"

struct dests {
	char text[2048];
	int calls;
};

static void dest_cb(void *ctx, enum store_rcpt_kind kind, const char *address)
{
	struct dests *d = ctx;
	size_t len = strlen(d->text);
	snprintf(d->text + len, sizeof(d->text) - len, "%s%s:%s", len ? "," : "",
	         kind == STORE_RCPT_LOCAL ? "L" : "R", address);
	d->calls++;
}

static void expect_resolve(store_t *s, const char *address, int want, const char *want_dests)
{
	struct dests d = { "", 0 };
	int rc = store_resolve(s, address, dest_cb, &d);
	if (rc != want || strcmp(d.text, want_dests) != 0)
		print_error("resolve(%s) = %s [%s] (%s); want %s [%s]\n", address ? address : "NULL",
		            store_strerror(rc), d.text, store_errmsg(s), store_strerror(want),
		            want_dests);
	assert_int_equal(rc, want);
	assert_string_equal(d.text, want_dests);
	/* A failed resolution calls back for nothing. */
	if (want != STORE_OK)
		assert_int_equal(d.calls, 0);
}

static int setup_world(void **state)
{
	struct store_fixture *f = tsu_fixture_new();
	store_t *s = f->store;
	static const char *const domains[] = { "example.test", "other.test", "empty.test",
		                               "dead.test", "loopy.test" };
	static const char *const users[] = { "alice@example.test", "bob@example.test",
		                             "Carol@example.test", "dave@other.test",
		                             "erin@other.test",    "pm@dead.test",
		                             "lu@loopy.test" };
	static const char *const aliases[][2] = {
		{ "postmaster@example.test", "bob@example.test" },
		{ "info@example.test", "alice@example.test" },
		{ "team@example.test", "info@example.test" },
		{ "team@example.test", "bob@example.test" },
		{ "team@example.test", "ext@remote.test" },
		{ "diamond@example.test", "team@example.test" },
		{ "diamond@example.test", "info@example.test" },
		{ "fwd@example.test", "ext@Remote.Test" },
		{ "half@example.test", "dave@other.test" },
		{ "half@example.test", "alice@example.test" },
		{ "dead@example.test", "dave@other.test" },
		{ "dead@example.test", "ghost@example.test" },
		{ "loop1@example.test", "loop2@example.test" },
		{ "loop2@example.test", "loop1@example.test" },
		{ "partloop@example.test", "alice@example.test" },
		{ "partloop@example.test", "loop1@example.test" },
		{ "c0@example.test", "c1@example.test" },
		{ "c1@example.test", "c2@example.test" },
		{ "c2@example.test", "c3@example.test" },
		{ "c3@example.test", "c4@example.test" },
		{ "c4@example.test", "c5@example.test" },
		{ "c5@example.test", "c6@example.test" },
		{ "c6@example.test", "c7@example.test" },
		{ "c7@example.test", "c8@example.test" },
		{ "c8@example.test", "alice@example.test" },
		{ "topm@other.test", "postmaster@empty.test" },
		{ "postmaster@dead.test", "pm@dead.test" },
		{ "postmaster@loopy.test", "pml@loopy.test" },
		{ "pml@loopy.test", "postmaster@loopy.test" },
	};
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		TSU_OK(s, store_domain_add(s, domains[i]));
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		TSU_OK(s, store_user_add(s, users[i], "$y$x"));
	TSU_OK(s, store_user_set_disabled(s, "dave@other.test", 1));
	TSU_OK(s, store_user_set_disabled(s, "pm@dead.test", 1));
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		TSU_OK(s, store_alias_add(s, aliases[i][0], aliases[i][1]));
	*state = f;
	return 0;
}

static const struct {
	const char *address;
	int err;
	const char *dests;
} cases[] = {
	/* users: domain case-insensitive, local part exact */
	{ "alice@example.test", STORE_OK, "L:alice@example.test" },
	{ "alice@EXAMPLE.Test", STORE_OK, "L:alice@example.test" },
	{ "Carol@example.TEST", STORE_OK, "L:Carol@example.test" },
	{ "carol@example.test", STORE_ENOTFOUND, "" },
	{ "ALICE@example.test", STORE_ENOTFOUND, "" },
	{ "nobody@example.test", STORE_ENOTFOUND, "" },
	{ "dave@other.test", STORE_ENOTFOUND, "" }, /* disabled */
	/* remote */
	{ "x@remote.test", STORE_OK, "R:x@remote.test" },
	{ "X@Remote.TEST", STORE_OK, "R:X@remote.test" },
	{ "postmaster@remote.test", STORE_OK, "R:postmaster@remote.test" },
	/* aliases, chains, remote targets, deduplication */
	{ "info@example.test", STORE_OK, "L:alice@example.test" },
	{ "Info@example.test", STORE_ENOTFOUND, "" },
	{ "team@example.test", STORE_OK, "L:alice@example.test,L:bob@example.test,R:ext@remote.test" },
	{ "diamond@example.test", STORE_OK,
	  "L:alice@example.test,L:bob@example.test,R:ext@remote.test" },
	{ "fwd@example.test", STORE_OK, "R:ext@remote.test" },
	/* dead branches are skipped; an alias with none left is unknown */
	{ "half@example.test", STORE_OK, "L:alice@example.test" },
	{ "dead@example.test", STORE_ENOTFOUND, "" },
	/* loops and depth */
	{ "loop1@example.test", STORE_EINVAL, "" },
	{ "partloop@example.test", STORE_EINVAL, "" },
	{ "c1@example.test", STORE_OK, "L:alice@example.test" },
	{ "c0@example.test", STORE_EINVAL, "" },
	/* postmaster: alias, any case, domain-less */
	{ "postmaster@example.test", STORE_OK, "L:bob@example.test" },
	{ "PostMaster@Example.Test", STORE_OK, "L:bob@example.test" },
	{ "postmaster", STORE_OK, "L:bob@example.test" },
	{ "POSTMASTER", STORE_OK, "L:bob@example.test" },
	/* no postmaster alias: the domain's first enabled user */
	{ "postmaster@other.test", STORE_OK, "L:erin@other.test" },
	/* no users: another domain's postmaster */
	{ "postmaster@empty.test", STORE_OK, "L:bob@example.test" },
	{ "topm@other.test", STORE_OK, "L:bob@example.test" },
	/* postmaster alias to a disabled user, and looping: still delivered */
	{ "postmaster@dead.test", STORE_OK, "L:bob@example.test" },
	{ "postmaster@loopy.test", STORE_OK, "L:lu@loopy.test" },
	/* malformed */
	{ "alice", STORE_EINVAL, "" },
	{ "", STORE_EINVAL, "" },
	{ "a b@example.test", STORE_EINVAL, "" },
	{ NULL, STORE_EINVAL, "" },
};

static void test_resolve_table(void **state)
{
	struct store_fixture *f = *state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_resolve(f->store, cases[i].address, cases[i].err, cases[i].dests);
}

/* No postmaster configured anywhere: the first user of the store. */
static void test_postmaster_fallback_first_user(void **state)
{
	struct store_fixture *f = *state;
	expect_resolve(f->store, "postmaster", STORE_OK, "L:alice@example.test");
	expect_resolve(f->store, "postmaster@example.test", STORE_OK, "L:alice@example.test");
	TSU_OK(f->store, store_domain_add(f->store, "nousers.test"));
	expect_resolve(f->store, "postmaster@nousers.test", STORE_OK, "L:alice@example.test");
	/* Disabled users are skipped. */
	TSU_OK(f->store, store_user_set_disabled(f->store, "alice@example.test", 1));
	expect_resolve(f->store, "postmaster", STORE_OK, "L:bob@example.test");
}

static void test_postmaster_without_users(void **state)
{
	struct store_fixture *f = *state;
	TSU_OK(f->store, store_domain_add(f->store, "example.test"));
	expect_resolve(f->store, "postmaster", STORE_ENOTFOUND, "");
	expect_resolve(f->store, "postmaster@example.test", STORE_ENOTFOUND, "");
	expect_resolve(f->store, "someone@remote.test", STORE_OK, "R:someone@remote.test");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resolve_table, setup_world, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_fallback_first_user, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_without_users, tsu_setup_empty,
		                                tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
