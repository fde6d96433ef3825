/*
 * fuzz_sasl.c - the SASL PLAIN and LOGIN decoders (common/sasl.h): what a
 * client sends after AUTH on the submission ports and on POP3, before it
 * is anyone.
 *
 * Each decoder sees the input twice: as the client's base64 line, and
 * base64-encoded, so that arbitrary decoded bytes (NULs in any number, any
 * field length) reach the structure checks too. The expected result comes
 * from a plain model of sasl.h's rules over the decoded bytes. Checked: the
 * result class; on success, fields that are exactly the decoded pieces,
 * non-empty where required, NUL-terminated, without NUL inside and at most
 * SASL_FIELD_MAX (and the LOGIN caller's buffer) long; on failure, outputs
 * wiped to zero. Buffers are exactly the size the caller gives, so ASan sees
 * any write past them.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Longest client line handed to the decoders here; sessions cut lines far shorter. */
#define FUZZ_SASL_TEXT_MAX 4096

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		if (b[i] != 0)
			return false;
	}
	return true;
}

static void check_known(int r)
{
	CHECK(r == SASL_OK || r == SASL_EBASE64 || r == SASL_ESYNTAX || r == SASL_ETOOLONG);
	CHECK(strcmp(sasl_strerror(r), "unknown error") != 0);
}

/* A decoded field: NUL-terminated inside its array, with no NUL before len. */
static void check_field(const char *field, size_t cap, const char *want, size_t want_len)
{
	CHECK(want_len < cap && want_len <= SASL_FIELD_MAX);
	CHECK(memchr(want, '\0', want_len) == NULL);
	CHECK(memcmp(field, want, want_len) == 0 && field[want_len] == '\0');
}

/*
 * PLAIN (RFC 4616 2): [authzid] NUL authcid NUL passwd. dec/declen are the
 * strictly decoded bytes, or dec is NULL when text is not strict base64.
 */
static void check_plain(const char *text, size_t len, const uint8_t *dec, size_t declen)
{
	struct sasl_plain *p = malloc(sizeof(*p));
	CHECK(p != NULL);
	memset(p, 0xa5, sizeof(*p));
	int r = sasl_plain_decode(text, len, p);
	check_known(r);

	if (len == 1 && text[0] == '=') {
		CHECK(r == SASL_ESYNTAX); /* the empty response */
	} else if (len > base64_encoded_len(3 * SASL_FIELD_MAX + 2)) {
		CHECK(r == SASL_ETOOLONG); /* refused before decoding */
	} else if (dec == NULL) {
		/* Only a length that could not fit may be reported before the alphabet. */
		CHECK(r == SASL_EBASE64 || (r == SASL_ETOOLONG && len / 4 * 3 > 3 * SASL_FIELD_MAX + 2));
	} else {
		const uint8_t *nul1 = memchr(dec, '\0', declen);
		const uint8_t *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', declen - (size_t)(nul1 + 1 - dec))
		                                   : NULL;
		if (nul2 == NULL || memchr(nul2 + 1, '\0', declen - (size_t)(nul2 + 1 - dec)) != NULL) {
			CHECK(r == SASL_ESYNTAX || (r == SASL_ETOOLONG && declen > 3 * SASL_FIELD_MAX + 2));
		} else {
			size_t zlen = (size_t)(nul1 - dec), clen = (size_t)(nul2 - nul1 - 1);
			size_t plen = declen - (size_t)(nul2 + 1 - dec);
			bool empty = clen == 0 || plen == 0;
			bool too_long = zlen > SASL_FIELD_MAX || clen > SASL_FIELD_MAX || plen > SASL_FIELD_MAX;
			if (!empty && !too_long) {
				CHECK(r == SASL_OK);
				check_field(p->authzid, sizeof(p->authzid), (const char *)dec, zlen);
				check_field(p->authcid, sizeof(p->authcid), (const char *)nul1 + 1, clen);
				check_field(p->passwd, sizeof(p->passwd), (const char *)nul2 + 1, plen);
				/* Login names are addresses: case does not tell two apart. */
				bool same = zlen == 0 ||
				            (zlen == clen && strncasecmp((const char *)dec,
				                                         (const char *)nul1 + 1, clen) == 0);
				CHECK(sasl_plain_authzid_ok(p) == (same ? 1 : 0));
				sasl_plain_clear(p);
			} else if (!too_long) {
				CHECK(r == SASL_ESYNTAX);
			} else if (!empty) {
				CHECK(r == SASL_ETOOLONG);
			} else {
				CHECK(r == SASL_ESYNTAX || r == SASL_ETOOLONG);
			}
		}
	}
	/* Failure, or cleared after success: nothing of the password is left. */
	CHECK(all_zero(p, sizeof(*p)));
	free(p);
}

/* LOGIN: one non-empty value without NUL, into a buffer of outlen bytes. */
static void check_login(const char *text, size_t len, const uint8_t *dec, size_t declen,
                        size_t outlen)
{
	char *out = malloc(outlen > 0 ? outlen : 1);
	CHECK(out != NULL);
	memset(out, 0xa5, outlen);
	int r = sasl_login_decode(text, len, out, outlen);
	check_known(r);
	size_t max = outlen == 0 ? 0 : outlen - 1 < SASL_FIELD_MAX ? outlen - 1 : SASL_FIELD_MAX;

	if (outlen == 0) {
		CHECK(r == SASL_ETOOLONG);
	} else if (len == 1 && text[0] == '=') {
		CHECK(r == SASL_ESYNTAX);
	} else if (len > base64_encoded_len(max)) {
		CHECK(r == SASL_ETOOLONG);
	} else if (dec == NULL) {
		CHECK(r == SASL_EBASE64 || (r == SASL_ETOOLONG && len / 4 * 3 > max));
	} else if (declen > max) {
		CHECK(r == SASL_ETOOLONG);
	} else if (declen == 0 || memchr(dec, '\0', declen) != NULL) {
		CHECK(r == SASL_ESYNTAX);
	} else {
		CHECK(r == SASL_OK);
		check_field(out, outlen, (const char *)dec, declen);
		explicit_bzero(out, outlen);
	}
	CHECK(all_zero(out, outlen));
	free(out);
}

/* Runs both decoders on one client line. */
static void check_text(const char *text, size_t len)
{
	static const size_t outlens[] = { 0, 1, 2, 5, SASL_FIELD_MAX, SASL_FIELD_MAX + 1,
	                                  SASL_FIELD_MAX + 2, 1024 };
	size_t max = base64_decoded_max(len);
	uint8_t *dec = malloc(max > 0 ? max : 1);
	size_t declen = 0;
	CHECK(dec != NULL);
	bool valid = base64_decode(text, len, dec, max, &declen) == 0;

	check_plain(text, len, valid ? dec : NULL, declen);
	for (size_t i = 0; i < sizeof(outlens) / sizeof(outlens[0]); i++)
		check_login(text, len, valid ? dec : NULL, declen, outlens[i]);
	CHECK(sasl_is_cancel(text, len) == (len == 1 && text[0] == '*'));
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_SASL_TEXT_MAX)
		return 0;
	check_text((const char *)data, size);

	/* The input as the decoded response: every byte pattern behind valid base64. */
	size_t elen = base64_encoded_len(size);
	char *text = malloc(elen + 1);
	CHECK(text != NULL && base64_encode(data, size, text, elen + 1) == 0);
	check_text(text, elen);
	free(text);
	return 0;
}
