/* test_smtp_refusal.c - the table of SMTP refusals (smtp_refusal.h): every
 * entry is a well-formed reply that fits on one line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_address.h"
#include "smtp_metrics.h"
#include "smtp_refusal.h"
#include "smtp_reply.h"

/* The longest value a "%s" is filled with: an address, or a host name (RFC 1035 2.3.4). */
#define QUOTED_MAX (SMTP_MAILBOX_MAX > 255 ? SMTP_MAILBOX_MAX : 255)

#define EXPECT(id, cond, ...) \
	do { \
		if (!(cond)) { \
			const char *text_ = smtp_refusal(id)->text; \
			print_error("refusal %d (\"%s\"): ", (int)(id), text_ ? text_ : "(none)"); \
			print_error(__VA_ARGS__); \
			print_error("\n"); \
			fail(); \
		} \
	} while (0)

static bool is_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/*
 * RFC 3463 2: class "." subject "." detail, class 2, 4 or 5, subject and
 * detail 1 to 3 digits. Returns the class digit, or 0 when malformed.
 */
static char esc_class(const char *esc)
{
	const char *dot1 = strchr(esc, '.');
	const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;

	if (dot1 != esc + 1 || dot2 == NULL || strchr(esc, '\0') - dot2 - 1 > 3 ||
	    dot2 - dot1 - 1 > 3)
		return 0;
	if (!is_digits(dot1 + 1, (size_t)(dot2 - dot1 - 1)) || !is_digits(dot2 + 1, strlen(dot2 + 1)))
		return 0;
	return esc[0];
}

/* The number of "%s" in text, or -1 when it holds any other '%'. */
static int holes(const char *text)
{
	int n = 0;

	for (const char *p = strchr(text, '%'); p != NULL; p = strchr(p + 2, '%')) {
		if (p[1] != 's')
			return -1;
		n++;
	}
	return n;
}

static void test_every_entry_is_a_reply(void **state)
{
	(void)state;
	for (int i = 0; i < SMTP_REFUSAL_COUNT; i++) {
		enum smtp_refusal_id id = (enum smtp_refusal_id)i;
		const struct smtp_refusal *r = smtp_refusal(id);

		/* A gap in the table (an id without an entry) is all zeros. */
		assert_non_null(r);
		EXPECT(id, r->text != NULL && r->esc != NULL, "no text or no enhanced code");
		EXPECT(id, r->code >= 400 && r->code <= 599, "code %d is not 4xx or 5xx", r->code);
		EXPECT(id, esc_class(r->esc) == '0' + r->code / 100,
		       "enhanced code \"%s\" is malformed or not of the class of %d", r->esc, r->code);
		EXPECT(id, r->text[0] != '\0', "empty text");
		for (const char *p = r->text; *p != '\0'; p++)
			EXPECT(id, *p >= 0x20 && *p < 0x7f, "byte 0x%02x in the text (CR, LF, control, "
			       "8-bit)", (unsigned char)*p);
		EXPECT(id, (unsigned)r->reason < SMTP_REJECT_COUNT, "reason %d out of range",
		       (int)r->reason);

		int n = holes(r->text);
		EXPECT(id, n == 0 || n == 1, "%d \"%%s\" or a '%%' that is not one", n);
		/* "CODE ESC TEXT" with the longest value filled in, CRLF after it. */
		size_t line = 4 + strlen(r->esc) + 1 + strlen(r->text) + (n == 1 ? QUOTED_MAX - 2 : 0);
		EXPECT(id, line + 2 <= SMTP_REPLY_LINE_MAX, "%zu octets with CRLF, more than %d",
		       line + 2, SMTP_REPLY_LINE_MAX);
	}
}

