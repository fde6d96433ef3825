/* proxy_protocol.c - the PROXY protocol v1 and v2 header parser; see proxy_protocol.h. */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* proxy-protocol.txt 2.2: chosen so that it cannot start any v1 line or
 * common protocol's first bytes ("\r\n\r\n\0\r\nQUIT\n"). */
static const unsigned char v2_signature[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
};

static const char v1_prefix[] = "PROXY ";

enum {
	V2_CMD_LOCAL = 0x0,
	V2_CMD_PROXY = 0x1,
	V2_FAM_UNSPEC = 0x00,
	V2_FAM_TCP4 = 0x11,
	V2_FAM_TCP6 = 0x21,
	V2_ADDRS_TCP4 = 4 + 4 + 2 + 2,
	V2_ADDRS_TCP6 = 16 + 16 + 2 + 2,
};

static enum proxy_status fail(const char **why_r, const char *why)
{
	*why_r = why;
	return PROXY_ERROR;
}

/* The next space-separated field of [*p, end): empty when two spaces meet. */
static size_t v1_field(const char **p, const char *end, const char **field_r)
{
	const char *sp = memchr(*p, ' ', (size_t)(end - *p));
	size_t n = sp != NULL ? (size_t)(sp - *p) : (size_t)(end - *p);
	*field_r = *p;
	*p += n + (sp != NULL ? 1 : 0);
	return n;
}

/* An address of `family` in text, rewritten as inet_ntop spells it. */
static bool v1_address(int family, const char *s, size_t n, char out[PROXY_ADDR_MAX])
{
	char text[PROXY_ADDR_MAX];
	unsigned char bin[16];

	if (n == 0 || n >= sizeof(text))
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(family, text, bin) == 1 &&
	       inet_ntop(family, bin, out, PROXY_ADDR_MAX) != NULL;
}

/* proxy-protocol.txt 2.1: a decimal port, 0-65535, without leading zeros. */
static bool v1_port(const char *s, size_t n, unsigned *port_r)
{
	unsigned v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port_r = v;
	return true;
}

static enum proxy_status parse_v1(const char *buf, size_t len, struct proxy_header *hdr,
                                  const char **why_r)
{
	size_t scan = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
	size_t prefix = sizeof(v1_prefix) - 1;

	if (memcmp(buf, v1_prefix, scan < prefix ? scan : prefix) != 0)
		return fail(why_r, "not_proxy");
	/* The line is US-ASCII text up to its CRLF: anything else can be
	 * refused as soon as it arrives, without waiting for the line end. */
	size_t eol = scan;
	for (size_t i = 0; i < scan; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c == '\r') {
			if (i + 2 > PROXY_V1_MAX)
				return fail(why_r, "v1_too_long");
			if (i + 1 == len)
				return PROXY_NEED_MORE;
			if (buf[i + 1] != '\n')
				return fail(why_r, "v1_bad_character");
			eol = i;
			break;
		}
		if (c == '\n')
			return fail(why_r, "v1_bad_line_end");
		if (c < 0x20 || c > 0x7e)
			return fail(why_r, "v1_bad_character");
	}
	if (eol == scan)
		return scan == PROXY_V1_MAX ? fail(why_r, "v1_too_long") : PROXY_NEED_MORE;

	const char *p = buf + prefix, *end = buf + eol, *f;
	size_t n = v1_field(&p, end, &f);
	hdr->version = 1;
	hdr->len = eol + 2;
	/* 2.1: after UNKNOWN the receiver ignores everything up to the CRLF. */
	if (n == 7 && memcmp(f, "UNKNOWN", 7) == 0) {
		hdr->local = true;
		return PROXY_DONE;
	}
	if (n != 4 || (memcmp(f, "TCP4", 4) != 0 && memcmp(f, "TCP6", 4) != 0))
		return fail(why_r, "v1_bad_protocol");
	hdr->family = f[3] == '4' ? AF_INET : AF_INET6;

	const char *src, *dst, *sport, *dport;
	size_t src_n = v1_field(&p, end, &src);
	size_t dst_n = v1_field(&p, end, &dst);
	size_t sport_n = v1_field(&p, end, &sport);
	/* The last field runs to the CRLF: a space in it is one field too many. */
	size_t dport_n = (size_t)(end - p);
	dport = p;
	if (src == end || dst == end || sport == end || dport_n == 0)
		return fail(why_r, "v1_missing_field");
	if (!v1_address(hdr->family, src, src_n, hdr->src_ip) ||
	    !v1_address(hdr->family, dst, dst_n, hdr->dst_ip))
		return fail(why_r, "v1_bad_address");
	if (!v1_port(sport, sport_n, &hdr->src_port) || !v1_port(dport, dport_n, &hdr->dst_port))
		return fail(why_r, "v1_bad_port");
	return PROXY_DONE;
}

