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

static void expect_resolve_cfg(store_t *s, const struct store_resolve_config *cfg,
                               const char *address, int want, const char *want_dests)
{
	struct dests d = { "", 0 };
	int rc = store_resolve(s, address, cfg, dest_cb, &d);
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

/* The configuration smtpd runs with by default: "+", no postmaster_address. */
static const struct store_resolve_config defaults = {
	.recipient_delimiter = "+",
	.postmaster_address = "",
	.default_domain = "example.test",
};

static void expect_resolve(store_t *s, const char *address, int want, const char *want_dests)
{
	expect_resolve_cfg(s, &defaults, address, want, want_dests);
}

/* An alias row as an older program could write it (loops included),
 * straight into the file. */
static void raw_alias(const char *db, const char *from, const char *to)
{
	char sql[1024];
	snprintf(sql, sizeof(sql),
	         "INSERT INTO aliases (domain_id, address, target, address_key, target_key)"
	         " SELECT d.id, '%s', '%s', lower('%s'), lower('%s') FROM domains d"
	         " WHERE d.name = '%s'",
	         from, to, from, to, strchr(from, '@') + 1);
	tsu_exec(db, sql);
}

static int setup_world(void **state)
{
	struct store_fixture *f = tsu_fixture_new();
	store_t *s = f->store;
	static const char *const domains[] = { "example.test", "other.test", "empty.test",
		                               "dead.test", "loopy.test", "third.test" };
	static const char *const users[] = { "alice@example.test", "bob@example.test",
		                             "Carol@example.test", "bob+exact@example.test",
		                             "dave@other.test",    "erin@other.test",
		                             "pm@dead.test",       "lu@loopy.test" };
	static const char *const aliases[][2] = {
		{ "postmaster@example.test", "bob@example.test" },
		{ "info@example.test", "alice@example.test" },
		{ "Team@example.test", "info@example.test" },
		{ "team@example.test", "bob@example.test" },
		{ "TEAM@example.test", "ext@remote.test" },
		{ "diamond@example.test", "team@example.test" },
		{ "diamond@example.test", "info@example.test" },
		{ "fwd@example.test", "ext@Remote.Test" },
		{ "upper@example.test", "ALICE@EXAMPLE.TEST" },
		{ "half@example.test", "dave@other.test" },
		{ "half@example.test", "alice@example.test" },
		{ "dead@example.test", "dave@other.test" },
		{ "list+owner@example.test", "carol@example.test" },
		{ "partloop@example.test", "alice@example.test" },
		{ "c8@example.test", "alice@example.test" },
		{ "c7@example.test", "c8@example.test" },
		{ "c6@example.test", "c7@example.test" },
		{ "c5@example.test", "c6@example.test" },
		{ "c4@example.test", "c5@example.test" },
		{ "c3@example.test", "c4@example.test" },
		{ "c2@example.test", "c3@example.test" },
		{ "c1@example.test", "c2@example.test" },
		{ "postmaster@dead.test", "pm@dead.test" },
	};
	for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		TSU_OK(s, store_domain_add(s, domains[i]));
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		TSU_OK(s, store_user_add(s, users[i], "$y$x"));
	TSU_OK(s, store_user_set_disabled(s, "dave@other.test", 1));
	TSU_OK(s, store_user_set_disabled(s, "pm@dead.test", 1));
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		TSU_OK(s, store_alias_add(s, aliases[i][0], aliases[i][1], NULL, 0));
	TSU_OK(s, store_alias_add(s, "dead@example.test", "ghost@example.test", NULL,
	                          STORE_ALIAS_FORCE));
	/* What store_alias_add refuses, written by an older program. */
	raw_alias(f->db, "loop1@example.test", "loop2@example.test");
	raw_alias(f->db, "loop2@example.test", "LOOP1@example.test");
	raw_alias(f->db, "partloop@example.test", "loop1@example.test");
	raw_alias(f->db, "c0@example.test", "c1@example.test");
	raw_alias(f->db, "postmaster@loopy.test", "pml@loopy.test");
	raw_alias(f->db, "pml@loopy.test", "postmaster@loopy.test");
	raw_alias(f->db, "bad@example.test", "a..b@example.test");
	raw_alias(f->db, "bad@example.test", "bob@example.test");
	*state = f;
	return 0;
}

static const struct {
	const char *address;
	int err;
	const char *dests;
} cases[] = {
	/* users: the whole address without regard to case, the stored spelling out */
	{ "alice@example.test", STORE_OK, "L:alice@example.test" },
	{ "alice@EXAMPLE.Test", STORE_OK, "L:alice@example.test" },
	{ "Alice@example.test", STORE_OK, "L:alice@example.test" },
	{ "ALICE@EXAMPLE.TEST", STORE_OK, "L:alice@example.test" },
	{ "Carol@example.TEST", STORE_OK, "L:Carol@example.test" },
	{ "carol@example.test", STORE_OK, "L:Carol@example.test" },
	{ "\"alice\"@example.test", STORE_OK, "L:alice@example.test" },
	{ "nobody@example.test", STORE_ENOTFOUND, "" },
	{ "dave@other.test", STORE_ENOTFOUND, "" }, /* disabled */
	/* recipient extensions: only when the whole address is nobody */
	{ "alice+tag@example.test", STORE_OK, "L:alice@example.test" },
	{ "ALICE+Tag@Example.Test", STORE_OK, "L:alice@example.test" },
	{ "alice+@example.test", STORE_OK, "L:alice@example.test" },
	{ "alice+a+b@example.test", STORE_OK, "L:alice@example.test" },
	{ "\"alice+tag\"@example.test", STORE_OK, "L:alice@example.test" },
	{ "bob+exact@example.test", STORE_OK, "L:bob+exact@example.test" },
	{ "Bob+Exact@example.test", STORE_OK, "L:bob+exact@example.test" },
	{ "bob+other@example.test", STORE_OK, "L:bob@example.test" },
	{ "info+news@example.test", STORE_OK, "L:alice@example.test" },
	{ "list+owner@example.test", STORE_OK, "L:Carol@example.test" },
	{ "list+other@example.test", STORE_ENOTFOUND, "" },
	{ "+tag@example.test", STORE_ENOTFOUND, "" },
	{ "nobody+tag@example.test", STORE_ENOTFOUND, "" },
	{ "dave+x@other.test", STORE_ENOTFOUND, "" },
	{ "alice-tag@example.test", STORE_ENOTFOUND, "" },
	/* quoted local parts: valid, storable, simply nobody here */
	{ "\"a b\"@example.test", STORE_ENOTFOUND, "" },
	{ "\"a@b\"@example.test", STORE_ENOTFOUND, "" },
	/* remote */
	{ "x@remote.test", STORE_OK, "R:x@remote.test" },
	{ "X@Remote.TEST", STORE_OK, "R:X@remote.test" },
	{ "\"a b\"@remote.test", STORE_OK, "R:\"a b\"@remote.test" },
	{ "postmaster@remote.test", STORE_OK, "R:postmaster@remote.test" },
	{ "x@[192.0.2.1]", STORE_OK, "R:x@[192.0.2.1]" },
	/* aliases, chains, remote targets, deduplication, spellings */
	{ "info@example.test", STORE_OK, "L:alice@example.test" },
	{ "Info@example.test", STORE_OK, "L:alice@example.test" },
	{ "team@example.test", STORE_OK, "L:alice@example.test,L:bob@example.test,R:ext@remote.test" },
	{ "tEAM@example.test", STORE_OK, "L:alice@example.test,L:bob@example.test,R:ext@remote.test" },
	{ "diamond@example.test", STORE_OK,
	  "L:alice@example.test,L:bob@example.test,R:ext@remote.test" },
	{ "fwd@example.test", STORE_OK, "R:ext@remote.test" },
	{ "upper@example.test", STORE_OK, "L:alice@example.test" },
	/* dead branches are skipped; an alias with none left is unknown */
	{ "half@example.test", STORE_OK, "L:alice@example.test" },
	{ "dead@example.test", STORE_ENOTFOUND, "" },
	{ "bad@example.test", STORE_OK, "L:bob@example.test" },
	/* loops and depth */
	{ "loop1@example.test", STORE_ELOOP, "" },
	{ "LOOP2@example.test", STORE_ELOOP, "" },
	{ "partloop@example.test", STORE_ELOOP, "" },
	{ "c1@example.test", STORE_OK, "L:alice@example.test" },
	{ "c0@example.test", STORE_ELOOP, "" },
	/* postmaster: alias, any case, domain-less (the default domain's) */
	{ "postmaster@example.test", STORE_OK, "L:bob@example.test" },
	{ "PostMaster@Example.Test", STORE_OK, "L:bob@example.test" },
	{ "postmaster+x@example.test", STORE_OK, "L:bob@example.test" },
	{ "postmaster", STORE_OK, "L:bob@example.test" },
	{ "POSTMASTER", STORE_OK, "L:bob@example.test" },
	/* no postmaster alias and no postmaster_address: nobody, never another user */
	{ "postmaster@other.test", STORE_ENOTFOUND, "" },
	{ "postmaster@third.test", STORE_ENOTFOUND, "" },
	{ "postmaster@dead.test", STORE_ENOTFOUND, "" },
	{ "postmaster@loopy.test", STORE_ELOOP, "" },
	/* malformed: what the SMTP parser refuses */
	{ "alice", STORE_EINVAL, "" },
	{ "", STORE_EINVAL, "" },
	{ "a b@example.test", STORE_EINVAL, "" },
	{ "a..b@example.test", STORE_EINVAL, "" },
	{ "alice@example.test.", STORE_EINVAL, "" },
	{ "postmaster@", STORE_EINVAL, "" },
	{ NULL, STORE_EINVAL, "" },
};

static void test_resolve_table(void **state)
{
	struct store_fixture *f = *state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_resolve(f->store, cases[i].address, cases[i].err, cases[i].dests);
}

/* recipient_delimiter: several characters, or none. */
static void test_delimiters(void **state)
{
	struct store_fixture *f = *state;
	const struct store_resolve_config none = { .recipient_delimiter = "" };
	const struct store_resolve_config two = { .recipient_delimiter = "+-" };
	expect_resolve_cfg(f->store, &none, "alice+tag@example.test", STORE_ENOTFOUND, "");
	expect_resolve_cfg(f->store, NULL, "alice+tag@example.test", STORE_ENOTFOUND, "");
	expect_resolve_cfg(f->store, &none, "bob+exact@example.test", STORE_OK,
	                   "L:bob+exact@example.test");
	expect_resolve_cfg(f->store, &two, "alice-tag@example.test", STORE_OK, "L:alice@example.test");
	expect_resolve_cfg(f->store, &two, "alice-a+b@example.test", STORE_OK, "L:alice@example.test");
	expect_resolve_cfg(f->store, &two, "bob+exact@example.test", STORE_OK,
	                   "L:bob+exact@example.test");
}

/* postmaster_address catches every postmaster@ of a local domain without its own. */
static void test_postmaster_address(void **state)
{
	struct store_fixture *f = *state;
	store_t *s = f->store;
	const struct store_resolve_config local = {
		.postmaster_address = "Erin@Other.Test", .default_domain = "mx.example.test",
	};
	const struct store_resolve_config remote = {
		.postmaster_address = "ops@remote.test", .default_domain = "example.test",
	};
	const struct store_resolve_config self = { .postmaster_address = "postmaster@third.test" };
	const struct store_resolve_config bad = { .postmaster_address = "a..b@example.test" };
	expect_resolve_cfg(s, &local, "postmaster@third.test", STORE_OK, "L:erin@other.test");
	expect_resolve_cfg(s, &local, "postmaster@other.test", STORE_OK, "L:erin@other.test");
	expect_resolve_cfg(s, &local, "postmaster@dead.test", STORE_OK, "L:erin@other.test");
	expect_resolve_cfg(s, &local, "postmaster@loopy.test", STORE_OK, "L:erin@other.test");
	/* The domain's own postmaster comes first. */
	expect_resolve_cfg(s, &local, "postmaster@example.test", STORE_OK, "L:bob@example.test");
	/* A bare postmaster is the hostname's domain's: mx.example.test is not
	 * local, example.test is. */
	expect_resolve_cfg(s, &local, "postmaster", STORE_OK, "L:bob@example.test");
	const struct store_resolve_config far = {
		.postmaster_address = "Erin@Other.Test", .default_domain = "mx.elsewhere.test",
	};
	expect_resolve_cfg(s, &far, "postmaster", STORE_OK, "L:erin@other.test");
	const struct store_resolve_config third = { .default_domain = "a.b.third.test" };
	expect_resolve_cfg(s, &third, "postmaster", STORE_ENOTFOUND, "");
	const struct store_resolve_config tld = { .default_domain = "test" };
	expect_resolve_cfg(s, &tld, "postmaster", STORE_ENOTFOUND, "");
	expect_resolve_cfg(s, &remote, "postmaster@third.test", STORE_OK, "R:ops@remote.test");
	expect_resolve_cfg(s, &remote, "postmaster", STORE_OK, "L:bob@example.test");
	/* Only for postmaster. */
	expect_resolve_cfg(s, &local, "nobody@third.test", STORE_ENOTFOUND, "");
	/* An address that is itself nobody does not go round. */
	expect_resolve_cfg(s, &self, "postmaster@third.test", STORE_ENOTFOUND, "");
	expect_resolve_cfg(s, &self, "postmaster@other.test", STORE_ENOTFOUND, "");
	expect_resolve_cfg(s, &bad, "postmaster@other.test", STORE_EINVAL, "");
}

/* Without a postmaster alias or postmaster_address, postmaster mail is
 * refused: never the first user of the store, in whatever domain. */
static void test_postmaster_never_first_user(void **state)
{
	struct store_fixture *f = *state;
	const struct store_resolve_config bare = { .default_domain = "example.test" };
	expect_resolve_cfg(f->store, &bare, "postmaster", STORE_ENOTFOUND, "");
	expect_resolve_cfg(f->store, &bare, "postmaster@example.test", STORE_ENOTFOUND, "");
	TSU_OK(f->store, store_domain_add(f->store, "nousers.test"));
	expect_resolve_cfg(f->store, &bare, "postmaster@nousers.test", STORE_ENOTFOUND, "");
	expect_resolve_cfg(f->store, NULL, "postmaster", STORE_ENOTFOUND, "");
	/* Once the domain has its alias, that is where it goes. */
	TSU_OK(f->store, store_alias_add(f->store, "Postmaster@nousers.test", "carol@other.test",
	                                 NULL, 0));
	expect_resolve_cfg(f->store, &bare, "postmaster@nousers.test", STORE_OK, "L:carol@other.test");
	expect_resolve_cfg(f->store, &bare, "postmaster@example.test", STORE_ENOTFOUND, "");
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
		cmocka_unit_test_setup_teardown(test_delimiters, setup_world, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_address, setup_world, tsu_teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_never_first_user, tsu_setup,
		                                tsu_teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_without_users, tsu_setup_empty,
		                                tsu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
