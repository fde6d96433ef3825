/* test_smtp_header.c - the header section filter: exact output for a table
 * of messages (Bcc, Resent-Bcc, Return-Path, folding, case, obsolete
 * syntax, the end of the header section, added Date and Message-ID, hop
 * counting), every split point, and the whole-message model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_header.h"
#include "smtp_header_model.h"

#define OUT_MAX 8192
#define SUB (SMTP_HEADER_DROP_BCC | SMTP_HEADER_ADD_MISSING) /* an authenticated client */
#define MX 0

static const char date[] = "Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n";
static const char msgid[] = "Message-ID: <20261127090000.42.00112233@mx.example.test>\r\n";
#define DATE "Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n"
#define MSGID "Message-ID: <20261127090000.42.00112233@mx.example.test>\r\n"

static const char *show(const char *s, size_t len)
{
	static char buf[4 * OUT_MAX + 1];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sizeof(buf); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\n");
		else if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

struct sink {
	char buf[OUT_MAX];
	size_t len;
	unsigned calls;
};

static void sink_cb(void *ctx, const char *buf, size_t len)
{
	struct sink *s = ctx;

	assert_true(len > 0);
	assert_true(s->len + len <= sizeof(s->buf));
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	s->calls++;
}

/* Runs the filter over in, cut at `cut` (0: whole), into *out. */
static void run(struct smtp_header *h, struct sink *out, unsigned flags, const char *in,
                size_t len, size_t cut)
{
	memset(out, 0, sizeof(*out));
	smtp_header_init(h, flags, date, msgid, sink_cb, out);
	smtp_header_feed(h, in, cut);
	smtp_header_feed(h, in + cut, len - cut);
	smtp_header_finish(h);
}

struct header_case {
	const char *name;
	unsigned flags;
	const char *in;
	const char *want;
	unsigned received;
	unsigned dropped;
};

static const struct header_case cases[] = {
	{ "Bcc and its folded continuation are dropped on submission", SUB,
	  "From: alice@example.test\r\nTo: bob@example.test\r\nBcc: carol@other.test,\r\n"
	  "\tdave@other.test\r\n  erin@other.test\r\nSubject: hi\r\n" DATE MSGID "\r\nbody\r\n",
	  "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: hi\r\n" DATE MSGID
	  "\r\nbody\r\n", 0, 1 },
	{ "Resent-Bcc too, in any case, and an empty Bcc", SUB,
	  "resent-bcc: x@other.test\r\nBCC:\r\nSubject: hi\r\n" DATE MSGID "\r\n",
	  "Subject: hi\r\n" DATE MSGID "\r\n", 0, 2 },
	{ "obsolete WSP before the colon", SUB,
	  "Bcc : x@other.test\r\nBcc\t:y\r\nSubject: hi\r\n" DATE MSGID "\r\n",
	  "Subject: hi\r\n" DATE MSGID "\r\n", 0, 2 },
	{ "Bcc stays on the MX and in the body; Bcc-ish names stay", MX,
	  "Bcc: x@other.test\r\nBccx: y\r\nX-Bcc: z\r\n\r\nBcc: in the body\r\n",
	  "Bcc: x@other.test\r\nBccx: y\r\nX-Bcc: z\r\n\r\nBcc: in the body\r\n", 0, 0 },
	{ "Bcc in the body stays on submission", SUB,
	  DATE MSGID "\r\nBcc: in the body\r\nReturn-Path: <body@x>\r\n",
	  DATE MSGID "\r\nBcc: in the body\r\nReturn-Path: <body@x>\r\n", 0, 0 },
	{ "Return-Path is dropped on every listener, folded too", MX,
	  "Return-Path: <ceo@example.test>\r\nSubject: x\r\nreturn-path:\r\n <a@b>\r\n\r\nb\r\n",
	  "Subject: x\r\n\r\nb\r\n", 0, 2 },
	{ "a continuation after a kept field is kept", SUB,
	  "Subject: one\r\n two\r\nBcc: x\r\n\tstill bcc\r\nTo: y\r\n\tstill to\r\n" DATE MSGID
	  "\r\n",
	  "Subject: one\r\n two\r\nTo: y\r\n\tstill to\r\n" DATE MSGID "\r\n", 0, 1 },
	{ "Received fields are counted, whatever their case", MX,
	  "Received: from a\r\n\tby b\r\nreceived: x\r\nRECEIVED : y\r\nX-Received: z\r\n\r\n"
	  "Received: in the body\r\n",
	  "Received: from a\r\n\tby b\r\nreceived: x\r\nRECEIVED : y\r\nX-Received: z\r\n\r\n"
	  "Received: in the body\r\n", 3, 0 },
	{ "missing Date and Message-ID are added before the empty line", SUB,
	  "From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n",
	  "From: a@example.test\r\nSubject: hi\r\n" DATE MSGID "\r\nbody\r\n", 0, 0 },
	{ "only the missing one is added; names compare without case", SUB,
	  "message-id: <own@client>\r\n\r\nbody\r\n",
	  "message-id: <own@client>\r\n" DATE "\r\nbody\r\n", 0, 0 },
	{ "DATE present", SUB, "DATE: Thu, 1 Jan 2026 00:00:00 +0000\r\n\r\n",
	  "DATE: Thu, 1 Jan 2026 00:00:00 +0000\r\n" MSGID "\r\n", 0, 0 },
	{ "nothing is added on the MX", MX, "Subject: hi\r\n\r\nbody\r\n",
	  "Subject: hi\r\n\r\nbody\r\n", 0, 0 },
	{ "a message with no body gets them at the end", SUB, "Subject: hi\r\n",
	  "Subject: hi\r\n" DATE MSGID, 0, 0 },
	{ "an empty message gets them", SUB, "", DATE MSGID, 0, 0 },
	{ "a message that is only an empty line", SUB, "\r\n", DATE MSGID "\r\n", 0, 0 },
	{ "a line that is not a field starts the body, after an empty line", SUB,
	  "Subject: hi\r\nthis is text\r\nBcc: x@other.test\r\nReturn-Path: <y@z>\r\n",
	  "Subject: hi\r\n" DATE MSGID "\r\nthis is text\r\nBcc: x@other.test\r\nReturn-Path: <y@z>\r\n",
	  0, 0 },
	{ "a name with a space inside is not a field", SUB, "Bad Name: x\r\nBcc: y\r\n\r\n",
	  DATE MSGID "\r\nBad Name: x\r\nBcc: y\r\n\r\n", 0, 0 },
	{ "a colon first is not a field", SUB, ": x\r\nBcc: y\r\n",
	  DATE MSGID "\r\n: x\r\nBcc: y\r\n", 0, 0 },
	{ "a first line starting with WSP is body", SUB, " Bcc: x\r\nBcc: y\r\n",
	  DATE MSGID "\r\n Bcc: x\r\nBcc: y\r\n", 0, 0 },
	{ "an mbox From line is body: what follows cannot pass for a header", SUB, "From alice Fri Nov 27\r\nBcc: y\r\n\r\n",
	  DATE MSGID "\r\nFrom alice Fri Nov 27\r\nBcc: y\r\n\r\n", 0, 0 },
	{ "8-bit octets in a name: not a field", MX, "Sub\xc3\xa9ject: x\r\nReturn-Path: <a@b>\r\n",
	  "\r\nSub\xc3\xa9ject: x\r\nReturn-Path: <a@b>\r\n", 0, 0 },
	{ "8-bit octets in a value are kept", SUB, "Subject: caf\xc3\xa9\r\n" DATE MSGID "\r\n",
	  "Subject: caf\xc3\xa9\r\n" DATE MSGID "\r\n", 0, 0 },
	{ "a last line without its line end", SUB, "Subject: hi\r\nBcc: x",
	  "Subject: hi\r\n" DATE MSGID, 0, 1 },
	{ "a last name without its colon", MX, "Subject: hi\r\nReturn-Pa",
	  "Subject: hi\r\n\r\nReturn-Pa", 0, 0 },
	{ "both present in any case: unchanged byte for byte", SUB,
	  "message-id: <own@client>\r\nSubject: hi\r\ndate: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	  "\r\nbody\r\n",
	  "message-id: <own@client>\r\nSubject: hi\r\ndate: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	  "\r\nbody\r\n", 0, 0 },
	{ "folded, mixed case and obsolete WSP: both present", SUB,
	  "Message-Id :\r\n <own@client>\r\nDaTe:\r\n\tThu, 1 Jan 2026\r\n 00:00:00 +0000\r\n\r\nb\r\n",
	  "Message-Id :\r\n <own@client>\r\nDaTe:\r\n\tThu, 1 Jan 2026\r\n 00:00:00 +0000\r\n\r\nb\r\n",
	  0, 0 },
	{ "look-alike names are other fields: both added", SUB,
	  "Resent-Date: x\r\nResent-Message-ID: <r@c>\r\nX-Message-ID: <x@c>\r\nDates: y\r\n"
	  "Message-IDs: z\r\n\r\n",
	  "Resent-Date: x\r\nResent-Message-ID: <r@c>\r\nX-Message-ID: <x@c>\r\nDates: y\r\n"
	  "Message-IDs: z\r\n" DATE MSGID "\r\n", 0, 0 },
	{ "in a continuation line or in the body they do not count", SUB,
	  "Subject: a\r\n Date: x\r\n Message-ID: <y@z>\r\n\r\nDate: b\r\nMessage-ID: <c@d>\r\n",
	  "Subject: a\r\n Date: x\r\n Message-ID: <y@z>\r\n" DATE MSGID
	  "\r\nDate: b\r\nMessage-ID: <c@d>\r\n", 0, 0 },
	{ "a dropped Bcc does not hide what follows", SUB,
	  "Bcc: x\r\nMessage-ID: <own@client>\r\n\r\n", "Message-ID: <own@client>\r\n" DATE "\r\n",
	  0, 1 },
	{ "a last kept field without its line end gets one before the added fields", SUB,
	  "Subject: hi", "Subject: hi\r\n" DATE MSGID, 0, 0 },
	{ "... and a last kept continuation", SUB, "Subject: hi\r\n there",
	  "Subject: hi\r\n there\r\n" DATE MSGID, 0, 0 },
	{ "... whose CR is there already", SUB, "Subject: hi\r", "Subject: hi\r\n" DATE MSGID, 0, 0 },
	{ "nothing to add: a last line without its line end stays so", SUB,
	  "Date: d\r\nMessage-ID: <own@client>", "Date: d\r\nMessage-ID: <own@client>", 0, 0 },
	{ "nor on the MX", MX, "Subject: hi", "Subject: hi", 0, 0 },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct header_case *c = &cases[i];
		size_t len = strlen(c->in);
		size_t want_len = strlen(c->want);

		/* Whole, and cut at every octet. */
		for (size_t cut = 0; cut <= len; cut++) {
			struct smtp_header h;
			struct sink out;

			run(&h, &out, c->flags, c->in, len, cut);
			if (out.len != want_len || memcmp(out.buf, c->want, want_len) != 0) {
				print_error("%s (cut at %zu):\n got: \"%s\"\n", c->name, cut,
				            show(out.buf, out.len));
				print_error("want: \"%s\"\n", show(c->want, want_len));
				fail();
			}
			if (h.received != c->received || h.dropped != c->dropped) {
				print_error("%s (cut at %zu): received %u dropped %u, want %u and %u\n",
				            c->name, cut, h.received, h.dropped, c->received, c->dropped);
				fail();
			}
			assert_true(h.in_body);
		}
	}
}

/* One octet per call: a header section split across reads or BDAT chunks
 * at every point at once. */
static void test_one_octet_at_a_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct header_case *c = &cases[i];
		size_t len = strlen(c->in);
		size_t want_len = strlen(c->want);
		struct smtp_header h;
		struct sink out;

		memset(&out, 0, sizeof(out));
		smtp_header_init(&h, c->flags, date, msgid, sink_cb, &out);
		for (size_t k = 0; k < len; k++)
			smtp_header_feed(&h, c->in + k, 1);
		smtp_header_finish(&h);
		if (out.len != want_len || memcmp(out.buf, c->want, want_len) != 0) {
			print_error("%s (octet by octet):\n got: \"%s\"\n", c->name, show(out.buf, out.len));
			print_error("want: \"%s\"\n", show(c->want, want_len));
			fail();
		}
		assert_int_equal(h.received, c->received);
		assert_int_equal(h.dropped, c->dropped);
	}
}

