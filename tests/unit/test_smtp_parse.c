/* test_smtp_parse.c - SMTP command lines and MAIL/RCPT/EHLO/BDAT/AUTH
 * arguments: table-driven valid and invalid cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "smtp_parse.h"

#define show testutil_show

#define EXPECT_INT(input, len, got, want) \
	do { \
		unsigned long long got_ = (unsigned long long)(got); \
		unsigned long long want_ = (unsigned long long)(want); \
		if (got_ != want_) { \
			print_error("input \"%s\": %s is %llu, want %llu\n", show(input, len), #got, got_, \
			            want_); \
			fail(); \
		} \
	} while (0)

#define EXPECT_MEM(input, len, got, got_len, want) \
	do { \
		size_t want_len_ = strlen(want); \
		if ((got_len) != want_len_ || memcmp((got), (want), want_len_) != 0) { \
			char got_[TESTUTIL_SHOW_MAX]; \
			snprintf(got_, sizeof(got_), "%s", show((got), (got_len))); \
			print_error("input \"%s\": %s is \"%s\", want \"%s\"\n", show(input, len), #got, \
			            got_, (want)); \
			fail(); \
		} \
	} while (0)

#define EXPECT_STR(input, len, got, want) EXPECT_MEM(input, len, got, strlen(got), want)

/* ---- command lines ---------------------------------------------------- */

struct command_case {
	const char *line;
	size_t len; /* 0: strlen(line) */
	enum smtp_parse_result want;
	enum smtp_verb verb;
	const char *arg; /* expected argument when verb is recognised */
};

