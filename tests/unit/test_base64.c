/* test_base64.c - RFC 4648 vectors, strict decoding, buffer limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

/* RFC 4648 10. */
static const struct {
	const char *plain;
	const char *encoded;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_rfc4648_vectors(void **state)
{
	for (size_t i = 0; i < N(vectors); i++) {
		const char *plain = vectors[i].plain, *encoded = vectors[i].encoded;
		char enc[16], dec[16];
		size_t declen = 99;

		assert_int_equal(base64_encoded_len(strlen(plain)), strlen(encoded));
		assert_int_equal(base64_encode(plain, strlen(plain), enc, sizeof(enc)), 0);
		assert_string_equal(enc, encoded);
		assert_true(base64_decoded_max(strlen(encoded)) >= strlen(plain));
		assert_int_equal(base64_decode(encoded, strlen(encoded), dec, sizeof(dec), &declen), 0);
		assert_int_equal(declen, strlen(plain));
		assert_memory_equal(dec, plain, declen);
	}
}

static void test_binary_roundtrip(void **state)
{
	unsigned char bytes[256], back[256];
	char enc[400];
	size_t len;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(255 - i);
	/* Every length, so every padding case meets every byte value. */
	for (size_t n = 0; n <= sizeof(bytes); n++) {
		assert_int_equal(base64_encode(bytes, n, enc, sizeof(enc)), 0);
		assert_int_equal(strlen(enc), base64_encoded_len(n));
		assert_int_equal(base64_decode(enc, strlen(enc), back, sizeof(back), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(back, bytes, n);
	}
}

static const struct {
	const char *input;
	size_t len; /* 0: strlen(input) */
	const char *why;
} invalid[] = {
	{ "Zg", 0, "unpadded" },
	{ "Zg=", 0, "short padding" },
	{ "Z===", 0, "three padding characters" },
	{ "====", 0, "padding only" },
	{ "Zg==Zg==", 0, "padding before the end" },
	{ "Zm9v====", 0, "a whole quantum of padding" },
	{ "Zm=v", 0, "padding inside a quantum" },
	{ "Zh==", 0, "non-zero trailing bits after one byte" },
	{ "Zm9=", 0, "non-zero trailing bits after two bytes" },
	{ "Zm9v\n", 0, "line break" },
	{ "Zm9v\r\nYmFy", 0, "CRLF inside" },
	{ "Zm 9", 0, "space" },
	{ " Zm9v", 0, "leading space" },
	{ "Zm-v", 0, "base64url minus" },
	{ "Zm_v", 0, "base64url underscore" },
	{ "Zm9\0", 4, "NUL" },
	{ "Zm9\xc3", 4, "8-bit byte" },
	{ "*", 0, "SASL cancel" },
};

static void test_invalid(void **state)
{
	for (size_t i = 0; i < N(invalid); i++) {
		size_t len = invalid[i].len != 0 ? invalid[i].len : strlen(invalid[i].input);
		unsigned char out[32];
		size_t outlen = 0;
		int r = base64_decode(invalid[i].input, len, out, sizeof(out), &outlen);
		if (r != -EINVAL)
			print_error("case %zu (%s): got %d, want -EINVAL\n", i, invalid[i].why, r);
		assert_int_equal(r, -EINVAL);
	}
}

static void test_buffer_limits(void **state)
{
	char enc[9];
	unsigned char dec[6];
	size_t len;

	/* Encoding needs room for the NUL. */
	assert_int_equal(base64_encode("foobar", 6, enc, 8), -ENOBUFS);
	assert_int_equal(base64_encode("foobar", 6, enc, 9), 0);
	assert_string_equal(enc, "Zm9vYmFy");
	/* Decoding needs the exact length, not the bound. */
	assert_int_equal(base64_decode("Zm9vYg==", 8, dec, 3, &len), -ENOBUFS);
	assert_int_equal(base64_decode("Zm9vYg==", 8, dec, 4, &len), 0);
	assert_int_equal(len, 4);
	assert_int_equal(base64_decode("", 0, dec, 0, &len), 0);
	assert_int_equal(len, 0);

	assert_int_equal(base64_encoded_len(0), 0);
	assert_int_equal(base64_encoded_len(1), 4);
	assert_int_equal(base64_encoded_len(3), 4);
	assert_int_equal(base64_encoded_len(4), 8);
	assert_int_equal(base64_decoded_max(8), 6);
	assert_int_equal(base64_decoded_max(7), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_binary_roundtrip),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_buffer_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
