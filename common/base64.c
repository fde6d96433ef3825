/* base64.c - strict RFC 4648 base64; see base64.h. */
#include "base64.h"

#include <errno.h>
#include <stdint.h>

static const char base64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t len)
{
	return (len / 3 + (len % 3 != 0)) * 4;
}

size_t base64_decoded_max(size_t len)
{
	return len / 4 * 3;
}

int base64_encode(const void *in, size_t len, char *out, size_t outlen)
{
	const unsigned char *src = in;

	if (len > (SIZE_MAX - 1) / 4 * 3 || outlen < base64_encoded_len(len) + 1)
		return -ENOBUFS;

	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		out[o++] = base64_alphabet[v >> 18];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = base64_alphabet[(v >> 6) & 0x3f];
		out[o++] = base64_alphabet[v & 0x3f];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)src[i] << 16;
		out[o++] = base64_alphabet[v >> 18];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
		out[o++] = base64_alphabet[v >> 18];
		out[o++] = base64_alphabet[(v >> 12) & 0x3f];
		out[o++] = base64_alphabet[(v >> 6) & 0x3f];
		out[o++] = '=';
	}
	out[o] = '\0';
	return 0;
}

/* Returns the 6-bit value of c, or -1 when c is not in the alphabet. */
static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *in, size_t len, void *out, size_t outlen, size_t *len_r)
{
	unsigned char *dst = out;

	if (len % 4 != 0)
		return -EINVAL;
	size_t pad = 0;
	if (len > 0 && in[len - 1] == '=')
		pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
	size_t declen = len / 4 * 3 - pad;
	if (declen > outlen)
		return -ENOBUFS;

	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		const int last = i + 4 == len;
		const size_t chars = last ? 4 - pad : 4; /* alphabet characters in this quantum */
		uint32_t v = 0;
		for (size_t j = 0; j < 4; j++) {
			int d = 0;
			if (j < chars) {
				d = base64_value((unsigned char)in[i + j]);
				if (d < 0)
					return -EINVAL; /* includes '=' before the final padding */
			}
			v = v << 6 | (uint32_t)d;
		}
		/* RFC 4648 3.5: the bits after the last encoded byte must be zero. */
		if ((chars == 2 && (v & 0xffff) != 0) || (chars == 3 && (v & 0xff) != 0))
			return -EINVAL;
		dst[o++] = (unsigned char)(v >> 16);
		if (chars > 2)
			dst[o++] = (unsigned char)(v >> 8);
		if (chars > 3)
			dst[o++] = (unsigned char)v;
	}
	*len_r = o;
	return 0;
}
