/* smtp_received.c - Return-Path and Received header fields; see smtp_received.h. */
#include "smtp_received.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct out {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->overflow = true;
		return;
	}
	o->len += (size_t)n;
}

const char *smtp_received_protocol(bool esmtp, bool smtputf8, bool tls, bool auth)
{
	/* Indexed by tls * 2 + auth. */
	static const char *const esmtp_names[] = { "ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA" };
	static const char *const utf8_names[] = { "UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS", "UTF8SMTPSA" };
	unsigned i = (tls ? 2u : 0u) + (auth ? 1u : 0u);

	if (!esmtp)
		return "SMTP"; /* HELO: RFC 3848 names only ESMTP variants */
	return smtputf8 ? utf8_names[i] : esmtp_names[i];
}

/*
 * Copies text for use inside a comment (a client's HELO argument, a login
 * name): printable ASCII except the characters that end or nest comments
 * or quote; anything else becomes '?'.
 */
static void comment_sanitize(const char *in, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; in[i] != '\0' && j + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		out[j++] = (c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '\\') ? (char)c : '?';
	}
	out[j] = '\0';
}

/* RFC 5322 3.3 date-time in UTC, without locale-dependent names. */
void smtp_received_date(time_t when, char *out, size_t outlen)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, outlen, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	         tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	         tm.tm_sec);
}

size_t smtp_received_format(const struct smtp_trace *t, char *out, size_t outlen)
{
	struct out o = { .buf = out, .cap = outlen };
	/* RFC 5321 4.1.3: an IPv6 address literal carries the "IPv6:" tag. */
	const char *ip_tag = strchr(t->peer_ip, ':') != NULL ? "IPv6:" : "";
	char helo[256];
	char user[256];
	char date[64];

	if (outlen == 0)
		return 0;
	out_printf(&o, "Return-Path: <%s>\r\n", t->sender);
	if (t->helo_valid) {
		out_printf(&o, "Received: from %s ([%s%s])\r\n", t->helo, ip_tag, t->peer_ip);
	} else {
		comment_sanitize(t->helo, helo, sizeof(helo));
		out_printf(&o, "Received: from [%s%s] (helo=%s)\r\n", ip_tag, t->peer_ip, helo);
	}
	out_printf(&o, "\tby %s with %s id %s\r\n", t->hostname,
	           smtp_received_protocol(t->esmtp, t->smtputf8, t->tls_version != NULL,
	                                  t->authenticated),
	            t->id);
	if (t->tls_version != NULL)
		out_printf(&o, "\t(%s %s)\r\n", t->tls_version,
		           t->tls_cipher != NULL ? t->tls_cipher : "unknown-cipher");
	if (t->authenticated && t->auth_user != NULL) {
		comment_sanitize(t->auth_user, user, sizeof(user));
		out_printf(&o, "\t(authenticated as %s)\r\n", user);
	}
	smtp_received_date(t->when, date, sizeof(date));
	if (t->rcpt != NULL)
		out_printf(&o, "\tfor <%s>; %s\r\n", t->rcpt, date);
	else
		out_printf(&o, "\t; %s\r\n", date);
	if (o.overflow) {
		out[0] = '\0';
		return 0;
	}
	return o.len;
}

size_t smtp_received_date_field(time_t when, char *out, size_t outlen)
{
	struct out o = { .buf = out, .cap = outlen };
	char date[64];

	smtp_received_date(when, date, sizeof(date));
	out_printf(&o, "Date: %s\r\n", date);
	if (o.overflow) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	return o.len;
}

size_t smtp_received_message_id_field(time_t when, const char *id, uint64_t random,
                                      const char *hostname, char *out, size_t outlen)
{
	struct out o = { .buf = out, .cap = outlen };
	char host[256];
	struct tm tm;
	size_t j = 0;

	for (size_t i = 0; hostname[i] != '\0' && j + 1 < sizeof(host); i++) {
		char c = hostname[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '-' || c == '.';
		host[j++] = ok ? c : '-';
	}
	host[j] = '\0';
	if (gmtime_r(&when, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	out_printf(&o, "Message-ID: <%04d%02d%02d%02d%02d%02d.%s.%016llx@%s>\r\n",
	           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	           id, (unsigned long long)random, host[0] != '\0' ? host : "localhost");
	if (o.overflow) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	return o.len;
}
