/* test_smtp_received.c - the Return-Path and Received fields smtpd prepends:
 * exact output for table-driven sessions, protocol names, hostile HELOs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_received.h"

#define EXPECT_STR(what, got, want)                                                               \
	do {                                                                                          \
		if (strcmp((got), (want)) != 0) {                                                         \
			print_error("%s:\n got: \"%s\"\nwant: \"%s\"\n", (what), (got), (want));             \
			fail();                                                                               \
		}                                                                                         \
	} while (0)

/* 2026-11-27T09:00:00Z, a Friday. */
#define WHEN ((time_t)1795770000)

struct received_case {
	const char *name;
	struct smtp_trace trace;
	const char *want;
};

static const struct received_case cases[] = {
	{ "plain MX, one recipient",
	  { .sender = "alice@remote.test", .helo = "client.remote.test", .helo_valid = true,
	    .peer_ip = "192.0.2.1", .hostname = "mx.example.test", .esmtp = true, .id = "1f.1",
	    .rcpt = "bob@example.test", .when = WHEN },
	  "Return-Path: <alice@remote.test>\r\n"
	  "Received: from client.remote.test ([192.0.2.1])\r\n"
	  "\tby mx.example.test with ESMTP id 1f.1\r\n"
	  "\tfor <bob@example.test>; Fri, 27 Nov 2026 09:00:00 +0000\r\n" },
	{ "HELO, null sender, several recipients",
	  { .sender = "", .helo = "[192.0.2.1]", .helo_valid = true, .peer_ip = "192.0.2.1",
	    .hostname = "mx.example.test", .esmtp = false, .id = "2.7", .rcpt = NULL, .when = WHEN },
	  "Return-Path: <>\r\n"
	  "Received: from [192.0.2.1] ([192.0.2.1])\r\n"
	  "\tby mx.example.test with SMTP id 2.7\r\n"
	  "\t; Fri, 27 Nov 2026 09:00:00 +0000\r\n" },
	{ "submission over TLS, authenticated, IPv6",
	  { .sender = "alice@example.test", .helo = "laptop", .helo_valid = true,
	    .peer_ip = "2001:db8::1", .hostname = "mx.example.test", .esmtp = true,
	    .tls_version = "TLSv1.2", .tls_cipher = "TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384",
	    .authenticated = true, .auth_user = "alice@example.test", .id = "a.1",
	    .rcpt = "bob@example.test", .when = WHEN },
	  "Return-Path: <alice@example.test>\r\n"
	  "Received: from laptop ([IPv6:2001:db8::1])\r\n"
	  "\tby mx.example.test with ESMTPSA id a.1\r\n"
	  "\t(TLSv1.2 TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384)\r\n"
	  "\t(authenticated as alice@example.test)\r\n"
	  "\tfor <bob@example.test>; Fri, 27 Nov 2026 09:00:00 +0000\r\n" },
	{ "authenticated, login not named (received_auth_header = no)",
	  { .sender = "team@example.test", .helo = "laptop", .helo_valid = true,
	    .peer_ip = "192.0.2.7", .hostname = "mx.example.test", .esmtp = true,
	    .authenticated = true, .auth_user = NULL, .id = "1234", .rcpt = "bob@example.test",
	    .when = WHEN },
	  "Return-Path: <team@example.test>\r\n"
	  "Received: from laptop ([192.0.2.7])\r\n"
	  "\tby mx.example.test with ESMTPA id 1234\r\n"
	  "\tfor <bob@example.test>; Fri, 27 Nov 2026 09:00:00 +0000\r\n" },
	{ "invalid HELO is only quoted in a comment, without its parentheses",
	  { .sender = "x@remote.test", .helo = "bad_(name)\\", .helo_valid = false,
	    .peer_ip = "127.0.0.1", .hostname = "mx.example.test", .esmtp = true,
	    .smtputf8 = true, .id = "3.1", .rcpt = "bob@example.test", .when = WHEN },
	  "Return-Path: <x@remote.test>\r\n"
	  "Received: from [127.0.0.1] (helo=bad_?name?" "?)\r\n"
	  "\tby mx.example.test with UTF8SMTP id 3.1\r\n"
	  "\tfor <bob@example.test>; Fri, 27 Nov 2026 09:00:00 +0000\r\n" },
};

