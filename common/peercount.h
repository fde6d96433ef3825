/*
 * peercount.h - live connections per client, for the
 * max_connections_per_ip limit.
 *
 * Calls take the address text ("192.0.2.1", "2001:db8::1"); a client is
 * an IPv4 address or an IPv6 /64 (peerkey.h), so a host that owns a /64
 * cannot multiply its allowance by connecting from many of its addresses.
 * A chained hash table keyed by the peerkey; an entry exists only while
 * its count is above zero, so the table's size follows the number of
 * distinct clients connected now, not the number ever seen. Loop thread
 * only.
 */
#ifndef MAIL_PEERCOUNT_H
#define MAIL_PEERCOUNT_H

#include <stddef.h>

/* INET6_ADDRSTRLEN: the longest address text, NUL included. */
#define PEERCOUNT_ADDR_MAX 46

struct peercount_entry;

struct peercount {
	struct peercount_entry **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first add */
	size_t nentries;
};

void peercount_init(struct peercount *pc);

/* Live connections from the client `addr` belongs to (0 if none). */
unsigned peercount_get(const struct peercount *pc, const char *addr);

/* Counts one more connection from addr's client. Returns 0, or -1 when out of memory. */
int peercount_add(struct peercount *pc, const char *addr);

/* Counts one fewer; the entry goes away at zero. addr must have been added. */
void peercount_remove(struct peercount *pc, const char *addr);

/* Frees the table (entries included). */
void peercount_free(struct peercount *pc);

#endif
