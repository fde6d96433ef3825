/*
 * test_store_production.c - the store as a build without MAIL_TEST_HOOKS
 * makes it (mailstore_production, built from the same sources whatever
 * this build's option): a stray MAILTEST_* variable in a daemon's
 * environment fails, stalls or blocks nothing, and the library holds none
 * of the hooks' names, so no code path can read them.
 *
 * Links only the public store.h: this is what a daemon sees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"
#include "testutil.h"

#ifndef MAILSTORE_PRODUCTION_LIB
#error "tests/CMakeLists.txt passes the path of the mailstore_production archive"
#endif

/* Set as a test would set them: each one, if compiled in, would fail the
 * first commit (the migration inside store_open), make the no-wait handle
 * busy, or hold every spill for a minute at a gate that never opens. */
static void set_stray_hooks(const char *gate)
{
	setenv("MAILTEST_STORE_FAIL_COMMIT", "1", 1);
	setenv("MAILTEST_STORE_NOWAIT_BUSY", "1", 1);
	setenv("MAILTEST_STORE_SPILL_GATE", gate, 1);
	/* The old names, from before the MAILTEST_ prefix. */
	setenv("MAIL_STORE_FAIL_COMMIT", "1", 1);
	setenv("MAIL_STORE_NOWAIT_BUSY", "1", 1);
}

static void ignore_rcpt(void *ctx, enum store_rcpt_kind kind, const char *address)
{
	unsigned *n = ctx;
	(void)kind;
	(void)address;
	(*n)++;
}

#define EXPECT_OK(store, call)                                                             \
	do {                                                                               \
		int rc_ = (call);                                                          \
		if (rc_ != STORE_OK)                                                       \
			print_error("%s = %s: %s\n", #call, store_strerror(rc_),           \
			            store_errmsg(store));                                  \
		assert_int_equal(rc_, STORE_OK);                                           \
	} while (0)

static void test_stray_variables_ignored(void **state)
{
	char dir[1024], db[1100], gate[1100], err[512] = "";
	store_t *store = NULL, *loop = NULL;
	store_delivery_t *d = NULL;
	static char big[STORE_DELIVERY_MEMORY_MAX + 4096];

	(void)state;
	testutil_mkdtemp(dir, sizeof(dir));
	testutil_path(db, sizeof(db), dir, "mail.db");
	testutil_path(gate, sizeof(gate), dir, "gate-never-opens");
	set_stray_hooks(gate);

	int rc = store_open(db, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE, &store, err, sizeof(err));
	if (rc != STORE_OK)
		print_error("store_open: %s\n", err);
	assert_int_equal(rc, STORE_OK);
	EXPECT_OK(store, store_domain_add(store, "example.test"));
	EXPECT_OK(store, store_user_add(store, "alice@example.test", "$y$hash"));

	/* A spilled body: the gate would hold the spill, the commit hook fail it. */
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 2, "\r\n", 2);
	assert_int_equal(store_delivery_new("", dir, &d), STORE_OK);
	assert_int_equal(store_delivery_add_local(d, "alice@example.test"), STORE_OK);
	assert_int_equal(store_delivery_write(d, big, sizeof(big)), STORE_OK);
	assert_true(store_delivery_spill_wanted(d));
	assert_int_equal(store_delivery_spill(d, err, sizeof(err)), STORE_OK);
	EXPECT_OK(store, store_deliver(store, d));
	store_delivery_free(&d);

	uint64_t quota = 1;
	struct store_usage usage = { 0, 0 };
	EXPECT_OK(store, store_user_usage(store, "alice@example.test", &quota, &usage));
	assert_int_equal(usage.messages, 1);
	assert_int_equal(usage.bytes, sizeof(big));

	/* The no-wait handle answers: MAILTEST_STORE_NOWAIT_BUSY is not read. */
	assert_int_equal(store_open(db, STORE_OPEN_NOWAIT, &loop, err, sizeof(err)), STORE_OK);
	assert_true(store_loop_safe(loop));
	unsigned dests = 0;
	EXPECT_OK(loop, store_resolve(loop, "alice@example.test", NULL, ignore_rcpt, &dests));
	assert_int_equal(dests, 1);
	store_close(&loop);
	store_close(&store);
	testutil_rmtree(dir);
}

/* Whether the file at path contains the bytes of needle. */
static int file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	size_t n = strlen(needle), have = 0, cap = 0;
	char *buf = NULL;

	if (f == NULL)
		print_error("%s: cannot open\n", path);
	assert_non_null(f);
	for (;;) {
		if (have == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + have, 1, cap - have, f);
		if (got == 0)
			break;
		have += got;
	}
	fclose(f);
	int found = 0;
	for (size_t i = 0; i + n <= have && !found; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

static void test_no_hook_names(void **state)
{
	(void)state;
	/* A control: the scan reads the right archive (a name its SQL uses). */
	assert_true(file_contains(MAILSTORE_PRODUCTION_LIB, "mail_now"));
	assert_false(file_contains(MAILSTORE_PRODUCTION_LIB, "MAILTEST_"));
	assert_false(file_contains(MAILSTORE_PRODUCTION_LIB, "MAIL_STORE_"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stray_variables_ignored),
		cmocka_unit_test(test_no_hook_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
