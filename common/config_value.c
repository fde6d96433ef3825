/* config_value.c - the syntax of config values: numbers, sizes, booleans, listen lists. */
#include "config-private.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int config__is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses decimal digits only (no sign, no spaces) into *v_r; -1 when not a number or too big. */
int config__parse_decimal(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* Writes a size the way the file would spell it: "25M", "1K", "1000". */
void config__format_size(uint64_t v, char *out, size_t outlen)
{
	static const char suffix[] = "GMK";
	for (unsigned i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * i;
		if (v != 0 && v % (UINT64_C(1) << shift) == 0) {
			snprintf(out, outlen, "%" PRIu64 "%c", v >> shift, suffix[i]);
			return;
		}
	}
	snprintf(out, outlen, "%" PRIu64, v);
}

/* Parses "25M": digits and an optional K, M or G (powers of 1024). */
int config__parse_size(const char *s, uint64_t *v_r)
{
	size_t len = strlen(s);
	unsigned shift = 0;

	if (len > 0) {
		switch (s[len - 1]) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: break;
		}
	}
	if (config__parse_decimal(s, shift != 0 ? len - 1 : len, v_r) != 0)
		return -1;
	if (*v_r > UINT64_MAX >> shift)
		return -1;
	*v_r <<= shift;
	return 0;
}

int config_parse_size(const char *s, uint64_t *v_r)
{
	return config__parse_size(s, v_r);
}

int config__parse_bool(const char *s, int *v_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v_r = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v_r = 0;
			return 0;
		}
	}
	return -1;
}

/* A host name of letters, digits, dots and hyphens, or a dotted IPv4 address. */
int config__valid_host(const char *host)
{
	int only_digits_and_dots = 1;

	if (*host == '\0')
		return 0;
	for (const char *p = host; *p != '\0'; p++) {
		char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-')
			only_digits_and_dots = 0;
		else if (!((c >= '0' && c <= '9') || c == '.'))
			return 0;
	}
	if (only_digits_and_dots) {
		struct in_addr a;
		return inet_pton(AF_INET, host, &a) == 1;
	}
	return 1;
}

/* An IPv6 zone: an interface name or number. */
static int config_valid_zone(const char *zone)
{
	if (*zone == '\0')
		return 0;
	for (const char *p = zone; *p != '\0'; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

/* config_listen_split() with the reason for a refusal in why. */
static int config_split(const char *addr, char *host_r, size_t hostlen, unsigned *port_r,
                        char *why, size_t whylen)
{
	const char *host = addr, *host_end, *port;

	if (addr[0] == '[') {
		host = addr + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL || host_end[1] != ':') {
			snprintf(why, whylen, "bad address '%s' (IPv6 is written [address]:port)", addr);
			return -1;
		}
		port = host_end + 2;
	} else {
		host_end = strrchr(addr, ':');
		if (host_end == NULL) {
			snprintf(why, whylen, "bad address '%s' (expected host:port)", addr);
			return -1;
		}
		if (memchr(addr, ':', (size_t)(host_end - addr)) != NULL) {
			snprintf(why, whylen, "bad address '%s' (IPv6 is written [address]:port)", addr);
			return -1;
		}
		port = host_end + 1;
	}

	size_t len = (size_t)(host_end - host);
	char hostbuf[64];
	if (len >= sizeof(hostbuf) || len >= hostlen) {
		snprintf(why, whylen, "bad address '%s' (host too long)", addr);
		return -1;
	}
	memcpy(hostbuf, host, len);
	hostbuf[len] = '\0';
	if (addr[0] == '[') {
		/* A link-local address may name its interface: [fe80::1%eth0]. */
		char *zone = strchr(hostbuf, '%');
		if (zone != NULL)
			*zone = '\0';
		struct in6_addr a6;
		int ok = inet_pton(AF_INET6, hostbuf, &a6) == 1 &&
		         (zone == NULL || config_valid_zone(zone + 1));
		if (zone != NULL)
			*zone = '%';
		if (!ok) {
			snprintf(why, whylen, "bad address '%s' (not an IPv6 address)", addr);
			return -1;
		}
	} else if (!config__valid_host(hostbuf)) {
		snprintf(why, whylen, "bad address '%s' (bad host)", addr);
		return -1;
	}

	uint64_t p;
	if (config__parse_decimal(port, strlen(port), &p) != 0 || p < 1 || p > 65535) {
		snprintf(why, whylen, "bad address '%s' (port must be 1-65535)", addr);
		return -1;
	}
	memcpy(host_r, hostbuf, len + 1);
	*port_r = (unsigned)p;
	return 0;
}

int config_listen_split(const char *addr, char *host_r, size_t hostlen, unsigned *port_r)
{
	char why[CONFIG_WHY_MAX];
	return config_split(addr, host_r, hostlen, port_r, why, sizeof(why));
}

int config__parse_listen(const char *value, struct config_listen *l, char *why,
                                size_t whylen)
{
	memset(l, 0, sizeof(*l));
	if (*value == '\0')
		return 0; /* disabled */

	const char *p = value;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && config__is_space(*p)) {
			p++;
			len--;
		}
		while (len > 0 && config__is_space(p[len - 1]))
			len--;

		if (len == 0) {
			snprintf(why, whylen, "empty address in list");
			return -1;
		}
		if (l->count == CONFIG_MAX_LISTEN) {
			snprintf(why, whylen, "more than %d addresses", CONFIG_MAX_LISTEN);
			return -1;
		}
		char *addr = l->addr[l->count];
		if (len >= sizeof(l->addr[0])) {
			snprintf(why, whylen, "bad address '%.*s' (too long)", (int)len, p);
			return -1;
		}
		memcpy(addr, p, len);
		addr[len] = '\0';

		char host[sizeof(l->addr[0])];
		unsigned port;
		if (config_split(addr, host, sizeof(host), &port, why, whylen) != 0)
			return -1;
		for (size_t i = 0; i < l->count; i++) {
			if (strcmp(l->addr[i], addr) == 0) {
				snprintf(why, whylen, "address '%s' listed twice", addr);
				return -1;
			}
		}
		l->count++;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}