static const struct command_case command_cases[] = {
	{ "EHLO example.com", 0, SMTP_PARSE_OK, SMTP_VERB_EHLO, "example.com" },
	{ "ehlo example.com", 0, SMTP_PARSE_OK, SMTP_VERB_EHLO, "example.com" },
	{ "EhLo   example.com  ", 0, SMTP_PARSE_OK, SMTP_VERB_EHLO, "example.com" },
	{ "HELO x", 0, SMTP_PARSE_OK, SMTP_VERB_HELO, "x" },
	{ "EHLO", 0, SMTP_PARSE_OK, SMTP_VERB_EHLO, "" },
	{ "MAIL FROM:<a@b>", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL, "FROM:<a@b>" },
	{ "mail from:<a@b> SIZE=10", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL, "from:<a@b> SIZE=10" },
	{ "RCPT TO:<a@b>", 0, SMTP_PARSE_OK, SMTP_VERB_RCPT, "TO:<a@b>" },
	{ "DATA", 0, SMTP_PARSE_OK, SMTP_VERB_DATA, "" },
	{ "data", 0, SMTP_PARSE_OK, SMTP_VERB_DATA, "" },
	{ "DATA ", 0, SMTP_PARSE_OK, SMTP_VERB_DATA, "" },
	{ "DATA x", 0, SMTP_PARSE_ARG_NOT_ALLOWED, SMTP_VERB_DATA, "x" },
	{ "BDAT 100 LAST", 0, SMTP_PARSE_OK, SMTP_VERB_BDAT, "100 LAST" },
	{ "RSET", 0, SMTP_PARSE_OK, SMTP_VERB_RSET, "" },
	{ "RSET x", 0, SMTP_PARSE_ARG_NOT_ALLOWED, SMTP_VERB_RSET, "x" },
	{ "NOOP", 0, SMTP_PARSE_OK, SMTP_VERB_NOOP, "" },
	{ "NOOP anything at all", 0, SMTP_PARSE_OK, SMTP_VERB_NOOP, "anything at all" },
	{ "QUIT", 0, SMTP_PARSE_OK, SMTP_VERB_QUIT, "" },
	{ "quit", 0, SMTP_PARSE_OK, SMTP_VERB_QUIT, "" },
	{ "QUIT now", 0, SMTP_PARSE_ARG_NOT_ALLOWED, SMTP_VERB_QUIT, "now" },
	{ "VRFY", 0, SMTP_PARSE_ARG_REQUIRED, SMTP_VERB_VRFY, "" },
	{ "VRFY user", 0, SMTP_PARSE_OK, SMTP_VERB_VRFY, "user" },
	{ "EXPN", 0, SMTP_PARSE_ARG_REQUIRED, SMTP_VERB_EXPN, "" },
	{ "EXPN  list ", 0, SMTP_PARSE_OK, SMTP_VERB_EXPN, "list" },
	{ "HELP", 0, SMTP_PARSE_OK, SMTP_VERB_HELP, "" },
	{ "HELP MAIL", 0, SMTP_PARSE_OK, SMTP_VERB_HELP, "MAIL" },
	{ "STARTTLS", 0, SMTP_PARSE_OK, SMTP_VERB_STARTTLS, "" },
	{ "starttls", 0, SMTP_PARSE_OK, SMTP_VERB_STARTTLS, "" },
	{ "STARTTLS x", 0, SMTP_PARSE_ARG_NOT_ALLOWED, SMTP_VERB_STARTTLS, "x" },
	{ "AUTH PLAIN", 0, SMTP_PARSE_OK, SMTP_VERB_AUTH, "PLAIN" },
	/* Unknown verbs. */
	{ "", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ " ", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ " DATA", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "DATAX", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "DAT", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "MAILFROM:<a@b>", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "MAIL:", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "STARTTLSX", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "XEXCH50 1 2", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "GET / HTTP/1.1", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "\xff\xfe", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	{ "D\xc3\x84TA", 0, SMTP_PARSE_UNKNOWN_COMMAND, SMTP_VERB_UNKNOWN, NULL },
	/* Control characters: the start of command smuggling. */
	{ "DATA\r", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "DA\0TA", 5, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "NOOP \0", 6, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "RSET\nDATA", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "NOOP\t", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "MAIL\tFROM:<a@b>", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "NOOP \x7f", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "\x01", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	{ "\x1b[31mQUIT", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_UNKNOWN, NULL },
	/* 8-bit: only in MAIL and RCPT lines. */
	{ "EHLO \xc3\xa4.de", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_EHLO, "\xc3\xa4.de" },
	{ "NOOP \xff", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_NOOP, "\xff" },
	{ "VRFY \xc3\xbc", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_VRFY, "\xc3\xbc" },
	{ "AUTH PLAIN \xff", 0, SMTP_PARSE_BAD_CHARACTER, SMTP_VERB_AUTH, "PLAIN \xff" },
	{ "MAIL FROM:<\xc3\xbc@x> SMTPUTF8", 0, SMTP_PARSE_OK, SMTP_VERB_MAIL,
	  "FROM:<\xc3\xbc@x> SMTPUTF8" },
	{ "RCPT TO:<\xc3\xbc@x>", 0, SMTP_PARSE_OK, SMTP_VERB_RCPT, "TO:<\xc3\xbc@x>" },
};

static void test_command_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(command_cases) / sizeof(command_cases[0]); i++) {
		const struct command_case *t = &command_cases[i];
		size_t len = t->len ? t->len : strlen(t->line);
		struct smtp_command cmd;

		EXPECT_INT(t->line, len, smtp_parse_command(t->line, len, &cmd), t->want);
		EXPECT_INT(t->line, len, cmd.verb, t->verb);
		assert_non_null(cmd.arg);
		if (t->arg != NULL)
			EXPECT_MEM(t->line, len, cmd.arg, cmd.arg_len, t->arg);
	}
}

static void test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
	for (int v = SMTP_VERB_EHLO; v < SMTP_VERB_COUNT; v++) {
		const char *name = smtp_verb_name((enum smtp_verb)v);
		struct smtp_command cmd;
		assert_non_null(name);
		smtp_parse_command(name, strlen(name), &cmd);
		EXPECT_INT(name, strlen(name), cmd.verb, v);
	}
}

/* ---- EHLO / HELO ----------------------------------------------------- */

static void test_helo(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		enum smtp_parse_result want;
		bool valid;
	} cases[] = {
		{ "example.com", SMTP_PARSE_OK, true },
		{ "Mail.Example.COM", SMTP_PARSE_OK, true },
		{ "[192.0.2.1]", SMTP_PARSE_OK, true },
		{ "[IPv6:::1]", SMTP_PARSE_OK, true },
		{ "localhost", SMTP_PARSE_OK, true },
		{ "my_host", SMTP_PARSE_OK, false },
		{ "host name", SMTP_PARSE_OK, false },
		{ "192.0.2.1]", SMTP_PARSE_OK, false },
		{ "-x-", SMTP_PARSE_OK, false },
		{ "", SMTP_PARSE_HELO_SYNTAX, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_helo helo;
		size_t len = strlen(cases[i].arg);
		EXPECT_INT(cases[i].arg, len, smtp_parse_helo(cases[i].arg, len, &helo), cases[i].want);
		EXPECT_INT(cases[i].arg, len, helo.valid, cases[i].valid);
		if (cases[i].want == SMTP_PARSE_OK)
			EXPECT_MEM(cases[i].arg, len, helo.name, helo.name_len, cases[i].arg);
	}
}

