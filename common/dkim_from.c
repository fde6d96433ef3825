/*
 * dkim_from.c - the domain of a message's From: address (RFC 5322 3.4,
 * 3.6.2), which decides whether and with whose key a message is signed.
 *
 * Not a full RFC 5322 parser: it needs only the first mailbox's domain.
 * Comments are dropped and quoted strings skipped, so neither a display
 * name nor a comment ("Mallory <m@evil.test> (x@example.test)") can pass
 * for the address. The domain is then checked by the service's own domain
 * rules (smtp_address.h).
 */
#include <stdlib.h>
#include <string.h>

#include "dkim-private.h"
#include "smtp_address.h"

#define IS_WSP(c) ((c) == ' ' || (c) == '\t')

/* The value of a field unfolded, comments (nested, with quoted pairs)
 * made one space; quoted strings kept as they are. NULL on a comment
 * left open or no memory. */
static char *unfold_uncomment(const char *v, size_t len, size_t *len_r)
{
	char *out = malloc(len + 1);
	size_t n = 0;
	int depth = 0;
	bool quoted = false;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == '\\' && (quoted || depth > 0) && i + 1 < len) {
			if (depth == 0) {
				out[n++] = c;
				out[n++] = v[i + 1];
			}
			i++;
			continue;
		}
		if (depth > 0) {
			if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				out[n++] = ' ';
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (c == '(' && !quoted) {
			depth = 1;
			continue;
		}
		out[n++] = c;
	}
	if (depth > 0) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

/* The first of `stops` in s[from..len) outside quoted strings, or len. */
static size_t find_outside_quotes(const char *s, size_t len, size_t from, const char *stops)
{
	bool quoted = false;
	for (size_t i = from; i < len; i++) {
		if (s[i] == '\\' && quoted) {
			i++;
		} else if (s[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && strchr(stops, s[i]) != NULL) {
			return i;
		}
	}
	return len;
}

/* The domain of the addr-spec s[0..len): after its last '@' outside
 * quoted strings, checked as a DNS name. */
static int addr_spec_domain(const char *s, size_t len, char *out, size_t outlen)
{
	size_t at = len, i = 0;
	while ((i = find_outside_quotes(s, len, i, "@")) < len)
		at = i++;
	if (at == len)
		return -1;
	size_t local = 0;
	while (local < at && IS_WSP(s[local]))
		local++;
	if (local == at)
		return -1; /* no local part */
	const char *d = s + at + 1;
	size_t dlen = len - at - 1;
	while (dlen > 0 && IS_WSP(d[0])) {
		d++;
		dlen--;
	}
	while (dlen > 0 && IS_WSP(d[dlen - 1]))
		dlen--;
	struct smtp_domain dom;
	if (smtp_address_parse_domain(d, dlen, SMTP_ADDRESS_UTF8, &dom) != SMTP_ADDRESS_OK ||
	    dom.kind != SMTP_DOMAIN_NAME)
		return -1;
	size_t n = strlen(dom.name);
	if (n + 1 > outlen)
		return -1;
	memcpy(out, dom.name, n + 1);
	return 0;
}

/* The first mailbox of a mailbox-list, address-list or group. */
static int first_mailbox_domain(const char *v, size_t len, char *out, size_t outlen)
{
	size_t start = 0;
	bool in_group = false;
	for (;;) {
		size_t stop = find_outside_quotes(v, len, start, in_group ? "<,;" : "<,:;");
		if (stop < len && v[stop] == ':') {
			/* RFC 5322 3.4: display-name ":" [group-list] ";" */
			in_group = true;
			start = stop + 1;
			continue;
		}
		if (stop < len && v[stop] == '<') {
			size_t close = find_outside_quotes(v, len, stop + 1, ">");
			if (close == len)
				return -1;
			/* obs-route (RFC 5322 4.4): "<@relay:user@domain>". */
			size_t route = find_outside_quotes(v, close, stop + 1, ":");
			size_t from = route < close ? route + 1 : stop + 1;
			return addr_spec_domain(v + from, close - from, out, outlen);
		}
		/* A bare addr-spec up to the next separator; obs-mbox-list
		 * allows empty members (", a@b"). */
		size_t i = start;
		while (i < stop && IS_WSP(v[i]))
			i++;
		if (i < stop)
			return addr_spec_domain(v + start, stop - start, out, outlen);
		if (stop == len || v[stop] == ';')
			return -1;
		start = stop + 1;
	}
}

int dkim_from_domain(const char *headers, size_t len, char *out, size_t outlen)
{
	struct dkim__field f;
	size_t pos = 0;
	while (dkim__next_field(headers, len, &pos, &f)) {
		if (!dkim__name_is(&f, "from"))
			continue;
		const char *colon = memchr(f.field, ':', f.field_len);
		size_t vlen = 0;
		char *v = unfold_uncomment(colon + 1, f.field_len - (size_t)(colon + 1 - f.field),
		                           &vlen);
		if (v == NULL)
			return -1;
		int rc = first_mailbox_domain(v, vlen, out, outlen);
		free(v);
		return rc;
	}
	return -1;
}
