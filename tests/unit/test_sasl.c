/* test_sasl.c - SASL PLAIN and LOGIN response decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"
#include "sasl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Returns n copies of c, for the length limits. Each call takes the next of
 * 16 static buffers, enough for every case table in this file at once.
 */
static const char *repeat(char c, size_t n)
{
	static char buf[16][1100];
	static unsigned next;
	char *b = buf[next++ % 16];
	assert_true(n < sizeof(buf[0]));
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* Encodes raw bytes (which may contain NULs) for a test case. */
static void encode(const void *raw, size_t len, char *out, size_t outlen)
{
	assert_int_equal(base64_encode(raw, len, out, outlen), 0);
}

struct plain_case {
	const char *authzid, *authcid, *passwd; /* joined with NULs, unless raw is set */
	const char *raw;                        /* raw message of rawlen bytes instead */
	size_t rawlen;
	int want;
	int authzid_ok;
};

static void check_plain(size_t i, const struct plain_case *c)
{
	char msg[2048], b64[4096];
	size_t len;

	if (c->raw != NULL) {
		memcpy(msg, c->raw, c->rawlen);
		len = c->rawlen;
	} else {
		len = (size_t)snprintf(msg, sizeof(msg), "%s%c%s%c%s", c->authzid, 0, c->authcid, 0,
		                       c->passwd);
	}
	encode(msg, len, b64, sizeof(b64));

	struct sasl_plain p;
	memset(&p, 'x', sizeof(p));
	int r = sasl_plain_decode(b64, strlen(b64), &p);
	if (r != c->want)
		print_error("plain case %zu: got %d (%s), want %d (%s)\n", i, r, sasl_strerror(r),
		            c->want, sasl_strerror(c->want));
	assert_int_equal(r, c->want);
	if (r != SASL_OK) {
		/* Nothing of a refused response stays behind. */
		static const struct sasl_plain zero;
		assert_memory_equal(&p, &zero, sizeof(p));
		return;
	}
	assert_string_equal(p.authzid, c->authzid);
	assert_string_equal(p.authcid, c->authcid);
	assert_string_equal(p.passwd, c->passwd);
	assert_int_equal(sasl_plain_authzid_ok(&p), c->authzid_ok);
	sasl_plain_clear(&p);
	assert_int_equal(p.passwd[0], 0);
}

static void test_plain(void **state)
{
	const struct plain_case cases[] = {
		{ "", "alice@example.test", "secret", .want = SASL_OK, .authzid_ok = 1 },
		{ "alice@example.test", "alice@example.test", "secret", .want = SASL_OK, .authzid_ok = 1 },
		{ "bob@example.test", "alice@example.test", "secret", .want = SASL_OK, .authzid_ok = 0 },
		{ "Alice@Example.TEST", "alice@example.test", "secret", .want = SASL_OK, .authzid_ok = 1 },
		{ "", "alice", "pass word with spaces", .want = SASL_OK, .authzid_ok = 1 },
		{ "", "alice", "\xc3\xa9t\xc3\xa9", .want = SASL_OK, .authzid_ok = 1 },
		{ "", repeat('a', 255), repeat('p', 255), .want = SASL_OK, .authzid_ok = 1 },
		{ repeat('z', 255), repeat('a', 255), repeat('p', 255), .want = SASL_OK },
		/* Empty fields: RFC 4616 2 allows only the authzid to be empty. */
		{ "", "", "secret", .want = SASL_ESYNTAX },
		{ "", "alice", "", .want = SASL_ESYNTAX },
		{ "alice", "", "", .want = SASL_ESYNTAX },
		/* Over 255 octets. */
		{ "", repeat('a', 256), "secret", .want = SASL_ETOOLONG },
		{ "", "alice", repeat('p', 256), .want = SASL_ETOOLONG },
		{ repeat('z', 256), "alice", "secret", .want = SASL_ETOOLONG },
		{ repeat('z', 300), repeat('a', 300), repeat('p', 300), .want = SASL_ETOOLONG },
		/* Wrong number of NULs. */
		{ .raw = "alice\0secret", .rawlen = 12, .want = SASL_ESYNTAX },
		{ .raw = "alicesecret", .rawlen = 11, .want = SASL_ESYNTAX },
		{ .raw = "\0alice\0sec\0ret", .rawlen = 14, .want = SASL_ESYNTAX },
		{ .raw = "\0\0\0", .rawlen = 3, .want = SASL_ESYNTAX },
		{ .raw = "", .rawlen = 0, .want = SASL_ESYNTAX },
	};
	for (size_t i = 0; i < N(cases); i++)
		check_plain(i, &cases[i]);
}

static void test_plain_not_base64(void **state)
{
	static const struct {
		const char *b64;
		int want;
	} cases[] = {
		{ "AGFsaWNlAHNlY3JldA==", SASL_OK },         /* \0alice\0secret */
		{ "AGFsaWNlAHNlY3JldA", SASL_EBASE64 },      /* unpadded */
		{ "AGFsaWNl AHNlY3JldA==", SASL_EBASE64 },   /* space */
		{ "AGFsaWNlAHNlY3JldA==\r\n", SASL_EBASE64 },/* line end left in */
		{ "AGFsaWNlAHNlY3JldB==", SASL_EBASE64 },    /* non-zero trailing bits */
		{ "*", SASL_EBASE64 },                       /* cancel is the caller's job */
		{ "=", SASL_ESYNTAX },                       /* RFC 4954 4: empty response */
		{ "", SASL_ESYNTAX },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct sasl_plain p;
		int r = sasl_plain_decode(cases[i].b64, strlen(cases[i].b64), &p);
		if (r != cases[i].want)
			print_error("case %zu '%s': got %d, want %d\n", i, cases[i].b64, r, cases[i].want);
		assert_int_equal(r, cases[i].want);
		sasl_plain_clear(&p);
	}
	/* Too long is refused before decoding, whatever the characters. */
	struct sasl_plain p;
	assert_int_equal(sasl_plain_decode(repeat('A', 1028), 1028, &p), SASL_ETOOLONG);
}

static void test_login(void **state)
{
	const struct {
		const char *raw;
		size_t rawlen; /* 0: strlen(raw) */
		size_t outlen;
		int want;
	} cases[] = {
		{ "alice@example.test", 0, SASL_FIELD_MAX + 1, SASL_OK },
		{ "pass word", 0, SASL_FIELD_MAX + 1, SASL_OK },
		{ repeat('p', 255), 0, SASL_FIELD_MAX + 1, SASL_OK },
		{ repeat('p', 256), 0, 1024, SASL_ETOOLONG },
		{ "alice", 0, 6, SASL_OK },
		{ "alice", 0, 5, SASL_ETOOLONG },
		{ "", 0, SASL_FIELD_MAX + 1, SASL_ESYNTAX },
		{ "a\0b", 3, SASL_FIELD_MAX + 1, SASL_ESYNTAX },
		{ "\0", 1, SASL_FIELD_MAX + 1, SASL_ESYNTAX },
	};
	for (size_t i = 0; i < N(cases); i++) {
		size_t rawlen = cases[i].rawlen != 0 ? cases[i].rawlen : strlen(cases[i].raw);
		char b64[1024], out[1024];
		encode(cases[i].raw, rawlen, b64, sizeof(b64));
		memset(out, 'x', sizeof(out));
		int r = sasl_login_decode(b64, strlen(b64), out, cases[i].outlen);
		if (r != cases[i].want)
			print_error("login case %zu: got %d, want %d\n", i, r, cases[i].want);
		assert_int_equal(r, cases[i].want);
		if (r == SASL_OK) {
			assert_string_equal(out, cases[i].raw);
		} else {
			for (size_t j = 0; j < cases[i].outlen; j++)
				assert_int_equal(out[j], 0);
		}
	}

	char out[SASL_FIELD_MAX + 1];
	assert_int_equal(sasl_login_decode("YWxp Y2U=", 9, out, sizeof(out)), SASL_EBASE64);
	assert_int_equal(sasl_login_decode("YWxpY2U", 7, out, sizeof(out)), SASL_EBASE64);
	assert_int_equal(sasl_login_decode("*", 1, out, sizeof(out)), SASL_EBASE64);
	assert_int_equal(sasl_login_decode("=", 1, out, sizeof(out)), SASL_ESYNTAX);
	assert_int_equal(sasl_login_decode("YWxpY2U=", 8, out, 0), SASL_ETOOLONG);
}

static void test_login_challenges(void **state)
{
	char out[32];
	size_t len;

	assert_int_equal(base64_decode(SASL_LOGIN_CHALLENGE_USERNAME,
	                               strlen(SASL_LOGIN_CHALLENGE_USERNAME), out, sizeof(out), &len), 0);
	assert_memory_equal(out, "Username:", len);
	assert_int_equal(len, 9);
	assert_int_equal(base64_decode(SASL_LOGIN_CHALLENGE_PASSWORD,
	                               strlen(SASL_LOGIN_CHALLENGE_PASSWORD), out, sizeof(out), &len), 0);
	assert_memory_equal(out, "Password:", len);
	assert_int_equal(len, 9);
}

static void test_cancel(void **state)
{
	static const struct {
		const char *line;
		int want;
	} cases[] = {
		{ "*", 1 }, { "", 0 }, { "**", 0 }, { " *", 0 }, { "* ", 0 }, { "*\r", 0 }, { "KiA=", 0 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int r = sasl_is_cancel(cases[i].line, strlen(cases[i].line));
		if (r != cases[i].want)
			print_error("cancel case %zu '%s': got %d\n", i, cases[i].line, r);
		assert_int_equal(r, cases[i].want);
	}
}

static void test_strerror(void **state)
{
	assert_string_equal(sasl_strerror(SASL_OK), "ok");
	assert_string_equal(sasl_strerror(SASL_EBASE64), "invalid base64");
	assert_string_equal(sasl_strerror(SASL_ESYNTAX), "malformed response");
	assert_string_equal(sasl_strerror(SASL_ETOOLONG), "field too long");
	assert_string_equal(sasl_strerror(-99), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_not_base64),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_login_challenges),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
