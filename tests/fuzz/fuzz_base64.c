/*
 * fuzz_base64.c - strict RFC 4648 base64 (common/base64.h), which every
 * SASL response goes through before anything else looks at it.
 *
 * The input is used twice:
 *  - as base64 text: base64_decode must agree with a separate, plainer
 *    decoder on acceptance and output, and what it accepts must be the one
 *    canonical encoding of its result: encode(decode(x)) == x. The output
 *    buffers are exactly as large as promised, so ASan sees any overrun,
 *    and one byte less must give -ENOBUFS.
 *  - as bytes: decode(encode(x)) == x, with the documented lengths.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static void *xmalloc(size_t n)
{
	void *p = malloc(n > 0 ? n : 1);
	CHECK(p != NULL);
	return p;
}

static int sextet(char c)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;
	return p != NULL ? (int)(p - alphabet) : -1;
}

/*
 * The rules of base64.h spelled out one by one, bit by bit: length a
 * multiple of 4, alphabet only, at most two '=' and only at the very end,
 * and the bits after the last encoded byte zero. Returns the decoded
 * length, or -1 when the text is refused.
 */
static long reference_decode(const char *in, size_t len, uint8_t *out)
{
	if (len % 4 != 0)
		return -1;
	size_t pad = 0;
	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	size_t chars = len - pad;

	size_t bits = 0, o = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < chars; i++) {
		int v = sextet(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xfff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* What is left over must be zero bits (RFC 4648 3.5). */
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

static void check_decode(const char *text, size_t len)
{
	size_t max = base64_decoded_max(len);
	CHECK(max <= len);
	uint8_t *out = xmalloc(max);
	uint8_t *ref = xmalloc(len);
	size_t n = SIZE_MAX;

	int r = base64_decode(text, len, out, max, &n);
	long want = reference_decode(text, len, ref);
	CHECK(r == 0 || r == -EINVAL);
	CHECK((r == 0) == (want >= 0));
	if (r == 0) {
		CHECK(n == (size_t)want && n <= max && memcmp(out, ref, n) == 0);

		/* The one canonical encoding of those bytes is the input. */
		size_t elen = base64_encoded_len(n);
		CHECK(elen == len);
		char *again = xmalloc(elen + 1);
		CHECK(base64_encode(out, n, again, elen + 1) == 0);
		CHECK(memcmp(again, text, len) == 0 && again[len] == '\0');
		free(again);

		/* Exactly n bytes fit; one less is refused. */
		uint8_t *exact = xmalloc(n);
		size_t n2 = SIZE_MAX;
		CHECK(base64_decode(text, len, exact, n, &n2) == 0 && n2 == n);
		CHECK(memcmp(exact, out, n) == 0);
		if (n > 0)
			CHECK(base64_decode(text, len, exact, n - 1, &n2) == -ENOBUFS);
		free(exact);
	}
	free(out);
	free(ref);
}

static void check_encode(const uint8_t *data, size_t size)
{
	size_t elen = base64_encoded_len(size);
	CHECK(elen % 4 == 0 && elen / 4 * 3 >= size && elen / 4 * 3 < size + 3);
	char *text = xmalloc(elen + 1);

	if (elen > 0)
		CHECK(base64_encode(data, size, text, elen) == -ENOBUFS);
	CHECK(base64_encode(data, size, text, elen + 1) == 0);
	CHECK(strlen(text) == elen);
	for (size_t i = 0; i < elen; i++)
		CHECK(sextet(text[i]) >= 0 || (text[i] == '=' && i + 2 >= elen));

	uint8_t *back = xmalloc(size);
	size_t n = SIZE_MAX;
	CHECK(base64_decode(text, elen, back, size, &n) == 0);
	CHECK(n == size && memcmp(back, data, size) == 0);
	free(back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode((const char *)data, size);
	check_encode(data, size);
	return 0;
}
