/* sasl.c - PLAIN and LOGIN response decoders; see sasl.h. */
#include "sasl.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base64.h"

/* authzid NUL authcid NUL passwd, every field at its longest. */
#define SASL_PLAIN_MAX (3 * SASL_FIELD_MAX + 2)

const char *sasl_strerror(int result)
{
	switch (result) {
	case SASL_OK:
		return "ok";
	case SASL_EBASE64:
		return "invalid base64";
	case SASL_ESYNTAX:
		return "malformed response";
	case SASL_ETOOLONG:
		return "field too long";
	default:
		return "unknown error";
	}
}

/*
 * Decodes base64 into buf (bufmax bytes); "=" is the empty response.
 * Returns SASL_ETOOLONG before decoding anything when the input is too long
 * to fit, so no valid-looking prefix of an oversized response is used.
 */
static int sasl_decode(const char *b64, size_t len, char *buf, size_t bufmax, size_t *len_r)
{
	if (len == 1 && b64[0] == '=') {
		*len_r = 0;
		return SASL_OK;
	}
	if (len > base64_encoded_len(bufmax))
		return SASL_ETOOLONG;
	int r = base64_decode(b64, len, buf, bufmax, len_r);
	if (r == -ENOBUFS)
		return SASL_ETOOLONG;
	return r == 0 ? SASL_OK : SASL_EBASE64;
}

/* Copies field [p, p+len) into dst; empty is allowed only when allow_empty. */
static int sasl_field(char dst[SASL_FIELD_MAX + 1], const char *p, size_t len, int allow_empty)
{
	if (len == 0 && !allow_empty)
		return SASL_ESYNTAX;
	if (len > SASL_FIELD_MAX)
		return SASL_ETOOLONG;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return SASL_OK;
}

int sasl_plain_decode(const char *b64, size_t len, struct sasl_plain *out_r)
{
	char msg[SASL_PLAIN_MAX];
	size_t msglen = 0;

	memset(out_r, 0, sizeof(*out_r));
	int r = sasl_decode(b64, len, msg, sizeof(msg), &msglen);
	if (r == SASL_OK) {
		/* RFC 4616 2: exactly two NULs separate the three fields. */
		const char *nul1 = memchr(msg, '\0', msglen);
		const char *nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0', msglen - (size_t)(nul1 + 1 - msg)) : NULL;
		const char *end = msg + msglen;
		if (nul2 == NULL || memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)) != NULL) {
			r = SASL_ESYNTAX;
		} else {
			r = sasl_field(out_r->authzid, msg, (size_t)(nul1 - msg), 1);
			if (r == SASL_OK)
				r = sasl_field(out_r->authcid, nul1 + 1, (size_t)(nul2 - nul1 - 1), 0);
			if (r == SASL_OK)
				r = sasl_field(out_r->passwd, nul2 + 1, (size_t)(end - nul2 - 1), 0);
		}
	}
	explicit_bzero(msg, sizeof(msg));
	if (r != SASL_OK)
		sasl_plain_clear(out_r);
	return r;
}

int sasl_plain_authzid_ok(const struct sasl_plain *p)
{
	/* Login names are addresses, which match without regard to (ASCII) case,
	 * as smtp_address_key folds them: Alice@ may act as alice@. */
	return p->authzid[0] == '\0' || strcasecmp(p->authzid, p->authcid) == 0;
}

void sasl_plain_clear(struct sasl_plain *p)
{
	explicit_bzero(p, sizeof(*p));
}

int sasl_login_decode(const char *b64, size_t len, char *out, size_t outlen)
{
	if (outlen == 0)
		return SASL_ETOOLONG;
	size_t max = outlen - 1 < SASL_FIELD_MAX ? outlen - 1 : SASL_FIELD_MAX;
	size_t vlen = 0;
	int r = sasl_decode(b64, len, out, max, &vlen);
	if (r == SASL_OK && vlen == 0)
		r = SASL_ESYNTAX;
	if (r == SASL_OK && memchr(out, '\0', vlen) != NULL)
		r = SASL_ESYNTAX;
	if (r != SASL_OK) {
		explicit_bzero(out, outlen);
		return r;
	}
	out[vlen] = '\0';
	return SASL_OK;
}

int sasl_is_cancel(const char *line, size_t len)
{
	return len == 1 && line[0] == '*';
}