static void test_format_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[SMTP_TRACE_MAX];
		size_t len = smtp_received_format(&cases[i].trace, out, sizeof(out));

		EXPECT_STR(cases[i].name, out, cases[i].want);
		assert_int_equal(len, strlen(cases[i].want));
	}
}

static void test_protocol_names(void **state)
{
	(void)state;
	/* RFC 3848 and RFC 6531 3.7.3. */
	assert_string_equal(smtp_received_protocol(false, false, true, true), "SMTP");
	assert_string_equal(smtp_received_protocol(true, false, false, false), "ESMTP");
	assert_string_equal(smtp_received_protocol(true, false, false, true), "ESMTPA");
	assert_string_equal(smtp_received_protocol(true, false, true, false), "ESMTPS");
	assert_string_equal(smtp_received_protocol(true, false, true, true), "ESMTPSA");
	assert_string_equal(smtp_received_protocol(true, true, false, false), "UTF8SMTP");
	assert_string_equal(smtp_received_protocol(true, true, true, true), "UTF8SMTPSA");
}

static void test_too_small_buffer(void **state)
{
	(void)state;
	char out[40];

	memset(out, 'x', sizeof(out));
	assert_int_equal(smtp_received_format(&cases[0].trace, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void test_longest_inputs_fit(void **state)
{
	(void)state;
	char addr[255], helo[256], host[256], out[SMTP_TRACE_MAX];

	memset(addr, 'a', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	memset(helo, 'h', sizeof(helo) - 1);
	helo[sizeof(helo) - 1] = '\0';
	memset(host, 'm', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	struct smtp_trace t = {
		.sender = addr, .helo = helo, .helo_valid = true,
		.peer_ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", .hostname = host,
		.esmtp = true, .smtputf8 = true, .tls_version = "TLSv1.3",
		.tls_cipher = "TLS1-3-CHACHA20-POLY1305-SHA256", .authenticated = true, .auth_user = addr,
		.id = "ffffffffffffffff.4294967295", .rcpt = addr, .when = WHEN,
	};

	assert_true(smtp_received_format(&t, out, sizeof(out)) > 0);
}

static void test_date_field(void **state)
{
	(void)state;
	char out[SMTP_FIELD_MAX];

	assert_int_equal(smtp_received_date_field(WHEN, out, sizeof(out)), 39);
	assert_string_equal(out, "Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n");
	/* Single-digit days are not padded (RFC 5322 3.3 allows 1 or 2 digits). */
	assert_true(smtp_received_date_field(WHEN + 6 * 86400, out, sizeof(out)) > 0);
	assert_string_equal(out, "Date: Thu, 3 Dec 2026 09:00:00 +0000\r\n");
	assert_int_equal(smtp_received_date_field(WHEN, out, 39), 0);
	assert_string_equal(out, "");
}

static void test_message_id_field(void **state)
{
	(void)state;
	char out[SMTP_FIELD_MAX], host[256];

	assert_true(smtp_received_message_id_field(WHEN, "1234", 0x0123456789abcdefULL,
	                                           "mx.example.test", out, sizeof(out)) > 0);
	assert_string_equal(out, "Message-ID: <20261127090000.1234.0123456789abcdef@mx.example.test>\r\n");
	/* A host name with characters a msg-id cannot hold. */
	smtp_received_message_id_field(WHEN, "1", 1, "mx example>@(x)", out, sizeof(out));
	assert_string_equal(out, "Message-ID: <20261127090000.1.0000000000000001@mx-example---x->\r\n");
	/* The longest host name fits. */
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	assert_true(smtp_received_message_id_field(WHEN, "9223372036854775807", UINT64_MAX, host,
	                                           out, sizeof(out)) > 0);
	assert_int_equal(smtp_received_message_id_field(WHEN, "1", 1, "h", out, 20), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_cases),
		cmocka_unit_test(test_protocol_names),
		cmocka_unit_test(test_too_small_buffer),
		cmocka_unit_test(test_longest_inputs_fit),
		cmocka_unit_test(test_date_field),
		cmocka_unit_test(test_message_id_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
