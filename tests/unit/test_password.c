/*
 * test_password.c - crypt(3) hashing and verification. Each yescrypt
 * computation costs ~60 ms (more under ASan), so the cases are few; the
 * $6$ and $2b$ hashes use low costs.
 */
#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "password.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* sha512-crypt of "pw" with salt "saltsalt", computed independently (Python's crypt). */
static const char known_sha512[] =
	"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/";

/* sha256-crypt test vectors from its specification (Drepper, "Unix crypt
 * using SHA-256 and SHA-512"), also what `openssl passwd -5` gives. */
static const char known_sha256[] = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5";
static const char known_sha256_rounds[] =
	"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA";

/* Makes a hash with libxcrypt directly, at a chosen method and cost. */
static void make_hash(const char *prefix, unsigned long cost, const char *password, char *out,
                      size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = calloc(1, sizeof(*data));
	assert_non_null(data);
	assert_non_null(crypt_gensalt_rn(prefix, cost, NULL, 0, setting, sizeof(setting)));
	const char *h = crypt_r(password, setting, data);
	assert_non_null(h);
	assert_true(h[0] != '*');
	assert_true(strlen(h) < outlen);
	memcpy(out, h, strlen(h) + 1);
	free(data);
}

static void test_yescrypt(void **state)
{
	char hash[PASSWORD_HASH_MAX];

	assert_int_equal(password_hash("correct horse", hash, sizeof(hash)), 0);
	assert_memory_equal(hash, "$y$", 3);
	assert_int_equal(password_hash_valid(hash), 0);
	assert_int_equal(password_verify("correct horse", hash), 1);
	assert_int_equal(password_verify("correct horsf", hash), 0);

	/* A buffer too small for the hash fails instead of cutting it. */
	char small[16];
	assert_int_equal(password_hash("x", small, sizeof(small)), -1);
}

static void test_imported_methods(void **state)
{
	char sha512[PASSWORD_HASH_MAX], bcrypt[PASSWORD_HASH_MAX], sha256[PASSWORD_HASH_MAX];

	make_hash("$6$", 1000, "s3cret", sha512, sizeof(sha512));
	make_hash("$5$", 1000, "s3cret", sha256, sizeof(sha256));
	make_hash("$2b$", 4, "s3cret", bcrypt, sizeof(bcrypt));
	const struct {
		const char *hash, *password;
		int want;
	} cases[] = {
		{ known_sha512, "pw", 1 },
		{ known_sha512, "pW", 0 },
		{ sha512, "s3cret", 1 },
		{ sha512, "s3cre", 0 },
		{ bcrypt, "s3cret", 1 },
		{ bcrypt, "", 0 },
		/* Debian's libxcrypt calls sha256-crypt legacy; we still verify it. */
		{ known_sha256, "Hello world!", 1 },
		{ known_sha256, "Hello world?", 0 },
		{ known_sha256_rounds, "Hello world!", 1 },
		{ sha256, "s3cret", 1 },
		{ sha256, "s3cre", 0 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		assert_int_equal(password_hash_valid(cases[i].hash), 0);
		int r = password_verify(cases[i].password, cases[i].hash);
		if (r != cases[i].want)
			print_error("case %zu: verify('%s', '%s') = %d, want %d\n", i, cases[i].password,
			            cases[i].hash, r, cases[i].want);
		assert_int_equal(r, cases[i].want);
	}
}

static void test_invalid_hashes(void **state)
{
	static const char *const invalid[] = {
		"",
		"*",
		"!",
		"!$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/",
		"$y$",
		"$y$garbage",
		"$y$j9T$yG8GG25qd8kDAkhkAfMKE/",                            /* a bare setting */
		"$y$j9T$yG8GG25qd8kDAkhkAfMKE/$KdUmDq5PwyILcLnbQ/djeFPFfi4", /* cut off */
		"$6$saltsalt",
		"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D",
		"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk!",
		"$2b$04$abcdefghijklmnopqrstuu",
		"$2b$4$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q",
		"$1$abc$Kb85XxsXB.VXinPhbS4431", /* MD5: legacy */
		"$5$saltstring",                  /* sha256-crypt: a bare setting */
		"$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc",  /* cut off */
		"$5$rounds=1000001$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
		"abzlUXK5ed5rs",                  /* DES: legacy */
		"$x$abc",
		/* Well-formed but too costly: every login would hold a thread for minutes. */
		"$2b$31$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q",
		"$2b$14$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q",
		"$y$jFT$yG8GG25qd8kDAkhkAfMKE/$KdUmDq5PwyILcLnbQ/djeFPFfi4KdUmDq5PwyIL",
		"$6$rounds=999999999$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/",
	};
	for (size_t i = 0; i < N(invalid); i++) {
		if (password_hash_valid(invalid[i]) != -1)
			print_error("case %zu: '%s' accepted\n", i, invalid[i]);
		assert_int_equal(password_hash_valid(invalid[i]), -1);
	}
	assert_int_equal(password_hash_valid(NULL), -1);

	/* Verification never matches them; each costs one dummy hash, so only a few. */
	assert_int_equal(password_verify("", ""), 0);
	assert_int_equal(password_verify("pw", invalid[3]), 0);
	assert_int_equal(password_verify("pw", "$1$abc$Kb85XxsXB.VXinPhbS4431"), 0);
}

static void test_unknown_user(void **state)
{
	assert_int_equal(password_verify("anything", NULL), 0);
	assert_int_equal(password_verify("", NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yescrypt),
		cmocka_unit_test(test_imported_methods),
		cmocka_unit_test(test_invalid_hashes),
		cmocka_unit_test(test_unknown_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
