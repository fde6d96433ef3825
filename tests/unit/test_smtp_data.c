/* test_smtp_data.c - the DATA / BDAT receiver: end-of-data and smuggling
 * tables, every slice boundary, bytes after the terminator, the size limit,
 * line statistics, and an exhaustive comparison with a line-based model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_data.h"
#include "smtp_data_model.h"

#define OUT_MAX 16384

/* Printable rendering of bytes for failure messages. */
static const char *show_into(char *buf, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			o += (size_t)snprintf(buf + o, cap - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(buf + o, cap - o, "\\n");
		else if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

static const char *show(const char *s, size_t len)
{
	static char buf[4096];
	return show_into(buf, sizeof(buf), s, len);
}

#define EXPECT_INT(what, input, len, got, want) \
	do { \
		unsigned long long got_ = (unsigned long long)(got); \
		unsigned long long want_ = (unsigned long long)(want); \
		if (got_ != want_) { \
			print_error("%s, input \"%s\": %s is %llu, want %llu\n", (what), show(input, len), \
			            #got, got_, want_); \
			fail(); \
		} \
	} while (0)

#define EXPECT_BYTES(what, input, len, got, got_len, want, want_len) \
	do { \
		if ((got_len) != (want_len) || memcmp((got), (want), (want_len)) != 0) { \
			char g_[2048], w_[2048]; \
			print_error("%s, input \"%s\": output \"%s\", want \"%s\"\n", (what), \
			            show(input, len), show_into(g_, sizeof(g_), (got), (got_len)), \
			            show_into(w_, sizeof(w_), (want), (want_len))); \
			fail(); \
		} \
	} while (0)

struct sink {
	char buf[OUT_MAX];
	size_t len;
	size_t calls;
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

/* Everything observable after feeding one input. */
struct run {
	struct sink out;
	struct smtp_data d;
	size_t consumed;
};

/*
 * Feeds in[0..len) cut at the offsets in cuts[0..ncuts) (ascending), the
 * way a session does: stop at the end of data. For BDAT, finish() at the end
 * when `finish` is set.
 */
static void feed_cut(struct run *r, enum smtp_data_mode mode, uint64_t max, const char *in,
                     size_t len, const size_t *cuts, size_t ncuts, bool finish)
{
	size_t from = 0;

	r->out.len = 0;
	r->out.calls = 0;
	r->consumed = 0;
	smtp_data_init(&r->d, mode, max, sink_cb, &r->out);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : len;
		size_t n = smtp_data_feed(&r->d, in + from, to - from);
		assert_true(n <= to - from);
		r->consumed += n;
		if (r->d.ended) {
			assert_int_equal(smtp_data_feed(&r->d, in + to, len - to), 0);
			break;
		}
		assert_int_equal(n, to - from);
		from = to;
	}
	if (finish && mode == SMTP_DATA_BDAT)
		smtp_data_finish(&r->d);
}

static void feed_whole(struct run *r, enum smtp_data_mode mode, uint64_t max, const char *in,
                       size_t len, bool finish)
{
	feed_cut(r, mode, max, in, len, NULL, 0, finish);
}

static void feed_bytewise(struct run *r, enum smtp_data_mode mode, uint64_t max, const char *in,
                          size_t len, bool finish)
{
	static size_t cuts[OUT_MAX];

	assert_true(len <= OUT_MAX);
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	feed_cut(r, mode, max, in, len, cuts, len > 0 ? len - 1 : 0, finish);
}

/* Two runs saw the same thing. */
static void expect_same(const char *what, const char *in, size_t len, const struct run *a,
                        const struct run *b)
{
	EXPECT_BYTES(what, in, len, a->out.buf, a->out.len, b->out.buf, b->out.len);
	EXPECT_INT(what, in, len, a->consumed, b->consumed);
	EXPECT_INT(what, in, len, a->d.ended, b->d.ended);
	EXPECT_INT(what, in, len, a->d.size, b->d.size);
	EXPECT_INT(what, in, len, a->d.too_big, b->d.too_big);
	EXPECT_INT(what, in, len, a->d.max_line, b->d.max_line);
	EXPECT_INT(what, in, len, a->d.bare_lf, b->d.bare_lf);
	EXPECT_INT(what, in, len, a->d.bare_cr, b->d.bare_cr);
	EXPECT_INT(what, in, len, a->d.in_headers, b->d.in_headers);
	EXPECT_INT(what, in, len, a->d.header_size, b->d.header_size);
}

/* Whole, byte by byte, and every cut in two: all the same. */
static void expect_split_invariant(enum smtp_data_mode mode, uint64_t max, const char *in,
                                   size_t len, bool finish)
{
	static struct run whole, part;

	feed_whole(&whole, mode, max, in, len, finish);
	feed_bytewise(&part, mode, max, in, len, finish);
	expect_same("byte by byte", in, len, &part, &whole);
	for (size_t cut = 0; cut <= len; cut++) {
		char what[64];
		snprintf(what, sizeof(what), "cut at %zu", cut);
		feed_cut(&part, mode, max, in, len, &cut, 1, finish);
		expect_same(what, in, len, &part, &whole);
	}
}

/* ---- DATA: end of data and dot-stuffing ------------------------------- */

struct dot_case {
	const char *in;
	size_t len;          /* 0: strlen(in) */
	const char *out;     /* stored form emitted */
	size_t out_len;      /* 0: strlen(out) */
	bool ended;
	size_t consumed;     /* when ended; otherwise all */
	uint64_t bare_lf, bare_cr;
};

static const struct dot_case dot_cases[] = {
	/* The terminator, and only it, ends the data. */
	{ ".\r\n", 0, "", 0, true, 3, 0, 0 },
	{ "Hello\r\n.\r\n", 0, "Hello\r\n", 0, true, 10, 0, 0 },
	{ "\r\n.\r\n", 0, "\r\n", 0, true, 5, 0, 0 },
	{ "a\r\n\r\n.\r\n", 0, "a\r\n\r\n", 0, true, 8, 0, 0 },
	/* Bytes after the terminator belong to the next command. */
	{ "Hello\r\n.\r\nQUIT\r\n", 0, "Hello\r\n", 0, true, 10, 0, 0 },
	{ ".\r\nMAIL FROM:<a@b>\r\n", 0, "", 0, true, 3, 0, 0 },
	{ "a\r\n.\r\n.\r\n", 0, "a\r\n", 0, true, 6, 0, 0 },
	{ "a\r\n.\r\n\r\n", 0, "a\r\n", 0, true, 6, 0, 0 },
	/* Dot-unstuffing (RFC 5321 4.5.2). */
	{ "..\r\n.\r\n", 0, ".\r\n", 0, true, 7, 0, 0 },
	{ "..foo\r\n.\r\n", 0, ".foo\r\n", 0, true, 10, 0, 0 },
	{ ".foo\r\n.\r\n", 0, "foo\r\n", 0, true, 9, 0, 0 },
	{ "a\r\n...\r\n.\r\n", 0, "a\r\n..\r\n", 0, true, 11, 0, 0 },
	{ "\r\n..\r\n.\r\n", 0, "\r\n.\r\n", 0, true, 9, 0, 0 },
	{ "a.\r\n.\r\n", 0, "a.\r\n", 0, true, 7, 0, 0 },
	{ "a\r\n .\r\n.\r\n", 0, "a\r\n .\r\n", 0, true, 10, 0, 0 },
	{ "a\r\n.a.\r\n.\r\n", 0, "a\r\na.\r\n", 0, true, 11, 0, 0 },
	/* SMTP smuggling: none of these end the data. */
	{ "a\n.\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 0, true, 10, 2, 0 },
	{ "a\r.\rb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 0, true, 10, 0, 2 },
	{ "a\n.\r\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 0, true, 11, 1, 0 },
	{ "a\r\n.\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 0, true, 11, 1, 0 },
	{ "a\r\n.\r\r\nb\r\n.\r\n", 0, "a\r\n.\r\n\r\nb\r\n", 0, true, 13, 0, 1 },
	{ "a\r.\r\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 0, true, 11, 0, 1 },
	{ "a\r\n.\rb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 0, true, 11, 0, 1 },
	{ "a\r\n.\n", 0, "a\r\n.\r\n", 0, false, 0, 1, 0 },
	{ "\n.\n", 0, "\r\n.\r\n", 0, false, 0, 2, 0 },
	{ "\n.\r\n", 0, "\r\n.\r\n", 0, false, 0, 1, 0 },
	{ "\r.\r", 0, "\r\n", 0, false, 0, 0, 1 },   /* ".\r" is held back */
	{ "\r.\r\n", 0, "\r\n.\r\n", 0, false, 0, 0, 1 },
	{ "\r\n.\r\r\n", 0, "\r\n.\r\n\r\n", 0, false, 0, 0, 1 },
	{ ".\n", 0, ".\r\n", 0, false, 0, 1, 0 },
	{ ".\r\r\n", 0, ".\r\n\r\n", 0, false, 0, 0, 1 },
	{ "..\n", 0, ".\r\n", 0, false, 0, 1, 0 },
	{ "a\n.\n.\n", 0, "a\r\n.\r\n.\r\n", 0, false, 0, 3, 0 },
	{ "a\r\n.\n\r\n", 0, "a\r\n.\r\n\r\n", 0, false, 0, 1, 0 },
	/* ...but a real CRLF before the dot line does, whatever came before. */
	{ "a\n.\r\n.\r\n", 0, "a\r\n.\r\n", 0, true, 8, 1, 0 },
	{ "a\r\r\n.\r\n", 0, "a\r\n\r\n", 0, true, 7, 0, 1 },
	{ "a\n\r\n.\r\n", 0, "a\r\n\r\n", 0, true, 7, 1, 0 },
	/* Unfinished input: the held-back "." or CR is not emitted yet. */
	{ "", 0, "", 0, false, 0, 0, 0 },
	{ ".", 0, "", 0, false, 0, 0, 0 },
	{ ".\r", 0, "", 0, false, 0, 0, 0 },
	{ "a\r", 0, "a", 0, false, 0, 0, 0 },
	{ "a\r\n.", 0, "a\r\n", 0, false, 0, 0, 0 },
	{ "a\r\n..", 0, "a\r\n.", 0, false, 0, 0, 0 },
	/* Other bytes are data, NUL and 8-bit included. */
	{ "a\0b\r\n.\r\n", 8, "a\0b\r\n", 5, true, 8, 0, 0 },
	{ "\xff\xfe\x80\r\n.\r\n", 0, "\xff\xfe\x80\r\n", 0, true, 8, 0, 0 },
	{ "\t.\r\n.\r\n", 0, "\t.\r\n", 0, true, 7, 0, 0 },
};

static void test_dot_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dot_cases) / sizeof(dot_cases[0]); i++) {
		const struct dot_case *t = &dot_cases[i];
		size_t len = t->len ? t->len : strlen(t->in);
		size_t out_len = t->out_len ? t->out_len : strlen(t->out);
		static struct run r;

		feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, t->in, len, false);
		EXPECT_BYTES("whole", t->in, len, r.out.buf, r.out.len, t->out, out_len);
		EXPECT_INT("whole", t->in, len, r.d.ended, t->ended);
		EXPECT_INT("whole", t->in, len, r.consumed, t->ended ? t->consumed : len);
		EXPECT_INT("whole", t->in, len, r.d.bare_lf, t->bare_lf);
		EXPECT_INT("whole", t->in, len, r.d.bare_cr, t->bare_cr);
		EXPECT_INT("whole", t->in, len, r.d.too_big, false);
		EXPECT_INT("whole", t->in, len, r.d.size, out_len);
		expect_split_invariant(SMTP_DATA_DOT, UINT64_MAX, t->in, len, false);
	}
}

/* Everything after the terminator is left alone, however it is sliced. */
static void test_dot_pipelined_rest(void **state)
{
	(void)state;
	static const char in[] = "Subject: x\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n";
	const size_t len = sizeof(in) - 1;
	const size_t end = strlen("Subject: x\r\n\r\nbody\r\n.\r\n");
	static struct run r;

	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			size_t cuts[2] = { a, b };
			feed_cut(&r, SMTP_DATA_DOT, UINT64_MAX, in, len, cuts, 2, false);
			assert_true(r.d.ended);
			assert_int_equal(r.consumed, end);
			assert_int_equal(r.out.len, end - 3);
			assert_memory_equal(r.out.buf, in, end - 3);
		}
	}
	/* Once ended, nothing more is consumed or emitted. */
	feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, in, len, false);
	size_t calls = r.out.calls;
	assert_int_equal(smtp_data_feed(&r.d, ".\r\n", 3), 0);
	assert_int_equal(smtp_data_feed(&r.d, "x", 1), 0);
	assert_int_equal(r.out.calls, calls);
}

/* ---- size limit ------------------------------------------------------- */

static void test_size_limit(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		uint64_t max;
		bool too_big;
		const char *out;   /* emitted */
		uint64_t size;     /* counted */
	} cases[] = {
		{ "Hello\r\n.\r\n", 7, false, "Hello\r\n", 7 },
		{ "Hello\r\n.\r\n", 6, true, "Hello", 7 },
		{ "Hello\r\n.\r\n", 5, true, "Hello", 7 },
		{ "Hello\r\n.\r\n", 4, true, "", 7 },
		{ "Hello\r\n.\r\n", 0, true, "", 7 },
		{ ".\r\n", 0, false, "", 0 },
		{ "\r\n.\r\n", 1, true, "", 2 },
		{ "Hello world\r\nline two\r\n..x\r\n.\r\nQUIT\r\n", 13, true, "Hello world\r\n", 27 },
		{ "a\nb\nc\r\n.\r\n", 4, true, "a\r\nb", 9 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		static struct run r, all;

		feed_whole(&r, SMTP_DATA_DOT, cases[i].max, cases[i].in, len, false);
		EXPECT_INT("limit", cases[i].in, len, r.d.too_big, cases[i].too_big);
		EXPECT_BYTES("limit", cases[i].in, len, r.out.buf, r.out.len, cases[i].out,
		             strlen(cases[i].out));
		EXPECT_INT("limit", cases[i].in, len, r.d.size, cases[i].size);
		/* The receiver still finds the end, so the session can reply 552 there. */
		EXPECT_INT("limit", cases[i].in, len, r.d.ended, true);
		feed_whole(&all, SMTP_DATA_DOT, UINT64_MAX, cases[i].in, len, false);
		EXPECT_INT("limit", cases[i].in, len, r.consumed, all.consumed);

		/* Sliced: never more than max, always a prefix of the full output. */
		for (size_t cut = 0; cut <= len; cut++) {
			feed_cut(&r, SMTP_DATA_DOT, cases[i].max, cases[i].in, len, &cut, 1, false);
			EXPECT_INT("limit sliced", cases[i].in, len, r.d.too_big, cases[i].too_big);
			EXPECT_INT("limit sliced", cases[i].in, len, r.out.len <= cases[i].max, true);
			EXPECT_INT("limit sliced", cases[i].in, len,
			           memcmp(r.out.buf, all.out.buf, r.out.len) == 0, true);
			EXPECT_INT("limit sliced", cases[i].in, len, r.d.size, cases[i].size);
		}
		feed_bytewise(&r, SMTP_DATA_DOT, cases[i].max, cases[i].in, len, false);
		EXPECT_INT("limit bytewise", cases[i].in, len, r.out.len <= cases[i].max, true);
		EXPECT_INT("limit bytewise", cases[i].in, len, r.d.too_big, cases[i].too_big);
	}
}

/* ---- lines and headers ------------------------------------------------ */

static void test_line_lengths(void **state)
{
	(void)state;
	static char in[OUT_MAX];
	static struct run r;
	size_t n;

	/* 998 octets + CRLF = the RFC 5321 4.5.3.1.6 limit. */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, in, 1003, false);
	assert_int_equal(r.d.max_line, SMTP_DATA_LINE_MAX);

	/* The stuffing dot does not count. */
	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, in, 1004, false);
	assert_int_equal(r.d.max_line, SMTP_DATA_LINE_MAX);

	/* Longer lines are accepted, and reported. */
	memset(in, 'y', 5000);
	memcpy(in + 5000, "\r\nshort\r\n.\r\n", 12);
	feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, in, 5012, false);
	assert_true(r.d.ended);
	assert_int_equal(r.d.max_line, 5002);
	assert_int_equal(r.out.len, 5009);
	/* ...in slices too: the line spans many feeds. */
	feed_bytewise(&r, SMTP_DATA_DOT, UINT64_MAX, in, 5012, false);
	assert_int_equal(r.d.max_line, 5002);

	/* A bare LF or CR ending counts as the CRLF it is stored as. */
	n = (size_t)snprintf(in, sizeof(in), "abc\nabcdef\rab\r\n.\r\n");
	feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, in, n, false);
	assert_int_equal(r.d.max_line, 8);
	assert_int_equal(r.d.bare_lf, 1);
	assert_int_equal(r.d.bare_cr, 1);
	/* Empty data. */
	feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, ".\r\n", 3, false);
	assert_int_equal(r.d.max_line, 0);
}

