/*
 * netlist.h - a list of networks, for configuration keys that name the
 * peers trusted with something (proxy_protocol_from):
 *
 *   10.0.0.0/8, 192.168.1.7, fd00::/8, ::1
 *
 * Each item is an IPv4 or IPv6 address with an optional /prefix length
 * (a single address without one). Host bits set below the prefix
 * ("10.0.0.1/8") are refused: a trust setting should not be read two
 * ways. Parsed once at start-up into a fixed array; matched per accepted
 * connection against its peer address text.
 */
#ifndef MAIL_NETLIST_H
#define MAIL_NETLIST_H

#include <stdbool.h>
#include <stddef.h>

/* Networks in one value: load balancers are a handful of addresses or one subnet. */
#define NETLIST_MAX 32

struct netlist_net {
	unsigned char family; /* 4 or 6 */
	unsigned char prefix; /* 0-32 or 0-128 */
	unsigned char addr[16];
};

struct netlist {
	size_t count;
	struct netlist_net net[NETLIST_MAX];
};

/*
 * Parses a comma-separated list (spaces and tabs around items ignored);
 * an empty value is an empty list. Returns 0, or -1 with the reason in
 * why ("bad network 'x' (...)"); *list is then unspecified.
 */
int netlist_parse(const char *text, struct netlist *list, char *why, size_t whylen);

/*
 * True when the address text `ip` (as uv_ip_name writes it) lies in one of
 * the networks. An IPv4-mapped IPv6 address (::ffff:192.0.2.1) matches
 * as the IPv4 address it maps. Text that is no address matches nothing.
 */
bool netlist_match(const struct netlist *list, const char *ip);

#endif
