/* test_smtp_outbody.c - a stored message in its DATA form: Return-Path:
 * dropped, dots doubled, the end marker; the same output however the input
 * is split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_outbody.h"

/* Transforms msg fed in pieces of `step` octets (0: whole). */
static char *transform(const char *msg, size_t step)
{
	size_t len = strlen(msg);
	char *out = malloc(smtp_outbody_max(len) + SMTP_OUTBODY_END_MAX + 1);
	struct smtp_outbody o;
	size_t w = 0;
	assert_non_null(out);
	smtp_outbody_init(&o);
	if (step == 0)
		step = len ? len : 1;
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		w += smtp_outbody_feed(&o, msg + i, n, out + w);
	}
	w += smtp_outbody_end(&o, out + w);
	out[w] = '\0';
	return out;
}

static void expect(const char *in, const char *want)
{
	for (size_t step = 0; step <= strlen(in) + 1; step++) {
		char *got = transform(in, step);
		if (strcmp(got, want) != 0)
			fail_msg("step %zu: got \"%s\", want \"%s\"", step, got, want);
		free(got);
	}
}

static void test_return_path_dropped(void **state)
{
	(void)state;
	expect("Return-Path: <a@b.test>\r\nReceived: x\r\nSubject: hi\r\n\r\nbody\r\n",
	       "Received: x\r\nSubject: hi\r\n\r\nbody\r\n.\r\n");
	expect("RETURN-PATH:<a@b>\r\n folded\r\nReturn-Receipt: y\r\n\r\nReturn-Path: body\r\n",
	       "Return-Receipt: y\r\n\r\nReturn-Path: body\r\n.\r\n");
	expect("Subject: a\r\n\tReturn-Path: no\r\nReturn-Path: <>\r\n\r\n",
	       "Subject: a\r\n\tReturn-Path: no\r\n\r\n.\r\n");
	expect("Return", "Return\r\n.\r\n");
	expect("Return-Path: <x>\r\n", ".\r\n");
}

static void test_dots_and_end(void **state)
{
	(void)state;
	expect("S: x\r\n\r\n.\r\n..a\r\nb.\r\n.", "S: x\r\n\r\n..\r\n...a\r\nb.\r\n..\r\n.\r\n");
	expect("", ".\r\n");
	expect("S: x\r\n\r\nno newline", "S: x\r\n\r\nno newline\r\n.\r\n");
	expect(".odd header\r\n\r\n", "..odd header\r\n\r\n.\r\n");
	expect("\r\n.body only\r\n", "\r\n..body only\r\n.\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_return_path_dropped),
		cmocka_unit_test(test_dots_and_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
