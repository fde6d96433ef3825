/*
 * smtp_reply.h - every SMTP reply goes through here (Postfix's
 * smtpd_chat_reply is the model).
 *
 * smtp_reply() formats "CODE[ -]ESC TEXT\r\n", where the enhanced status
 * code ESC (RFC 3463) is written only once the client has said EHLO: RFC
 * 2034 ties ENHANCEDSTATUSCODES to the EHLO keyword, and a client that
 * said HELO (or nothing yet, or nothing since STARTTLS) gets plain RFC 821
 * style replies. Client bytes quoted in TEXT are made safe (controls
 * become '?') so a reply is always exactly one line, and the text is cut
 * to the RFC 5321 4.5.3.1.5 reply limit.
 *
 * Every 5xx counts against the session's error budget, and 221 and 421
 * close the connection after they are written; the session core
 * (common/session.h) keeps the budget: beyond soft_error_limit each
 * error reply is delayed, at hard_error_limit "421 4.7.0 Error: too many
 * errors" follows it and the connection closes. A failed AUTH delays its
 * reply with session_delay_next.
 */
#ifndef SMTP_REPLY_H
#define SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

struct session;

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including CRLF. */
#define SMTP_REPLY_LINE_MAX 512

struct smtp_session;

/*
 * Sends a final reply line. `esc` is "x.y.z" or NULL (no enhanced code,
 * e.g. for 354 and 334). `fmt` is the text, printf-style. May close the
 * connection (see above); the session stays valid until the close
 * callback.
 */
void smtp_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Sends a non-final line of a multi-line reply ("250-..."): never counted or delayed. */
void smtp_reply_more(struct smtp_session *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The reply that ends a session at the hard error limit (struct session_def). */
size_t smtp_reply_too_many_errors(struct session *core, char *buf, size_t cap);

#endif
