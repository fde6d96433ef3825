/*
 * smtp_dsn.h - the delivery status notification (a "bounce") that tells a
 * sender which recipients failed or are delayed: RFC 3464's
 * message/delivery-status inside RFC 6522's multipart/report, with a
 * human-readable first part and the original message's header section
 * last (text/rfc822-headers), as Postfix and every mainstream MTA send it.
 *
 * When any address or the original header section is not ASCII, the
 * report uses RFC 6533's forms (utf-8 address type,
 * message/global-delivery-status, message/global-headers), and must then
 * be delivered with SMTPUTF8.
 *
 * The report is sent from the null sender (RFC 5321 4.5.5), so a report
 * that fails can never cause another one; its caller must also never
 * report on a message whose own sender was null (smtp_dsn_build refuses).
 */
#ifndef SMTP_DSN_H
#define SMTP_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* One recipient's outcome. */
struct smtp_dsn_recipient {
	const char *address;    /* as the sender gave it (the queue row's recipient) */
	bool failed;            /* Action: failed; else delayed (a warning, still retried) */
	const char *status;     /* RFC 3463 status: "5.1.1", "4.4.1" */
	const char *remote_mta; /* the host that answered, or NULL */
	/* The remote reply ("550 5.1.1 no such user": an SMTP diagnostic), or
	 * our own reason ("no route to host"), or NULL. */
	const char *diagnostic;
	time_t last_attempt;    /* 0: never tried */
	/* Action: relayed (RFC 3464 2.3.3): delivered to a server that sends no
	 * notifications itself, for a sender who asked for success reports. */
	bool relayed;
	const char *orcpt;      /* RFC 3461 ORCPT as given ("rfc822;a+2Bb@x"), or NULL */
	bool delivered;         /* Action: delivered: stored in a local mailbox (RFC 3464 2.3.3) */
};

struct smtp_dsn {
	const char *reporting_mta; /* our host name */
	const char *sender;        /* the original envelope sender: the report's recipient */
	const char *queue_id;      /* the original message's queue id, for the operator */
	const char *token;         /* unique letters and digits: Message-ID and MIME boundary */
	time_t arrival;            /* when the original was accepted */
	time_t now;
	time_t retry_until;        /* delayed recipients: the last try (queue_lifetime) */
	const struct smtp_dsn_recipient *rcpts;
	size_t rcpt_count;         /* 1 or more */
	const char *headers;       /* the original header section (CRLF lines), or NULL */
	size_t headers_len;
	const char *envid;         /* RFC 3461 ENVID as given (xtext), or NULL */
	/* The whole original message (RFC 3461 RET=FULL), or NULL: then only
	 * its header section goes back. */
	const char *message;
	size_t message_len;
};

/*
 * Builds the whole report message (header and body, CRLF line ends, no
 * line over 998 octets) into a malloc'd *out_r of *len_r octets. Returns
 * 0, or -1 when the sender is null (never a bounce to <>), there is no
 * recipient, or memory runs out.
 */
int smtp_dsn_build(const struct smtp_dsn *dsn, char **out_r, size_t *len_r);

#endif
