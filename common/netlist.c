/* netlist.c - lists of networks in configuration values; see netlist.h. */
#include "netlist.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* Longest item: an IPv6 address (45) and "/128". */
#define NETLIST_ITEM_MAX 64

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* True when no bit of addr past the first `prefix` is set. */
static bool host_bits_clear(const unsigned char *addr, unsigned prefix, unsigned bits)
{
	for (unsigned i = prefix; i < bits; i++) {
		if (addr[i / 8] & (0x80u >> (i % 8)))
			return false;
	}
	return true;
}

/* One "address[/prefix]" item of len bytes into *net. */
static int parse_item(const char *item, size_t len, struct netlist_net *net, char *why,
                      size_t whylen)
{
	char text[NETLIST_ITEM_MAX];

	if (len >= sizeof(text)) {
		snprintf(why, whylen, "bad network '%.*s...' (too long)", 32, item);
		return -1;
	}
	memcpy(text, item, len);
	text[len] = '\0';

	char *slash = strchr(text, '/');
	if (slash != NULL)
		*slash = '\0';
	memset(net, 0, sizeof(*net));
	unsigned bits;
	if (inet_pton(AF_INET, text, net->addr) == 1) {
		net->family = 4;
		bits = 32;
	} else if (inet_pton(AF_INET6, text, net->addr) == 1) {
		net->family = 6;
		bits = 128;
	} else {
		if (slash != NULL)
			*slash = '/';
		snprintf(why, whylen, "bad network '%s' (expected an IPv4 or IPv6 address, "
		         "optionally with /prefix)", text);
		return -1;
	}
	unsigned prefix = bits;
	if (slash != NULL) {
		const char *p = slash + 1;
		size_t n = strlen(p);
		*slash = '/';
		prefix = 0;
		/* Decimal, no sign or leading zeros: "/08" is more likely a typo than 8. */
		bool ok = n >= 1 && n <= 3 && !(n > 1 && p[0] == '0');
		for (size_t i = 0; ok && i < n; i++) {
			ok = p[i] >= '0' && p[i] <= '9';
			prefix = prefix * 10 + (unsigned)(p[i] - '0');
		}
		if (!ok || prefix > bits) {
			snprintf(why, whylen, "bad network '%s' (prefix length must be 0-%u)", text, bits);
			return -1;
		}
	}
	if (!host_bits_clear(net->addr, prefix, bits)) {
		snprintf(why, whylen, "bad network '%s' (address has bits set past the /%u prefix)",
		         text, prefix);
		return -1;
	}
	net->prefix = (unsigned char)prefix;
	return 0;
}

int netlist_parse(const char *text, struct netlist *list, char *why, size_t whylen)
{
	memset(list, 0, sizeof(*list));
	if (*text == '\0')
		return 0;
	for (const char *p = text;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && is_space(*p)) {
			p++;
			len--;
		}
		while (len > 0 && is_space(p[len - 1]))
			len--;
		if (len == 0) {
			snprintf(why, whylen, "empty item in list");
			return -1;
		}
		if (list->count == NETLIST_MAX) {
			snprintf(why, whylen, "more than %d networks", NETLIST_MAX);
			return -1;
		}
		if (parse_item(p, len, &list->net[list->count], why, whylen) != 0)
			return -1;
		list->count++;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

/* True when the first `prefix` bits of a and b are equal. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff00u >> rest);
	return (a[bytes] & mask) == (b[bytes] & mask);
}

bool netlist_match(const struct netlist *list, const char *ip)
{
	static const unsigned char v4mapped[12] = { [10] = 0xff, [11] = 0xff };
	unsigned char a[16];
	const unsigned char *key;
	unsigned char family;

	if (list->count == 0)
		return false;
	if (inet_pton(AF_INET, ip, a) == 1) {
		family = 4;
		key = a;
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		family = memcmp(a, v4mapped, sizeof(v4mapped)) == 0 ? 4 : 6;
		key = family == 4 ? a + 12 : a;
	} else {
		return false;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct netlist_net *net = &list->net[i];
		if (net->family == family && prefix_equal(net->addr, key, net->prefix))
			return true;
	}
	return false;
}