/* Two ids with the same reply would be one refusal under two names. */
static void test_entries_are_distinct(void **state)
{
	(void)state;
	for (int i = 0; i < SMTP_REFUSAL_COUNT; i++) {
		const struct smtp_refusal *a = smtp_refusal((enum smtp_refusal_id)i);

		for (int j = i + 1; j < SMTP_REFUSAL_COUNT; j++) {
			const struct smtp_refusal *b = smtp_refusal((enum smtp_refusal_id)j);

			if (a->text == NULL || b->text == NULL || a->esc == NULL || b->esc == NULL)
				continue; /* a gap: test_every_entry_is_a_reply fails on it */
			EXPECT(i, a->code != b->code || strcmp(a->esc, b->esc) != 0 ||
			                  strcmp(a->text, b->text) != 0,
			       "the same reply as refusal %d", j);
		}
	}
}

/*
 * The replies clients and their tests rely on (e2e tests pin most of them
 * byte for byte), and what each is counted under.
 */
static void test_known_replies(void **state)
{
	static const struct {
		enum smtp_refusal_id id;
		int code;
		const char *esc;
		const char *text;
		enum smtp_reject reason;
	} cases[] = {
		{ SMTP_REFUSAL_NEED_HELO, 503, "5.5.1", "Error: send HELO/EHLO first",
		  SMTP_REJECT_SEQUENCE },
		{ SMTP_REFUSAL_AUTH_REQUIRED, 530, "5.7.0", "Authentication required",
		  SMTP_REJECT_AUTH_REQUIRED },
		{ SMTP_REFUSAL_NO_VALID_RCPTS, 554, "5.5.1", "Error: no valid recipients",
		  SMTP_REJECT_SEQUENCE },
		{ SMTP_REFUSAL_NOT_IMPLEMENTED, 502, "5.5.1", "Error: command not implemented",
		  SMTP_REJECT_SYNTAX },
		{ SMTP_REFUSAL_RELAY_DENIED, 554, "5.7.1", "<%s>: Relay access denied",
		  SMTP_REJECT_RELAY },
		{ SMTP_REFUSAL_TOO_MANY_RCPTS, 452, "4.5.3", "Error: too many recipients",
		  SMTP_REJECT_RCPT_LIMIT },
		{ SMTP_REFUSAL_RCPT_UNKNOWN, 550, "5.1.1",
		  "<%s>: Recipient address rejected: User unknown", SMTP_REJECT_UNKNOWN_USER },
		{ SMTP_REFUSAL_RCPT_OVER_QUOTA, 552, "5.2.2",
		  "<%s>: Recipient address rejected: Message size exceeds the mailbox's quota",
		  SMTP_REJECT_OVER_QUOTA },
		{ SMTP_REFUSAL_RCPT_LOOKUP_FAILED, 451, "4.3.0", "<%s>: Temporary lookup failure",
		  SMTP_REJECT_TEMPFAIL },
		{ SMTP_REFUSAL_MESSAGE_TOO_BIG, 552, "5.3.4", "Error: message size exceeds fixed limit",
		  SMTP_REJECT_SIZE },
		{ SMTP_REFUSAL_MAILBOX_FULL, 452, "4.2.2", "Mailbox full, try again later",
		  SMTP_REJECT_MAILBOX_FULL },
		{ SMTP_REFUSAL_LOCAL_ERROR, 451, "4.3.0",
		  "Error: local error in processing, try again later", SMTP_REJECT_TEMPFAIL },
		{ SMTP_REFUSAL_TIMEOUT, 421, "4.4.2", "%s Error: timeout exceeded",
		  SMTP_REJECT_TIMEOUT },
		{ SMTP_REFUSAL_AUTH_FAILED, 535, "5.7.8", "Error: authentication credentials invalid",
		  SMTP_REJECT_AUTH_FAILED },
		{ SMTP_REFUSAL_AUTH_TEMPFAIL, 454, "4.7.0", "Temporary authentication failure",
		  SMTP_REJECT_TEMPFAIL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct smtp_refusal *r = smtp_refusal(cases[i].id);

		assert_int_equal(r->code, cases[i].code);
		assert_string_equal(r->esc, cases[i].esc);
		assert_string_equal(r->text, cases[i].text);
		assert_int_equal(r->reason, cases[i].reason);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_entry_is_a_reply),
		cmocka_unit_test(test_entries_are_distinct),
		cmocka_unit_test(test_known_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
