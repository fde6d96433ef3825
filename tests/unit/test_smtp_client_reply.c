/*
 * test_smtp_client_reply.c - reading remote replies (smtpd/smtp_client_reply.h):
 * single and multi-line replies, what is a protocol error, remote text
 * that cannot forge lines, and the EHLO keywords outbound delivery uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_client_reply.h"

static enum smtp_client_reply_status feed(struct smtp_client_reply *r, const char *line)
{
	return smtp_client_reply_feed(r, line, strlen(line));
}

static void test_single_and_multi_line(void **state)
{
	struct smtp_client_reply r;
	char first[64];

	(void)state;
	smtp_client_reply_init(&r);
	assert_int_equal(feed(&r, "250 2.1.0 Ok"), SMTP_CLIENT_REPLY_DONE);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "2.1.0 Ok");

	smtp_client_reply_init(&r);
	assert_int_equal(feed(&r, "220"), SMTP_CLIENT_REPLY_DONE); /* text is optional */
	assert_int_equal(r.code, 220);
	assert_string_equal(r.text, "");

	smtp_client_reply_init(&r);
	assert_int_equal(feed(&r, "250-mx.remote.example hello"), SMTP_CLIENT_REPLY_MORE);
	assert_int_equal(feed(&r, "250-PIPELINING"), SMTP_CLIENT_REPLY_MORE);
	assert_int_equal(feed(&r, "250 SIZE 1000"), SMTP_CLIENT_REPLY_DONE);
	assert_int_equal(r.lines, 3);
	assert_string_equal(r.text, "mx.remote.example hello\nPIPELINING\nSIZE 1000");
	smtp_client_reply_first(&r, first, sizeof(first));
	assert_string_equal(first, "mx.remote.example hello");
}

static void bad(const char *a, const char *b)
{
	struct smtp_client_reply r;

	smtp_client_reply_init(&r);
	if (b == NULL) {
		assert_int_equal(feed(&r, a), SMTP_CLIENT_REPLY_BAD);
		return;
	}
	assert_int_equal(feed(&r, a), SMTP_CLIENT_REPLY_MORE);
	assert_int_equal(feed(&r, b), SMTP_CLIENT_REPLY_BAD);
}

static void test_protocol_errors(void **state)
{
	struct smtp_client_reply r;
	char big[600];

	(void)state;
	bad("", NULL);
	bad("25", NULL);
	bad("hello", NULL);
	bad("150 too low", NULL);
	bad("650 too high", NULL);
	bad("260 second digit", NULL);
	bad("2x0 letters", NULL);
	bad("250_Ok", NULL);
	bad("250-first", "251 other code");
	bad("250-first", "garbage");
	memset(big, 'x', sizeof(big));
	memcpy(big, "250 ", 4);
	assert_int_equal(smtp_client_reply_feed(&r, big, sizeof(big)), SMTP_CLIENT_REPLY_BAD);

	smtp_client_reply_init(&r);
	for (int i = 0; i < SMTP_CLIENT_REPLY_LINES_MAX; i++)
		assert_int_equal(feed(&r, "250-more"), SMTP_CLIENT_REPLY_MORE);
	assert_int_equal(feed(&r, "250-more"), SMTP_CLIENT_REPLY_BAD);

	smtp_client_reply_init(&r);
	assert_int_equal(feed(&r, "250 done"), SMTP_CLIENT_REPLY_DONE);
	assert_int_equal(feed(&r, "250 again"), SMTP_CLIENT_REPLY_BAD); /* init first */
}

static void test_remote_text_is_one_line(void **state)
{
	struct smtp_client_reply r;
	const char line[] = "550 no\0such\ruser\x7f";

	(void)state;
	smtp_client_reply_init(&r);
	assert_int_equal(smtp_client_reply_feed(&r, line, sizeof(line) - 1), SMTP_CLIENT_REPLY_DONE);
	assert_string_equal(r.text, "no?such?user?");
}

static void test_long_replies_keep_whole_first_lines(void **state)
{
	struct smtp_client_reply r;
	char line[SMTP_CLIENT_LINE_MAX + 1];

	(void)state;
	smtp_client_reply_init(&r);
	memset(line, 'y', sizeof(line) - 1);
	memcpy(line, "250-", 4);
	for (int i = 0; i < 20; i++)
		assert_int_equal(smtp_client_reply_feed(&r, line, SMTP_CLIENT_LINE_MAX),
		                 SMTP_CLIENT_REPLY_MORE);
	assert_int_equal(feed(&r, "250 last"), SMTP_CLIENT_REPLY_DONE);
	assert_true(r.text_full);
	assert_int_equal(strlen(r.text), r.text_len);
	assert_true(r.text_len < sizeof(r.text));
	assert_null(strstr(r.text, "last"));
	assert_int_equal(r.text_len % (SMTP_CLIENT_LINE_MAX - 4 + 1), SMTP_CLIENT_LINE_MAX - 4);
}

static void test_ehlo_keywords(void **state)
{
	struct smtp_client_reply r;
	struct smtp_ehlo e;

	(void)state;
	smtp_client_reply_init(&r);
	feed(&r, "250-mx.remote.example Hello PIPELINING friend");
	feed(&r, "250-pipelining");
	feed(&r, "250-SIZE 10240000");
	feed(&r, "250-8BITMIME");
	feed(&r, "250-SMTPUTF8");
	feed(&r, "250-STARTTLS");
	feed(&r, "250-AUTH LOGIN cram-md5 Plain");
	feed(&r, "250-STARTTLSX");
	feed(&r, "250 CHUNKING");
	smtp_ehlo_parse(&r, &e);
	assert_true(e.pipelining && e.eightbitmime && e.smtputf8 && e.starttls && e.chunking);
	assert_true(e.size);
	assert_int_equal(e.size_max, 10240000);
	assert_true(e.auth_plain && e.auth_login);

	/* Only what each line offers: the greeting line names no keyword. */
	smtp_client_reply_init(&r);
	feed(&r, "250-mx.remote.example STARTTLS");
	feed(&r, "250-SIZE");
	feed(&r, "250 AUTH CRAM-MD5");
	smtp_ehlo_parse(&r, &e);
	assert_false(e.starttls || e.pipelining || e.auth_plain || e.auth_login);
	assert_true(e.size);
	assert_int_equal(e.size_max, 0);

	smtp_client_reply_init(&r);
	feed(&r, "502 5.5.1 EHLO not implemented");
	smtp_ehlo_parse(&r, &e);
	assert_false(e.size || e.starttls);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_and_multi_line),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_remote_text_is_one_line),
		cmocka_unit_test(test_long_replies_keep_whole_first_lines),
		cmocka_unit_test(test_ehlo_keywords),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
