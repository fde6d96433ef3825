/*
 * dkim.c - signing one message (RFC 6376 5): the header section is kept,
 * the body hashed as it streams, and at the end the DKIM-Signature field
 * is written, hashed with the signed fields and signed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/version.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "base64.h"
#include "dkim-private.h"
#include "smtp_address.h"

#define SHA256_LEN 32
#define SIG_MAX (DKIM_KEY_BITS_MAX / 8)
/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters, CRLF excluded. */
#define LINE_MAX_COLS 78
/* Canonical body octets gathered before one hash update. */
#define BODY_STAGE 4096

/* RFC 6376 5.4.1's list less what relays change; From first and
 * over-signed (handled in sign_fields). */
static const char *const signed_names[] = {
	"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type",
	"content-transfer-encoding", "reply-to", "in-reply-to", "references",
};
#define SIGNED_COUNT (sizeof(signed_names) / sizeof(signed_names[0]))

struct dkim_signer {
	const struct dkim_key *key;
	char domain[SMTP_DOMAIN_MAX + 1];
	char selector[DKIM_SELECTOR_MAX + 1];
	int error;      /* sticky: every later call returns it */
	bool finished;
	/* The header section as fed, the empty line that ends it included
	 * once header_done is set. */
	struct dkim__buf header;
	bool header_done;
	struct dkim__body body;
	mbedtls_md_context_t body_md;
	bool md_ready;
	char stage[BODY_STAGE];
	size_t stage_len;
};

static void stage_flush(struct dkim_signer *s)
{
	if (s->stage_len > 0 && s->error == 0 &&
	    mbedtls_md_update(&s->body_md, (const unsigned char *)s->stage, s->stage_len) != 0)
		s->error = -EIO;
	s->stage_len = 0;
}

static void body_out_cb(void *ctx, const char *p, size_t n)
{
	struct dkim_signer *s = ctx;
	while (n > 0) {
		if (s->stage_len == sizeof(s->stage))
			stage_flush(s);
		size_t take = sizeof(s->stage) - s->stage_len;
		if (take > n)
			take = n;
		memcpy(s->stage + s->stage_len, p, take);
		s->stage_len += take;
		p += take;
		n -= take;
	}
}

