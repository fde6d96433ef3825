/* smtp_reply.c - formatting SMTP replies; the session core counts and delays them. */
#include "smtp_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "smtp_session_private.h"

/*
 * Formats one reply line into out (at most SMTP_REPLY_LINE_MAX octets with
 * CRLF) and returns its length. Bytes below 0x20 and DEL in the text
 * become '?': the text may quote client input, and a CR or LF there would
 * let a client forge reply lines.
 */
static size_t reply_format(char *out, int code, char sep, const char *esc, const char *fmt,
                           va_list ap)
{
	int n = snprintf(out, SMTP_REPLY_LINE_MAX, "%03d%c", code, sep);
	size_t len = (size_t)n;

	if (esc != NULL) {
		n = snprintf(out + len, SMTP_REPLY_LINE_MAX - len, "%s ", esc);
		len += (size_t)n;
	}
	size_t text = len;
	/* Leave room for the CRLF. */
	n = vsnprintf(out + len, SMTP_REPLY_LINE_MAX - 2 - len, fmt, ap);
	if (n < 0)
		n = 0;
	len += (size_t)n;
	if (len > SMTP_REPLY_LINE_MAX - 3)
		len = SMTP_REPLY_LINE_MAX - 3;
	for (size_t i = text; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f)
			out[i] = '?';
	}
	out[len++] = '\r';
	out[len++] = '\n';
	return len;
}

void smtp_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	char line[SMTP_REPLY_LINE_MAX + 1];
	va_list ap;
	size_t len;
	enum session_reply_kind kind = SESSION_REPLY_OK;

	if (s->core.closing)
		return;
	va_start(ap, fmt);
	len = reply_format(line, code, ' ', s->esmtp ? esc : NULL, fmt, ap);
	va_end(ap);
	log_debug(s->core.id, "reply", "code=%d", code);
	if (code == 221 || code == 421)
		kind = SESSION_REPLY_FINAL;
	else if (code >= 500)
		kind = SESSION_REPLY_ERROR;
	session_send(&s->core, line, len, kind);
}

void smtp_reply_more(struct smtp_session *s, int code, const char *fmt, ...)
{
	char line[SMTP_REPLY_LINE_MAX + 1];
	va_list ap;

	if (s->core.closing)
		return;
	va_start(ap, fmt);
	size_t len = reply_format(line, code, '-', NULL, fmt, ap);
	va_end(ap);
	conn_write(s->core.conn, line, len);
}

size_t smtp_reply_too_many_errors(struct session *core, char *buf, size_t cap)
{
	struct smtp_session *s = (struct smtp_session *)core;
	int n = snprintf(buf, cap, s->esmtp ? "421 4.7.0 %s %s\r\n" : "421 %s %s\r\n",
	                 s->env->cfg->hostname, "Error: too many errors");

	smtp_session_reject(s, SMTP_REJECT_TOO_MANY_ERRORS);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
