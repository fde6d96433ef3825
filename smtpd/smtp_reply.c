/* smtp_reply.c - formatting, error counting, delays and hang-ups; see smtp_reply.h. */
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
static size_t reply__format(char *out, int code, char sep, const char *esc, const char *fmt,
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

static void reply__flush_pending_cb(conn_t *conn)
{
	struct smtp_session *s = conn_data(conn);
	struct smtp_reply_state *r = &s->reply;

	conn_write(conn, r->pending, r->pending_len);
	r->pending_len = 0;
	r->delayed = false;
	if (r->closing) {
		conn_close(conn);
		return;
	}
	smtp_session_command_done(s);
}

void smtp_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	struct smtp_reply_state *r = &s->reply;
	char line[SMTP_REPLY_LINE_MAX + 1];
	va_list ap;
	size_t len;
	unsigned delay = 0;

	if (r->closing)
		return;
	va_start(ap, fmt);
	len = reply__format(line, code, ' ', s->esmtp ? esc : NULL, fmt, ap);
	va_end(ap);
	log_debug(s->id, "reply", "code=%d", code);

	memcpy(r->pending, line, len);
	r->pending_len = len;
	if (code == 221 || code == 421)
		r->closing = true;
	if (code >= 500) {
		r->errors++;
		if (r->errors > SMTP_ERROR_SOFT_LIMIT)
			delay = SMTP_ERROR_DELAY_MS;
		if (r->errors >= SMTP_ERROR_HARD_LIMIT) {
			const char *text = "Error: too many errors";
			int n = snprintf(r->pending + len, sizeof(r->pending) - len,
			                 s->esmtp ? "421 4.7.0 %s %s\r\n" : "421 %s %s\r\n",
			                 s->env->cfg->hostname, text);

			if (n > 0 && (size_t)n < sizeof(r->pending) - len)
				r->pending_len += (size_t)n;
			r->closing = true;
			smtp_session_reject(s, SMTP_REJECT_TOO_MANY_ERRORS);
			log_info(s->id, "hangup", "reason=too_many_errors errors=%u", r->errors);
		}
	}
	if (r->delay_next_ms > delay)
		delay = r->delay_next_ms;
	r->delay_next_ms = 0;
	if (delay > 0) {
		r->delayed = true;
		conn_after(s->conn, delay, reply__flush_pending_cb);
		return;
	}
	conn_write(s->conn, r->pending, r->pending_len);
	r->pending_len = 0;
	if (r->closing)
		conn_close(s->conn);
}

void smtp_reply_more(struct smtp_session *s, int code, const char *fmt, ...)
{
	char line[SMTP_REPLY_LINE_MAX + 1];
	va_list ap;

	if (s->reply.closing)
		return;
	va_start(ap, fmt);
	size_t len = reply__format(line, code, '-', NULL, fmt, ap);
	va_end(ap);
	conn_write(s->conn, line, len);
}

void smtp_reply_close_after(struct smtp_session *s)
{
	struct smtp_reply_state *r = &s->reply;

	if (r->delayed) {
		r->closing = true; /* the timer writes the reply, then closes */
		return;
	}
	if (!r->closing) {
		r->closing = true;
		conn_close(s->conn);
	}
}

void smtp_reply_delay_next(struct smtp_session *s, unsigned ms)
{
	s->reply.delay_next_ms = ms;
}

bool smtp_reply_blocked(const struct smtp_session *s)
{
	return s->reply.delayed || s->reply.closing;
}
