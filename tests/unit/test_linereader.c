/*
 * test_linereader.c - the line splitter, table-driven. Every case is fed
 * whole, one byte at a time and in odd chunk sizes, the way a socket may
 * deliver it, keeping unconsumed bytes as conn-io.c does; all feedings
 * must give the same lines, and the bytes kept must never exceed the
 * reader's window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "linereader.h"

/* Appends one line as text: bytes escaped, then '+' (CRLF), '-' (bare LF)
 * or '!' (too long), then '|'. */
static void describe(char *out, size_t outlen, const struct linereader_line *line)
{
	size_t n = strlen(out);
	for (size_t i = 0; i < line->len && n + 8 < outlen; i++) {
		unsigned char c = (unsigned char)line->data[i];
		if (c == '\r')
			n += (size_t)snprintf(out + n, outlen - n, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	snprintf(out + n, outlen - n, "%c|", line->too_long ? '!' : (line->crlf ? '+' : '-'));
}

static void run(size_t max, const char *in, size_t inlen, size_t chunk, char *out, size_t outlen)
{
	struct linereader lr;
	char buf[512];
	size_t have = 0;

	linereader_init(&lr, max);
	out[0] = '\0';
	for (size_t off = 0; off < inlen;) {
		size_t n = inlen - off < chunk ? inlen - off : chunk;
		assert_true(have + n <= sizeof(buf));
		memcpy(buf + have, in + off, n);
		have += n;
		off += n;

		size_t pos = 0;
		while (pos < have) {
			struct linereader_line line;
			bool found;
			size_t used = linereader_next(&lr, buf + pos, have - pos, &line, &found);
			assert_true(used <= have - pos);
			pos += used;
			if (found)
				describe(out, outlen, &line);
			else if (used == 0)
				break;
		}
		/* Memory stays bounded whatever the input. */
		assert_true(have - pos <= linereader_window(&lr));
		memmove(buf, buf + pos, have - pos);
		have -= pos;
	}
}

struct lr_case {
	size_t max;
	const char *in;
	size_t inlen; /* 0: strlen(in) */
	const char *want;
};

static const struct lr_case cases[] = {
	{512, "HELO x\r\n", 0, "HELO x+|"},
	{512, "a\nb\r\n", 0, "a-|b+|"},
	{512, "", 0, ""},
	{512, "no terminator", 0, ""},
	{512, "\r\n", 0, "+|"},
	{512, "\n", 0, "-|"},
	{512, "\r\n\r\n\n", 0, "+|+|-|"},
	{512, "a\rb\r\n", 0, "a\\rb+|"},
	{512, "\r\r\n", 0, "\\r+|"},
	{512, "a\0b\r\n", 5, "a\\x00b+|"},
	{512, "DATA\r\nbody\r\n.\r\nQUIT\r\n", 0, "DATA+|body+|.+|QUIT+|"},
	{512, "\xff\xfe\r\n", 0, "\\xff\\xfe+|"},
	/* At the limit. */
	{4, "abcd\r\n", 0, "abcd+|"},
	{4, "abcd\n", 0, "abcd-|"},
	{4, "abcd\r", 0, ""},
	{4, "abcde", 0, ""},
	/* Over the limit: reported once, the rest skipped up to LF. */
	{4, "abcde\r\n", 0, "abcd!|"},
	{4, "abcde\n", 0, "abcd!|"},
	{4, "abcd\r\r\n", 0, "abcd!|"},
	{4, "abcdef", 0, "abcd!|"},
	{4, "abcdefghijklmnopqrstuvwxyz", 0, "abcd!|"},
	{4, "abcdefghijkl\r\nnext\r\n", 0, "abcd!|next+|"},
	{4, "abcdefghijkl\nnext", 0, "abcd!|"},
	{2, "aaaa\nbbbb\ncc\n", 0, "aa!|bb!|cc-|"},
	{2, "abc\nd\n", 0, "ab!|d-|"},
	{2, "abc\r\nd\r\n", 0, "ab!|d+|"},
	{1, "\r\n", 0, "+|"},
	{1, "x\r\n", 0, "x+|"},
	{1, "xy\r\nz\n", 0, "x!|z-|"},
	/* A long line's skipped tail may hold what looks like commands. */
	{8, "MAIL FROM:<a@b>RCPT TO:<c@d>\r\nQUIT\r\n", 0, "MAIL FRO!|QUIT+|"},
};

static void test_cases(void **state)
{
	static const size_t chunks[] = {100000, 1, 2, 3, 7};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lr_case *c = &cases[i];
		size_t inlen = c->inlen > 0 ? c->inlen : strlen(c->in);
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			char got[512];
			run(c->max, c->in, inlen, chunks[k], got, sizeof(got));
			if (strcmp(got, c->want) != 0)
				fail_msg("case %zu (max %zu, chunk %zu): got \"%s\", want \"%s\"", i, c->max,
				         chunks[k], got, c->want);
		}
	}
}

/* A megabyte without LF keeps nothing beyond the window and reports once. */
static void test_endless_line(void **state)
{
	struct linereader lr;
	char block[4096];
	size_t reports = 0;

	memset(block, 'x', sizeof(block));
	linereader_init(&lr, 512);
	for (int i = 0; i < 256; i++) {
		size_t pos = 0;
		while (pos < sizeof(block)) {
			struct linereader_line line;
			bool found;
			size_t used = linereader_next(&lr, block + pos, sizeof(block) - pos, &line, &found);
			pos += used;
			if (found) {
				assert_true(line.too_long);
				assert_int_equal(line.len, 512);
				reports++;
			} else if (used == 0) {
				break;
			}
		}
		/* The first block is cut at the proof point; later ones are skipped whole. */
		assert_int_equal(pos, sizeof(block));
	}
	assert_int_equal(reports, 1);

	struct linereader_line line;
	bool found;
	size_t used = linereader_next(&lr, "tail\r\nok\r\n", 10, &line, &found);
	assert_true(found);
	assert_int_equal(used, 10);
	assert_int_equal(line.len, 2);
	assert_memory_equal(line.data, "ok", 2);
	assert_true(line.crlf);
}

/* A new limit applies from the next line on. */
static void test_set_max(void **state)
{
	struct linereader lr;
	struct linereader_line line;
	bool found;

	linereader_init(&lr, 3);
	size_t used = linereader_next(&lr, "abc\r\n", 5, &line, &found);
	assert_true(found && !line.too_long && used == 5);
	linereader_set_max(&lr, 2);
	used = linereader_next(&lr, "abc\n", 4, &line, &found);
	assert_true(found && line.too_long && line.len == 2 && used == 4);
	linereader_set_max(&lr, 1000);
	assert_int_equal(linereader_window(&lr), 1001);
	used = linereader_next(&lr, "abc\r\n", 5, &line, &found);
	assert_true(found && !line.too_long && line.len == 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_endless_line),
		cmocka_unit_test(test_set_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
