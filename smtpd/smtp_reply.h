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
 * The helper also keeps the session's error policy:
 *   - every 5xx counts as an error of the client;
 *   - beyond SMTP_ERROR_SOFT_LIMIT errors, each error reply is delayed by
 *     SMTP_ERROR_DELAY_MS (a failed AUTH is delayed by its client
 *     address's delay, common/authlimit.h, see smtp_reply_delay_next);
 *   - at SMTP_ERROR_HARD_LIMIT errors, "421 4.7.0 Error: too many errors"
 *     follows the error reply and the connection is closed;
 *   - 221 and 421 always close the connection after they are written.
 * A delayed reply pauses input (conn_after) and is written by the timer;
 * smtp_session_command_done() then knows not to resume input early.
 */
#ifndef SMTP_REPLY_H
#define SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

/* Postfix's defaults (smtpd_soft_error_limit, smtpd_hard_error_limit), with a shorter delay. */
#define SMTP_ERROR_SOFT_LIMIT 10
#define SMTP_ERROR_HARD_LIMIT 20
#define SMTP_ERROR_DELAY_MS 250

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including CRLF. */
#define SMTP_REPLY_LINE_MAX 512

struct smtp_reply_state {
	unsigned errors;          /* 5xx replies so far on this connection */
	unsigned delay_next_ms;   /* the next error reply waits at least this long */
	bool closing;             /* a closing reply was sent or is pending */
	bool delayed;             /* `pending` waits for the conn_after timer */
	size_t pending_len;
	char pending[2 * SMTP_REPLY_LINE_MAX]; /* the delayed reply (plus a 421) */
};

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

/*
 * Closes the connection once the reply just sent (possibly delayed) is
 * written: for errors after which the input cannot be trusted to be in
 * step (a BDAT whose chunk size is unreadable). The session stays valid
 * until the close callback.
 */
void smtp_reply_close_after(struct smtp_session *s);

/* Makes the next reply wait at least `ms` milliseconds (failed AUTH, error or 421). */
void smtp_reply_delay_next(struct smtp_session *s, unsigned ms);

/* True when a delayed reply is waiting or the connection is closing: do not resume input. */
bool smtp_reply_blocked(const struct smtp_session *s);

#endif
