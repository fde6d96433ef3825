/*
 * smtp_outbody.h - a stored message as it goes out in DATA: our own
 * Return-Path: removed from the header section (RFC 5321 4.4: it is added
 * at final delivery, and a relay must not pass ours on), every line that
 * starts with "." doubled (RFC 5321 4.5.2 transparency), a CRLF added if
 * the body does not end with one, and the final ".\r\n". Pure: bytes in,
 * bytes out, split anywhere.
 *
 * The stored body is already CRLF-only (smtpd normalised it on the way
 * in), so no bare CR or LF needs fixing here.
 */
#ifndef SMTP_OUTBODY_H
#define SMTP_OUTBODY_H

#include <stdbool.h>
#include <stddef.h>

struct smtp_outbody {
	bool line_start;  /* the next byte starts a line */
	bool in_header;   /* still in the header section */
	bool dropping;    /* inside a Return-Path: field (and its continuation lines) */
	size_t name_len;  /* octets of the current header line seen, while deciding */
	char name[12];    /* their first octets: "return-path:" is 12 */
	bool any;         /* some octet was written */
	bool ended_crlf;  /* the last octets written were CRLF */
	bool ended_crlf_half; /* the last octet written was CR */
};

void smtp_outbody_init(struct smtp_outbody *o);

/* The most octets smtp_outbody_feed writes for `len` in (each line may gain a dot). */
size_t smtp_outbody_max(size_t len);

/* Transforms in[0..len) into out (at least smtp_outbody_max(len) octets); returns octets written. */
size_t smtp_outbody_feed(struct smtp_outbody *o, const char *in, size_t len, char *out);

/* The end of data: a held header name, a CRLF when needed and ".\r\n", into out (at least
 * RETURN_PATH_LEN + 5 = 17 octets); returns octets. */
#define SMTP_OUTBODY_END_MAX 17
size_t smtp_outbody_end(struct smtp_outbody *o, char *out);

#endif
