/*
 * dns.h - asynchronous DNS for outbound mail: the mail exchangers of a
 * domain (RFC 5321 5.1, RFC 7505) and the addresses of one host, on the
 * daemon's libuv loop. Nothing here blocks: queries go out through c-ares,
 * whose sockets and timeouts the loop watches.
 *
 *   struct dns_resolver *r;
 *   dns_resolver_new(loop, cfg.dns_servers, 10000, &r, err, sizeof(err));
 *   dns_resolve_mail(r, "example.com", mx_done_cb, job_id);
 *   ...
 *   dns_resolver_close(r);   // pending callbacks get DNS_CANCELLED at once
 *
 * Names are looked up in DNS only, never in /etc/hosts: mail routing
 * follows DNS (RFC 5321 5.1), and reading the hosts file would be file
 * I/O on the loop. A next hop known only from /etc/hosts must be
 * configured as an address. Search domains from resolv.conf are not
 * applied: every name is taken as fully qualified.
 *
 * Every result callback is made later on the loop, never from inside the
 * call that started the lookup, exactly once per started lookup. A lookup
 * that fails to start (return -1) has no callback. Callers that may be gone
 * when the result comes should pass an id as `arg`, not a pointer to
 * themselves (STYLE.md, Lifetimes).
 */
#ifndef MAIL_DNS_H
#define MAIL_DNS_H

#include <stdbool.h>
#include <stddef.h>

struct uv_loop_s;

#define DNS_MX_MAX 16   /* MX hosts kept, lowest preference first */
#define DNS_ADDR_MAX 8  /* addresses kept per host */
#define DNS_NAME_MAX 253 /* RFC 1035 2.3.4: a name in text, without the final dot */
/* INET6_ADDRSTRLEN: the longest numeric address text with its NUL. */
#define DNS_ADDR_TEXT_MAX 46
/* The whole of one lookup when dns_resolver_new gets timeout_ms 0. */
#define DNS_DEFAULT_TIMEOUT_MS 30000

enum dns_status {
	DNS_OK = 0,
	DNS_NULL_MX,   /* the domain accepts no mail (RFC 7505): bounce at once */
	DNS_NOT_FOUND, /* NXDOMAIN, or no MX and no A/AAAA, or no exchanger has an address */
	DNS_TEMPFAIL,  /* timeout, SERVFAIL, refused, network: try again later */
	DNS_CANCELLED, /* dns_resolver_close came first */
};

struct dns_host {
	char name[DNS_NAME_MAX + 1];
	unsigned pref; /* MX preference; 0 for an implicit MX and for dns_resolve_host */
	size_t addr_count; /* 0 when this host's own lookup failed */
	/* Numeric IPv4 or IPv6 text, IPv4 first (hosts often lack IPv6 routes),
	 * each once, in DNS order within a family. */
	char addrs[DNS_ADDR_MAX][DNS_ADDR_TEXT_MAX];
};

struct dns_result {
	enum dns_status status;
	/* Human text when status is not DNS_OK, for logs and bounces, e.g.
	 * "nxdomain.test: host not found"; "" when DNS_OK. */
	char error[128];
	bool implicit_mx; /* no MX: the domain's own A/AAAA (RFC 5321 5.1) */
	size_t count;     /* hosts; 0 unless DNS_OK */
	struct dns_host hosts[DNS_MX_MAX];
};

/* The result is valid during the call only; copy what you keep. */
typedef void dns_result_cb(void *arg, const struct dns_result *result);

struct dns_resolver;

/*
 * Creates a resolver on loop. servers: NULL or "" for the system's
 * resolv.conf; else comma-separated "ip", "ip:port" or "[ipv6]:port"
 * (config key dns_servers; port 53 by default), spaces around entries
 * allowed. timeout_ms bounds each dns_resolve_* call as a whole, MX and
 * address lookups together (0: DNS_DEFAULT_TIMEOUT_MS); past it the call
 * reports DNS_TEMPFAIL, or DNS_OK with the hosts resolved so far.
 * Reads resolv.conf once, here. Returns 0, or -1 with the reason in err.
 */
int dns_resolver_new(struct uv_loop_s *loop, const char *servers, unsigned timeout_ms,
                     struct dns_resolver **r, char *err, size_t errlen);

/*
 * Mail exchangers of a domain, RFC 5321 5.1: MX records sorted by
 * preference (equal preferences in random order, a host listed twice kept
 * once at its lowest preference, at most DNS_MX_MAX), then each host's A
 * and AAAA addresses. A host whose address lookup fails keeps addr_count 0
 * and the others still count: DNS_OK when any host has an address; else
 * DNS_TEMPFAIL if any lookup failed temporarily, else DNS_NOT_FOUND.
 * No MX records but the name exists: implicit_mx, with the domain's own
 * A/AAAA as one host of preference 0. A single MX of preference 0 and
 * target "." is DNS_NULL_MX (RFC 7505); a "." among other MX records is
 * skipped. NXDOMAIN is DNS_NOT_FOUND.
 * domain: a name in ASCII (IDNs as A-labels), at most 253 octets, labels
 * of 1-63 letters, digits, '-' or '_', one final dot allowed.
 * Returns 0 and calls cb exactly once later on the loop; or -1 without a
 * callback for a bad name, a closing resolver or no memory, with the
 * reason in dns_resolver_error().
 */
int dns_resolve_mail(struct dns_resolver *r, const char *domain, dns_result_cb *cb, void *arg);

/*
 * One host's A and AAAA addresses (a configured next hop such as
 * relay_host). A numeric IPv4 or IPv6 address is returned as is (in its
 * canonical text), still through a later callback. The result has count 1
 * and pref 0 when DNS_OK; no address at all is DNS_NOT_FOUND. Returns as
 * dns_resolve_mail.
 */
int dns_resolve_host(struct dns_resolver *r, const char *host, dns_result_cb *cb, void *arg);

/*
 * Why the last dns_resolve_* call on r returned -1, e.g.
 * "bad..name: empty label". Owned by r; overwritten by the next refusal.
 */
const char *dns_resolver_error(const struct dns_resolver *r);

/*
 * Cancels every pending lookup: each callback not yet made is made with
 * DNS_CANCELLED before this returns (a callback may start no new lookup:
 * dns_resolve_* returns -1 from then on). Then closes the libuv handles;
 * the resolver's memory is freed in their close callbacks, so the loop
 * must run once more before uv_loop_close. Safe on NULL, and from inside
 * a result callback; r must not be used afterwards.
 */
void dns_resolver_close(struct dns_resolver *r);

#endif