/* What the session reads after the message: whether each field was there. */
static void test_has_fields(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool date, message_id;
	} t[] = {
		{ "Subject: x\r\n\r\n", false, false },
		{ "DATE: x\r\n\r\n", true, false },
		{ "message-id: <a@b>\r\n\r\n", false, true },
		{ "Date: x\r\nMessage-ID: <a@b>\r\n", true, true },
		{ "X: y\r\n\r\nDate: x\r\nMessage-ID: <a@b>\r\n", false, false },
		{ "Resent-Date: x\r\nResent-Message-ID: <a@b>\r\n\r\n", false, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (unsigned flags = 0; flags <= SUB; flags += SUB) {
			struct smtp_header h;
			struct sink out;

			run(&h, &out, flags, t[i].in, strlen(t[i].in), strlen(t[i].in) / 2);
			if (h.has_date != t[i].date || h.has_message_id != t[i].message_id) {
				print_error("\"%s\" flags %u: date %d message_id %d, want %d and %d\n",
				            show(t[i].in, strlen(t[i].in)), flags, h.has_date,
				            h.has_message_id, t[i].date, t[i].message_id);
				fail();
			}
		}
	}
}

/* The body passes in one call per feed, however big; only the header
 * section is looked at. */
static void test_body_passes_in_one_call(void **state)
{
	(void)state;
	static char body[OUT_MAX - 256];
	struct smtp_header h;
	struct sink out;

	memset(body, 'x', sizeof(body));
	for (size_t i = 80; i < sizeof(body); i += 80) {
		body[i - 2] = '\r';
		body[i - 1] = '\n';
	}
	memset(&out, 0, sizeof(out));
	smtp_header_init(&h, SUB, date, msgid, sink_cb, &out);
	smtp_header_feed(&h, DATE MSGID "\r\n", sizeof(DATE MSGID "\r\n") - 1);
	unsigned before = out.calls;
	assert_true(h.in_body);
	smtp_header_feed(&h, body, sizeof(body));
	assert_int_equal(out.calls, before + 1);
	smtp_header_finish(&h);
	assert_int_equal(out.len, sizeof(DATE MSGID "\r\n") - 1 + sizeof(body));
}