static enum proxy_status parse_v2(const unsigned char *buf, size_t len,
                                  struct proxy_header *hdr, const char **why_r)
{
	size_t sig = sizeof(v2_signature);

	if (memcmp(buf, v2_signature, len < sig ? len : sig) != 0)
		return fail(why_r, "not_proxy");
	if (len <= sig)
		return PROXY_NEED_MORE;
	/* Each field is judged as soon as it has arrived. */
	unsigned version = buf[12] >> 4, command = buf[12] & 0x0f;
	if (version != 2)
		return fail(why_r, "v2_bad_version");
	if (command != V2_CMD_LOCAL && command != V2_CMD_PROXY)
		return fail(why_r, "v2_bad_command");
	if (len < PROXY_V2_FIXED)
		return PROXY_NEED_MORE;
	unsigned family = buf[13];
	size_t body = (size_t)buf[14] << 8 | buf[15];
	if (body > PROXY_V2_LEN_MAX)
		return fail(why_r, "v2_too_long");
	/* 2.2: a LOCAL header's family and addresses are to be ignored. */
	if (command == V2_CMD_PROXY && family != V2_FAM_UNSPEC && family != V2_FAM_TCP4 &&
	    family != V2_FAM_TCP6)
		return fail(why_r, "v2_unsupported_family");
	if (command == V2_CMD_PROXY && family == V2_FAM_TCP4 && body < V2_ADDRS_TCP4)
		return fail(why_r, "v2_short_addresses");
	if (command == V2_CMD_PROXY && family == V2_FAM_TCP6 && body < V2_ADDRS_TCP6)
		return fail(why_r, "v2_short_addresses");
	if (len < PROXY_V2_FIXED + body)
		return PROXY_NEED_MORE;

	hdr->version = 2;
	hdr->len = PROXY_V2_FIXED + body;
	if (command == V2_CMD_LOCAL || family == V2_FAM_UNSPEC) {
		hdr->local = true;
		return PROXY_DONE;
	}
	/* The address block: source address, destination address, source
	 * port, destination port; the TLVs after it are skipped. */
	const unsigned char *a = buf + PROXY_V2_FIXED;
	size_t alen = family == V2_FAM_TCP4 ? 4 : 16;
	hdr->family = family == V2_FAM_TCP4 ? AF_INET : AF_INET6;
	if (inet_ntop(hdr->family, a, hdr->src_ip, sizeof(hdr->src_ip)) == NULL ||
	    inet_ntop(hdr->family, a + alen, hdr->dst_ip, sizeof(hdr->dst_ip)) == NULL)
		return fail(why_r, "v2_bad_address"); /* not reached: any 4 or 16 bytes print */
	hdr->src_port = (unsigned)a[2 * alen] << 8 | a[2 * alen + 1];
	hdr->dst_port = (unsigned)a[2 * alen + 2] << 8 | a[2 * alen + 3];
	return PROXY_DONE;
}

enum proxy_status proxy_parse(const void *buf, size_t len, struct proxy_header *hdr_r,
                              const char **why_r)
{
	const unsigned char *b = buf;

	memset(hdr_r, 0, sizeof(*hdr_r));
	hdr_r->family = AF_UNSPEC;
	*why_r = NULL;
	if (len == 0)
		return PROXY_NEED_MORE;
	/* The first byte tells the versions apart: 'P' or the signature's CR. */
	if (b[0] == v1_prefix[0])
		return parse_v1(buf, len, hdr_r, why_r);
	if (b[0] == v2_signature[0])
		return parse_v2(b, len, hdr_r, why_r);
	return fail(why_r, "not_proxy");
}
