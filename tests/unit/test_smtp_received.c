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
	    .auth_user = "alice@example.test", .id = "a.1", .rcpt = "bob@example.test",
	    .when = WHEN },
	  "Return-Path: <alice@example.test>\r\n"
	  "Received: from laptop ([IPv6:2001:db8::1])\r\n"
	  "\tby mx.example.test with ESMTPSA id a.1\r\n"
	  "\t(TLSv1.2 TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384)\r\n"
	  "\t(authenticated as alice@example.test)\r\n"
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
		.tls_cipher = "TLS1-3-CHACHA20-POLY1305-SHA256", .auth_user = addr,
		.id = "ffffffffffffffff.4294967295", .rcpt = addr, .when = WHEN,
	};

	assert_true(smtp_received_format(&t, out, sizeof(out)) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_cases),
		cmocka_unit_test(test_protocol_names),
		cmocka_unit_test(test_too_small_buffer),
		cmocka_unit_test(test_longest_inputs_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
