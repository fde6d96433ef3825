/*
 * proxy_protocol.h - the PROXY protocol header (HAProxy's
 * proxy-protocol.txt, versions 1 and 2) that a load balancer sends
 * before anything else on a connection, naming the client it accepted
 * the connection from.
 *
 * Pure code: no I/O, no allocation, no state between calls. The caller
 * keeps the bytes received so far and presents all of them, from the
 * first, after each read; proxy_parse() says whether they hold a whole
 * header (and how many bytes it took, so that what follows - a TLS
 * ClientHello, pipelined commands - stays the caller's), need more, or
 * cannot be the start of one. It never needs more than PROXY_HEADER_MAX
 * bytes to decide, so the caller's buffer stays bounded.
 *
 * Version 1 is one text line:
 *
 *   PROXY TCP4 203.0.113.7 192.0.2.25 56324 25\r\n
 *   PROXY TCP6 2001:db8::7 2001:db8::25 56324 25\r\n
 *   PROXY UNKNOWN[ anything]\r\n
 *
 * with single spaces, addresses in their usual text form, decimal ports
 * 0-65535 without leading zeros, at most 107 bytes with the CRLF.
 * Version 2 is a 12-byte signature, a version/command byte (0x20 LOCAL,
 * 0x21 PROXY), a family/transport byte (0x11 TCP over IPv4, 0x21 TCP
 * over IPv6, 0x00 unspecified), a 16-bit length in network order and
 * that many bytes: the addresses and ports, then TLVs, which are skipped.
 *
 * A header that names no client - v1 UNKNOWN, v2 LOCAL (the balancer's
 * own health check), or v2 PROXY with the unspecified family - is valid:
 * the spec asks the receiver to keep the connection's own addresses.
 * Anything else is refused: UDP and UNIX-socket families, unknown
 * versions and commands, and v2 blocks longer than PROXY_V2_LEN_MAX.
 */
#ifndef MAIL_PROXY_PROTOCOL_H
#define MAIL_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

/* proxy-protocol.txt 2.1: the longest v1 line, "PROXY TCP6" with two
 * full-length IPv6 addresses and ports, is 107 bytes with its CRLF. */
#define PROXY_V1_MAX 107

/* Bytes before a v2 header's variable part: signature, command, family, length. */
#define PROXY_V2_FIXED 16

/*
 * The largest v2 length field we accept: the 36 bytes of two IPv6
 * addresses and ports leave 476 for TLVs, room for what balancers send
 * (a unique id up to 128 bytes, a cloud endpoint id, a CRC), while the
 * bytes held before a header is complete stay small. The spec allows up
 * to 65535; a longer header is refused rather than half read.
 */
#define PROXY_V2_LEN_MAX 512

/* The most bytes proxy_parse() ever needs to see. */
#define PROXY_HEADER_MAX (PROXY_V2_FIXED + PROXY_V2_LEN_MAX)

/* INET6_ADDRSTRLEN: the longest address text, NUL included. */
#define PROXY_ADDR_MAX 46

enum proxy_status {
	PROXY_NEED_MORE, /* a proper prefix of a header: read more, call again with all */
	PROXY_DONE,      /* a whole header: *hdr_r is filled */
	PROXY_ERROR,     /* not a header we accept: *why_r says why */
};

struct proxy_header {
	size_t len;       /* the header's bytes; buf[len..] follows it */
	unsigned version; /* 1 or 2 */
	bool local;       /* names no client (UNKNOWN, LOCAL, unspecified family) */
	int family;       /* AF_INET or AF_INET6; AF_UNSPEC when local */
	/* The client (src) and the address it connected to (dst), as
	 * inet_ntop writes them; empty and 0 when local. */
	char src_ip[PROXY_ADDR_MAX];
	char dst_ip[PROXY_ADDR_MAX];
	unsigned src_port, dst_port;
};

/*
 * Looks at the first `len` bytes received on a connection. Returns
 * PROXY_DONE with *hdr_r filled, PROXY_NEED_MORE (nothing is wrong yet),
 * or PROXY_ERROR with *why_r set to a static reason fit for a log value
 * ("not_proxy", "v1_too_long", "v2_bad_command", ...). Bytes past the
 * header are never examined, so the result for a given header does not
 * depend on what follows it, and it is the same however the bytes were
 * split across reads.
 */
enum proxy_status proxy_parse(const void *buf, size_t len, struct proxy_header *hdr_r,
                              const char **why_r);

#endif
