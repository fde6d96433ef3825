/* test_pop3_command.c - POP3 command line, message number and count parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_command.h"

struct parse_case {
	const char *line;
	bool ok;
	const char *verb;
	size_t argc;
	const char *args[3]; /* the first arguments, as strings */
	const char *rest;
};

static const struct parse_case parse_cases[] = {
	{ "STAT", true, "STAT", 0, { NULL }, "" },
	{ "stat", true, "STAT", 0, { NULL }, "" },
	{ "Retr 1", true, "RETR", 1, { "1" }, "1" },
	{ "TOP 1 10", true, "TOP", 2, { "1", "10" }, "1 10" },
	{ "LIST  2", true, "LIST", 1, { "2" }, " 2" },
	{ "LIST 2 ", true, "LIST", 1, { "2" }, "2 " },
	{ "RETR 1 2 3 4", true, "RETR", 4, { "1", "2", "3" }, "1 2 3 4" },
	{ "PASS my secret pw", true, "PASS", 3, { "my", "secret", "pw" }, "my secret pw" },
	{ "PASS  lead", true, "PASS", 1, { "lead" }, " lead" },
	{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", true, "AUTH", 2, { "PLAIN", "AGFsaWNlAHNlY3JldA==" },
	  "PLAIN AGFsaWNlAHNlY3JldA==" },
	{ "QUIT ", true, "QUIT", 0, { NULL }, "" },
	{ "", false, NULL, 0, { NULL }, NULL },
	{ " STAT", false, NULL, 0, { NULL }, NULL },
	{ "STATS", false, NULL, 0, { NULL }, NULL },
	{ "RE1R", false, NULL, 0, { NULL }, NULL },
	{ "R\xc3\xa9TR 1", false, NULL, 0, { NULL }, NULL },
	{ "+OK", false, NULL, 0, { NULL }, NULL },
};

static void test_parse_table(void **state)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct pop3_command cmd;
		bool ok = pop3_command_parse(c->line, strlen(c->line), &cmd);
		print_message("case %zu: \"%s\"\n", i, c->line);
		assert_int_equal(ok, c->ok);
		if (!ok)
			continue;
		assert_string_equal(cmd.verb, c->verb);
		assert_int_equal(cmd.argc, c->argc);
		for (size_t a = 0; a < c->argc && a < POP3_ARGS_MAX; a++) {
			assert_int_equal(cmd.argl[a], strlen(c->args[a]));
			assert_memory_equal(cmd.argv[a], c->args[a], cmd.argl[a]);
		}
		assert_int_equal(cmd.restlen, strlen(c->rest));
		assert_memory_equal(cmd.rest, c->rest, cmd.restlen);
	}
}

/* A NUL byte is not a letter: it ends nothing and is never a verb. */
static void test_parse_nul(void **state)
{
	struct pop3_command cmd;
	static const char line[] = "ST\0T";
	assert_false(pop3_command_parse(line, sizeof(line) - 1, &cmd));

	static const char args[] = "USER a\0b";
	assert_true(pop3_command_parse(args, sizeof(args) - 1, &cmd));
	assert_int_equal(cmd.argc, 1);
	assert_int_equal(cmd.argl[0], 3);
}

struct msgno_case {
	const char *arg;
	enum pop3_msgno result;
	size_t index;
};

/* A maildrop of 3 messages, the second marked deleted. */
static const struct msgno_case msgno_cases[] = {
	{ "1", POP3_MSGNO_OK, 0 },
	{ "3", POP3_MSGNO_OK, 2 },
	{ "03", POP3_MSGNO_OK, 2 },
	{ "2", POP3_MSGNO_DELETED, 0 },
	{ "0", POP3_MSGNO_NO_SUCH, 0 },
	{ "4", POP3_MSGNO_NO_SUCH, 0 },
	{ "18446744073709551615", POP3_MSGNO_NO_SUCH, 0 },
	{ "18446744073709551617", POP3_MSGNO_NO_SUCH, 0 },
	{ "99999999999999999999999999999999999999", POP3_MSGNO_NO_SUCH, 0 },
	{ "", POP3_MSGNO_SYNTAX, 0 },
	{ "-1", POP3_MSGNO_SYNTAX, 0 },
	{ "+1", POP3_MSGNO_SYNTAX, 0 },
	{ "1x", POP3_MSGNO_SYNTAX, 0 },
	{ "x1", POP3_MSGNO_SYNTAX, 0 },
	{ "one", POP3_MSGNO_SYNTAX, 0 },
	{ "1.0", POP3_MSGNO_SYNTAX, 0 },
	{ "0x1", POP3_MSGNO_SYNTAX, 0 },
};

static void test_msgno_table(void **state)
{
	const bool deleted[3] = { false, true, false };

	for (size_t i = 0; i < sizeof(msgno_cases) / sizeof(msgno_cases[0]); i++) {
		const struct msgno_case *c = &msgno_cases[i];
		size_t index = SIZE_MAX;
		print_message("case %zu: \"%s\"\n", i, c->arg);
		assert_int_equal(pop3_msgno_parse(c->arg, strlen(c->arg), 3, deleted, &index),
		                 c->result);
		if (c->result == POP3_MSGNO_OK)
			assert_int_equal(index, c->index);
	}
}

static void test_msgno_empty_maildrop(void **state)
{
	size_t index;
	assert_int_equal(pop3_msgno_parse("1", 1, 0, NULL, &index), POP3_MSGNO_NO_SUCH);
	assert_int_equal(pop3_msgno_parse("1", 1, 1, NULL, &index), POP3_MSGNO_OK);
	assert_int_equal(index, 0);
}

static void test_count(void **state)
{
	uint64_t n = 0;
	assert_true(pop3_count_parse("0", 1, &n));
	assert_int_equal(n, 0);
	assert_true(pop3_count_parse("10", 2, &n));
	assert_int_equal(n, 10);
	assert_true(pop3_count_parse("18446744073709551615", 20, &n));
	assert_true(n == UINT64_MAX);
	assert_true(pop3_count_parse("123456789012345678901234567890", 30, &n));
	assert_true(n == UINT64_MAX);
	assert_false(pop3_count_parse("", 0, &n));
	assert_false(pop3_count_parse("-1", 2, &n));
	assert_false(pop3_count_parse("1a", 2, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_nul),
		cmocka_unit_test(test_msgno_table),
		cmocka_unit_test(test_msgno_empty_maildrop),
		cmocka_unit_test(test_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
