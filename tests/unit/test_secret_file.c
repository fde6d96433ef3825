/* test_secret_file.c - passwords in files of their own (secret_file.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "secret_file.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct secret_case {
	const char *content; /* NULL: no such file */
	mode_t mode;
	unsigned flags;
	const char *secret;  /* the password read, or NULL for an error ... */
	const char *error;   /* ... whose message, after "KEY PATH: ", is this */
};

static const struct secret_case cases[] = {
	{ "s3cret\n", 0600, SECRET_FILE_PRIVATE, "s3cret", NULL },
	{ "s3cret", 0600, SECRET_FILE_PRIVATE, "s3cret", NULL },          /* no line end */
	{ "with space\r\nsecond line\n", 0600, 0, "with space", NULL },  /* the first line only */
	{ "group\n", 0640, SECRET_FILE_PRIVATE, "group", NULL },          /* the group may read it */
	{ "open\n", 0644, 0, "open", NULL },                             /* unchecked when not asked */
	{ "open\n", 0644, SECRET_FILE_PRIVATE, NULL,
	  "others may read or change it (mode 0644): chmod o-rwx it" },
	{ "writable\n", 0602, SECRET_FILE_PRIVATE, NULL,
	  "others may read or change it (mode 0602): chmod o-rwx it" },
	{ NULL, 0, 0, NULL, "No such file or directory" },
	{ "", 0600, 0, NULL, "empty" },
	{ "\nsecond\n", 0600, 0, NULL, "the first line is empty" },
};

static void check_case(const char *dir, const struct secret_case *c, size_t i)
{
	char path[1200], err[1400] = "", want[1600];
	char *secret = NULL;

	snprintf(path, sizeof(path), "%s/secret%zu", dir, i);
	if (c->content != NULL) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(c->content, f);
		fclose(f);
		assert_int_equal(chmod(path, c->mode), 0);
	}
	int rc = secret_file_read("db_password_file", path, c->flags, &secret, err, sizeof(err));
	if (c->secret != NULL) {
		if (rc != 0)
			print_error("case %zu: %s\n", i, err);
		assert_int_equal(rc, 0);
		assert_string_equal(secret, c->secret);
		secret_free(&secret);
		assert_null(secret);
		return;
	}
	assert_int_equal(rc, -1);
	assert_null(secret);
	snprintf(want, sizeof(want), "db_password_file %s: %s", path, c->error);
	assert_string_equal(err, want);
}

static void test_cases(void **state)
{
	char dir[1024];
	(void)state;
	testutil_mkdtemp(dir, sizeof(dir));
	for (size_t i = 0; i < N(cases); i++)
		check_case(dir, &cases[i], i);
	testutil_rmtree(dir);
}

static void test_not_a_regular_file(void **state)
{
	char dir[1024], err[1400];
	char *secret = NULL;
	(void)state;
	testutil_mkdtemp(dir, sizeof(dir));
	assert_int_equal(secret_file_read("k", dir, 0, &secret, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": not a regular file"));
	assert_null(secret);
	testutil_rmtree(dir);
}

/* The longest password is taken whole; one octet more is refused, never cut. */
static void test_length_limit(void **state)
{
	char dir[1024], path[1200], err[1400];
	char line[SECRET_FILE_MAX + 3];
	char *secret = NULL;
	(void)state;
	testutil_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/long", dir);
	for (size_t extra = 0; extra < 2; extra++) {
		memset(line, 'x', SECRET_FILE_MAX + extra);
		line[SECRET_FILE_MAX + extra] = '\n';
		line[SECRET_FILE_MAX + extra + 1] = '\0';
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(line, f);
		fclose(f);
		int rc = secret_file_read("k", path, 0, &secret, err, sizeof(err));
		if (extra == 0) {
			assert_int_equal(rc, 0);
			assert_int_equal(strlen(secret), SECRET_FILE_MAX);
			secret_free(&secret);
		} else {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, "the first line is longer than 1023 octets"));
			assert_null(secret);
		}
	}
	secret_free(&secret); /* safe on NULL */
	testutil_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_not_a_regular_file),
		cmocka_unit_test(test_length_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
