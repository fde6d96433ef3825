/* testutil.h - helpers shared by the cmocka unit tests. */
#ifndef MAIL_TESTUTIL_H
#define MAIL_TESTUTIL_H

#include <stddef.h>

/*
 * Creates a fresh empty directory for one test under $MAIL_TEST_TMP (or
 * /tmp) and writes its path to dir_r. Aborts the test on failure.
 */
void testutil_mkdtemp(char *dir_r, size_t len);

/* Removes a directory tree created by testutil_mkdtemp. */
void testutil_rmtree(const char *dir);

/* Joins dir and name into out. */
void testutil_path(char *out, size_t len, const char *dir, const char *name);

/*
 * A printable rendering of len bytes for failure messages: printable ASCII
 * as is, everything else (and '\\') as \xNN. Returns a static buffer of
 * TESTUTIL_SHOW_MAX bytes, overwritten by the next call.
 */
#define TESTUTIL_SHOW_MAX 2400
const char *testutil_show(const char *s, size_t len);

/*
 * Skips the running cmocka test and says why: cmocka's own "[  SKIPPED ]"
 * line has no reason, so this prints "SKIPPED: <test>: <reason>" to stdout
 * first (scripts/test.sh lists those lines after the run). Use it in the
 * test function itself, which cmocka's skip() returns from.
 */
#define TESTUTIL_SKIP(...)                                  \
	do {                                                    \
		testutil_skip_reason(__func__, __VA_ARGS__);        \
		skip();                                             \
	} while (0)
void testutil_skip_reason(const char *test, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
