/* smtp_dsn.c - building delivery status notifications; see smtp_dsn.h. */
#include "smtp_dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_received.h"

/* RFC 5322 2.1.1: a line is at most 998 octets; quoted remote text is cut well before. */
#define DSN_LINE_MAX 998
#define DSN_QUOTE_MAX 600 /* with a 253-octet host name, a line stays under 998 */

struct buf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *data = realloc(b->data, cap);
		if (data == NULL) {
			b->failed = true;
			return;
		}
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void put_str(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char line[DSN_LINE_MAX + 3];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/*
 * Text from elsewhere (a remote reply) made fit for one header or body
 * line: controls become '?', and it is cut at DSN_QUOTE_MAX octets.
 */
static void quote(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *in != '\0' && n + 1 < outlen && n < DSN_QUOTE_MAX; in++) {
		unsigned char c = (unsigned char)*in;
		out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
}

static bool ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

/* RFC 6533 3: non-ASCII addresses and headers need the "global" forms. */
static bool needs_utf8(const struct smtp_dsn *d)
{
	if (!ascii(d->sender, strlen(d->sender)))
		return true;
	for (size_t i = 0; i < d->rcpt_count; i++) {
		if (!ascii(d->rcpts[i].address, strlen(d->rcpts[i].address)))
			return true;
	}
	return d->headers != NULL && !ascii(d->headers, d->headers_len);
}

/* RFC 3461 4: xtext decoded for display ("a+2Bb" is "a+b"); bytes that
 * would break the line become '?'. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void xtext_decode(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; in[i] != '\0' && o + 1 < outlen; i++) {
		char c = in[i];
		int hi, lo;
		if (c == '+' && (hi = hex_value(in[i + 1])) >= 0 && (lo = hex_value(in[i + 2])) >= 0) {
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		out[o++] = (unsigned char)c < 0x20 || c == 0x7f ? '?' : c;
	}
	out[o] = '\0';
}

static const char *action_of(const struct smtp_dsn_recipient *r)
{
	return r->failed ? "failed" : r->relayed ? "relayed" : r->delivered ? "delivered" : "delayed";
}

/* A diagnostic that is an SMTP reply (three digits and a space or end) is typed "smtp". */
static bool is_smtp_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
	       s[2] <= '9' && (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

static void human_part(struct buf *b, const struct smtp_dsn *d, bool any_failed, bool all_relayed)
{
	char until[64], text[DSN_QUOTE_MAX + 1];

	putf(b, "This is the mail system at %s.\r\n\r\n", d->reporting_mta);
	if (all_relayed) {
		put_str(b, "Your message was delivered to the recipients below (or to their "
		        "servers), as you asked to be told.\r\n");
	} else if (any_failed) {
		put_str(b, "Your message could not be delivered to one or more recipients.\r\n");
		put_str(b, d->message != NULL ? "It is attached below.\r\n"
		                              : "It is attached below (its header section only).\r\n");
	} else {
		smtp_received_date(d->retry_until, until, sizeof(until));
		put_str(b, "Your message has not been delivered yet to one or more recipients.\r\n");
		putf(b, "Delivery will be tried again until %s.\r\n", until);
		put_str(b, "You do not need to send it again.\r\n");
	}
	put_str(b, "\r\n");
	for (size_t i = 0; i < d->rcpt_count; i++) {
		const struct smtp_dsn_recipient *r = &d->rcpts[i];

		putf(b, "<%s>: %s\r\n", r->address, action_of(r));
		if (r->diagnostic == NULL)
			continue;
		quote(r->diagnostic, text, sizeof(text));
		if (r->remote_mta != NULL)
			putf(b, "    host %s said: %s\r\n", r->remote_mta, text);
		else
			putf(b, "    %s\r\n", text);
	}
}

static void status_part(struct buf *b, const struct smtp_dsn *d, bool utf8)
{
	const char *type = utf8 ? "utf-8" : "rfc822";
	char date[64], text[DSN_QUOTE_MAX + 1];

	/* RFC 3464 2.2: the per-message fields, then one block per recipient. */
	if (d->envid != NULL && d->envid[0] != '\0') {
		xtext_decode(d->envid, text, sizeof(text));
		putf(b, "Original-Envelope-Id: %s\r\n", text);
	}
	putf(b, "Reporting-MTA: dns; %s\r\n", d->reporting_mta);
	if (d->queue_id != NULL)
		putf(b, "X-Mail-Queue-ID: %s\r\n", d->queue_id);
	putf(b, "X-Mail-Sender: %s; %s\r\n", type, d->sender);
	smtp_received_date(d->arrival, date, sizeof(date));
	putf(b, "Arrival-Date: %s\r\n", date);
	for (size_t i = 0; i < d->rcpt_count; i++) {
		const struct smtp_dsn_recipient *r = &d->rcpts[i];

		put_str(b, "\r\n");
		if (r->orcpt != NULL && r->orcpt[0] != '\0') {
			xtext_decode(r->orcpt, text, sizeof(text));
			putf(b, "Original-Recipient: %s\r\n", text);
		}
		putf(b, "Final-Recipient: %s; %s\r\n", type, r->address);
		putf(b, "Action: %s\r\n", action_of(r));
		putf(b, "Status: %s\r\n", r->status);
		if (r->remote_mta != NULL)
			putf(b, "Remote-MTA: dns; %s\r\n", r->remote_mta);
		if (r->diagnostic != NULL) {
			quote(r->diagnostic, text, sizeof(text));
			putf(b, "Diagnostic-Code: %s; %s\r\n", is_smtp_reply(text) ? "smtp" : "X-mail",
			     text);
		}
		if (r->last_attempt != 0) {
			smtp_received_date(r->last_attempt, date, sizeof(date));
			putf(b, "Last-Attempt-Date: %s\r\n", date);
		}
		if (!r->failed && !r->relayed && !r->delivered) {
			smtp_received_date(d->retry_until, date, sizeof(date));
			putf(b, "Will-Retry-Until: %s\r\n", date);
		}
	}
}

/* The original header section, one CRLF line at a time, each cut to the line limit. */
static void headers_part(struct buf *b, const char *h, size_t len)
{
	while (len > 0) {
		const char *lf = memchr(h, '\n', len);
		size_t line = lf != NULL ? (size_t)(lf - h) : len;
		size_t next = lf != NULL ? line + 1 : len;

		if (line > 0 && h[line - 1] == '\r')
			line--;
		if (line == 0)
			break; /* the blank line that ends the header section */
		put(b, h, line > DSN_LINE_MAX ? DSN_LINE_MAX : line);
		put_str(b, "\r\n");
		h += next;
		len -= next;
	}
}

int smtp_dsn_build(const struct smtp_dsn *d, char **out_r, size_t *len_r)
{
	struct buf b = { 0 };
	bool any_failed = false, all_relayed = true, utf8 = needs_utf8(d);
	char date[64];

	*out_r = NULL;
	*len_r = 0;
	if (d->sender == NULL || d->sender[0] == '\0' || d->rcpt_count == 0)
		return -1;
	for (size_t i = 0; i < d->rcpt_count; i++) {
		any_failed = any_failed || d->rcpts[i].failed;
		all_relayed = all_relayed && (d->rcpts[i].relayed || d->rcpts[i].delivered) &&
		              !d->rcpts[i].failed;
	}

	smtp_received_date(d->now, date, sizeof(date));
	putf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", d->reporting_mta);
	putf(&b, "To: <%s>\r\n", d->sender);
	putf(&b, "Subject: %s\r\n", all_relayed  ? "Successful Mail Delivery Report"
	                             : any_failed ? "Undelivered Mail Returned to Sender"
	                                          : "Delayed Mail (still being retried)");
	putf(&b, "Date: %s\r\n", date);
	putf(&b, "Message-ID: <%s.dsn@%s>\r\n", d->token, d->reporting_mta);
	/* RFC 3834 5: an automatic reply, so no auto-responder answers it. */
	put_str(&b, "Auto-Submitted: auto-replied\r\n");
	put_str(&b, "MIME-Version: 1.0\r\n");
	putf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	     "\tboundary=\"dsn-%s\"\r\n", d->token);
	put_str(&b, "\r\n");
	put_str(&b, "This is a MIME-encapsulated message.\r\n\r\n");

	putf(&b, "--dsn-%s\r\n", d->token);
	putf(&b, "Content-Type: text/plain; charset=%s\r\n\r\n", utf8 ? "utf-8" : "us-ascii");
	human_part(&b, d, any_failed, all_relayed);

	putf(&b, "\r\n--dsn-%s\r\n", d->token);
	putf(&b, "Content-Type: message/%sdelivery-status\r\n\r\n", utf8 ? "global-" : "");
	status_part(&b, d, utf8);

	if (d->message != NULL) {
		/* RFC 3462 (RFC 6522) 3: the returned message as a message/rfc822
		 * part, its lines as stored (CRLF, each within the line limit). */
		putf(&b, "\r\n--dsn-%s\r\n", d->token);
		putf(&b, "Content-Type: message/%s\r\n\r\n",
		     utf8 || !ascii(d->message, d->message_len) ? "global" : "rfc822");
		put(&b, d->message, d->message_len);
		if (d->message_len < 2 || memcmp(d->message + d->message_len - 2, "\r\n", 2) != 0)
			put_str(&b, "\r\n");
	} else if (d->headers != NULL) {
		putf(&b, "\r\n--dsn-%s\r\n", d->token);
		putf(&b, "Content-Type: %s\r\n\r\n", utf8 ? "message/global-headers"
		                                        : "text/rfc822-headers");
		headers_part(&b, d->headers, d->headers_len);
	}
	putf(&b, "\r\n--dsn-%s--\r\n", d->token);
	if (b.failed) {
		free(b.data);
		return -1;
	}
	*out_r = b.data;
	*len_r = b.len;
	return 0;
}