/* Field names up to the hold limit are recognised; a longer run without a
 * colon starts the body, and nothing is lost. */
static void test_long_names(void **state)
{
	(void)state;
	static char in[3 * SMTP_HEADER_HOLD_MAX];
	struct smtp_header h;
	static struct sink out;

	for (size_t name = SMTP_HEADER_HOLD_MAX - 2; name <= SMTP_HEADER_HOLD_MAX + 1; name++) {
		memset(in, 'N', name);
		size_t len = name;
		len += (size_t)snprintf(in + len, sizeof(in) - len, ": v\r\nBcc: x\r\n\r\n");
		run(&h, &out, SUB, in, len, name / 2);
		bool field = name <= SMTP_HEADER_HOLD_MAX;
		assert_int_equal(h.dropped, field ? 1 : 0);
		if (field) {
			assert_int_equal(out.len, name + 5 + sizeof(DATE MSGID "\r\n") - 1);
			assert_memory_equal(out.buf, in, name + 5);
		} else {
			assert_int_equal(out.len, len + sizeof(DATE MSGID "\r\n") - 1);
			assert_memory_equal(out.buf + sizeof(DATE MSGID "\r\n") - 1, in, len);
		}
	}
}

/* The model agrees on every case and on generated messages cut anywhere. */
static void test_model(void **state)
{
	(void)state;
	static const char *const pieces[] = {
		"Bcc: a\r\n", " more\r\n", "Received: x\r\n", "Return-Path: <b>\r\n",
		"Subject: s\r\n", "\r\n", "Date: d\r\n", "Message-Id: <m>\r\n", "text\r\n",
		"resent-BCC :c\r\n", "\n", "X:\n", "\t\r\n", "Subject: open", "\r", "DATE:x",
	};
	const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
	static char model_buf[OUT_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_header_model m = { .out = model_buf, .out_cap = sizeof(model_buf) };
		smtp_header_model_run(&m, cases[i].flags, date, msgid, cases[i].in, strlen(cases[i].in));
		assert_int_equal(m.out_len, strlen(cases[i].want));
		assert_memory_equal(m.out, cases[i].want, m.out_len);
	}
	/* Every sequence of four pieces, with both flag sets. */
	for (size_t n = 0; n < npieces * npieces * npieces * npieces; n++) {
		char in[256];
		size_t len = 0;
		for (size_t k = 0, v = n; k < 4; k++, v /= npieces)
			len += (size_t)snprintf(in + len, sizeof(in) - len, "%s", pieces[v % npieces]);
		for (unsigned flags = 0; flags <= SUB; flags += SUB) {
			struct smtp_header_model m = { .out = model_buf, .out_cap = sizeof(model_buf) };
			struct smtp_header h;
			struct sink out;

			smtp_header_model_run(&m, flags, date, msgid, in, len);
			run(&h, &out, flags, in, len, n % (len + 1));
			if (out.len != m.out_len || memcmp(out.buf, m.out, m.out_len) != 0) {
				print_error("input \"%s\" flags %u:\n", show(in, len), flags);
				print_error(" got: \"%s\"\n", show(out.buf, out.len));
				print_error("want: \"%s\"\n", show(m.out, m.out_len));
				fail();
			}
			assert_int_equal(h.received, m.received);
			assert_int_equal(h.dropped, m.dropped);
			assert_int_equal(h.has_date, m.has_date);
			assert_int_equal(h.has_message_id, m.has_message_id);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_one_octet_at_a_time),
		cmocka_unit_test(test_has_fields),
		cmocka_unit_test(test_body_passes_in_one_call),
		cmocka_unit_test(test_long_names),
		cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