static void test_headers(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool in_headers;
		uint64_t header_size;
	} cases[] = {
		{ "Subject: x\r\nFrom: y\r\n\r\nbody\r\n.\r\n", false, 21 },
		{ "Subject: x\r\n\r\n\r\nbody\r\n.\r\n", false, 12 },
		{ "\r\nbody\r\n.\r\n", false, 0 },
		{ "Subject: x\nFrom: y\n\nbody\r\n.\r\n", false, 21 },
		{ "Subject: x\r\nno body\r\n.\r\n", true, 0 },
		{ ".\r\n", true, 0 },
		{ "..\r\n\r\n.\r\n", false, 3 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].in);
		static struct run r;
		feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, cases[i].in, len, false);
		EXPECT_INT("headers", cases[i].in, len, r.d.in_headers, cases[i].in_headers);
		EXPECT_INT("headers", cases[i].in, len, r.d.header_size, cases[i].header_size);
		expect_split_invariant(SMTP_DATA_DOT, UINT64_MAX, cases[i].in, len, false);
	}
}

/* ---- BDAT ------------------------------------------------------------- */

static void test_bdat(void **state)
{
	(void)state;
	static const struct {
		const char *chunks[4]; /* NULL-terminated */
		const char *out;       /* after finish */
		uint64_t bare_lf, bare_cr;
	} cases[] = {
		{ { "Hello\r\nWorld\r\n", NULL }, "Hello\r\nWorld\r\n", 0, 0 },
		{ { "Hello\r", "\nWorld\r\n", NULL }, "Hello\r\nWorld\r\n", 0, 0 },
		{ { "Hello\r", "", "\nWorld\r\n", NULL }, "Hello\r\nWorld\r\n", 0, 0 },
		{ { "a\nb", NULL }, "a\r\nb\r\n", 1, 0 },
		{ { "a\r", NULL }, "a\r\n", 0, 1 },
		{ { "a\r", "b", NULL }, "a\r\nb\r\n", 0, 1 },
		{ { "a\r", "\r", "\n", NULL }, "a\r\n\r\n", 0, 1 },
		{ { "\r", NULL }, "\r\n", 0, 1 },
		{ { "\n", NULL }, "\r\n", 1, 0 },
		/* Verbatim: no terminator, no unstuffing (RFC 3030 2). */
		{ { ".\r\n", NULL }, ".\r\n", 0, 0 },
		{ { "..x\r\n", NULL }, "..x\r\n", 0, 0 },
		{ { "\r\n.\r\nMore", NULL }, "\r\n.\r\nMore\r\n", 0, 0 },
		{ { "a\n.\n", "b\r.\r", NULL }, "a\r\n.\r\nb\r\n.\r\n", 2, 2 },
		{ { "", NULL }, "", 0, 0 },
		{ { NULL }, "", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static struct run r;
		char all[256];
		size_t all_len = 0;

		memset(&r, 0, sizeof(r));
		smtp_data_init(&r.d, SMTP_DATA_BDAT, UINT64_MAX, sink_cb, &r.out);
		for (size_t c = 0; cases[i].chunks[c] != NULL; c++) {
			size_t n = strlen(cases[i].chunks[c]);
			memcpy(all + all_len, cases[i].chunks[c], n);
			all_len += n;
			EXPECT_INT("bdat chunk", cases[i].chunks[c], n,
			           smtp_data_feed(&r.d, cases[i].chunks[c], n), n);
			EXPECT_INT("bdat chunk", cases[i].chunks[c], n, r.d.ended, false);
		}
		smtp_data_finish(&r.d);
		EXPECT_INT("bdat", all, all_len, r.d.ended, true);
		EXPECT_BYTES("bdat", all, all_len, r.out.buf, r.out.len, cases[i].out,
		             strlen(cases[i].out));
		EXPECT_INT("bdat", all, all_len, r.d.size, strlen(cases[i].out));
		EXPECT_INT("bdat", all, all_len, r.d.bare_lf, cases[i].bare_lf);
		EXPECT_INT("bdat", all, all_len, r.d.bare_cr, cases[i].bare_cr);
		/* finish is idempotent; nothing is taken after it. */
		smtp_data_finish(&r.d);
		EXPECT_INT("bdat", all, all_len, r.out.len, strlen(cases[i].out));
		EXPECT_INT("bdat", all, all_len, smtp_data_feed(&r.d, "x", 1), 0);
		/* Chunk boundaries anywhere give the same result. */
		expect_split_invariant(SMTP_DATA_BDAT, UINT64_MAX, all, all_len, true);
	}
}

static void test_bdat_size_limit(void **state)
{
	(void)state;
	static struct run r;

	feed_whole(&r, SMTP_DATA_BDAT, 4, "abc\ndef\n", 8, true);
	assert_true(r.d.too_big);
	assert_true(r.d.ended);
	assert_int_equal(r.consumed, 8);
	assert_int_equal(r.d.size, 10);
	assert_int_equal(r.out.len, 3);
	/* The final CRLF added by finish counts against the limit too. */
	feed_whole(&r, SMTP_DATA_BDAT, 3, "abc", 3, true);
	assert_true(r.d.too_big);
	assert_int_equal(r.d.size, 5);
	feed_whole(&r, SMTP_DATA_BDAT, 5, "abc", 3, true);
	assert_false(r.d.too_big);
	assert_memory_equal(r.out.buf, "abc\r\n", 5);
}

/* ---- exhaustive comparison with the line-based model ------------------ */

static void expect_model(const char *what, const char *in, size_t len, const struct run *r,
                         const struct smtp_data_model *m)
{
	EXPECT_BYTES(what, in, len, r->out.buf, r->out.len, m->out, m->out_len);
	EXPECT_INT(what, in, len, r->consumed, m->consumed);
	EXPECT_INT(what, in, len, r->d.ended, m->ended);
	EXPECT_INT(what, in, len, r->d.size, m->out_len);
	EXPECT_INT(what, in, len, r->d.bare_lf, m->bare_lf);
	EXPECT_INT(what, in, len, r->d.bare_cr, m->bare_cr);
	EXPECT_INT(what, in, len, r->d.max_line, m->max_line);
	EXPECT_INT(what, in, len, r->d.in_headers, m->in_headers);
	if (!m->in_headers)
		EXPECT_INT(what, in, len, r->d.header_size, m->header_size);
}

/*
 * Every string of length 0..8 over { CR, LF, '.', 'a' }: DATA, BDAT before
 * and after finish. Up to length 6 also every slicing in one or two cuts.
 */
static void test_exhaustive_model(void **state)
{
	(void)state;
	static const char alphabet[4] = { '\r', '\n', '.', 'a' };
	static struct run r;
	char model_out[64];
	struct smtp_data_model m = { .out = model_out, .out_cap = sizeof(model_out) };
	char in[8];
	unsigned long checked = 0;

	for (size_t len = 0; len <= sizeof(in); len++) {
		unsigned long count = 1UL << (2 * len);
		for (unsigned long code = 0; code < count; code++) {
			for (size_t k = 0; k < len; k++)
				in[k] = alphabet[(code >> (2 * k)) & 3];

			smtp_data_model_run(&m, SMTP_DATA_DOT, in, len, false);
			feed_whole(&r, SMTP_DATA_DOT, UINT64_MAX, in, len, false);
			expect_model("model DATA", in, len, &r, &m);

			smtp_data_model_run(&m, SMTP_DATA_BDAT, in, len, false);
			feed_whole(&r, SMTP_DATA_BDAT, UINT64_MAX, in, len, false);
			expect_model("model BDAT", in, len, &r, &m);

			smtp_data_model_run(&m, SMTP_DATA_BDAT, in, len, true);
			feed_whole(&r, SMTP_DATA_BDAT, UINT64_MAX, in, len, true);
			expect_model("model BDAT finished", in, len, &r, &m);

			if (len <= 6) {
				expect_split_invariant(SMTP_DATA_DOT, UINT64_MAX, in, len, false);
				expect_split_invariant(SMTP_DATA_BDAT, UINT64_MAX, in, len, true);
				for (size_t a = 0; a <= len; a++) {
					for (size_t b = a; b <= len; b++) {
						size_t cuts[2] = { a, b };
						smtp_data_model_run(&m, SMTP_DATA_DOT, in, len, false);
						feed_cut(&r, SMTP_DATA_DOT, UINT64_MAX, in, len, cuts, 2, false);
						expect_model("model DATA, two cuts", in, len, &r, &m);
					}
				}
			}
			checked++;
		}
	}
	assert_int_equal(checked, 87381);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dot_table),
		cmocka_unit_test(test_dot_pipelined_rest),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_line_lengths),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_bdat_size_limit),
		cmocka_unit_test(test_exhaustive_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