/* ---- MAIL ------------------------------------------------------------- */

#define EXT_ALL (SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | SMTP_EXT_AUTH)

struct mail_case {
	const char *arg;
	unsigned ext;
	enum smtp_parse_result want;
	/* Checked when want is OK: */
	const char *sender;  /* formatted path, "" for <> */
	bool null;
	bool size_given;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	const char *auth;    /* NULL: no AUTH=; "<>": AUTH=<> */
	bool route;
};

#define MAIL_OK(arg, sender) { arg, EXT_ALL, SMTP_PARSE_OK, sender, false, false, 0, SMTP_BODY_NONE, false, NULL, false }
#define MAIL_ERR(arg, ext, res) { arg, ext, res, NULL, false, false, 0, SMTP_BODY_NONE, false, NULL, false }

static const struct mail_case mail_cases[] = {
	MAIL_OK("FROM:<a@b>", "a@b"),
	MAIL_OK("from:<a@b>", "a@b"),
	MAIL_OK("From:<A@B>", "A@b"),
	MAIL_OK("FROM: <a@b>", "a@b"),
	MAIL_OK("FROM:<\"a b\"@x>", "\"a b\"@x"),
	MAIL_OK("FROM:<\"ab\"@x>", "ab@x"),
	MAIL_OK("FROM:<user%other@local>", "user%other@local"),
	MAIL_OK("FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]"),
	{ "FROM:<>", EXT_ALL, SMTP_PARSE_OK, "", true, false, 0, SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<> SIZE=0", EXT_ALL, SMTP_PARSE_OK, "", true, true, 0, SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<a@b> SIZE=12345", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true, 12345, SMTP_BODY_NONE,
	  false, NULL, false },
	{ "FROM:<a@b> size=12345", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true, 12345, SMTP_BODY_NONE,
	  false, NULL, false },
	{ "FROM:<a@b>  SIZE=1   BODY=8BITMIME", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true, 1,
	  SMTP_BODY_8BITMIME, false, NULL, false },
	{ "FROM:<a@b> BODY=7bit", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0, SMTP_BODY_7BIT, false,
	  NULL, false },
	{ "FROM:<a@b> body=8bitmime", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0,
	  SMTP_BODY_8BITMIME, false, NULL, false },
	{ "FROM:<a@b> SIZE=18446744073709551615", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true,
	  UINT64_MAX, SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<a@b> SIZE=18446744073709551614", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true,
	  UINT64_MAX - 1, SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<a@b> SIZE=18446744073709551616", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true,
	  UINT64_MAX, SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<a@b> SIZE=99999999999999999999", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true,
	  UINT64_MAX, SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<a@b> SIZE=00000000000000000001", EXT_ALL, SMTP_PARSE_OK, "a@b", false, true, 1,
	  SMTP_BODY_NONE, false, NULL, false },
	{ "FROM:<\xc3\xbc@x> SMTPUTF8", EXT_ALL, SMTP_PARSE_OK, "\xc3\xbc@x", false, false, 0,
	  SMTP_BODY_NONE, true, NULL, false },
	{ "FROM:<a@b> smtputf8 BODY=8BITMIME", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0,
	  SMTP_BODY_8BITMIME, true, NULL, false },
	{ "FROM:<a@b> AUTH=<>", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0, SMTP_BODY_NONE, false,
	  "<>", false },
	{ "FROM:<a@b> AUTH=user+2Bx@example.com", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0,
	  SMTP_BODY_NONE, false, "user+x@example.com", false },
	{ "FROM:<a@b> AUTH=a+3db", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0, SMTP_BODY_NONE,
	  false, "a=b", false },
	{ "FROM:<a@b> AUTH=+C3+BC", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0, SMTP_BODY_NONE,
	  false, "\xc3\xbc", false },
	{ "FROM:<@r1,@r2:a@b>", EXT_ALL, SMTP_PARSE_OK, "a@b", false, false, 0, SMTP_BODY_NONE, false,
	  NULL, true },
	{ "FROM:<a@b>", 0, SMTP_PARSE_OK, "a@b", false, false, 0, SMTP_BODY_NONE, false, NULL, false },
	/* Not "FROM:<...>". */
	MAIL_ERR("", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM:", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM:a@b", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM: a@b", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM:  <a@b>", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM :<a@b>", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM<a@b>", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("TO:<a@b>", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM:<a@b>SIZE=1", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	MAIL_ERR("FROM:<a@b>>", EXT_ALL, SMTP_PARSE_MAIL_SYNTAX),
	/* Bad reverse-paths. */
	MAIL_ERR("FROM:<a@b", EXT_ALL, SMTP_PARSE_BAD_SENDER),
	MAIL_ERR("FROM:<a>", EXT_ALL, SMTP_PARSE_BAD_SENDER),
	MAIL_ERR("FROM:<postmaster>", EXT_ALL, SMTP_PARSE_BAD_SENDER),
	MAIL_ERR("FROM:<a..b@c>", EXT_ALL, SMTP_PARSE_BAD_SENDER),
	MAIL_ERR("FROM:<\xc3@x> SMTPUTF8", EXT_ALL, SMTP_PARSE_BAD_SENDER),
	MAIL_ERR("FROM:< a@b>", EXT_ALL, SMTP_PARSE_BAD_SENDER),
	MAIL_ERR("FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x>", EXT_ALL,
	         SMTP_PARSE_SENDER_TOO_LONG),
	MAIL_ERR("FROM:<\xc3\xbc@x>", EXT_ALL, SMTP_PARSE_SENDER_NEEDS_SMTPUTF8),
	MAIL_ERR("FROM:<a@\xc3\xa4.de> SIZE=1", EXT_ALL, SMTP_PARSE_SENDER_NEEDS_SMTPUTF8),
	MAIL_ERR("FROM:<@\xc3\xa4:a@x>", EXT_ALL, SMTP_PARSE_SENDER_NEEDS_SMTPUTF8),
	MAIL_ERR("FROM:<\xc3\xbc@x>", 0, SMTP_PARSE_SENDER_NEEDS_SMTPUTF8),
	MAIL_ERR("FROM:<\xc3\xbc@x> SMTPUTF8", SMTP_EXT_SIZE, SMTP_PARSE_PARAM_UNKNOWN),
	/* SIZE. */
	MAIL_ERR("FROM:<a@b> SIZE", EXT_ALL, SMTP_PARSE_SIZE_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=abc", EXT_ALL, SMTP_PARSE_SIZE_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=-1", EXT_ALL, SMTP_PARSE_SIZE_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=1k", EXT_ALL, SMTP_PARSE_SIZE_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=123456789012345678901", EXT_ALL, SMTP_PARSE_SIZE_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=1 SIZE=2", EXT_ALL, SMTP_PARSE_PARAM_DUPLICATE),
	MAIL_ERR("FROM:<a@b> size=1 SIZE=1", EXT_ALL, SMTP_PARSE_PARAM_DUPLICATE),
	/* BODY. */
	MAIL_ERR("FROM:<a@b> BODY=BINARYMIME", EXT_ALL, SMTP_PARSE_BODY_UNSUPPORTED),
	MAIL_ERR("FROM:<a@b> BODY=foo", EXT_ALL, SMTP_PARSE_BODY_UNSUPPORTED),
	MAIL_ERR("FROM:<a@b> BODY", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> BODY=7BIT BODY=8BITMIME", EXT_ALL, SMTP_PARSE_PARAM_DUPLICATE),
	/* SMTPUTF8. */
	MAIL_ERR("FROM:<a@b> SMTPUTF8=yes", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> SMTPUTF8 SMTPUTF8", EXT_ALL, SMTP_PARSE_PARAM_DUPLICATE),
	/* AUTH= (RFC 4954 5, xtext). */
	MAIL_ERR("FROM:<a@b> AUTH", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=+2", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=a+", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=+ZZ", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=a+00b", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=a+0Db", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=+7F", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=+C3", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=\xc3\xbc", EXT_ALL, SMTP_PARSE_AUTH_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> AUTH=<> AUTH=<>", EXT_ALL, SMTP_PARSE_PARAM_DUPLICATE),
	/* Parameters we do not advertise: 555 (RFC 5321 4.1.1.11). */
	MAIL_ERR("FROM:<a@b> RET=HDRS", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> ENVID=abc", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> FOO", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> X-FOO=bar", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> FOO=\xc3\xbc", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> SIZE=1", 0, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> BODY=8BITMIME", SMTP_EXT_SIZE, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> AUTH=<>", SMTP_EXT_SIZE | SMTP_EXT_8BITMIME, SMTP_PARSE_PARAM_UNKNOWN),
	/* Malformed parameters. */
	MAIL_ERR("FROM:<a@b> =x", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> -FOO", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> FO_O", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> FOO=a=b", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> FOO=a\x01", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> FOO=\xff", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	MAIL_ERR("FROM:<a@b> SIZE=1\r\nRCPT", EXT_ALL, SMTP_PARSE_PARAM_SYNTAX),
	/* The first error from the left wins; the SMTPUTF8 check comes last. */
	MAIL_ERR("FROM:<a@b> FOO SIZE=x", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
	MAIL_ERR("FROM:<a@b> SIZE=x FOO", EXT_ALL, SMTP_PARSE_SIZE_SYNTAX),
	MAIL_ERR("FROM:<\xc3\xbc@x> FOO", EXT_ALL, SMTP_PARSE_PARAM_UNKNOWN),
};

static void test_mail_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *t = &mail_cases[i];
		size_t len = strlen(t->arg);
		struct smtp_mail mail;
		char sender[SMTP_MAILBOX_MAX + 1];

		EXPECT_INT(t->arg, len, smtp_parse_mail(t->arg, len, t->ext, &mail), t->want);
		if (t->want != SMTP_PARSE_OK)
			continue;
		EXPECT_INT(t->arg, len, smtp_address_format(&mail.path.mailbox, sender, sizeof(sender)) >= 0,
		           1);
		EXPECT_STR(t->arg, len, sender, t->sender);
		EXPECT_INT(t->arg, len, mail.path.null, t->null);
		EXPECT_INT(t->arg, len, mail.path.source_route, t->route);
		EXPECT_INT(t->arg, len, mail.size_given, t->size_given);
		EXPECT_INT(t->arg, len, mail.size, t->size);
		EXPECT_INT(t->arg, len, mail.body, t->body);
		EXPECT_INT(t->arg, len, mail.smtputf8, t->smtputf8);
		EXPECT_INT(t->arg, len, mail.auth_given, t->auth != NULL);
		if (t->auth != NULL && strcmp(t->auth, "<>") == 0) {
			EXPECT_INT(t->arg, len, mail.auth_null, 1);
			EXPECT_STR(t->arg, len, mail.auth, "");
		} else if (t->auth != NULL) {
			EXPECT_INT(t->arg, len, mail.auth_null, 0);
			EXPECT_STR(t->arg, len, mail.auth, t->auth);
		}
	}
}

static void test_mail_auth_length(void **state)
{
	(void)state;
	char arg[1200];
	struct smtp_mail mail;
	int n = snprintf(arg, sizeof(arg), "FROM:<a@b> AUTH=");

	memset(arg + n, 'x', SMTP_AUTH_PARAM_MAX);
	arg[n + SMTP_AUTH_PARAM_MAX] = '\0';
	assert_int_equal(smtp_parse_mail(arg, strlen(arg), EXT_ALL, &mail), SMTP_PARSE_OK);
	assert_int_equal(strlen(mail.auth), SMTP_AUTH_PARAM_MAX);
	arg[n + SMTP_AUTH_PARAM_MAX] = 'x';
	arg[n + SMTP_AUTH_PARAM_MAX + 1] = '\0';
	assert_int_equal(smtp_parse_mail(arg, strlen(arg), EXT_ALL, &mail),
	                 SMTP_PARSE_AUTH_PARAM_SYNTAX);
}

/* ---- RCPT ------------------------------------------------------------- */

struct rcpt_case {
	const char *arg;
	bool smtputf8;
	enum smtp_parse_result want;
	const char *rcpt;
	bool postmaster, route, quoted;
};

static const struct rcpt_case rcpt_cases[] = {
	{ "TO:<a@b>", false, SMTP_PARSE_OK, "a@b", false, false, false },
	{ "to:<a@b>", false, SMTP_PARSE_OK, "a@b", false, false, false },
	{ "TO: <a@b>", false, SMTP_PARSE_OK, "a@b", false, false, false },
	{ "TO:<Alice@Example.TEST>", false, SMTP_PARSE_OK, "Alice@example.test", false, false, false },
	{ "TO:<postmaster>", false, SMTP_PARSE_OK, "postmaster", true, false, false },
	{ "TO:<POSTMASTER>", false, SMTP_PARSE_OK, "postmaster", true, false, false },
	{ "TO:<Postmaster@x.org>", false, SMTP_PARSE_OK, "Postmaster@x.org", false, false, false },
	{ "TO:<@r:a@b>", false, SMTP_PARSE_OK, "a@b", false, true, false },
	{ "TO:<user%other@local>", false, SMTP_PARSE_OK, "user%other@local", false, false, false },
	{ "TO:<a!b@local>", false, SMTP_PARSE_OK, "a!b@local", false, false, false },
	{ "TO:<\"a\\ b\"@x>", false, SMTP_PARSE_OK, "\"a b\"@x", false, false, true },
	{ "TO:<\"a.b\"@x>", false, SMTP_PARSE_OK, "a.b@x", false, false, false },
	{ "TO:<a@b>  ", false, SMTP_PARSE_OK, "a@b", false, false, false },
	{ "TO:<\xc3\xbc@x>", true, SMTP_PARSE_OK, "\xc3\xbc@x", false, false, false },
	{ "TO:<\xc3\xbc@x>", false, SMTP_PARSE_RECIPIENT_NEEDS_SMTPUTF8, NULL, false, false, false },
	{ "TO:<a@\xc3\xa4>", false, SMTP_PARSE_RECIPIENT_NEEDS_SMTPUTF8, NULL, false, false, false },
	{ "TO:<>", false, SMTP_PARSE_BAD_RECIPIENT, NULL, false, false, false },
	{ "TO:<a>", false, SMTP_PARSE_BAD_RECIPIENT, NULL, false, false, false },
	{ "TO:<a@b", false, SMTP_PARSE_BAD_RECIPIENT, NULL, false, false, false },
	{ "TO:<a@-b>", false, SMTP_PARSE_BAD_RECIPIENT, NULL, false, false, false },
	{ "TO:<\xc3@x>", true, SMTP_PARSE_BAD_RECIPIENT, NULL, false, false, false },
	{ "TO:a@b", false, SMTP_PARSE_RCPT_SYNTAX, NULL, false, false, false },
	{ "TO:", false, SMTP_PARSE_RCPT_SYNTAX, NULL, false, false, false },
	{ "", false, SMTP_PARSE_RCPT_SYNTAX, NULL, false, false, false },
	{ "FROM:<a@b>", false, SMTP_PARSE_RCPT_SYNTAX, NULL, false, false, false },
	{ "TO:<a@b>x", false, SMTP_PARSE_RCPT_SYNTAX, NULL, false, false, false },
	{ "TO:  <a@b>", false, SMTP_PARSE_RCPT_SYNTAX, NULL, false, false, false },
	{ "TO:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b>", false,
	  SMTP_PARSE_RECIPIENT_TOO_LONG, NULL, false, false, false },
	{ "TO:<a@b> NOTIFY=NEVER", false, SMTP_PARSE_PARAM_UNKNOWN, NULL, false, false, false },
	{ "TO:<a@b> ORCPT=rfc822;a@b", false, SMTP_PARSE_PARAM_UNKNOWN, NULL, false, false, false },
	{ "TO:<a@b> =x", false, SMTP_PARSE_PARAM_SYNTAX, NULL, false, false, false },
	{ "TO:<a@b> FOO=", false, SMTP_PARSE_PARAM_SYNTAX, NULL, false, false, false },
};

/* RFC 3461's parameters, where DSN is offered. */
static void test_dsn_params(void **state)
{
	struct smtp_rcpt rcpt;
	struct smtp_mail mail;
	(void)state;
#define RCPT(arg) smtp_parse_rcpt(arg, strlen(arg), false, SMTP_EXT_DSN, &rcpt)
#define MAIL(arg) smtp_parse_mail(arg, strlen(arg), SMTP_EXT_DSN, &mail)
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=SUCCESS,failure ORCPT=rfc822;a+2Bx@b"), SMTP_PARSE_OK);
	assert_int_equal(rcpt.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_string_equal(rcpt.orcpt, "rfc822;a+2Bx@b");
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=NEVER"), SMTP_PARSE_OK);
	assert_int_equal(rcpt.notify, SMTP_NOTIFY_NEVER);
	assert_int_equal(RCPT("TO:<a@b>"), SMTP_PARSE_OK);
	assert_int_equal(rcpt.notify, 0);
	assert_string_equal(rcpt.orcpt, "");
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=NEVER,SUCCESS"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=DELAY,DELAY"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=SOMETIMES"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> NOTIFY="), SMTP_PARSE_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=SUCCESS,"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> NOTIFY=SUCCESS NOTIFY=FAILURE"), SMTP_PARSE_PARAM_DUPLICATE);
	assert_int_equal(RCPT("TO:<a@b> ORCPT=a@b"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> ORCPT=;a@b"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> ORCPT=rfc822;a+2@b"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> ORCPT=rfc822;a=b"), SMTP_PARSE_PARAM_SYNTAX);
	assert_int_equal(RCPT("TO:<a@b> FOO=x"), SMTP_PARSE_PARAM_UNKNOWN);
	assert_int_equal(MAIL("FROM:<a@b> RET=HDRS ENVID=QQ314159"), SMTP_PARSE_OK);
	assert_int_equal(mail.ret, SMTP_DSN_RET_HDRS);
	assert_string_equal(mail.envid, "QQ314159");
	assert_int_equal(MAIL("FROM:<a@b> ret=full"), SMTP_PARSE_OK);
	assert_int_equal(mail.ret, SMTP_DSN_RET_FULL);
	assert_int_equal(MAIL("FROM:<a@b> RET=SOME"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(MAIL("FROM:<a@b> RET=FULL RET=HDRS"), SMTP_PARSE_PARAM_DUPLICATE);
	assert_int_equal(MAIL("FROM:<a@b> ENVID=a b"), SMTP_PARSE_PARAM_UNKNOWN);
	assert_int_equal(MAIL("FROM:<a@b> ENVID=x+ZZ"), SMTP_PARSE_DSN_PARAM_SYNTAX);
	assert_int_equal(smtp_parse_mail("FROM:<a@b> RET=FULL", 19, 0, &mail), SMTP_PARSE_PARAM_UNKNOWN);
#undef RCPT
#undef MAIL
}

static void test_rcpt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *t = &rcpt_cases[i];
		size_t len = strlen(t->arg);
		struct smtp_rcpt rcpt;
		char text[SMTP_MAILBOX_MAX + 1];

		EXPECT_INT(t->arg, len, smtp_parse_rcpt(t->arg, len, t->smtputf8, 0, &rcpt), t->want);
		if (t->want != SMTP_PARSE_OK)
			continue;
		EXPECT_INT(t->arg, len, smtp_address_format(&rcpt.path.mailbox, text, sizeof(text)) >= 0, 1);
		EXPECT_STR(t->arg, len, text, t->rcpt);
		EXPECT_INT(t->arg, len, rcpt.path.null, 0);
		EXPECT_INT(t->arg, len, rcpt.path.postmaster, t->postmaster);
		EXPECT_INT(t->arg, len, rcpt.path.source_route, t->route);
		EXPECT_INT(t->arg, len, rcpt.path.mailbox.local_quoted, t->quoted);
	}
}

/* ---- BDAT ------------------------------------------------------------- */

static void test_bdat(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		enum smtp_parse_result want;
		uint64_t size;
		bool last;
	} cases[] = {
		{ "0", SMTP_PARSE_OK, 0, false },
		{ "100", SMTP_PARSE_OK, 100, false },
		{ "100 LAST", SMTP_PARSE_OK, 100, true },
		{ "100 last", SMTP_PARSE_OK, 100, true },
		{ "0 LAST", SMTP_PARSE_OK, 0, true },
		{ "100   LAST", SMTP_PARSE_OK, 100, true },
		{ "0000000000000000000000000042", SMTP_PARSE_OK, 42, false },
		{ "18446744073709551615 LAST", SMTP_PARSE_OK, UINT64_MAX, true },
		{ "18446744073709551616", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "99999999999999999999999", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "LAST", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "-1", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "+1", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "1x", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "0x10", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "100 LASTX", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "100 LAST x", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "100 FIRST", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ "100 ", SMTP_PARSE_BDAT_SYNTAX, 0, false },
		{ " 100", SMTP_PARSE_BDAT_SYNTAX, 0, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size;
		bool last;
		size_t len = strlen(cases[i].arg);
		EXPECT_INT(cases[i].arg, len, smtp_parse_bdat(cases[i].arg, len, &size, &last),
		           cases[i].want);
		if (cases[i].want != SMTP_PARSE_OK)
			continue;
		EXPECT_INT(cases[i].arg, len, size, cases[i].size);
		EXPECT_INT(cases[i].arg, len, last, cases[i].last);
	}
}

/* ---- AUTH ------------------------------------------------------------- */

static void test_auth(void **state)
{
	(void)state;
	static const struct {
		const char *arg;
		enum smtp_parse_result want;
		const char *mech;
		const char *initial; /* NULL: none */
	} cases[] = {
		{ "PLAIN", SMTP_PARSE_OK, "PLAIN", NULL },
		{ "plain", SMTP_PARSE_OK, "PLAIN", NULL },
		{ "LOGIN dXNlcg==", SMTP_PARSE_OK, "LOGIN", "dXNlcg==" },
		{ "PLAIN =", SMTP_PARSE_OK, "PLAIN", "=" },
		{ "PLAIN   AGFAYg==", SMTP_PARSE_OK, "PLAIN", "AGFAYg==" },
		{ "PLAIN AGFAYgBj", SMTP_PARSE_OK, "PLAIN", "AGFAYgBj" },
		{ "PLAIN a+/=", SMTP_PARSE_OK, "PLAIN", "a+/=" },
		{ "CRAM-MD5", SMTP_PARSE_OK, "CRAM-MD5", NULL },
		{ "X_Y-1", SMTP_PARSE_OK, "X_Y-1", NULL },
		{ "ABCDEFGHIJKLMNOPQRST", SMTP_PARSE_OK, "ABCDEFGHIJKLMNOPQRST", NULL },
		{ "ABCDEFGHIJKLMNOPQRSTU", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PL@IN", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PLAIN AGF AYg", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PLAIN ===", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PLAIN ==", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PLAIN a===", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PLAIN a=b", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
		{ "PLAIN a*b", SMTP_PARSE_AUTH_SYNTAX, NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_auth auth;
		size_t len = strlen(cases[i].arg);
		EXPECT_INT(cases[i].arg, len, smtp_parse_auth(cases[i].arg, len, &auth), cases[i].want);
		if (cases[i].want != SMTP_PARSE_OK)
			continue;
		EXPECT_STR(cases[i].arg, len, auth.mech, cases[i].mech);
		EXPECT_INT(cases[i].arg, len, auth.has_initial, cases[i].initial != NULL);
		if (cases[i].initial != NULL)
			EXPECT_MEM(cases[i].arg, len, auth.initial, auth.initial_len, cases[i].initial);
		else
			EXPECT_INT(cases[i].arg, len, auth.initial_len, 0);
	}
}

/* ---- replies ---------------------------------------------------------- */

static void test_error_table(void **state)
{
	(void)state;
	assert_null(smtp_parse_error(SMTP_PARSE_OK));
	for (int r = SMTP_PARSE_UNKNOWN_COMMAND; r <= SMTP_PARSE_AUTH_SYNTAX; r++) {
		const struct smtp_parse_error *e = smtp_parse_error((enum smtp_parse_result)r);
		assert_non_null(e);
		assert_non_null(e->enh);
		assert_non_null(e->text);
		assert_true(e->code == 500 || e->code == 501 || e->code == 553 || e->code == 555);
		assert_true(strncmp(e->enh, "5.", 2) == 0);
		assert_true(strlen(e->text) > 0);
		assert_null(strpbrk(e->text, "\r\n"));
	}

	static const struct {
		enum smtp_parse_result r;
		int code;
		const char *enh;
	} fixed[] = {
		{ SMTP_PARSE_UNKNOWN_COMMAND, 500, "5.5.1" },
		{ SMTP_PARSE_BAD_CHARACTER, 500, "5.5.2" },
		{ SMTP_PARSE_LINE_TOO_LONG, 500, "5.5.2" },
		{ SMTP_PARSE_MAIL_SYNTAX, 501, "5.5.4" },
		{ SMTP_PARSE_BAD_SENDER, 501, "5.1.7" },
		{ SMTP_PARSE_BAD_RECIPIENT, 553, "5.1.3" },
		{ SMTP_PARSE_SENDER_NEEDS_SMTPUTF8, 553, "5.6.7" },
		{ SMTP_PARSE_PARAM_UNKNOWN, 555, "5.5.4" },
		{ SMTP_PARSE_BODY_UNSUPPORTED, 555, "5.5.4" },
		{ SMTP_PARSE_PARAM_SYNTAX, 501, "5.5.4" },
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		const struct smtp_parse_error *e = smtp_parse_error(fixed[i].r);
		assert_int_equal(e->code, fixed[i].code);
		assert_string_equal(e->enh, fixed[i].enh);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_verb_names),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_mail_table),
		cmocka_unit_test(test_mail_auth_length),
		cmocka_unit_test(test_rcpt_table),
		cmocka_unit_test(test_dsn_params),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_error_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
