/* route.c - parsing and looking up outbound routes; see route.h. */
#include "route.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around text[0..*len). */
static const char *trim(const char *text, size_t *len)
{
	while (*len > 0 && is_space(*text)) {
		text++;
		(*len)--;
	}
	while (*len > 0 && is_space(text[*len - 1]))
		(*len)--;
	return text;
}

/* RFC 1035 2.3.1 (as relaxed by RFC 1123 2.1): dot-separated labels of
 * letters, digits and inner hyphens, each 1-63 octets, at most 253 in all. */
static bool valid_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > ROUTE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

/* A name made only of digits and dots must be a real IPv4 address. */
static bool valid_host(const char *host)
{
	size_t len = strlen(host);

	if (strspn(host, "0123456789.") == len) {
		struct in_addr a;
		return inet_pton(AF_INET, host, &a) == 1;
	}
	return valid_name(host, len);
}

static int parse_port(const char *s, size_t len, unsigned *port_r)
{
	unsigned port = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	if (port < 1 || port > 65535)
		return -1;
	*port_r = port;
	return 0;
}

int route_hop_parse(const char *text, size_t len, struct route_hop *hop, char *why,
                    size_t whylen)
{
	const char *host = text, *rest;
	size_t host_len;

	memset(hop, 0, sizeof(*hop));
	hop->port = ROUTE_DEFAULT_PORT;
	if (len > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', len);
		if (close == NULL) {
			snprintf(why, whylen, "next hop '%.*s': no ']' after the IPv6 address",
			         (int)(len > 80 ? 80 : len), text);
			return -1;
		}
		host = text + 1;
		host_len = (size_t)(close - host);
		rest = close + 1;
	} else {
		const char *colon = memchr(text, ':', len);
		host_len = colon != NULL ? (size_t)(colon - text) : len;
		rest = text + host_len;
		if (colon != NULL && memchr(colon + 1, ':', len - host_len - 1) != NULL) {
			snprintf(why, whylen, "next hop '%.*s': an IPv6 address is written [address]",
			         (int)(len > 80 ? 80 : len), text);
			return -1;
		}
	}
	size_t rest_len = len - (size_t)(rest - text);
	if (rest_len > 0 && (rest[0] != ':' || parse_port(rest + 1, rest_len - 1, &hop->port) != 0)) {
		snprintf(why, whylen, "next hop '%.*s': the port must be 1-65535",
		         (int)(len > 80 ? 80 : len), text);
		return -1;
	}
	if (host_len == 0 || host_len > ROUTE_NAME_MAX) {
		snprintf(why, whylen, "next hop '%.*s': no host, or a host over %d octets",
		         (int)(len > 80 ? 80 : len), text, ROUTE_NAME_MAX);
		return -1;
	}
	memcpy(hop->host, host, host_len);
	hop->host[host_len] = '\0';
	bool ok;
	if (host != text) {
		struct in6_addr a6;
		ok = inet_pton(AF_INET6, hop->host, &a6) == 1;
	} else {
		ok = valid_host(hop->host);
	}
	if (!ok) {
		snprintf(why, whylen, "next hop '%.*s': '%s' is not a host name or address",
		         (int)(len > 80 ? 80 : len), text, hop->host);
		return -1;
	}
	return 0;
}

/* Parses "domain=hop" in entry[0..len) into r. */
static int parse_entry(const char *entry, size_t len, struct route *r, char *why, size_t whylen)
{
	const char *eq = memchr(entry, '=', len);

	if (eq == NULL) {
		snprintf(why, whylen, "route '%.*s': expected domain=host[:port]",
		         (int)(len > 80 ? 80 : len), entry);
		return -1;
	}
	size_t dlen = (size_t)(eq - entry), hlen = len - dlen - 1;
	const char *domain = trim(entry, &dlen);
	const char *hop = trim(eq + 1, &hlen);
	bool any = dlen == 1 && domain[0] == '*';
	bool sub = dlen > 1 && domain[0] == '.';

	if (!any && !valid_name(domain + sub, dlen - sub)) {
		snprintf(why, whylen, "route '%.*s': '%.*s' is not a domain, .domain or *",
		         (int)(len > 80 ? 80 : len), entry, (int)(dlen > 80 ? 80 : dlen), domain);
		return -1;
	}
	for (size_t i = 0; i < dlen; i++)
		r->domain[i] = lower(domain[i]);
	r->domain[dlen] = '\0';
	return route_hop_parse(hop, hlen, &r->hop, why, whylen);
}

int route_table_parse(const char *text, struct route_table *table, char *why, size_t whylen)
{
	const char *p = text;
	size_t all = strlen(text);

	memset(table, 0, sizeof(*table));
	trim(text, &all);
	if (all == 0)
		return 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		const char *entry = trim(p, &len);

		if (table->count == ROUTE_MAX) {
			snprintf(why, whylen, "more than %d routes", ROUTE_MAX);
			return -1;
		}
		struct route *r = &table->routes[table->count];
		if (parse_entry(entry, len, r, why, whylen) != 0)
			return -1;
		for (size_t i = 0; i < table->count; i++) {
			if (strcmp(table->routes[i].domain, r->domain) == 0) {
				snprintf(why, whylen, "route for '%s' given twice", r->domain);
				return -1;
			}
		}
		table->count++;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

const struct route *route_table_find(const struct route_table *table, const char *domain)
{
	const struct route *best = NULL, *any = NULL;
	size_t best_len = 0, len = strlen(domain);

	for (size_t i = 0; i < table->count; i++) {
		const struct route *r = &table->routes[i];
		size_t rlen = strlen(r->domain);

		if (strcmp(r->domain, "*") == 0) {
			any = r;
		} else if (r->domain[0] != '.') {
			if (rlen == len && strcasecmp(r->domain, domain) == 0)
				return r; /* the exact domain: nothing is more specific */
		} else if (len > rlen && strcasecmp(domain + len - rlen, r->domain) == 0 &&
		           rlen > best_len) {
			best = r;
			best_len = rlen;
		}
	}
	return best != NULL ? best : any;
}
