/*
 * smtp_received.h - the trace header fields smtpd puts on top of every
 * accepted message: Return-Path (RFC 5321 4.4, final delivery) and
 * Received (RFC 5321 4.4 Stamp, RFC 5322 3.6.7), e.g.
 *
 *   Return-Path: <alice@example.test>
 *   Received: from client.example ([192.0.2.1])
 *   	by mx.example.test with ESMTPSA id 1f.1
 *   	(TLSv1.2 TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384)
 *   	(authenticated as alice@example.test)
 *   	for <bob@example.test>; Thu, 27 Nov 2026 09:00:00 +0000
 *
 * The "with" keyword follows RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA;
 * SMTP after HELO) and RFC 6531 3.7.3 (UTF8SMTP... when the transaction
 * used SMTPUTF8). Pure formatting: no I/O, no clock reading.
 */
#ifndef SMTP_RECEIVED_H
#define SMTP_RECEIVED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Enough for the two fields with every input at its maximum length. */
#define SMTP_TRACE_MAX 2048

struct smtp_trace {
	const char *sender;      /* reverse-path without brackets, "" for <> */
	const char *helo;        /* EHLO/HELO argument as sent */
	bool helo_valid;         /* it is a Domain or address-literal (else only quoted in a comment) */
	const char *peer_ip;     /* "192.0.2.1" or "2001:db8::1" */
	const char *hostname;    /* our name */
	bool esmtp;              /* EHLO rather than HELO */
	bool smtputf8;           /* MAIL ... SMTPUTF8 */
	const char *tls_version; /* NULL without TLS */
	const char *tls_cipher;  /* NULL without TLS */
	const char *auth_user;   /* NULL when not authenticated */
	const char *id;          /* the transaction id */
	const char *rcpt;        /* the only recipient, or NULL when there are several */
	time_t when;
};

/* The "with" protocol name for these flags ("ESMTPSA"). Static storage. */
const char *smtp_received_protocol(bool esmtp, bool smtputf8, bool tls, bool auth);

/*
 * Writes both header fields, CRLF-terminated, into out (outlen bytes,
 * SMTP_TRACE_MAX is always enough) and returns their length, or 0 if they
 * do not fit. Client-supplied text (helo) loses every byte that could
 * break the header's syntax; lines are folded with CRLF TAB.
 */
size_t smtp_received_format(const struct smtp_trace *t, char *out, size_t outlen);

#endif
