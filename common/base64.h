/*
 * base64.h - RFC 4648 section 4 base64 (the standard alphabet, '=' padding).
 *
 * Decoding is strict, as SASL (RFC 4954 4, RFC 5034 4) needs it: the input
 * length must be a multiple of 4, only the alphabet and final padding are
 * allowed (no whitespace, no line breaks), and the unused bits of the last
 * quantum must be zero (RFC 4648 3.5), so every byte string has exactly one
 * accepted encoding.
 *
 * Both calls write only into caller-owned buffers and return 0 or a
 * negative errno value: -EINVAL for bad input, -ENOBUFS when the output
 * buffer is too small (nothing useful is written then).
 */
#ifndef MAIL_BASE64_H
#define MAIL_BASE64_H

#include <stddef.h>

/* Length of the encoding of len bytes, without a terminating NUL. */
size_t base64_encoded_len(size_t len);

/* Upper bound of the decoded length of len encoded characters. */
size_t base64_decoded_max(size_t len);

/*
 * Encodes len bytes of in into out, NUL-terminated; outlen must be at least
 * base64_encoded_len(len) + 1.
 */
int base64_encode(const void *in, size_t len, char *out, size_t outlen);

/*
 * Decodes len characters of in (no NUL needed) into out and sets *len_r to
 * the decoded length. outlen must hold the exact decoded length;
 * base64_decoded_max(len) is always enough. The empty string decodes to
 * zero bytes. On error, out may hold partial output: clear it if secret.
 */
int base64_decode(const char *in, size_t len, void *out, size_t outlen, size_t *len_r);

#endif
