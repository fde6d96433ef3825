#include "testutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

void testutil_mkdtemp(char *dir_r, size_t len)
{
	const char *base = getenv("MAIL_TEST_TMP");
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	int n = snprintf(dir_r, len, "%s/unit.XXXXXX", base);
	assert_true(n > 0 && (size_t)n < len);
	assert_non_null(mkdtemp(dir_r));
}

void testutil_rmtree(const char *dir)
{
	char cmd[4096];
	int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

void testutil_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < len);
}

const char *testutil_show(const char *s, size_t len)
{
	static char buf[TESTUTIL_SHOW_MAX];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

void testutil_skip_reason(const char *test, const char *fmt, ...)
{
	va_list ap;

	printf("SKIPPED: %s: ", test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}
