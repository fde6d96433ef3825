/*
 * smtp_cmd.c - the commands outside the mail transaction: EHLO, HELO
 * (RFC 5321 4.1.1.1), RSET, NOOP, QUIT, VRFY, EXPN, HELP and STARTTLS
 * (RFC 3207).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "smtp_session_private.h"

/* Keeps the greeting argument; false (after replying 501) if it is unusable. */
static bool cmd_greet(struct smtp_session *s, const char *args, size_t len, bool esmtp)
{
	struct smtp_helo helo;
	enum smtp_parse_result pr = smtp_parse_helo(args, len, &helo);

	if (pr == SMTP_PARSE_OK && helo.name_len > SMTP_HELO_MAX)
		pr = SMTP_PARSE_HELO_SYNTAX; /* RFC 5321 4.5.3.1.2: a domain has at most 255 octets */
	if (pr != SMTP_PARSE_OK) {
		smtp_session_refuse_parse(s, pr);
		return false;
	}
	/* RFC 5321 4.1.4: EHLO/HELO in the middle of a transaction resets it. */
	smtp_session_reset_txn(s);
	memcpy(s->helo, helo.name, helo.name_len);
	s->helo[helo.name_len] = '\0';
	s->helo_valid = helo.valid;
	s->esmtp = esmtp;
	smtp_session_enter_state(s, SMTP_STATE_READY);
	char name[SMTP_HELO_MAX * 2];
	log_info(s->core.id, "helo", "verb=%s name=%s valid=%d", esmtp ? "EHLO" : "HELO",
	         log_escape(name, sizeof(name), helo.name, helo.name_len), helo.valid);
	return true;
}

void smtp_cmd_ehlo(struct smtp_session *s, const char *args, size_t len)
{
	const struct mail_config *cfg = s->env->cfg;
	char size[32];
	const char *keywords[10];
	size_t n = 0;

	if (!cmd_greet(s, args, len, true))
		return;
	snprintf(size, sizeof(size), "SIZE %" PRIu64, cfg->max_message_size);
	keywords[n++] = "PIPELINING";        /* RFC 2920 */
	keywords[n++] = size;                /* RFC 1870 */
	keywords[n++] = "8BITMIME";          /* RFC 6152 */
	keywords[n++] = "ENHANCEDSTATUSCODES"; /* RFC 2034 */
	keywords[n++] = "CHUNKING";          /* RFC 3030 */
	keywords[n++] = "SMTPUTF8";          /* RFC 6531 */
	if (conn_tls_available(s->core.conn) && !conn_tls_active(s->core.conn))
		keywords[n++] = "STARTTLS";  /* RFC 3207 */
	if (smtp_auth_offered(s))
		keywords[n++] = "AUTH PLAIN LOGIN"; /* RFC 4954 */
	if (smtp_dsn_offered(s))
		keywords[n++] = "DSN";               /* RFC 3461 */
	smtp_reply_more(s, 250, "%s", cfg->hostname);
	for (size_t i = 0; i + 1 < n; i++)
		smtp_reply_more(s, 250, "%s", keywords[i]);
	smtp_reply(s, 250, NULL, "%s", keywords[n - 1]);
}

void smtp_cmd_helo(struct smtp_session *s, const char *args, size_t len)
{
	if (!cmd_greet(s, args, len, false))
		return;
	smtp_reply(s, 250, NULL, "%s", s->env->cfg->hostname);
}

void smtp_cmd_rset(struct smtp_session *s, const char *args, size_t len)
{
	smtp_session_reset_txn(s);
	smtp_reply(s, 250, "2.0.0", "Ok");
}

void smtp_cmd_noop(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply(s, 250, "2.0.0", "Ok");
}

void smtp_cmd_quit(struct smtp_session *s, const char *args, size_t len)
{
	s->quit = true;
	smtp_session_enter_state(s, SMTP_STATE_CLOSING);
	smtp_reply(s, 221, "2.0.0", "Bye");
}

void smtp_cmd_vrfy(struct smtp_session *s, const char *args, size_t len)
{
	/* RFC 5321 3.5.3: 252 neither confirms nor denies, so nobody can list our users. */
	smtp_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

void smtp_cmd_expn(struct smtp_session *s, const char *args, size_t len)
{
	/* RFC 5321 3.5.2: EXPN may be refused; expanding aliases would disclose them. */
	smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_NOT_IMPLEMENTED));
}

void smtp_cmd_help(struct smtp_session *s, const char *args, size_t len)
{
	smtp_reply(s, 214, "2.0.0",
	           "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH");
}

void smtp_cmd_starttls(struct smtp_session *s, const char *args, size_t len)
{
	enum smtp_refusal_id refusal;

	if (conn_tls_active(s->core.conn)) {
		/* RFC 3207 4.2: STARTTLS is not offered again once TLS is on. */
		refusal = SMTP_REFUSAL_TLS_ACTIVE;
	} else if (!conn_tls_available(s->core.conn)) {
		refusal = SMTP_REFUSAL_NOT_IMPLEMENTED;
	} else if (s->txn != NULL) {
		refusal = SMTP_REFUSAL_TXN_IN_PROGRESS;
	} else {
		smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
		/* Whatever the client sent after STARTTLS is dropped here (RFC 3207 5). */
		conn_starttls(s->core.conn);
		return;
	}
	smtp_session_refuse(s, smtp_refusal(refusal));
}
