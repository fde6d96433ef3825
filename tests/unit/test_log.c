/* test_log.c - log_escape cases, level names, and the line log_event writes. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		size_t len;    /* 0 with a non-empty in: strlen(in) */
		size_t outlen;
		const char *want;
	} cases[] = {
		{ "alice@example.test", 0, 64, "alice@example.test" },
		{ "", 0, 64, "\"\"" },
		{ "a b", 0, 64, "\"a b\"" },
		{ "say \"hi\"", 0, 64, "\"say \\\"hi\\\"\"" },
		{ "a\"b", 0, 64, "a\\\"b" },
		{ "back\\slash", 0, 64, "back\\\\slash" },
		{ "line\r\n", 0, 64, "line\\x0d\\x0a" },
		{ "tab\there", 0, 64, "tab\\x09here" },
		{ "\x7f\x80\xff", 0, 64, "\\x7f\\x80\\xff" },
		{ "nul\0byte", 8, 64, "nul\\x00byte" },
		{ "a=b", 0, 64, "a=b" },
		/* Exactly fits: 10 bytes and the NUL. */
		{ "0123456789", 0, 11, "0123456789" },
		/* One short: truncated with "..." and still terminated. */
		{ "0123456789", 0, 10, "012345..." },
		{ "abcdefghij", 0, 8, "abcd..." },
		/* An escape is never cut in half. */
		{ "abc\x01" "def", 0, 9, "abc..." },
		/* Quoted values keep their closing quote. */
		{ "a b c d e f", 0, 10, "\"a b ...\"" },
		{ "x", 0, 1, "" },
		{ "xyz", 0, 2, "." },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[64];
		size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].in);
		memset(out, 'Z', sizeof(out));
		char *r = log_escape(out, cases[i].outlen, cases[i].in, len);
		assert_ptr_equal(r, out);
		if (strcmp(out, cases[i].want) != 0)
			print_error("case %zu (outlen %zu)\n", i, cases[i].outlen);
		assert_string_equal(out, cases[i].want);
		assert_true(strlen(out) < cases[i].outlen);
	}
}

static void test_levels(void **state)
{
	static const struct {
		const char *name;
		int level;
	} cases[] = {
		{ "debug", LOG_LEVEL_DEBUG }, { "info", LOG_LEVEL_INFO }, { "warn", LOG_LEVEL_WARN },
		{ "error", LOG_LEVEL_ERROR }, { "INFO", LOG_LEVEL_INFO }, { "warning", -1 },
		{ "", -1 },                  { "err", -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int r = log_level_parse(cases[i].name);
		if (r != cases[i].level)
			print_error("case %zu '%s'\n", i, cases[i].name);
		assert_int_equal(r, cases[i].level);
	}
	assert_string_equal(log_level_name(LOG_LEVEL_DEBUG), "debug");
	assert_string_equal(log_level_name(LOG_LEVEL_ERROR), "error");
	assert_string_equal(log_level_name((enum log_level)42), "unknown");
}

/* Captures what log_event writes to stderr in a file of a fresh directory. */
struct capture {
	char dir[512];
	char path[600];
	int saved_stderr;
};

static void capture_start(struct capture *c)
{
	testutil_mkdtemp(c->dir, sizeof(c->dir));
	testutil_path(c->path, sizeof(c->path), c->dir, "stderr");
	int fd = open(c->path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	c->saved_stderr = dup(STDERR_FILENO);
	assert_true(c->saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Restores stderr and returns what was written (malloc'd, NUL-terminated). */
static char *capture_end(struct capture *c)
{
	assert_int_equal(dup2(c->saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(c->saved_stderr);
	FILE *f = fopen(c->path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	testutil_rmtree(c->dir);
	return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	int r = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (r != 0)
		print_error("'%s'\ndoes not match\n'%s'\n", text, pattern);
	assert_int_equal(r, 0);
}

#define TS "ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

static void test_event_line(void **state)
{
	struct capture c;
	capture_start(&c);
	log_set_level(LOG_LEVEL_INFO);
	errno = EAGAIN;
	log_info(0x1a2b, "connect", "ip=%s port=%d", "127.0.0.1", 2525);
	assert_int_equal(errno, EAGAIN);
	log_warn(0, "startup", "listen=%s", "127.0.0.1:25");
	log_debug(7, "hidden", "x=%d", 1);
	log_error(UINT64_MAX, "bare", "%s", "");
	log_info(1, "multi", "v=%s", "a\nb\rc");
	char *out = capture_end(&c);

	assert_matches(out, "^" TS " level=info sid=1a2b event=connect ip=127\\.0\\.0\\.1 port=2525\n"
	                    TS " level=warn event=startup listen=127\\.0\\.0\\.1:25\n"
	                    TS " level=error sid=ffffffffffffffff event=bare\n"
	                    TS " level=info sid=1 event=multi v=a\\?b\\?c\n$");
	free(out);
}

static void test_level_filter(void **state)
{
	struct capture c;
	capture_start(&c);
	log_set_level(LOG_LEVEL_WARN);
	log_info(1, "dropped", "x=%d", 1);
	log_warn(1, "kept", "x=%d", 2);
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug(1, "debug", "x=%d", 3);
	log_set_level(LOG_LEVEL_INFO);
	char *out = capture_end(&c);

	assert_matches(out, "^" TS " level=warn sid=1 event=kept x=2\n" TS
	                    " level=debug sid=1 event=debug x=3\n$");
	free(out);
}

static void test_long_line(void **state)
{
	static char big[5000];
	memset(big, 'v', sizeof(big) - 1);

	struct capture c;
	capture_start(&c);
	log_info(1, "big", "value=%s", big);
	char *out = capture_end(&c);

	size_t len = strlen(out);
	assert_true(len <= 2047);
	assert_true(len > 2000);
	assert_string_equal(out + len - 4, "...\n");
	assert_ptr_equal(strchr(out, '\n'), out + len - 1);
	free(out);
}

#define THREADS 4
#define LINES_PER_THREAD 200

static void *log_thread(void *arg)
{
	char filler[600];
	memset(filler, 'a' + (int)(intptr_t)arg, sizeof(filler) - 1);
	filler[sizeof(filler) - 1] = '\0';
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info((uint64_t)(intptr_t)arg + 1, "race", "i=%d filler=%s", i, filler);
	return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
	pthread_t threads[THREADS];
	struct capture c;
	capture_start(&c);
	for (intptr_t t = 0; t < THREADS; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, log_thread, (void *)t), 0);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(pthread_join(threads[t], NULL), 0);
	char *out = capture_end(&c);

	size_t lines = 0;
	for (char *line = out, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
		*end = '\0';
		/* Each line holds one thread's filler letter only. */
		char *sid = strstr(line, " sid=");
		assert_non_null(sid);
		char letter = (char)('a' + (sid[5] - '1'));
		char *filler = strstr(line, "filler=");
		assert_non_null(filler);
		assert_int_equal(strspn(filler + 7, (char[]){ letter, 0 }), 599);
		assert_int_equal(filler[7 + 599], '\0');
		lines++;
	}
	assert_int_equal(lines, THREADS * LINES_PER_THREAD);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_event_line),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_threads_do_not_interleave),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
