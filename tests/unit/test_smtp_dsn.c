/*
 * test_smtp_dsn.c - the delivery status notification (smtpd/smtp_dsn.h):
 * its MIME structure (RFC 6522), its status fields (RFC 3464), the RFC
 * 6533 forms for non-ASCII addresses, remote text that cannot forge
 * lines, and the refusal to report to the null sender.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_dsn.h"

static const char headers[] =
	"Return-Path: <alice@example.test>\r\n"
	"Received: from client.test by mx.example.test; Sat, 5 Dec 2026 08:00:00 +0000\r\n"
	"Subject: lunch?\r\n"
	"\r\n";

static struct smtp_dsn_recipient rcpts[] = {
	{ .address = "bob@remote.example", .failed = true, .status = "5.1.1",
	  .remote_mta = "mx.remote.example",
	  .diagnostic = "550 5.1.1 <bob@remote.example>: no such user", .last_attempt = 1796457600 },
	{ .address = "carol@slow.example", .status = "4.4.1", .diagnostic = "connection timed out",
	  .last_attempt = 1796457700 },
};

static struct smtp_dsn dsn(void)
{
	struct smtp_dsn d = {
		.reporting_mta = "mx.example.test",
		.sender = "alice@example.test",
		.queue_id = "4711",
		.token = "a1b2c3",
		.arrival = 1796457000,
		.now = 1796457800,
		.retry_until = 1796889000,
		.rcpts = rcpts,
		.rcpt_count = 2,
		.headers = headers,
		.headers_len = sizeof(headers) - 1,
	};
	return d;
}

static char *build(const struct smtp_dsn *d, size_t *len_r)
{
	char *out = NULL;

	assert_int_equal(smtp_dsn_build(d, &out, len_r), 0);
	assert_int_equal(strlen(out), *len_r);
	return out;
}

/* Every line ends in CRLF, holds no other CR or LF, and fits RFC 5322's 998 octets. */
static void assert_lines_ok(const char *m, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\n') {
			assert_true(i > 0 && m[i - 1] == '\r');
			assert_true(i - 1 - start <= 998);
			start = i + 1;
		} else if (m[i] == '\r') {
			assert_true(i + 1 < len && m[i + 1] == '\n');
		}
	}
	assert_int_equal(start, len); /* ends with a line end */
}

static void assert_has(const char *m, const char *s)
{
	if (strstr(m, s) == NULL)
		fail_msg("missing: %s", s);
}

