/* smtp_client_reply.c - a remote server's replies and EHLO keywords; see smtp_client_reply.h. */
#include "smtp_client_reply.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void smtp_client_reply_init(struct smtp_client_reply *r)
{
	r->code = 0;
	r->lines = 0;
	r->done = false;
	r->text_len = 0;
	r->text_full = false;
	r->text[0] = '\0';
}

static bool digit(char c, char lo, char hi)
{
	return c >= lo && c <= hi;
}

/* Appends one line's text, controls made '?'; from a line that does not fit whole on, none is kept. */
static void keep_text(struct smtp_client_reply *r, const char *text, size_t len)
{
	size_t sep = r->lines > 1 ? 1 : 0;

	if (r->text_full || r->text_len + sep + len + 1 > sizeof(r->text)) {
		r->text_full = true;
		return;
	}
	if (sep)
		r->text[r->text_len++] = '\n';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		r->text[r->text_len++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	r->text[r->text_len] = '\0';
}

enum smtp_client_reply_status smtp_client_reply_feed(struct smtp_client_reply *r,
                                                     const char *line, size_t len)
{
	if (r->done || len < 3 || len > SMTP_CLIENT_LINE_MAX || !digit(line[0], '2', '5') ||
	    !digit(line[1], '0', '5') || !digit(line[2], '0', '9') ||
	    (len > 3 && line[3] != ' ' && line[3] != '-'))
		return SMTP_CLIENT_REPLY_BAD;
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->code != 0 && code != r->code)
		return SMTP_CLIENT_REPLY_BAD;
	if (++r->lines > SMTP_CLIENT_REPLY_LINES_MAX)
		return SMTP_CLIENT_REPLY_BAD;
	r->code = code;
	keep_text(r, line + (len > 3 ? 4 : 3), len > 3 ? len - 4 : 0);
	if (len > 3 && line[3] == '-')
		return SMTP_CLIENT_REPLY_MORE;
	r->done = true;
	return SMTP_CLIENT_REPLY_DONE;
}

void smtp_client_reply_first(const struct smtp_client_reply *r, char *out, size_t outlen)
{
	const char *nl = strchr(r->text, '\n');
	size_t len = nl != NULL ? (size_t)(nl - r->text) : r->text_len;

	snprintf(out, outlen, "%.*s", (int)len, r->text);
}

/* True when the line's first word is kw (any case), followed by a space or its end. */
static bool keyword(const char *line, size_t len, const char *kw, const char **rest)
{
	size_t n = strlen(kw);

	if (len < n || strncasecmp(line, kw, n) != 0 || (len > n && line[n] != ' '))
		return false;
	*rest = line + n;
	return true;
}

/* Whether the space-separated list rest[0..len) holds word (any case). */
static bool has_word(const char *rest, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i < len;) {
		while (i < len && rest[i] == ' ')
			i++;
		size_t start = i;
		while (i < len && rest[i] != ' ')
			i++;
		if (i - start == n && strncasecmp(rest + start, word, n) == 0)
			return true;
	}
	return false;
}

static void parse_line(const char *line, size_t len, struct smtp_ehlo *e)
{
	const char *rest;

	if (keyword(line, len, "PIPELINING", &rest)) {
		e->pipelining = true;
	} else if (keyword(line, len, "8BITMIME", &rest)) {
		e->eightbitmime = true;
	} else if (keyword(line, len, "SMTPUTF8", &rest)) {
		e->smtputf8 = true;
	} else if (keyword(line, len, "STARTTLS", &rest)) {
		e->starttls = true;
	} else if (keyword(line, len, "CHUNKING", &rest)) {
		e->chunking = true;
	} else if (keyword(line, len, "DSN", &rest)) {
		e->dsn = true;
	} else if (keyword(line, len, "SIZE", &rest)) {
		uint64_t v = 0;
		const char *p = rest, *end = line + len;
		while (p < end && *p == ' ')
			p++;
		/* RFC 1870 4: a limit in digits, 0 or none for no fixed limit. */
		for (; p < end && *p >= '0' && *p <= '9' && v < UINT64_MAX / 10 - 9; p++)
			v = v * 10 + (uint64_t)(*p - '0');
		e->size = true;
		e->size_max = p == end ? v : 0;
	} else if (keyword(line, len, "AUTH", &rest)) {
		size_t n = (size_t)(line + len - rest);
		e->auth_plain = e->auth_plain || has_word(rest, n, "PLAIN");
		e->auth_login = e->auth_login || has_word(rest, n, "LOGIN");
	}
}

void smtp_ehlo_parse(const struct smtp_client_reply *r, struct smtp_ehlo *ehlo)
{
	const char *p = r->text;

	memset(ehlo, 0, sizeof(*ehlo));
	if (r->code != 250)
		return;
	/* The first line is the server's name and greeting, not a keyword. */
	p = strchr(p, '\n');
	while (p != NULL) {
		const char *line = p + 1;
		const char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

		parse_line(line, len, ehlo);
		p = nl;
	}
}
