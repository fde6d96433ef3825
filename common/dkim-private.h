/*
 * dkim-private.h - the parts of the DKIM signer shared by its files:
 * relaxed canonicalization and the walk over header fields
 * (dkim_canon.c), the RNG the key and signing code share (dkim_key.c).
 * Unit tests include it to check canonicalization byte for byte.
 */
#ifndef MAIL_DKIM_PRIVATE_H
#define MAIL_DKIM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>

#include "dkim.h"

struct dkim_key {
	mbedtls_pk_context pk;
};

/* A growing byte buffer; data is NUL-terminated whenever it is non-NULL. */
struct dkim__buf {
	char *data;
	size_t len, cap;
};
/* Appends n octets; returns 0 or -ENOMEM. */
int dkim__buf_add(struct dkim__buf *b, const void *p, size_t n);
void dkim__buf_free(struct dkim__buf *b);

/*
 * One header field of a header section: the name (without the colon and
 * the whitespace before it) and the whole field, name to the end of its
 * last line, without that line's CRLF. A line without a colon (not a
 * field, RFC 5322 2.2) is skipped. Returns false at the end of the
 * section: at the end of the data or at an empty line.
 */
struct dkim__field {
	const char *name;
	size_t name_len;
	const char *field;
	size_t field_len;
};
bool dkim__next_field(const char *headers, size_t len, size_t *pos, struct dkim__field *f_r);

/* ASCII case-insensitive comparison of a field name with a NUL-terminated one. */
bool dkim__name_is(const struct dkim__field *f, const char *name);

/*
 * Appends the relaxed canonical form of one header field (RFC 6376
 * 3.4.2) to b: the name in lower case, ":", the value unfolded, each run
 * of WSP made one SP, WSP at its start and end removed; no CRLF. Returns
 * 0 or -ENOMEM.
 */
int dkim__canon_header(struct dkim__buf *b, const char *field, size_t len);

/*
 * Relaxed body canonicalization (RFC 6376 3.4.4) as the body streams:
 * WSP at the end of a line is dropped, other runs of WSP become one SP,
 * empty lines at the end are dropped, a last line without CRLF gets one.
 * Only a line end is a CRLF; a lone CR or LF is an ordinary character.
 * What is known to be in the canonical body goes to out() at once; the
 * state holds only counts of what may still turn out to be trailing.
 */
typedef void dkim__body_out_fn(void *ctx, const char *p, size_t n);
struct dkim__body {
	dkim__body_out_fn *out;
	void *ctx;
	size_t empty_lines; /* CRLFs of empty lines not yet written */
	bool wsp;           /* a WSP run not yet written */
	bool cr;            /* a CR that may begin a CRLF */
	bool line_content;  /* the current line has content */
};
void dkim__body_init(struct dkim__body *b, dkim__body_out_fn *out, void *ctx);
void dkim__body_feed(struct dkim__body *b, const char *p, size_t n);
/* Writes what the end of the body decides (a missing final CRLF). */
void dkim__body_end(struct dkim__body *b);

/*
 * A seeded CTR-DRBG, for key generation, key parsing (mbedTLS 3 wants
 * one) and RSA blinding while signing. Returns 0 or -EIO; free with
 * dkim__rng_free either way.
 */
struct dkim__rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};
int dkim__rng_init(struct dkim__rng *rng);
void dkim__rng_free(struct dkim__rng *rng);

#endif
