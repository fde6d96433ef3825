/*
 * route.h - where outbound mail for a domain goes: the `routes` and
 * `relay_host` configuration keys, parsed once (config_load refuses a bad
 * value at start-up, with the reason) and looked up per recipient domain.
 *
 *   routes = example.com=mx1.example.net:25, .example.org=[2001:db8::25], *=relay:587
 *
 * A route's domain is a domain name (that domain only), ".domain" (every
 * subdomain of it, not the domain itself, as in Postfix's transport maps)
 * or "*" (every domain). Its next hop is "host", "host:port", "[IPv6]" or
 * "[IPv6]:port"; the port defaults to 25. The most specific route wins:
 * the exact domain, then the longest matching ".domain", then "*". A
 * domain no route matches goes to relay_host if it is set, else to DNS MX
 * (RFC 5321 5.1); that choice is the delivery code's, not this table's.
 */
#ifndef MAIL_ROUTE_H
#define MAIL_ROUTE_H

#include <stddef.h>

/* Routes in one `routes` value (each is a line of the operator's own making). */
#define ROUTE_MAX 64
/* RFC 1035 2.3.4: a domain name is at most 253 octets in text. */
#define ROUTE_NAME_MAX 253
/* RFC 5321 4.5.3.1: port 25 unless the route says otherwise. */
#define ROUTE_DEFAULT_PORT 25

struct route_hop {
	char host[ROUTE_NAME_MAX + 1]; /* a host name, an IPv4 address or an IPv6 one (no brackets) */
	unsigned port;                 /* 1-65535 */
};

struct route {
	char domain[ROUTE_NAME_MAX + 2]; /* lower case: "example.com", ".example.com" or "*" */
	struct route_hop hop;
};

struct route_table {
	struct route routes[ROUTE_MAX];
	size_t count;
};

/*
 * Parses one next hop ("host", "host:port", "[IPv6]", "[IPv6]:port") from
 * text[0..len), surrounding spaces excluded by the caller. Returns 0, or -1
 * with the reason in why.
 */
int route_hop_parse(const char *text, size_t len, struct route_hop *hop, char *why,
                    size_t whylen);

/*
 * Parses a `routes` value: comma-separated "domain=hop" entries, spaces
 * around each part ignored; an empty value is an empty table. A domain
 * listed twice is refused (the second would never be used). Returns 0, or
 * -1 with the reason in why.
 */
int route_table_parse(const char *text, struct route_table *table, char *why, size_t whylen);

/* The route for a recipient domain (any case), or NULL when none matches. */
const struct route *route_table_find(const struct route_table *table, const char *domain);

#endif
