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
 * used SMTPUTF8). The login is named only when the operator asks for it
 * (received_auth_header): on a role address it would tell the recipients
 * who is behind it. The id is the queue id (smtp_queueid.h).
 *
 * Also the Date and Message-ID fields smtpd adds to submitted mail that
 * lacks them (RFC 6409 8.2, 8.3; smtp_header.h adds them).
 *
 * Pure formatting: no I/O, no clock reading, no randomness of its own.
 */
#ifndef SMTP_RECEIVED_H
#define SMTP_RECEIVED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
	bool authenticated;      /* AUTH succeeded: "with ...A" */
	const char *auth_user;   /* the login to name in a comment, or NULL */
	const char *id;          /* the transaction id */
	const char *rcpt;        /* the only recipient, or NULL when there are several */
	time_t when;
};

/* An RFC 5322 3.3 date-time in UTC ("Sat, 5 Dec 2026 08:53:27 +0000"); 40 octets suffice. */
void smtp_received_date(time_t when, char *out, size_t outlen);

/* The "with" protocol name for these flags ("ESMTPSA"). Static storage. */
const char *smtp_received_protocol(bool esmtp, bool smtputf8, bool tls, bool auth);

/*
 * Writes both header fields, CRLF-terminated, into out (outlen bytes,
 * SMTP_TRACE_MAX is always enough) and returns their length, or 0 if they
 * do not fit. Client-supplied text (helo) loses every byte that could
 * break the header's syntax; lines are folded with CRLF TAB.
 */
size_t smtp_received_format(const struct smtp_trace *t, char *out, size_t outlen);

/* Enough for either field below with a hostname of 255 octets. */
#define SMTP_FIELD_MAX 384

/* "Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n" (RFC 5322 3.3, in UTC). */
size_t smtp_received_date_field(time_t when, char *out, size_t outlen);

/*
 * "Message-ID: <20261127090000.ID.RANDOM@HOSTNAME>\r\n" (RFC 5322 3.6.4):
 * the time, the queue id (unique in the store) and 64 random bits (unique
 * beyond it: another installation may share the host name) left of the
 * "@", the host name right of it with anything but letters, digits, '-'
 * and '.' replaced by '-'. Returns the length, or 0 if out is too small.
 */
size_t smtp_received_message_id_field(time_t when, const char *id, uint64_t random,
                                      const char *hostname, char *out, size_t outlen);

#endif
