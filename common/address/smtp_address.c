/* smtp_address.c - RFC 5321 4.1.2 envelope address syntax, shared by smtpd, the store
 * and mailctl; see smtp_address.h. */
#include "smtp_address.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A position in the input being parsed. */
struct cursor {
	const unsigned char *s;
	size_t len;
	size_t pos;
};

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned char to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* RFC 5322 3.2.3 atext, ASCII part. */
static bool is_atext(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 4.1.2 qtextSMTP, ASCII part: printable and SP, except '"' and '\'. */
static bool is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/*
 * Length of the well-formed UTF-8 sequence at s[0] with a lead byte >= 0x80
 * (RFC 3629 section 4, UTF8-2 / UTF8-3 / UTF8-4), or 0 if it is malformed.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

	if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F; /* no UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90; /* no overlong forms */
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

bool smtp_address_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_seq_len(u + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * Dot-string = Atom *("." Atom), atext plus UTF-8 (RFC 6531 3.3). Checks all
 * of s[0..len); *utf8_r tells whether non-ASCII was seen.
 */
static enum smtp_address_error check_dot_string(const unsigned char *s, size_t len, bool *utf8_r)
{
	bool atom_empty = true;

	*utf8_r = false;
	for (size_t i = 0; i < len;) {
		if (s[i] == '.') {
			if (atom_empty)
				return SMTP_ADDRESS_SYNTAX;
			atom_empty = true;
			i++;
		} else if (s[i] >= 0x80) {
			size_t n = utf8_seq_len(s + i, len - i);
			if (n == 0)
				return SMTP_ADDRESS_BAD_UTF8;
			*utf8_r = true;
			atom_empty = false;
			i += n;
		} else if (is_atext(s[i])) {
			atom_empty = false;
			i++;
		} else {
			return SMTP_ADDRESS_SYNTAX;
		}
	}
	return atom_empty ? SMTP_ADDRESS_SYNTAX : SMTP_ADDRESS_OK;
}

/* Quoted-string (RFC 5321 4.1.2) at the cursor, which is on the opening '"'. */
static enum smtp_address_error parse_quoted_local(struct cursor *c, struct smtp_mailbox *mb)
{
	/* Content after unquoting. The wire form is limited to
	 * SMTP_LOCAL_PART_MAX octets and is never shorter than the content, so
	 * content that does not fit here is too long anyway. */
	unsigned char content[SMTP_LOCAL_PART_MAX + 1];
	size_t clen = 0;
	size_t start = c->pos;
	bool overflow = false;

	c->pos++;
	for (;;) {
		if (c->pos >= c->len)
			return SMTP_ADDRESS_SYNTAX; /* no closing quote */
		unsigned char ch = c->s[c->pos];
		size_t n = 1;
		const unsigned char *bytes = c->s + c->pos;

		if (ch == '"') {
			c->pos++;
			break;
		}
		if (ch == '\\') {
			/* quoted-pairSMTP = "\" %d32-126 */
			if (c->pos + 1 >= c->len || c->s[c->pos + 1] < 32 || c->s[c->pos + 1] > 126)
				return SMTP_ADDRESS_SYNTAX;
			bytes++;
			c->pos++;
		} else if (ch >= 0x80) {
			n = utf8_seq_len(bytes, c->len - c->pos);
			if (n == 0)
				return SMTP_ADDRESS_BAD_UTF8;
			mb->utf8 = true;
		} else if (!is_qtext(ch)) {
			return SMTP_ADDRESS_SYNTAX;
		}
		if (clen + n <= sizeof(content))
			memcpy(content + clen, bytes, n);
		else
			overflow = true;
		clen += n;
		c->pos += n;
	}
	if (overflow || c->pos - start > SMTP_LOCAL_PART_MAX)
		return SMTP_ADDRESS_LOCAL_TOO_LONG;

	bool utf8;
	if (check_dot_string(content, clen, &utf8) == SMTP_ADDRESS_OK) {
		memcpy(mb->local, content, clen);
		mb->local[clen] = '\0';
		mb->local_quoted = false;
		return SMTP_ADDRESS_OK;
	}
	/* Minimal quoting: never longer than the wire form, so it fits. */
	size_t o = 0;
	mb->local[o++] = '"';
	for (size_t i = 0; i < clen; i++) {
		if (content[i] == '"' || content[i] == '\\')
			mb->local[o++] = '\\';
		mb->local[o++] = (char)content[i];
	}
	mb->local[o++] = '"';
	mb->local[o] = '\0';
	mb->local_quoted = true;
	return SMTP_ADDRESS_OK;
}

/* Local-part at the cursor: Dot-string or Quoted-string. */
static enum smtp_address_error parse_local(struct cursor *c, struct smtp_mailbox *mb)
{
	if (c->pos < c->len && c->s[c->pos] == '"')
		return parse_quoted_local(c, mb);

	size_t start = c->pos;
	while (c->pos < c->len) {
		unsigned char ch = c->s[c->pos];
		if (ch >= 0x80) {
			size_t n = utf8_seq_len(c->s + c->pos, c->len - c->pos);
			if (n == 0)
				return SMTP_ADDRESS_BAD_UTF8;
			c->pos += n;
		} else if (ch == '.' || is_atext(ch)) {
			c->pos++;
		} else {
			break;
		}
	}
	size_t n = c->pos - start;
	bool utf8;
	enum smtp_address_error err = check_dot_string(c->s + start, n, &utf8);
	if (err != SMTP_ADDRESS_OK)
		return err;
	if (n > SMTP_LOCAL_PART_MAX)
		return SMTP_ADDRESS_LOCAL_TOO_LONG;
	memcpy(mb->local, c->s + start, n);
	mb->local[n] = '\0';
	mb->local_quoted = false;
	mb->utf8 = mb->utf8 || utf8;
	return SMTP_ADDRESS_OK;
}

/* Snum 3("." Snum), Snum = 1*3DIGIT with a value of 0..255; all of s[0..n). */
static bool parse_ipv4(const unsigned char *s, size_t n, unsigned char out[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
		unsigned value = 0;
		size_t digits = 0;
		while (i < n && is_digit(s[i]) && digits < 3) {
			value = value * 10 + (unsigned)(s[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || value > 255)
			return false;
		out[part] = (unsigned char)value;
	}
	return i == n;
}

/*
 * IPv6-addr per RFC 5321 4.1.3 on all of s[0..n): eight groups, or six and
 * an IPv4 tail, where "::" stands for at least two zero groups (so at most
 * six groups, IPv4 tail counting as two, may be written beside it).
 */
static bool parse_ipv6(const unsigned char *s, size_t n, unsigned char out[16])
{
	uint16_t groups[8];
	size_t ngroups = 0;
	int gap = -1; /* index in groups[] where "::" stands */
	unsigned char v4[4];
	bool has_v4 = false;
	size_t i = 0;

	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
	} else if (n >= 1 && s[0] == ':') {
		return false;
	}
	while (i < n) {
		size_t j = i;
		unsigned value = 0;
		while (j < n && j - i < 5 && hex_value(s[j]) >= 0) {
			value = value * 16 + (unsigned)hex_value(s[j]);
			j++;
		}
		if (j < n && s[j] == '.') {
			if (!parse_ipv4(s + i, n - i, v4))
				return false;
			has_v4 = true;
			break;
		}
		if (j == i || j - i > 4 || ngroups == 8)
			return false;
		groups[ngroups++] = (uint16_t)value;
		i = j;
		if (i == n)
			break;
		if (s[i] != ':')
			return false;
		i++;
		if (i < n && s[i] == ':') {
			if (gap >= 0)
				return false;
			gap = (int)ngroups;
			i++;
		} else if (i == n) {
			return false; /* a trailing single ':' */
		}
	}

	size_t total = ngroups + (has_v4 ? 2 : 0);
	if (gap < 0 ? total != 8 : total > 6)
		return false;

	memset(out, 0, 16);
	size_t before = gap < 0 ? ngroups : (size_t)gap;
	size_t after = ngroups - before;
	size_t tail_at = 8 - (has_v4 ? 2 : 0) - after; /* first group index after the gap */
	for (size_t g = 0; g < before; g++) {
		out[2 * g] = (unsigned char)(groups[g] >> 8);
		out[2 * g + 1] = (unsigned char)(groups[g] & 0xff);
	}
	for (size_t g = 0; g < after; g++) {
		out[2 * (tail_at + g)] = (unsigned char)(groups[before + g] >> 8);
		out[2 * (tail_at + g) + 1] = (unsigned char)(groups[before + g] & 0xff);
	}
	if (has_v4)
		memcpy(out + 12, v4, 4);
	return true;
}

/* address-literal at the cursor, which is on '['. */
static enum smtp_address_error parse_literal(struct cursor *c, struct smtp_domain *d)
{
	static const char tag[] = "IPv6:";
	const size_t tag_len = sizeof(tag) - 1;
	size_t start = c->pos;
	size_t i = start + 1;

	/* dcontent = %d33-90 / %d94-126 */
	while (i < c->len && c->s[i] >= 33 && c->s[i] <= 126 && c->s[i] != '[' && c->s[i] != ']' &&
	       c->s[i] != '\\')
		i++;
	if (i >= c->len || c->s[i] != ']')
		return SMTP_ADDRESS_SYNTAX;
	const unsigned char *inner = c->s + start + 1;
	size_t inner_len = i - start - 1;

	memset(d->addr, 0, sizeof(d->addr));
	bool tagged = inner_len >= tag_len;
	for (size_t k = 0; tagged && k < tag_len; k++)
		tagged = to_lower(inner[k]) == to_lower((unsigned char)tag[k]);
	if (tagged) {
		if (!parse_ipv6(inner + tag_len, inner_len - tag_len, d->addr))
			return SMTP_ADDRESS_SYNTAX;
		d->kind = SMTP_DOMAIN_IPV6;
	} else if (parse_ipv4(inner, inner_len, d->addr)) {
		d->kind = SMTP_DOMAIN_IPV4;
	} else {
		return SMTP_ADDRESS_SYNTAX; /* General-address-literal: no tag we know */
	}

	size_t n = i + 1 - start;
	if (n > SMTP_DOMAIN_MAX)
		return SMTP_ADDRESS_DOMAIN_TOO_LONG;
	memcpy(d->name, c->s + start, n);
	d->name[n] = '\0';
	c->pos = i + 1;
	return SMTP_ADDRESS_OK;
}

/* Domain (names only) on all of s[0..n); U-labels allowed (RFC 6531 3.3). */
static enum smtp_address_error check_domain_name(const unsigned char *s, size_t n, bool *utf8_r)
{
	size_t label_start = 0;
	bool label_utf8 = false;

	*utf8_r = false;
	for (size_t i = 0; i <= n;) {
		if (i == n || s[i] == '.') {
			size_t llen = i - label_start;
			if (llen == 0 || s[label_start] == '-' || s[i - 1] == '-')
				return SMTP_ADDRESS_SYNTAX;
			if (!label_utf8 && llen > SMTP_LABEL_MAX)
				return SMTP_ADDRESS_DOMAIN_TOO_LONG;
			if (i == n)
				break;
			i++;
			label_start = i;
			label_utf8 = false;
		} else if (s[i] >= 0x80) {
			size_t k = utf8_seq_len(s + i, n - i);
			if (k == 0)
				return SMTP_ADDRESS_BAD_UTF8;
			label_utf8 = true;
			*utf8_r = true;
			i += k;
		} else if (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-') {
			i++;
		} else {
			return SMTP_ADDRESS_SYNTAX;
		}
	}
	if (n > SMTP_DOMAIN_MAX)
		return SMTP_ADDRESS_DOMAIN_TOO_LONG;
	return SMTP_ADDRESS_OK;
}

/* Domain or address-literal at the cursor. */
static enum smtp_address_error parse_domain_at(struct cursor *c, struct smtp_domain *d, bool *utf8_r)
{
	*utf8_r = false;
	if (c->pos < c->len && c->s[c->pos] == '[')
		return parse_literal(c, d);

	size_t start = c->pos;
	while (c->pos < c->len) {
		unsigned char ch = c->s[c->pos];
		if (!(is_alpha(ch) || is_digit(ch) || ch == '-' || ch == '.' || ch >= 0x80))
			break;
		c->pos++;
	}
	size_t n = c->pos - start;
	enum smtp_address_error err = check_domain_name(c->s + start, n, utf8_r);
	if (err != SMTP_ADDRESS_OK)
		return err;
	d->kind = SMTP_DOMAIN_NAME;
	memset(d->addr, 0, sizeof(d->addr));
	for (size_t i = 0; i < n; i++)
		d->name[i] = (char)to_lower(c->s[start + i]);
	d->name[n] = '\0';
	return SMTP_ADDRESS_OK;
}

/* Mailbox at the cursor: Local-part "@" ( Domain / address-literal ). */
static enum smtp_address_error parse_mailbox_at(struct cursor *c, struct smtp_mailbox *mb)
{
	enum smtp_address_error err = parse_local(c, mb);
	if (err != SMTP_ADDRESS_OK)
		return err;
	if (c->pos >= c->len || c->s[c->pos] != '@')
		return SMTP_ADDRESS_SYNTAX;
	c->pos++;
	bool utf8;
	err = parse_domain_at(c, &mb->domain, &utf8);
	mb->utf8 = mb->utf8 || utf8;
	return err;
}

enum smtp_address_error smtp_address_parse_mailbox(const char *s, size_t len, unsigned flags,
                                                   struct smtp_mailbox *mailbox_r)
{
	struct cursor c = { (const unsigned char *)s, len, 0 };

	memset(mailbox_r, 0, sizeof(*mailbox_r));
	enum smtp_address_error err = parse_mailbox_at(&c, mailbox_r);
	if (err != SMTP_ADDRESS_OK)
		return err;
	if (c.pos != len)
		return SMTP_ADDRESS_SYNTAX;
	if (len > SMTP_MAILBOX_MAX)
		return SMTP_ADDRESS_PATH_TOO_LONG;
	if (mailbox_r->utf8 && !(flags & SMTP_ADDRESS_UTF8))
		return SMTP_ADDRESS_UTF8_NOT_ALLOWED;
	return SMTP_ADDRESS_OK;
}

/* A-d-l = At-domain *( "," At-domain ) ":", At-domain = "@" Domain. */
static enum smtp_address_error parse_source_route(struct cursor *c, bool *utf8_r)
{
	struct smtp_domain scratch;

	*utf8_r = false;
	for (;;) {
		if (c->pos >= c->len || c->s[c->pos] != '@')
			return SMTP_ADDRESS_SYNTAX;
		c->pos++;
		if (c->pos < c->len && c->s[c->pos] == '[')
			return SMTP_ADDRESS_SYNTAX; /* the grammar allows names only here */
		bool utf8;
		enum smtp_address_error err = parse_domain_at(c, &scratch, &utf8);
		if (err != SMTP_ADDRESS_OK)
			return err;
		*utf8_r = *utf8_r || utf8;
		if (c->pos < c->len && c->s[c->pos] == ',') {
			c->pos++;
			continue;
		}
		if (c->pos < c->len && c->s[c->pos] == ':') {
			c->pos++;
			return SMTP_ADDRESS_OK;
		}
		return SMTP_ADDRESS_SYNTAX;
	}
}

static bool is_postmaster(const char *local)
{
	static const char pm[] = "postmaster";
	size_t i = 0;

	for (; pm[i] != '\0'; i++)
		if (to_lower((unsigned char)local[i]) != (unsigned char)pm[i])
			return false;
	return local[i] == '\0';
}

enum smtp_address_error smtp_address_parse_path(const char *s, size_t len, unsigned flags,
                                                struct smtp_path *path_r, size_t *len_r)
{
	struct cursor c = { (const unsigned char *)s, len, 0 };
	enum smtp_address_error err;
	bool route_utf8 = false;

	memset(path_r, 0, sizeof(*path_r));
	if (len < 2 || s[0] != '<')
		return SMTP_ADDRESS_SYNTAX;
	c.pos = 1;
	if (s[1] == '>') {
		if (!(flags & SMTP_ADDRESS_ALLOW_NULL))
			return SMTP_ADDRESS_SYNTAX;
		path_r->null = true;
		*len_r = 2;
		return SMTP_ADDRESS_OK;
	}
	if (s[1] == '@') {
		err = parse_source_route(&c, &route_utf8);
		if (err != SMTP_ADDRESS_OK)
			return err;
		path_r->source_route = true;
	}

	struct smtp_mailbox *mb = &path_r->mailbox;
	err = parse_local(&c, mb);
	if (err != SMTP_ADDRESS_OK)
		return err;
	if (c.pos < len && s[c.pos] == '>' && (flags & SMTP_ADDRESS_ALLOW_POSTMASTER) &&
	    !path_r->source_route && !mb->local_quoted && is_postmaster(mb->local)) {
		/* RFC 5321 4.5.1: "<Postmaster>" is case-insensitive and has no domain. */
		memcpy(mb->local, "postmaster", sizeof("postmaster"));
		path_r->postmaster = true;
		*len_r = c.pos + 1;
		return SMTP_ADDRESS_OK;
	}
	if (c.pos >= len || s[c.pos] != '@')
		return SMTP_ADDRESS_SYNTAX;
	c.pos++;
	bool utf8;
	err = parse_domain_at(&c, &mb->domain, &utf8);
	if (err != SMTP_ADDRESS_OK)
		return err;
	mb->utf8 = mb->utf8 || utf8;
	if (c.pos >= len || s[c.pos] != '>')
		return SMTP_ADDRESS_SYNTAX;
	c.pos++;
	if (c.pos > SMTP_PATH_MAX)
		return SMTP_ADDRESS_PATH_TOO_LONG;
	if ((mb->utf8 || route_utf8) && !(flags & SMTP_ADDRESS_UTF8))
		return SMTP_ADDRESS_UTF8_NOT_ALLOWED;
	*len_r = c.pos;
	return SMTP_ADDRESS_OK;
}

enum smtp_address_error smtp_address_parse_domain(const char *s, size_t len, unsigned flags,
                                                  struct smtp_domain *domain_r)
{
	struct cursor c = { (const unsigned char *)s, len, 0 };
	bool utf8;

	memset(domain_r, 0, sizeof(*domain_r));
	enum smtp_address_error err = parse_domain_at(&c, domain_r, &utf8);
	if (err != SMTP_ADDRESS_OK)
		return err;
	if (c.pos != len)
		return SMTP_ADDRESS_SYNTAX;
	if (utf8 && !(flags & SMTP_ADDRESS_UTF8))
		return SMTP_ADDRESS_UTF8_NOT_ALLOWED;
	return SMTP_ADDRESS_OK;
}

int smtp_address_format(const struct smtp_mailbox *mailbox, char *out, size_t outlen)
{
	int n;

	if (outlen == 0)
		return -1;
	if (mailbox->domain.name[0] == '\0')
		n = snprintf(out, outlen, "%s", mailbox->local);
	else
		n = snprintf(out, outlen, "%s@%s", mailbox->local, mailbox->domain.name);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		return -1;
	}
	return n;
}

const char *smtp_address_strerror(enum smtp_address_error err)
{
	switch (err) {
	case SMTP_ADDRESS_OK:
		return "ok";
	case SMTP_ADDRESS_SYNTAX:
		return "address syntax error";
	case SMTP_ADDRESS_BAD_UTF8:
		return "malformed UTF-8 in address";
	case SMTP_ADDRESS_UTF8_NOT_ALLOWED:
		return "non-ASCII address without SMTPUTF8";
	case SMTP_ADDRESS_LOCAL_TOO_LONG:
		return "local part too long";
	case SMTP_ADDRESS_DOMAIN_TOO_LONG:
		return "domain too long";
	case SMTP_ADDRESS_PATH_TOO_LONG:
		return "path too long";
	}
	return "unknown address error";
}

/* ---- stored addresses ------------------------------------------------ */

enum smtp_address_error smtp_address_normalize(const char *s, char *out, size_t outlen)
{
	struct smtp_mailbox mb;

	if (outlen > 0)
		out[0] = '\0';
	if (s == NULL)
		return SMTP_ADDRESS_SYNTAX;
	enum smtp_address_error err = smtp_address_parse_mailbox(s, strlen(s), SMTP_ADDRESS_UTF8, &mb);
	if (err != SMTP_ADDRESS_OK)
		return err;
	if (smtp_address_format(&mb, out, outlen) < 0)
		return SMTP_ADDRESS_PATH_TOO_LONG; /* only when outlen is too small */
	return SMTP_ADDRESS_OK;
}

void smtp_address_key(const char *s, char *out, size_t outlen)
{
	size_t i = 0;

	if (outlen == 0)
		return;
	for (; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)to_lower((unsigned char)s[i]);
	out[i] = '\0';
}

/* The atext specials a delimiter may be: never a letter, digit or dot. */
static bool is_delimiter_char(unsigned char c)
{
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

bool smtp_address_delimiters_valid(const char *delimiters)
{
	size_t n = 0;

	for (; delimiters[n] != '\0'; n++)
		if (n == SMTP_DELIMITERS_MAX || !is_delimiter_char((unsigned char)delimiters[n]))
			return false;
	return true;
}

bool smtp_address_strip_extension(const char *s, const char *delimiters, char *out,
                                  size_t outlen)
{
	const char *at = strrchr(s, '@');

	if (delimiters == NULL || delimiters[0] == '\0' || at == NULL || s[0] == '"')
		return false;
	/* A delimiter in first place would leave an empty local part: not an
	 * extension (Postfix's split_addr agrees). */
	size_t base = 1 + strcspn(s + 1, delimiters);
	if (s + base >= at || s[base - 1] == '.')
		return false; /* no delimiter, or "a.+x": the base would be no address */
	size_t domain_len = strlen(at);
	if (base + domain_len + 1 > outlen)
		return false;
	memmove(out, s, base);
	memmove(out + base, at, domain_len + 1);
	return true;
}