bool dkim_selector_valid(const char *sel)
{
	size_t len = strlen(sel), label = 0;
	if (len == 0 || len > DKIM_SELECTOR_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = sel[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || sel[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

struct dkim_signer *dkim_signer_new(const struct dkim_key *key, const char *domain,
                                    const char *selector)
{
	struct smtp_domain dom;
	if (key == NULL || domain == NULL || selector == NULL || !dkim_selector_valid(selector) ||
	    smtp_address_parse_domain(domain, strlen(domain), 0, &dom) != SMTP_ADDRESS_OK ||
	    dom.kind != SMTP_DOMAIN_NAME)
		return NULL;
	struct dkim_signer *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->key = key;
	memcpy(s->domain, dom.name, strlen(dom.name) + 1);
	memcpy(s->selector, selector, strlen(selector) + 1);
	dkim__body_init(&s->body, body_out_cb, s);
	mbedtls_md_init(&s->body_md);
	s->md_ready = true;
	if (mbedtls_md_setup(&s->body_md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 0) != 0 ||
	    mbedtls_md_starts(&s->body_md) != 0) {
		dkim_signer_free(&s);
		return NULL;
	}
	return s;
}

void dkim_signer_free(struct dkim_signer **s)
{
	if (*s == NULL)
		return;
	if ((*s)->md_ready)
		mbedtls_md_free(&(*s)->body_md);
	dkim__buf_free(&(*s)->header);
	free(*s);
	*s = NULL;
}

bool dkim_signer_header_done(const struct dkim_signer *s)
{
	return s->header_done;
}

/* Whether the header section now ends with the empty line that closes
 * it: a CRLF at the start of a line (RFC 5322 2.1). */
static bool header_ends(const struct dkim__buf *h)
{
	const char *d = h->data;
	if (h->len < 2 || d[h->len - 2] != '\r' || d[h->len - 1] != '\n')
		return false;
	return h->len == 2 || (h->len >= 4 && d[h->len - 4] == '\r' && d[h->len - 3] == '\n');
}

int dkim_signer_feed(struct dkim_signer *s, const void *data, size_t len)
{
	const char *p = data;
	if (s->error == 0 && s->finished)
		s->error = -EINVAL;
	if (s->error != 0)
		return s->error;
	/* The header section a line at a time: only an LF can end it. */
	while (len > 0 && !s->header_done) {
		const char *lf = memchr(p, '\n', len);
		size_t piece = lf != NULL ? (size_t)(lf - p) + 1 : len;
		if (s->header.len + piece > DKIM_HEADER_MAX)
			return s->error = -EMSGSIZE;
		if (dkim__buf_add(&s->header, p, piece) != 0)
			return s->error = -ENOMEM;
		s->header_done = lf != NULL && header_ends(&s->header);
		p += piece;
		len -= piece;
	}
	if (len > 0)
		dkim__body_feed(&s->body, p, len);
	return s->error;
}

int dkim_signer_from_domain(const struct dkim_signer *s, char *out, size_t outlen)
{
	if (s->header.data == NULL)
		return -1;
	return dkim_from_domain(s->header.data, s->header.len, out, outlen);
}

/* ---- the DKIM-Signature field ------------------------------------------ */

/* The field being written, folded as it grows. */
struct fold {
	struct dkim__buf b;
	size_t col; /* characters on the current line */
	int rc;
};

static void fold_raw(struct fold *f, const char *p, size_t n)
{
	if (f->rc == 0)
		f->rc = dkim__buf_add(&f->b, p, n);
	f->col += n;
}

/* Appends one token, after `sep` (" " or "") on this line if both fit,
 * else on a new line: CRLF TAB is the FWS of RFC 6376 3.2 tag lists. */
static void fold_token(struct fold *f, const char *sep, const char *p, size_t n)
{
	if (f->col + strlen(sep) + n > LINE_MAX_COLS && f->col > 1) {
		fold_raw(f, "\r\n\t", 3);
		f->col = 1;
	} else {
		fold_raw(f, sep, strlen(sep));
	}
	fold_raw(f, p, n);
}

/* Base64 octets filling each line: FWS may split a base64 value
 * anywhere (RFC 6376 2.4, 3.5). */
static void fold_base64_value(struct fold *f, const char *v)
{
	size_t len = strlen(v);
	while (len > 0) {
		if (f->col >= LINE_MAX_COLS) {
			fold_raw(f, "\r\n\t", 3);
			f->col = 1;
		}
		size_t take = LINE_MAX_COLS - f->col;
		if (take > len)
			take = len;
		fold_raw(f, v, take);
		v += take;
		len -= take;
	}
}

/* A base64 tag; its name stays on a line with some of its value. */
static void fold_base64(struct fold *f, const char *tag, const char *v)
{
	size_t tag_len = strlen(tag);
	if (f->col + 1 + tag_len + 8 > LINE_MAX_COLS) {
		fold_raw(f, "\r\n\t", 3);
		f->col = 1;
	} else {
		fold_raw(f, " ", 1);
	}
	fold_raw(f, tag, tag_len);
	fold_base64_value(f, v);
}

static void fold_tag(struct fold *f, const char *fmt, const char *value)
{
	char tok[SMTP_DOMAIN_MAX + 32];
	int n = snprintf(tok, sizeof(tok), fmt, value);
	if (n < 0 || (size_t)n >= sizeof(tok)) {
		f->rc = -EINVAL;
		return;
	}
	fold_token(f, " ", tok, (size_t)n);
}

/* How many fields of each signed name the header section has. */
static void count_fields(const struct dkim__buf *h, unsigned counts[SIGNED_COUNT])
{
	struct dkim__field fld;
	size_t pos = 0;
	memset(counts, 0, sizeof(unsigned) * SIGNED_COUNT);
	while (h->data != NULL && dkim__next_field(h->data, h->len, &pos, &fld)) {
		for (size_t i = 0; i < SIGNED_COUNT; i++) {
			if (dkim__name_is(&fld, signed_names[i]))
				counts[i]++;
		}
	}
}

/* h=: every instance of each name; From once more (RFC 6376 8.15). */
static void fold_h(struct fold *f, const unsigned counts[SIGNED_COUNT])
{
	bool first = true;
	for (size_t i = 0; i < SIGNED_COUNT; i++) {
		unsigned n = counts[i] + (i == 0 ? 1 : 0);
		for (unsigned k = 0; k < n; k++) {
			char tok[64];
			int len = snprintf(tok, sizeof(tok), "%s%s", first ? "h=" : ":", signed_names[i]);
			/* FWS may stand around each colon of h= (RFC 6376 3.5). */
			fold_token(f, first ? " " : "", tok, (size_t)len);
			first = false;
		}
	}
	fold_raw(f, ";", 1);
}

/*
 * The instance `nth` from the bottom (0 = last) of a name, or NULL
 * (RFC 6376 5.4.2). Quadratic in the number of fields, which
 * DKIM_HEADER_MAX bounds; signing is not on any hot path.
 */
static bool find_from_bottom(const struct dkim__buf *h, const char *name, unsigned nth,
                             struct dkim__field *fld_r)
{
	struct dkim__field fld;
	size_t pos = 0;
	unsigned total = 0, seen = 0;
	while (dkim__next_field(h->data, h->len, &pos, &fld))
		total += dkim__name_is(&fld, name);
	if (nth >= total)
		return false;
	pos = 0;
	while (dkim__next_field(h->data, h->len, &pos, &fld)) {
		if (dkim__name_is(&fld, name) && seen++ == total - 1 - nth) {
			*fld_r = fld;
			return true;
		}
	}
	return false;
}

/* The canonical signed fields, then the DKIM-Signature field so far
 * (b= empty, no CRLF: RFC 6376 3.7), into c. */
static int hash_input(const struct dkim_signer *s, const unsigned counts[SIGNED_COUNT],
                      const struct fold *f, struct dkim__buf *c)
{
	int rc = 0;
	for (size_t i = 0; i < SIGNED_COUNT && rc == 0; i++) {
		for (unsigned k = 0; k < counts[i] && rc == 0; k++) {
			struct dkim__field fld;
			if (!find_from_bottom(&s->header, signed_names[i], k, &fld))
				return -EINVAL;
			rc = dkim__canon_header(c, fld.field, fld.field_len);
			if (rc == 0)
				rc = dkim__buf_add(c, "\r\n", 2);
		}
	}
	if (rc == 0)
		rc = dkim__canon_header(c, f->b.data, f->b.len);
	return rc;
}

static int rsa_sign(const struct dkim_key *key, const unsigned char hash[SHA256_LEN],
                    char *b64, size_t b64len)
{
	unsigned char sig[SIG_MAX];
	size_t sig_len = 0;
	struct dkim__rng rng;
	int rc = dkim__rng_init(&rng);
	/* The key is only read; mbedTLS updates its blinding values under
	 * the key's own mutex (MBEDTLS_THREADING_C). */
	mbedtls_pk_context *pk = (mbedtls_pk_context *)&key->pk;
	if (rc == 0) {
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
		rc = mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, SHA256_LEN, sig, sizeof(sig),
		                     &sig_len, mbedtls_ctr_drbg_random, &rng.drbg);
#else
		rc = mbedtls_pk_sign(pk, MBEDTLS_MD_SHA256, hash, SHA256_LEN, sig, &sig_len,
		                     mbedtls_ctr_drbg_random, &rng.drbg);
#endif
		rc = rc == 0 ? 0 : -EIO;
	}
	dkim__rng_free(&rng);
	if (rc == 0 && base64_encode(sig, sig_len, b64, b64len) != 0)
		rc = -EIO;
	return rc;
}

int dkim_signer_finish(struct dkim_signer *s, time_t now, char **header_r, size_t *len_r)
{
	unsigned char bh[SHA256_LEN], hh[SHA256_LEN];
	char bh64[64], t[32], b64[SIG_MAX * 4 / 3 + 8];
	unsigned counts[SIGNED_COUNT];
	struct fold f = { { NULL, 0, 0 }, 0, 0 };
	struct dkim__buf c = { NULL, 0, 0 };

	*header_r = NULL;
	*len_r = 0;
	if (s->error == 0 && s->finished)
		s->error = -EINVAL;
	if (s->error != 0)
		return s->error;
	s->finished = true;
	/* RFC 6376 3.4.4 at the end of the body, then bh= (3.7). */
	dkim__body_end(&s->body);
	stage_flush(s);
	if (s->error == 0 && mbedtls_md_finish(&s->body_md, bh) != 0)
		s->error = -EIO;
	if (s->error == 0 && base64_encode(bh, sizeof(bh), bh64, sizeof(bh64)) != 0)
		s->error = -EIO;
	if (s->error != 0)
		return s->error;

	count_fields(&s->header, counts);
	snprintf(t, sizeof(t), "%" PRIdMAX, (intmax_t)now);
	fold_raw(&f, "DKIM-Signature:", 15);
	fold_token(&f, " ", "v=1;", 4);
	fold_token(&f, " ", "a=rsa-sha256;", 13);
	fold_token(&f, " ", "c=relaxed/relaxed;", 18);
	fold_tag(&f, "d=%s;", s->domain);
	fold_tag(&f, "s=%s;", s->selector);
	fold_tag(&f, "t=%s;", t);
	fold_h(&f, counts);
	fold_base64(&f, "bh=", bh64);
	fold_raw(&f, ";", 1);
	/* b= last, empty while hashing; its value is then appended. */
	fold_base64(&f, "b=", "");
	int rc = f.rc;
	if (rc == 0)
		rc = hash_input(s, counts, &f, &c);
	if (rc == 0 && mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	                          (const unsigned char *)c.data, c.len, hh) != 0)
		rc = -EIO;
	if (rc == 0)
		rc = rsa_sign(s->key, hh, b64, sizeof(b64));
	if (rc == 0) {
		/* fold_base64 wrote "b=" alone; its value follows. */
		fold_base64_value(&f, b64);
		fold_raw(&f, "\r\n", 2);
		rc = f.rc;
	}
	dkim__buf_free(&c);
	if (rc != 0) {
		dkim__buf_free(&f.b);
		s->error = rc;
		return rc;
	}
	*header_r = f.b.data;
	*len_r = f.b.len;
	return 0;
}
