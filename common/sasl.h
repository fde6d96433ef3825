/*
 * sasl.h - decoders for the SASL mechanisms PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), shared by SMTP AUTH (RFC 4954) and POP3
 * AUTH (RFC 5034).
 *
 * Pure functions: no I/O, no allocation, no state. The session owns the
 * exchange (challenges, cancel, retries); these only turn one base64 client
 * response into fields, in caller-owned buffers. Decoded passwords live
 * only there: clear them with sasl_plain_clear() / explicit_bzero() once
 * the hash check is done. Temporary copies made here are cleared before
 * returning.
 */
#ifndef MAIL_SASL_H
#define MAIL_SASL_H

#include <stddef.h>

/* RFC 4616 2: authzid, authcid and passwd are each at most 255 octets. */
#define SASL_FIELD_MAX 255

/* The fixed LOGIN server challenges: base64 of "Username:" and "Password:". */
#define SASL_LOGIN_CHALLENGE_USERNAME "VXNlcm5hbWU6"
#define SASL_LOGIN_CHALLENGE_PASSWORD "UGFzc3dvcmQ6"

/*
 * Results. Sessions map SASL_EBASE64 to "501 5.5.2 Cannot decode response"
 * (RFC 4954 4) / "-ERR" and the others to an authentication failure.
 */
enum sasl_result {
	SASL_OK = 0,
	SASL_EBASE64 = -1,  /* not strict base64 (RFC 4648) */
	SASL_ESYNTAX = -2,  /* wrong structure: NUL count, empty field, NUL inside */
	SASL_ETOOLONG = -3, /* a field is longer than SASL_FIELD_MAX */
};

/* A static description of a sasl_result, for logs. */
const char *sasl_strerror(int result);

/* A decoded PLAIN response; every field is NUL-terminated. */
struct sasl_plain {
	char authzid[SASL_FIELD_MAX + 1]; /* may be empty: act as authcid */
	char authcid[SASL_FIELD_MAX + 1]; /* the login name, never empty */
	char passwd[SASL_FIELD_MAX + 1];  /* never empty */
};

/*
 * Decodes a PLAIN response: base64 of [authzid] NUL authcid NUL passwd
 * (RFC 4616 2). A lone "=" is the empty response (RFC 4954 4), which PLAIN
 * rejects as SASL_ESYNTAX. Returns SASL_OK or a negative sasl_result; on
 * error *out_r is cleared.
 */
int sasl_plain_decode(const char *b64, size_t len, struct sasl_plain *out_r);

/*
 * Returns 1 when authzid is empty or equal to authcid without regard to
 * ASCII case (login names are addresses), 0 otherwise. We do not let one
 * user act as another, so a session rejects the login when this returns 0
 * (RFC 4616 2: the server decides).
 */
int sasl_plain_authzid_ok(const struct sasl_plain *p);

/* Overwrites every field of *p with zeros (explicit_bzero). */
void sasl_plain_clear(struct sasl_plain *p);

/*
 * Decodes one LOGIN response (the username or the password) into out, a
 * caller buffer of outlen bytes (SASL_FIELD_MAX + 1 holds every valid
 * value), NUL-terminated. The value must be non-empty, contain no NUL and
 * be at most min(SASL_FIELD_MAX, outlen - 1) octets. Returns SASL_OK or a
 * negative sasl_result; on error out is cleared.
 */
int sasl_login_decode(const char *b64, size_t len, char *out, size_t outlen);

/* Returns 1 when a client response line is "*", cancelling the exchange (RFC 4954 4, RFC 5034 4). */
int sasl_is_cancel(const char *line, size_t len);

#endif
