/*
 * fuzz_proxy_protocol.c - the PROXY protocol header parser
 * (common/proxy_protocol.h), the first thing a trusted load balancer's
 * bytes meet. The input is the start of a connection.
 *
 * Checked, over every prefix of the input as well as the whole, which is
 * how a header split across reads is parsed:
 *  - PROXY_NEED_MORE only below PROXY_HEADER_MAX bytes (the caller's
 *    buffer stays bounded);
 *  - a decision never changes with more bytes: once PROXY_DONE, the same
 *    header; once PROXY_ERROR, the same reason;
 *  - a header is no longer than the bytes seen, a v1 one at most 107
 *    bytes ending in CRLF, a v2 one 16 bytes plus its length field;
 *  - the addresses are NUL-terminated text that inet_pton reads back in
 *    the family reported, and a local header names none;
 *  - a header written back from what was parsed (v1 text, v2 without
 *    TLVs) parses to the same client and ports.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool same_header(const struct proxy_header *a, const struct proxy_header *b)
{
	return a->len == b->len && a->version == b->version && a->local == b->local &&
	       a->family == b->family && strcmp(a->src_ip, b->src_ip) == 0 &&
	       strcmp(a->dst_ip, b->dst_ip) == 0 && a->src_port == b->src_port &&
	       a->dst_port == b->dst_port;
}

static void check_address(int family, const char *ip)
{
	unsigned char bin[16];
	CHECK(memchr(ip, '\0', PROXY_ADDR_MAX) != NULL);
	CHECK(inet_pton(family, ip, bin) == 1);
}

static void check_header(const uint8_t *data, size_t seen, const struct proxy_header *h)
{
	CHECK(h->len > 0 && h->len <= seen && h->len <= PROXY_HEADER_MAX);
	CHECK(h->version == 1 || h->version == 2);
	if (h->version == 1) {
		CHECK(h->len <= PROXY_V1_MAX && h->len >= 8);
		CHECK(memcmp(data, "PROXY ", 6) == 0);
		CHECK(data[h->len - 2] == '\r' && data[h->len - 1] == '\n');
		CHECK(memchr(data, '\n', h->len - 1) == NULL);
	} else {
		CHECK(h->len >= PROXY_V2_FIXED);
		CHECK(h->len == PROXY_V2_FIXED + ((size_t)data[14] << 8 | data[15]));
	}
	if (h->local) {
		CHECK(h->family == AF_UNSPEC && h->src_ip[0] == '\0' && h->dst_ip[0] == '\0');
		CHECK(h->src_port == 0 && h->dst_port == 0);
		return;
	}
	CHECK(h->family == AF_INET || h->family == AF_INET6);
	check_address(h->family, h->src_ip);
	check_address(h->family, h->dst_ip);
	CHECK(h->src_port <= 65535 && h->dst_port <= 65535);
}

/* Writes the parsed header back in its version and parses that. */
static void check_round_trip(const struct proxy_header *h)
{
	unsigned char buf[PROXY_HEADER_MAX];
	size_t n;

	if (h->local)
		return;
	if (h->version == 1) {
		int w = snprintf((char *)buf, sizeof(buf), "PROXY %s %s %s %u %u\r\n",
		                 h->family == AF_INET ? "TCP4" : "TCP6", h->src_ip, h->dst_ip,
		                 h->src_port, h->dst_port);
		CHECK(w > 0 && (size_t)w < sizeof(buf));
		n = (size_t)w;
	} else {
		static const unsigned char sig[12] = { '\r', '\n', '\r', '\n', 0, '\r', '\n',
		                                       'Q', 'U', 'I', 'T', '\n' };
		size_t alen = h->family == AF_INET ? 4 : 16;
		memcpy(buf, sig, sizeof(sig));
		buf[12] = 0x21;
		buf[13] = h->family == AF_INET ? 0x11 : 0x21;
		buf[14] = 0;
		buf[15] = (unsigned char)(2 * alen + 4);
		CHECK(inet_pton(h->family, h->src_ip, buf + 16) == 1);
		CHECK(inet_pton(h->family, h->dst_ip, buf + 16 + alen) == 1);
		unsigned char *p = buf + 16 + 2 * alen;
		p[0] = (unsigned char)(h->src_port >> 8);
		p[1] = (unsigned char)h->src_port;
		p[2] = (unsigned char)(h->dst_port >> 8);
		p[3] = (unsigned char)h->dst_port;
		n = 16 + 2 * alen + 4;
	}
	struct proxy_header again;
	const char *why;
	CHECK(proxy_parse(buf, n, &again, &why) == PROXY_DONE);
	CHECK(again.len == n && again.version == h->version && !again.local);
	CHECK(again.family == h->family && strcmp(again.src_ip, h->src_ip) == 0 &&
	      strcmp(again.dst_ip, h->dst_ip) == 0);
	CHECK(again.src_port == h->src_port && again.dst_port == h->dst_port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header first, h;
	const char *first_why = NULL, *why;
	enum proxy_status decided = PROXY_NEED_MORE;

	/* Past PROXY_HEADER_MAX + 1 bytes every prefix must be decided. */
	size_t last = size < PROXY_HEADER_MAX + 1 ? size : PROXY_HEADER_MAX + 1;
	for (size_t k = 0; k <= last; k++) {
		enum proxy_status st = proxy_parse(data, k, &h, &why);
		if (decided == PROXY_NEED_MORE) {
			if (st == PROXY_NEED_MORE) {
				CHECK(k < PROXY_HEADER_MAX);
				continue;
			}
			decided = st;
			if (st == PROXY_DONE) {
				check_header(data, k, &h);
				check_round_trip(&h);
				first = h;
			} else {
				CHECK(st == PROXY_ERROR && why != NULL);
				first_why = why;
			}
			continue;
		}
		CHECK(st == decided);
		if (st == PROXY_DONE)
			CHECK(same_header(&h, &first));
		else
			CHECK(strcmp(why, first_why) == 0);
	}
	/* The whole input, however long, agrees with its prefixes. */
	enum proxy_status st = proxy_parse(data, size, &h, &why);
	CHECK(st == decided);
	if (st == PROXY_DONE)
		CHECK(same_header(&h, &first));
	else if (st == PROXY_ERROR)
		CHECK(strcmp(why, first_why) == 0);
	return 0;
}
