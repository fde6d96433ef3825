/*
 * smtp_refusal.h - every reply with which smtpd refuses a command or a
 * message, from one table (as smtp_parse_error() does for the parser's
 * results): a handler names the refusal by id, and the table gives the
 * reply code, the RFC 3463 enhanced status code, the text and the reason
 * it is counted under (smtp_metrics.h). One mistake thus always gets the
 * same reply, wherever it is caught, and the replies can be read, and
 * checked, in one place.
 *
 * Most texts are fixed. A few quote one value (the recipient address, our
 * host name): their text holds exactly one "%s", the table says what goes
 * there, and smtp_session_refuse_quote() fills it in (the text is never
 * used as a format). No other text holds a '%'. Texts never hold CR or
 * LF: smtp_reply() adds the line end.
 *
 * Parse errors keep their own table (smtp_parse.h): the parser is pure and
 * knows nothing of sessions or metrics.
 */
#ifndef SMTP_REFUSAL_H
#define SMTP_REFUSAL_H

#include "smtp_metrics.h"

/* A refusal. Static storage: from the table. */
struct smtp_refusal {
	int code;                /* RFC 5321 reply code, 4xx or 5xx */
	const char *esc;         /* RFC 3463 enhanced status code of the same class */
	const char *text;        /* the human text, without CRLF; at most one "%s" */
	enum smtp_reject reason; /* counted under (smtp_metrics.h) */
};

enum smtp_refusal_id {
	/* Command order (RFC 5321 4.1.4, RFC 3030 2, RFC 3207 4.2). */
	SMTP_REFUSAL_NEED_HELO,
	SMTP_REFUSAL_NEED_MAIL,
	SMTP_REFUSAL_NEED_RCPT,
	SMTP_REFUSAL_NO_VALID_RCPTS,
	SMTP_REFUSAL_NESTED_MAIL,
	SMTP_REFUSAL_RCPT_AFTER_BDAT,
	SMTP_REFUSAL_DATA_AFTER_BDAT,
	SMTP_REFUSAL_BDAT_AFTER_DATA,
	SMTP_REFUSAL_TLS_ACTIVE,
	SMTP_REFUSAL_TXN_IN_PROGRESS,
	SMTP_REFUSAL_NOT_IMPLEMENTED,
	/* Policy. */
	SMTP_REFUSAL_AUTH_REQUIRED,
	SMTP_REFUSAL_NULL_SENDER,
	SMTP_REFUSAL_SENDER_NOT_OWNED,
	SMTP_REFUSAL_RELAY_DENIED,
	SMTP_REFUSAL_TOO_MANY_RCPTS,
	/* AUTH (RFC 4954). */
	SMTP_REFUSAL_AUTH_NOT_ENABLED,
	SMTP_REFUSAL_AUTH_NEEDS_TLS,
	SMTP_REFUSAL_AUTH_ALREADY,
	SMTP_REFUSAL_AUTH_MECHANISM,
	SMTP_REFUSAL_AUTH_UNDECODABLE,
	SMTP_REFUSAL_AUTH_CANCELLED,
	SMTP_REFUSAL_AUTH_FAILED,
	SMTP_REFUSAL_AUTH_TOO_MANY_FAILURES,
	SMTP_REFUSAL_AUTH_LOCKED_OUT,
	SMTP_REFUSAL_AUTH_TEMPFAIL,
	/* Recipients (the lookup's outcome). */
	SMTP_REFUSAL_RCPT_UNKNOWN,
	SMTP_REFUSAL_RCPT_ALIAS_LOOP,
	SMTP_REFUSAL_RCPT_MAILBOX_FULL,
	SMTP_REFUSAL_RCPT_NO_ROOM,
	SMTP_REFUSAL_RCPT_OVER_QUOTA,
	SMTP_REFUSAL_RCPT_LOOKUP_FAILED,
	/* The message. */
	SMTP_REFUSAL_MESSAGE_TOO_BIG,
	SMTP_REFUSAL_TOO_MANY_HOPS,
	SMTP_REFUSAL_MAILBOX_FULL,
	SMTP_REFUSAL_OVER_QUOTA,
	/* Input that cannot be trusted, our own failures, the connection. */
	SMTP_REFUSAL_BARE_LF,
	SMTP_REFUSAL_AUTH_LINE_TOO_LONG,
	SMTP_REFUSAL_LOCAL_ERROR,
	SMTP_REFUSAL_TIMEOUT,
	SMTP_REFUSAL_COUNT
};

/* The table's entry for `id` (< SMTP_REFUSAL_COUNT). Static storage. */
const struct smtp_refusal *smtp_refusal(enum smtp_refusal_id id);

#endif
