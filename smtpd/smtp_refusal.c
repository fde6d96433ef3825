/* smtp_refusal.c - the table of SMTP refusals; see smtp_refusal.h. */
#include "smtp_refusal.h"

#include <assert.h>

/*
 * Where a text holds "%s", its comment says what fills it: [address] is
 * the RCPT's recipient address as parsed (the domain in lower case),
 * [hostname] the config's hostname.
 */
static const struct smtp_refusal refusals[SMTP_REFUSAL_COUNT] = {
	/* ---- command order ---- */
	[SMTP_REFUSAL_NEED_HELO] =
		{ 503, "5.5.1", "Error: send HELO/EHLO first", SMTP_REJECT_SEQUENCE },
	[SMTP_REFUSAL_NEED_MAIL] =
		{ 503, "5.5.1", "Error: need MAIL command", SMTP_REJECT_SEQUENCE },
	[SMTP_REFUSAL_NEED_RCPT] =
		{ 503, "5.5.1", "Error: need RCPT command", SMTP_REJECT_SEQUENCE },
	/* RFC 2920 3.1: DATA after pipelined RCPTs that all failed. */
	[SMTP_REFUSAL_NO_VALID_RCPTS] =
		{ 554, "5.5.1", "Error: no valid recipients", SMTP_REJECT_SEQUENCE },
	[SMTP_REFUSAL_NESTED_MAIL] =
		{ 503, "5.5.1", "Error: nested MAIL command", SMTP_REJECT_SEQUENCE },
	/* RFC 3030 2: once BDAT has started the envelope is closed, and DATA
	 * and BDAT do not mix in one transaction. */
	[SMTP_REFUSAL_RCPT_AFTER_BDAT] =
		{ 503, "5.5.1", "Error: RCPT after BDAT", SMTP_REJECT_SEQUENCE },
	[SMTP_REFUSAL_DATA_AFTER_BDAT] =
		{ 503, "5.5.1", "Error: DATA after BDAT", SMTP_REJECT_SEQUENCE },
	[SMTP_REFUSAL_BDAT_AFTER_DATA] =
		{ 503, "5.5.1", "Error: BDAT after DATA", SMTP_REJECT_SEQUENCE },
	/* RFC 3207 4.2: STARTTLS is not offered again once TLS is on. */
	[SMTP_REFUSAL_TLS_ACTIVE] =
		{ 503, "5.5.1", "Error: TLS already active", SMTP_REJECT_SEQUENCE },
	/* STARTTLS inside a transaction. */
	[SMTP_REFUSAL_TXN_IN_PROGRESS] =
		{ 503, "5.5.1", "Error: MAIL transaction in progress", SMTP_REJECT_SEQUENCE },
	/* EXPN (RFC 5321 3.5.2 lets it be refused), STARTTLS without a certificate. */
	[SMTP_REFUSAL_NOT_IMPLEMENTED] =
		{ 502, "5.5.1", "Error: command not implemented", SMTP_REJECT_SYNTAX },

	/* ---- policy ---- */
	/* RFC 4954 6: the submission listeners want AUTH before MAIL. */
	[SMTP_REFUSAL_AUTH_REQUIRED] =
		{ 530, "5.7.0", "Authentication required", SMTP_REJECT_AUTH_REQUIRED },
	[SMTP_REFUSAL_NULL_SENDER] =
		{ 553, "5.7.1", "Error: null sender not allowed for authenticated users",
		  SMTP_REJECT_SENDER },
	[SMTP_REFUSAL_SENDER_NOT_OWNED] =
		{ 553, "5.7.1", "Error: sender address not owned by the authenticated user",
		  SMTP_REJECT_SENDER },
	/* [address]. RFC 5321 3.6.1: only a logged-in client may relay. */
	[SMTP_REFUSAL_RELAY_DENIED] =
		{ 554, "5.7.1", "<%s>: Relay access denied", SMTP_REJECT_RELAY },
	/* RFC 5321 4.5.3.1.10: 452, not 552, so the client sends the rest later. */
	[SMTP_REFUSAL_TOO_MANY_RCPTS] =
		{ 452, "4.5.3", "Error: too many recipients", SMTP_REJECT_RCPT_LIMIT },

	/* ---- AUTH (RFC 4954) ---- */
	/* The MX listener never offers AUTH (DESIGN.md). */
	[SMTP_REFUSAL_AUTH_NOT_ENABLED] =
		{ 503, "5.5.1", "Error: authentication not enabled", SMTP_REJECT_SEQUENCE },
	/* RFC 4954 4 and RFC 8314: no password over plaintext unless allowed. */
	[SMTP_REFUSAL_AUTH_NEEDS_TLS] =
		{ 538, "5.7.11", "Encryption required for requested authentication mechanism",
		  SMTP_REJECT_TLS_REQUIRED },
	/* RFC 4954 4: AUTH is not allowed once authenticated. */
	[SMTP_REFUSAL_AUTH_ALREADY] =
		{ 503, "5.5.1", "Error: already authenticated", SMTP_REJECT_SEQUENCE },
	[SMTP_REFUSAL_AUTH_MECHANISM] =
		{ 504, "5.5.4", "Error: unrecognized authentication type", SMTP_REJECT_SYNTAX },
	/* RFC 4954 4: a response that is not base64 ends the exchange with 501. */
	[SMTP_REFUSAL_AUTH_UNDECODABLE] =
		{ 501, "5.5.2", "Error: cannot decode response", SMTP_REJECT_SYNTAX },
	/* RFC 4954 4: "*" cancels the exchange with 501. */
	[SMTP_REFUSAL_AUTH_CANCELLED] =
		{ 501, "5.0.0", "Authentication cancelled", SMTP_REJECT_SYNTAX },
	/* RFC 4954 6: wrong credentials, an unknown or disabled user alike. */
	[SMTP_REFUSAL_AUTH_FAILED] =
		{ 535, "5.7.8", "Error: authentication credentials invalid", SMTP_REJECT_AUTH_FAILED },
	/* [hostname]. max_auth_failures on this connection: it closes. */
	[SMTP_REFUSAL_AUTH_TOO_MANY_FAILURES] =
		{ 421, "4.7.0", "%s Error: too many authentication failures",
		  SMTP_REJECT_AUTH_FAILED },
	/* The address used up auth_failure_budget (common/authlimit.h). */
	[SMTP_REFUSAL_AUTH_LOCKED_OUT] =
		{ 454, "4.7.0", "Error: too many failed logins from your address, try again later",
		  SMTP_REJECT_TEMPFAIL },
	/* RFC 4954 6: the store failed; the client may try again. */
	[SMTP_REFUSAL_AUTH_TEMPFAIL] =
		{ 454, "4.7.0", "Temporary authentication failure", SMTP_REJECT_TEMPFAIL },

	/* ---- recipients: the lookup's outcome; all [address] ---- */
	[SMTP_REFUSAL_RCPT_UNKNOWN] =
		{ 550, "5.1.1", "<%s>: Recipient address rejected: User unknown",
		  SMTP_REJECT_UNKNOWN_USER },
	/* RFC 3463 X.4.6: a routing loop, which retrying will not mend. */
	[SMTP_REFUSAL_RCPT_ALIAS_LOOP] =
		{ 550, "5.4.6", "<%s>: Recipient address rejected: alias loop",
		  SMTP_REJECT_ALIAS_LOOP },
	/* RFC 3463 X.2.2. A mailbox at its quota; with a declared SIZE= (RFC 1870
	 * 6.4), one with less room left (for now) or a smaller quota (for good). */
	[SMTP_REFUSAL_RCPT_MAILBOX_FULL] =
		{ 452, "4.2.2", "<%s>: Recipient address rejected: Mailbox full",
		  SMTP_REJECT_MAILBOX_FULL },
	[SMTP_REFUSAL_RCPT_NO_ROOM] =
		{ 452, "4.2.2",
		  "<%s>: Recipient address rejected: Mailbox has no room for a message of this size",
		  SMTP_REJECT_MAILBOX_FULL },
	[SMTP_REFUSAL_RCPT_OVER_QUOTA] =
		{ 552, "5.2.2",
		  "<%s>: Recipient address rejected: Message size exceeds the mailbox's quota",
		  SMTP_REJECT_OVER_QUOTA },
	[SMTP_REFUSAL_RCPT_LOOKUP_FAILED] =
		{ 451, "4.3.0", "<%s>: Temporary lookup failure", SMTP_REJECT_TEMPFAIL },

	/* ---- the message ---- */
	/* RFC 1870 6.1 (SIZE= at MAIL), 6.3 (the body); RFC 3030 2 (a BDAT chunk). */
	[SMTP_REFUSAL_MESSAGE_TOO_BIG] =
		{ 552, "5.3.4", "Error: message size exceeds fixed limit", SMTP_REJECT_SIZE },
	/* RFC 5321 6.3: a mail loop (Postfix's hopcount_limit says the same). */
	[SMTP_REFUSAL_TOO_MANY_HOPS] =
		{ 554, "5.4.6", "Error: too many hops", SMTP_REJECT_HOPS },
	/* After the body, one reply for all recipients (RFC 5321 4.1.1.4). */
	[SMTP_REFUSAL_MAILBOX_FULL] =
		{ 452, "4.2.2", "Mailbox full, try again later", SMTP_REJECT_MAILBOX_FULL },
	[SMTP_REFUSAL_OVER_QUOTA] =
		{ 552, "5.2.2", "Error: message size exceeds the quota of a recipient's mailbox",
		  SMTP_REJECT_OVER_QUOTA },

	/* ---- input, our failures, the connection ---- */
	/* RFC 5321 2.3.8: lines end in CRLF only. */
	[SMTP_REFUSAL_BARE_LF] =
		{ 500, "5.5.2", "Error: bare <LF> received", SMTP_REJECT_SYNTAX },
	/* RFC 4954 4: a SASL response line is at most 12288 octets. */
	[SMTP_REFUSAL_AUTH_LINE_TOO_LONG] =
		{ 500, "5.5.6", "Authentication exchange line is too long",
		  SMTP_REJECT_LINE_TOO_LONG },
	/* Memory, spool, store: the client retries. */
	[SMTP_REFUSAL_LOCAL_ERROR] =
		{ 451, "4.3.0", "Error: local error in processing, try again later",
		  SMTP_REJECT_TEMPFAIL },
	/* [hostname]. RFC 5321 4.5.3.2: a server may close an idle session, with 421. */
	[SMTP_REFUSAL_TIMEOUT] =
		{ 421, "4.4.2", "%s Error: timeout exceeded", SMTP_REJECT_TIMEOUT },
};

const struct smtp_refusal *smtp_refusal(enum smtp_refusal_id id)
{
	assert((unsigned)id < SMTP_REFUSAL_COUNT);
	return &refusals[id];
}