static void test_failed_and_delayed(void **state)
{
	struct smtp_dsn d = dsn();
	size_t len;
	char *m = build(&d, &len);

	(void)state;
	assert_lines_ok(m, len);
	assert_has(m, "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n");
	assert_has(m, "To: <alice@example.test>\r\n");
	assert_has(m, "Subject: Undelivered Mail Returned to Sender\r\n");
	assert_has(m, "Auto-Submitted: auto-replied\r\n");
	assert_has(m, "Message-ID: <a1b2c3.dsn@mx.example.test>\r\n");
	assert_has(m, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	              "\tboundary=\"dsn-a1b2c3\"\r\n");
	/* Three parts: human text, status, original headers; then the close. */
	assert_has(m, "\r\n--dsn-a1b2c3\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
	assert_has(m, "\r\n--dsn-a1b2c3\r\nContent-Type: message/delivery-status\r\n\r\n"
	              "Reporting-MTA: dns; mx.example.test\r\n");
	assert_has(m, "\r\n--dsn-a1b2c3\r\nContent-Type: text/rfc822-headers\r\n\r\n"
	              "Return-Path: <alice@example.test>\r\n");
	assert_has(m, "Subject: lunch?\r\n\r\n--dsn-a1b2c3--\r\n");
	assert_string_equal(m + len - 18, "\r\n--dsn-a1b2c3--\r\n");
	/* Per recipient (RFC 3464 2.3). */
	assert_has(m, "\r\n\r\nFinal-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\n"
	              "Status: 5.1.1\r\nRemote-MTA: dns; mx.remote.example\r\n"
	              "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: no such user\r\n"
	              "Last-Attempt-Date: ");
	assert_has(m, "Final-Recipient: rfc822; carol@slow.example\r\nAction: delayed\r\n"
	              "Status: 4.4.1\r\nDiagnostic-Code: X-mail; connection timed out\r\n");
	assert_has(m, "Will-Retry-Until: ");
	assert_has(m, "    host mx.remote.example said: 550 5.1.1");
	free(m);
}

/* RFC 3461: a success report for a server without DSN, with ENVID and ORCPT decoded. */
static void test_relayed_with_envid_and_orcpt(void **state)
{
	struct smtp_dsn_recipient r = { .address = "bob@remote.example", .status = "2.0.0",
	                                .remote_mta = "mx.remote.example", .diagnostic = "250 2.0.0 ok",
	                                .last_attempt = 1796457600, .relayed = true,
	                                .orcpt = "rfc822;b+2Bx@remote.example" };
	struct smtp_dsn d = dsn();
	size_t len;
	(void)state;
	d.rcpts = &r;
	d.rcpt_count = 1;
	d.envid = "QQ+2B314";
	char *m = build(&d, &len);
	assert_has(m, "Subject: Successful Mail Delivery Report\r\n");
	assert_has(m, "Original-Envelope-Id: QQ+314\r\nReporting-MTA: dns; mx.example.test\r\n");
	assert_has(m, "\r\n\r\nOriginal-Recipient: rfc822;b+x@remote.example\r\n"
	              "Final-Recipient: rfc822; bob@remote.example\r\nAction: relayed\r\n"
	              "Status: 2.0.0\r\n");
	assert_has(m, "<bob@remote.example>: relayed\r\n");
	assert_null(strstr(m, "Will-Retry-Until"));
	free(m);
}

/* RFC 3461 RET=FULL: the whole message as message/rfc822 instead of its header section. */
static void test_full_message_returned(void **state)
{
	static const char original[] = "Subject: lunch?\r\n\r\nAt noon.\r\n";
	struct smtp_dsn d = dsn();
	size_t len;
	(void)state;
	d.message = original;
	d.message_len = sizeof(original) - 1;
	char *m = build(&d, &len);
	assert_lines_ok(m, len);
	assert_has(m, "Content-Type: message/rfc822\r\n\r\nSubject: lunch?\r\n\r\nAt noon.\r\n"
	              "\r\n--dsn-a1b2c3--\r\n");
	assert_has(m, "It is attached below.\r\n");
	assert_null(strstr(m, "text/rfc822-headers"));
	free(m);
}

static void test_delayed_only_is_a_warning(void **state)
{
	struct smtp_dsn d = dsn();
	size_t len;

	(void)state;
	d.rcpts = &rcpts[1];
	d.rcpt_count = 1;
	d.headers = NULL;
	char *m = build(&d, &len);
	assert_lines_ok(m, len);
	assert_has(m, "Subject: Delayed Mail (still being retried)\r\n");
	assert_has(m, "Delivery will be tried again until ");
	assert_null(strstr(m, "rfc822-headers"));
	free(m);
}

static void test_remote_text_cannot_forge_lines(void **state)
{
	struct smtp_dsn d = dsn();
	struct smtp_dsn_recipient r = rcpts[0];
	char big[3000];
	size_t len;

	(void)state;
	r.diagnostic = "550 no\r\nAction: delivered\r\n";
	d.rcpts = &r;
	d.rcpt_count = 1;
	char *m = build(&d, &len);
	assert_lines_ok(m, len);
	assert_null(strstr(m, "\r\nAction: delivered"));
	assert_has(m, "Diagnostic-Code: smtp; 550 no??Action: delivered??\r\n");
	free(m);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "550 ", 4);
	r.diagnostic = big;
	m = build(&d, &len);
	assert_lines_ok(m, len);
	free(m);
}

static void test_utf8_addresses_use_the_global_forms(void **state)
{
	struct smtp_dsn d = dsn();
	struct smtp_dsn_recipient r = rcpts[0];
	size_t len;

	(void)state;
	r.address = "j\xc3\xb6rg@remote.example";
	d.rcpts = &r;
	d.rcpt_count = 1;
	char *m = build(&d, &len);
	assert_lines_ok(m, len);
	assert_has(m, "Content-Type: message/global-delivery-status\r\n");
	assert_has(m, "Content-Type: message/global-headers\r\n");
	assert_has(m, "Final-Recipient: utf-8; j\xc3\xb6rg@remote.example\r\n");
	free(m);
}

static void test_never_to_the_null_sender(void **state)
{
	struct smtp_dsn d = dsn();
	char *out = (char *)1;
	size_t len = 1;

	(void)state;
	d.sender = "";
	assert_int_equal(smtp_dsn_build(&d, &out, &len), -1);
	assert_null(out);
	assert_int_equal(len, 0);
	d = dsn();
	d.rcpt_count = 0;
	assert_int_equal(smtp_dsn_build(&d, &out, &len), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_and_delayed),
		cmocka_unit_test(test_relayed_with_envid_and_orcpt),
		cmocka_unit_test(test_full_message_returned),
		cmocka_unit_test(test_delayed_only_is_a_warning),
		cmocka_unit_test(test_remote_text_cannot_forge_lines),
		cmocka_unit_test(test_utf8_addresses_use_the_global_forms),
		cmocka_unit_test(test_never_to_the_null_sender),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
