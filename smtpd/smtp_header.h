/*
 * smtp_header.h - the header section of a message (RFC 5322 2.2, 3.6) on
 * its way into the store: a streaming filter between the receiver
 * (smtp_data.h), whose stored form it reads, and the delivery.
 *
 * In the header section only:
 * - Return-Path fields are dropped (RFC 5321 4.4: only the final delivery
 *   adds one; smtpd's own, written before the message, does not pass
 *   through the filter). A forged one would otherwise sit under ours.
 * - With SMTP_HEADER_DROP_BCC, Bcc and Resent-Bcc fields are dropped
 *   (RFC 5322 3.6.3: blind recipients must not be shown to the others),
 *   as Postfix does for submitted mail.
 * - Received fields are counted (RFC 5321 6.3: a message that has passed
 *   too many hops is in a loop).
 * - With SMTP_HEADER_ADD_MISSING, a missing Date and a missing Message-ID
 *   are added (RFC 6409 8.2, 8.3) at the end of the header section.
 * Field names compare without regard to case. A field is its first line
 * and every continuation line after it (starting with SP or HTAB, RFC 5322
 * 2.2.3); a dropped field loses all of them.
 *
 * The header section ends at the first line that is neither a field
 * ("name:" with a name of printable ASCII, or the obsolete "name WSP* :",
 * RFC 5322 3.6.8, 4.5) nor a continuation: normally the empty line, else
 * the first body line of a message without one, before which an empty
 * line is put (as Postfix does), so that no reader takes what follows for
 * fields. Added fields go right before that line, or at the end of a
 * message that has no body (after a line end, supplied when the last
 * kept line lacks one). From that line on every octet
 * passes through untouched and unexamined: the body costs one call.
 *
 * Input: any octets (a line ends at LF); in practice the stored form,
 * CRLF lines. Memory: none allocated; the filter holds back the start of
 * one line, until its colon shows whether it is a field and which, at
 * most SMTP_HEADER_HOLD_MAX octets: a line with no colon within them is
 * not a field. Pure: no I/O, no clock.
 */
#ifndef SMTP_HEADER_H
#define SMTP_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5322 2.1.1: a line is at most 998 characters, so is a field name and its colon. */
#define SMTP_HEADER_HOLD_MAX 998

#define SMTP_HEADER_DROP_BCC    0x1 /* drop Bcc and Resent-Bcc */
#define SMTP_HEADER_ADD_MISSING 0x2 /* add Date and Message-ID when missing */

/* Receives output; `buf` is valid only during the call; len > 0. */
typedef void smtp_header_emit_cb(void *ctx, const char *buf, size_t len);

struct smtp_header {
	/* Results: read them, never write them. */
	unsigned received;       /* Received fields seen */
	unsigned dropped;        /* fields dropped */
	bool has_date;           /* a Date field was seen */
	bool has_message_id;     /* a Message-ID field was seen */
	bool in_body;            /* the header section has ended */

	/* Private to smtp_header.c. */
	struct {
		int state;
		unsigned flags;
		bool in_field;     /* a field has started: a WSP line continues it */
		bool dropping;     /* ... and it is being dropped */
		char last;         /* the last octet passed in ST_PASS */
		const char *date;  /* the fields to add, CRLF-terminated (caller's storage) */
		const char *message_id;
		smtp_header_emit_cb *emit;
		void *ctx;
		size_t held;
		char hold[SMTP_HEADER_HOLD_MAX];
	} priv;
};

/*
 * Starts a filter. With SMTP_HEADER_ADD_MISSING, date and message_id are
 * the complete fields to add ("Date: ...\r\n", "Message-ID: <...>\r\n"),
 * owned by the caller, valid until smtp_header_finish; else both may be
 * NULL.
 */
void smtp_header_init(struct smtp_header *h, unsigned flags, const char *date,
                      const char *message_id, smtp_header_emit_cb *emit, void *ctx);

/* Filters len octets; everything is consumed (some may be held back). */
void smtp_header_feed(struct smtp_header *h, const char *buf, size_t len);

/*
 * The message is complete: ends the header section if it has not ended
 * (adding the missing fields) and emits what is held back. Once only.
 */
void smtp_header_finish(struct smtp_header *h);

#endif
