/*
 * smtp_header_model.h - the rules of smtpd/smtp_header.h in their plainest
 * form, on a whole message at once, for test_smtp_header.c and
 * fuzz_smtp_header.c to compare the streaming filter against. Test code
 * only.
 *
 * Split the message into lines at LF (the last may have none). From the
 * top: a line starting with SP or HTAB after a field continues it; a line
 * of ftext octets, then WSP octets (at most SMTP_HEADER_HOLD_MAX of both),
 * then ':' is a field; anything else is the first body line. Drop the
 * fields the flags say, with their continuations; add the missing Date and
 * Message-ID where the body starts (or at the end, after a line end if
 * the last kept line has none); put an empty line
 * before a body whose first line is not empty; copy the body.
 */
#ifndef MAIL_SMTP_HEADER_MODEL_H
#define MAIL_SMTP_HEADER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp_header.h"

struct smtp_header_model {
	char *out;       /* caller's buffer: input + both added fields fit */
	size_t out_cap;
	size_t out_len;
	unsigned received, dropped;
	bool has_date, has_message_id;
};

static inline void smtp_header_model__append(struct smtp_header_model *m, const char *p, size_t n)
{
	if (m->out_len + n > m->out_cap)
		abort(); /* the caller's buffer is too small: a bug in the test */
	memcpy(m->out + m->out_len, p, n);
	m->out_len += n;
}

static inline bool smtp_header_model__is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

static inline void smtp_header_model_run(struct smtp_header_model *m, unsigned flags,
                                         const char *date, const char *message_id,
                                         const char *in, size_t len)
{
	size_t pos = 0;
	bool in_field = false, dropping = false;
	const char *open = NULL; /* the last kept line, when it has no LF */

	m->out_len = 0;
	m->received = m->dropped = 0;
	m->has_date = m->has_message_id = false;
	while (pos < len) {
		const char *line = in + pos;
		const char *lf = memchr(line, '\n', len - pos);
		size_t n = lf != NULL ? (size_t)(lf - line) + 1 : len - pos;

		if ((line[0] == ' ' || line[0] == '\t') && in_field) {
			if (!dropping) {
				smtp_header_model__append(m, line, n);
				open = lf == NULL ? line + n - 1 : NULL;
			}
			pos += n;
			continue;
		}
		size_t name = 0;
		while (name < n && (unsigned char)line[name] >= 33 && (unsigned char)line[name] <= 126 &&
		       line[name] != ':')
			name++;
		size_t colon = name;
		while (colon < n && (line[colon] == ' ' || line[colon] == '\t'))
			colon++;
		if (name == 0 || colon >= n || line[colon] != ':' || colon > SMTP_HEADER_HOLD_MAX)
			break;
		in_field = true;
		dropping = smtp_header_model__is(line, name, "Return-Path") ||
		           ((flags & SMTP_HEADER_DROP_BCC) &&
		            (smtp_header_model__is(line, name, "Bcc") ||
		             smtp_header_model__is(line, name, "Resent-Bcc")));
		if (smtp_header_model__is(line, name, "Received"))
			m->received++;
		if (smtp_header_model__is(line, name, "Date"))
			m->has_date = true;
		if (smtp_header_model__is(line, name, "Message-ID"))
			m->has_message_id = true;
		if (dropping) {
			m->dropped++;
		} else {
			smtp_header_model__append(m, line, n);
			open = lf == NULL ? line + n - 1 : NULL;
		}
		pos += n;
	}
	if ((flags & SMTP_HEADER_ADD_MISSING) &&
	    ((!m->has_date && date != NULL) || (!m->has_message_id && message_id != NULL))) {
		/* The last kept field has no line end (only at the end): end it. */
		if (open != NULL)
			smtp_header_model__append(m, *open == '\r' ? "\n" : "\r\n", *open == '\r' ? 1 : 2);
		if (!m->has_date && date != NULL)
			smtp_header_model__append(m, date, strlen(date));
		if (!m->has_message_id && message_id != NULL)
			smtp_header_model__append(m, message_id, strlen(message_id));
	}
	/* The body does not start with the empty line (CR or LF, as the filter
	 * sees its first octet): put one before it. */
	if (pos < len && in[pos] != '\n' && in[pos] != '\r')
		smtp_header_model__append(m, "\r\n", 2);
	smtp_header_model__append(m, in + pos, len - pos);
}

#endif
