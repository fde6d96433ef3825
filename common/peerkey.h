/*
 * peerkey.h - what a client is counted as, for the limits per client
 * (max_connections_per_ip, the failed-login budget).
 *
 * An IPv4 address counts as itself; an IPv6 address by its /64 prefix,
 * because one host or one customer network usually owns a whole /64 and
 * can use any address in it (RFC 4291 2.5.1, RFC 6177); an IPv4-mapped
 * IPv6 address (::ffff:192.0.2.1) as the IPv4 address it maps. Text that
 * is neither counts as its first PEERKEY_LEN - 1 bytes.
 */
#ifndef MAIL_PEERKEY_H
#define MAIL_PEERKEY_H

/* A family byte, then 16 octets (IPv4: 4 used; IPv6: the /64, 8 used). */
#define PEERKEY_LEN 17

/* Fills key with the key of the address text `ip` (every byte is set). */
void peerkey_make(const char *ip, unsigned char key[PEERKEY_LEN]);

#endif
