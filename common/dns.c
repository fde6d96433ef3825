/* dns.c - c-ares on the libuv loop for MX and address lookups; see dns.h. */
#include "dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

/* c-ares 1.28 brought the parsed-record query API; 1.34 (Debian 13)
 * deprecates ares_query and ares_parse_mx_reply in its favour. */
#if ARES_VERSION >= 0x011c00
#define DNS_ARES_DNSREC 1
#endif

/* MX records read from one answer before sorting: a domain with more is
 * misconfigured, and only the DNS_MX_MAX best are kept anyway. */
#define MX_READ_MAX 64
/* c-ares tries per server; with the doubling per round (c-ares 1.18) and
 * a third of the deadline for the first try, one server's two tries end
 * with the deadline. */
#define ARES_TRIES 2

struct request;

/* One A/AAAA lookup of a request's host; its address is c-ares's arg. */
struct lookup {
	struct request *req;
	size_t host;
};

struct request {
	struct dns_resolver *r;
	struct request *prev, *next; /* on r->pending, then r->ready */
	dns_result_cb *cb;
	void *arg;
	uint64_t deadline; /* uv_now() milliseconds */
	unsigned queries;  /* c-ares queries outstanding: freed when 0 and delivered */
	size_t lookups_left; /* host lookups not finished yet */
	bool mail;         /* dns_resolve_mail, not dns_resolve_host */
	bool addr_phase;   /* the MX answer is in; address lookups run */
	bool done;         /* result final, on r->ready */
	bool delivered;    /* callback made; only c-ares still holds it */
	bool tempfail;     /* an address lookup failed temporarily */
	char name[DNS_NAME_MAX + 1];
	char first_error[96]; /* the first host's failure, for the result text */
	struct lookup lookups[DNS_MX_MAX];
	struct dns_result result;
};

struct request_list {
	struct request *head, *tail;
};

/* A socket of c-ares's, watched by the loop. */
struct sock {
	struct dns_resolver *r;
	struct sock *next;
	ares_socket_t fd;
	uv_poll_t poll;
};

struct dns_resolver {
	uv_loop_t *loop;
	ares_channel channel;
	uv_timer_t timer; /* c-ares timeouts, deadlines and result delivery */
	unsigned timeout_ms;
	struct request_list pending; /* in deadline order: all share timeout_ms */
	struct request_list ready;   /* results waiting for their callback */
	struct sock *socks;
	unsigned handles;  /* open libuv handles: freed when 0 after closing */
	bool closing;
	bool library;      /* ares_library_init succeeded */
	uint64_t rand_state;
	char error[160];
};

static void list_append(struct request_list *l, struct request *q)
{
	q->next = NULL;
	q->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = q;
	else
		l->head = q;
	l->tail = q;
}

static void list_remove(struct request_list *l, struct request *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		l->head = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	else
		l->tail = q->prev;
	q->prev = q->next = NULL;
}

/* Equal MX preferences are tried in random order (RFC 5321 5.1) so load
 * spreads; this needs no secrecy, hence xorshift seeded once. */
static uint32_t next_random(struct dns_resolver *r)
{
	uint64_t x = r->rand_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rand_state = x;
	return (uint32_t)(x >> 32);
}

/* RFC 1035 2.3.4 and RFC 1123 2.1, relaxed for the '_' some zones use:
 * labels of 1-63 letters, digits, '-' or '_', at most 253 octets, one
 * final dot allowed (and dropped in out). Non-ASCII is refused: an IDN
 * must come as A-labels (RFC 5890). */
static bool name_check(const char *name, char *out, char *why, size_t whylen)
{
	size_t len = strlen(name), label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		snprintf(why, whylen, "empty name");
		return false;
	}
	if (len > DNS_NAME_MAX) {
		snprintf(why, whylen, "name longer than %d octets", DNS_NAME_MAX);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0)
				goto empty;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_')) {
			snprintf(why, whylen, "%.*s: bad character 0x%02x in a name", (int)len, name,
			         (unsigned char)c);
			return false;
		}
		if (++label > 63) {
			snprintf(why, whylen, "%.*s: label longer than 63 octets", (int)len, name);
			return false;
		}
	}
	if (label == 0)
		goto empty;
	memcpy(out, name, len);
	out[len] = '\0';
	return true;
empty:
	snprintf(why, whylen, "%.*s: empty label", (int)len, name);
	return false;
}

static bool is_tempfail(int status)
{
	return status != ARES_SUCCESS && status != ARES_ENOTFOUND && status != ARES_ENODATA &&
	       status != ARES_EBADNAME;
}

/* Sets a failed result; fmt takes the request's name, then detail. */
static void fail(struct request *q, enum dns_status status, const char *fmt, const char *detail)
{
	char text[512];
	size_t max = sizeof(q->result.error);

	q->result.status = status;
	q->result.count = 0;
	if (snprintf(text, sizeof(text), fmt, q->name, detail) < 0)
		snprintf(text, sizeof(text), "%s", "DNS lookup failed");
	/* A long name would overflow the result's fixed text: cut, marked. */
	if (strlen(text) >= max)
		memcpy(text + max - 4, "...", 4);
	memcpy(q->result.error, text, max);
}

/* The result is final: it waits on r->ready for the timer, so that no
 * callback ever runs inside a c-ares call or inside dns_resolve_*. */
static void finish(struct request *q)
{
	struct dns_resolver *r = q->r;

	if (q->done || q->delivered)
		return;
	q->done = true;
	list_remove(&r->pending, q);
	list_append(&r->ready, q);
}

static void release(struct request *q)
{
	if (q->delivered && q->queries == 0)
		free(q);
}

static void deliver(struct request *q)
{
	struct dns_resolver *r = q->r;

	list_remove(q->done ? &r->ready : &r->pending, q);
	q->done = true;
	q->delivered = true;
	/* Held as if a query were out: a callback that closes the resolver
	 * makes c-ares end q's queries, which must not free q under us. */
	q->queries++;
	q->cb(q->arg, &q->result);
	q->queries--;
	release(q);
}

/* All address lookups are over (or the deadline came): the verdict. */
static void addresses_done(struct request *q)
{
	for (size_t i = 0; i < q->result.count; i++)
		if (q->result.hosts[i].addr_count > 0) {
			q->result.status = DNS_OK;
			q->result.error[0] = '\0';
			finish(q);
			return;
		}
	if (q->tempfail)
		fail(q, DNS_TEMPFAIL, "%s: address lookup failed: %s", q->first_error);
	else if (!q->mail)
		fail(q, DNS_NOT_FOUND, "%s: host not found%s", "");
	else if (q->result.implicit_mx)
		fail(q, DNS_NOT_FOUND, "%s: no MX and no address record%s", "");
	else
		fail(q, DNS_NOT_FOUND, "%s: no mail exchanger has an address (%s)", q->first_error);
	finish(q);
}

static void add_address(struct dns_host *h, const char *text)
{
	for (size_t i = 0; i < h->addr_count; i++)
		if (strcmp(h->addrs[i], text) == 0)
			return;
	if (h->addr_count < DNS_ADDR_MAX)
		snprintf(h->addrs[h->addr_count++], sizeof(h->addrs[0]), "%s", text);
}

/* IPv4 first, then IPv6: test and small hosts often lack an IPv6 route. */
static void take_addresses(struct dns_host *h, const struct ares_addrinfo *ai)
{
	static const int families[] = { AF_INET, AF_INET6 };
	char text[DNS_ADDR_TEXT_MAX];

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		for (const struct ares_addrinfo_node *n = ai->nodes; n != NULL; n = n->ai_next) {
			const void *a;

			if (n->ai_family != families[f])
				continue;
			if (n->ai_family == AF_INET)
				a = &((const struct sockaddr_in *)(const void *)n->ai_addr)->sin_addr;
			else
				a = &((const struct sockaddr_in6 *)(const void *)n->ai_addr)->sin6_addr;
			if (inet_ntop(n->ai_family, a, text, sizeof(text)) != NULL)
				add_address(h, text);
		}
}

static void host_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct lookup *l = arg;
	struct request *q = l->req;
	struct dns_host *h = &q->result.hosts[l->host];

	q->queries--;
	if (q->done) {
		ares_freeaddrinfo(ai);
		release(q);
		return;
	}
	if (status == ARES_SUCCESS && ai != NULL)
		take_addresses(h, ai);
	ares_freeaddrinfo(ai);
	if (status != ARES_SUCCESS) {
		/* c-ares 1.18 asks A and AAAA together and may report the last
		 * answer's "no data" although the other query timed out: any
		 * timeout makes a failed lookup temporary, so mail is deferred,
		 * never bounced, on a DNS hiccup. */
		if (is_tempfail(status) || timeouts > 0)
			q->tempfail = true;
		const char *why = status == ARES_ENOTFOUND ? "host not found" : ares_strerror(status);

		/* A mail result names the exchanger; a host result is that host. */
		if (q->first_error[0] == '\0' && q->mail)
			snprintf(q->first_error, sizeof(q->first_error), "%s: %s", h->name, why);
		else if (q->first_error[0] == '\0')
			snprintf(q->first_error, sizeof(q->first_error), "%s", why);
	}
	if (--q->lookups_left == 0)
		addresses_done(q);
}

/* Starts the A/AAAA lookups of every host in q->result. c-ares may answer
 * some at once (a numeric name, an error), so the count is set first. */
static void start_addresses(struct request *q)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	/* Our own order replaces RFC 6724 sorting, which would connect() a
	 * socket per address to find its source. */
	hints.ai_flags = ARES_AI_NOSORT;
	q->addr_phase = true;
	q->lookups_left = q->result.count;
	for (size_t i = 0; i < q->result.count; i++) {
		q->lookups[i].req = q;
		q->lookups[i].host = i;
		q->queries++;
		ares_getaddrinfo(q->r->channel, q->result.hosts[i].name, NULL, &hints, host_cb,
		                 &q->lookups[i]);
	}
}

struct mx {
	unsigned pref;
	const char *name; /* c-ares's, valid during its callback */
};

/* Adds one MX record, a name listed twice kept at its lowest preference. */
static void mx_add(struct mx *list, size_t *n, unsigned pref, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp(list[i].name, name) == 0) {
			if (pref < list[i].pref)
				list[i].pref = pref;
			return;
		}
	if (*n < MX_READ_MAX)
		list[(*n)++] = (struct mx){ pref, name };
}

static bool is_root(const char *name)
{
	return name[0] == '\0' || strcmp(name, ".") == 0;
}

/* The MX answer: list holds n records (status ARES_SUCCESS), or none. */
static void mx_done(struct request *q, int status, struct mx *list, size_t n)
{
	struct dns_resolver *r = q->r;
	struct dns_result *res = &q->result;

	q->queries--;
	if (q->done) {
		release(q);
		return;
	}
	if (status == ARES_ENOTFOUND) {
		fail(q, DNS_NOT_FOUND, "%s: host not found%s", "");
		finish(q);
		return;
	}
	if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
		fail(q, DNS_CANCELLED, "%s: %s", "lookup cancelled");
		finish(q);
		return;
	}
	if (status != ARES_SUCCESS && status != ARES_ENODATA) {
		fail(q, DNS_TEMPFAIL, "%s: MX lookup failed: %s", ares_strerror(status));
		finish(q);
		return;
	}
	/* RFC 7505 3: one record, preference 0, the root as exchange. */
	if (n == 1 && list[0].pref == 0 && is_root(list[0].name)) {
		fail(q, DNS_NULL_MX, "%s: %s", "the domain accepts no mail (null MX)");
		finish(q);
		return;
	}
	if (n == 0) {
		/* RFC 5321 5.1: no MX, so the domain itself is the only host. */
		res->implicit_mx = true;
		snprintf(res->hosts[0].name, sizeof(res->hosts[0].name), "%s", q->name);
		res->count = 1;
		start_addresses(q);
		return;
	}
	/* Shuffle, then a stable sort by preference: equal ones stay shuffled. */
	for (size_t i = n; i > 1; i--) {
		size_t j = next_random(r) % i;
		struct mx t = list[i - 1];

		list[i - 1] = list[j];
		list[j] = t;
	}
	for (size_t i = 1; i < n; i++) {
		struct mx t = list[i];
		size_t j = i;

		for (; j > 0 && list[j - 1].pref > t.pref; j--)
			list[j] = list[j - 1];
		list[j] = t;
	}
	res->count = 0;
	for (size_t i = 0; i < n && res->count < DNS_MX_MAX; i++) {
		struct dns_host *h = &res->hosts[res->count];

		if (is_root(list[i].name) || strlen(list[i].name) > DNS_NAME_MAX)
			continue;
		memset(h, 0, sizeof(*h));
		snprintf(h->name, sizeof(h->name), "%s", list[i].name);
		h->pref = list[i].pref;
		res->count++;
	}
	if (res->count == 0) {
		fail(q, DNS_NOT_FOUND, "%s: %s", "no usable MX record");
		finish(q);
		return;
	}
	start_addresses(q);
}

#ifdef DNS_ARES_DNSREC
static void mx_cb(void *arg, ares_status_t status, size_t timeouts, const ares_dns_record_t *rec)
{
	struct mx list[MX_READ_MAX];
	size_t n = 0;

	if (status == ARES_SUCCESS) {
		size_t count = ares_dns_record_rr_cnt(rec, ARES_SECTION_ANSWER);

		for (size_t i = 0; i < count; i++) {
			const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec, ARES_SECTION_ANSWER, i);

			if (rr == NULL || ares_dns_rr_get_type(rr) != ARES_REC_TYPE_MX)
				continue;
			mx_add(list, &n, ares_dns_rr_get_u16(rr, ARES_RR_MX_PREFERENCE),
			       ares_dns_rr_get_str(rr, ARES_RR_MX_EXCHANGE));
		}
	}
	mx_done(arg, (int)status, list, n);
}

static void start_mx(struct request *q)
{
	q->queries++;
	/* On failure c-ares has already called mx_cb with the status. */
	(void)ares_query_dnsrec(q->r->channel, q->name, ARES_CLASS_IN, ARES_REC_TYPE_MX, mx_cb, q,
	                        NULL);
}
#else
static void mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct mx list[MX_READ_MAX];
	struct ares_mx_reply *replies = NULL;
	size_t n = 0;

	if (status == ARES_SUCCESS)
		status = ares_parse_mx_reply(abuf, alen, &replies);
	if (status == ARES_SUCCESS)
		for (struct ares_mx_reply *m = replies; m != NULL; m = m->next)
			mx_add(list, &n, m->priority, m->host);
	mx_done(arg, status, list, n);
	ares_free_data(replies);
}

static void start_mx(struct request *q)
{
	q->queries++;
	ares_query(q->r->channel, q->name, ns_c_in, ns_t_mx, mx_cb, q);
}
#endif

static void timer_cb(uv_timer_t *timer);

/* Arms the timer for the earliest of: a result to deliver (now), c-ares's
 * next timeout, the oldest pending deadline. Called on the way out of
 * every entry point, never from inside c-ares. */
static void reschedule(struct dns_resolver *r)
{
	uint64_t now = uv_now(r->loop), wait = UINT64_MAX;
	struct timeval tv;

	if (r->closing)
		return;
	if (r->ready.head != NULL) {
		wait = 0;
	} else if (r->pending.head != NULL) {
		uint64_t d = r->pending.head->deadline;

		wait = d > now ? d - now : 0;
		if (ares_timeout(r->channel, NULL, &tv) != NULL) {
			/* Rounded up: a timeout under 1 ms must not spin the loop. */
			uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;

			if (ms < wait)
				wait = ms;
		}
	}
	if (wait == UINT64_MAX)
		uv_timer_stop(&r->timer);
	else
		uv_timer_start(&r->timer, timer_cb, wait, 0);
}

/* The deadline came: an MX lookup in flight is a temporary failure; in
 * the address phase the hosts found so far still count. */
static void expire(struct request *q)
{
	if (!q->addr_phase) {
		fail(q, DNS_TEMPFAIL, "%s: %s", "DNS timeout");
		finish(q);
		return;
	}
	q->tempfail = true;
	if (q->first_error[0] == '\0')
		snprintf(q->first_error, sizeof(q->first_error), "DNS timeout");
	addresses_done(q);
}

static void timer_cb(uv_timer_t *timer)
{
	struct dns_resolver *r = timer->data;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	for (;;) {
		uint64_t now = uv_now(r->loop);

		if (r->closing)
			return;
		if (r->ready.head != NULL)
			deliver(r->ready.head);
		else if (r->pending.head != NULL && r->pending.head->deadline <= now)
			expire(r->pending.head);
		else
			break;
	}
	reschedule(r);
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
	struct sock *s = poll->data;
	struct dns_resolver *r = s->r;
	/* An error (status < 0) is handed to c-ares as readable: its read
	 * then fails and c-ares retries elsewhere. */
	ares_socket_t rfd = status < 0 || (events & UV_READABLE) ? s->fd : ARES_SOCKET_BAD;
	ares_socket_t wfd = status == 0 && (events & UV_WRITABLE) ? s->fd : ARES_SOCKET_BAD;

	ares_process_fd(r->channel, rfd, wfd);
	reschedule(r);
}

static void free_resolver(struct dns_resolver *r)
{
	if (r->library)
		ares_library_cleanup();
	free(r);
}

static void handle_closed_cb(uv_handle_t *handle)
{
	struct dns_resolver *r;

	if (handle->type == UV_POLL) {
		struct sock *s = handle->data;

		r = s->r;
		free(s);
	} else {
		r = handle->data;
	}
	if (--r->handles == 0 && r->closing)
		free_resolver(r);
}

static void sock_close(struct dns_resolver *r, struct sock *s)
{
	struct sock **p = &r->socks;

	while (*p != s)
		p = &(*p)->next;
	*p = s->next;
	uv_close((uv_handle_t *)&s->poll, handle_closed_cb);
}

/* c-ares opens, watches and closes its sockets through this (ahead of
 * closing one it asks for no events). */
static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct sock *s;
	int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);

	if (r->closing)
		return;
	for (s = r->socks; s != NULL && s->fd != fd; s = s->next)
		;
	if (events == 0) {
		if (s != NULL)
			sock_close(r, s);
		return;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		/* Unwatched, the socket's queries end at their c-ares timeout. */
		if (s == NULL)
			return;
		if (uv_poll_init_socket(r->loop, &s->poll, fd) != 0) {
			free(s);
			return;
		}
		s->r = r;
		s->fd = fd;
		s->poll.data = s;
		s->next = r->socks;
		r->socks = s;
		r->handles++;
	}
	if (uv_poll_start(&s->poll, events, poll_cb) != 0)
		sock_close(r, s);
}

/* dns_servers: the c-ares CSV list, with spaces around entries dropped. */
static int set_servers(struct dns_resolver *r, const char *servers, char *err, size_t errlen)
{
	char csv[1024];
	size_t n = 0;
	int rc;

	for (const char *p = servers; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || n + len + 2 > sizeof(csv)) {
			snprintf(err, errlen, "dns_servers: %s in '%s'",
			         len == 0 ? "empty entry" : "list too long", servers);
			return -1;
		}
		if (n > 0)
			csv[n++] = ',';
		memcpy(csv + n, p, len);
		n += len;
		if (end == NULL)
			break;
		p = end + 1;
	}
	csv[n] = '\0';
	rc = ares_set_servers_ports_csv(r->channel, csv);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns_servers: bad list '%s': %s", servers, ares_strerror(rc));
		return -1;
	}
	return 0;
}

static void seed_random(struct dns_resolver *r)
{
	if (getrandom(&r->rand_state, sizeof(r->rand_state), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(r->rand_state))
		r->rand_state = uv_hrtime() ^ ((uint64_t)getpid() << 32);
	if (r->rand_state == 0)
		r->rand_state = 0x9e3779b97f4a7c15u; /* xorshift must not start at 0 */
}

int dns_resolver_new(struct uv_loop_s *loop, const char *servers, unsigned timeout_ms,
                     struct dns_resolver **r_r, char *err, size_t errlen)
{
	struct dns_resolver *r;
	struct ares_options opts;
	int rc;

	*r_r = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "dns: out of memory");
		return -1;
	}
	r->loop = loop;
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
	seed_random(r);
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: c-ares: %s", ares_strerror(rc));
		free(r);
		return -1;
	}
	r->library = true;

	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = r;
	opts.timeout = (int)(r->timeout_ms / 3 > 0 ? r->timeout_ms / 3 : 1);
	opts.tries = ARES_TRIES;
	opts.ndomains = 0; /* no search list: names are fully qualified */
	opts.domains = NULL;
	opts.lookups = (char *)"b"; /* DNS only, see dns.h */
	rc = ares_init_options(&r->channel, &opts,
	                       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	                               ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: c-ares: %s", ares_strerror(rc));
		free_resolver(r);
		return -1;
	}
	if (servers != NULL && servers[0] != '\0' && set_servers(r, servers, err, errlen) != 0) {
		ares_destroy(r->channel);
		free_resolver(r);
		return -1;
	}
	rc = uv_timer_init(loop, &r->timer);
	if (rc != 0) {
		snprintf(err, errlen, "dns: timer: %s", uv_strerror(rc));
		ares_destroy(r->channel);
		free_resolver(r);
		return -1;
	}
	r->timer.data = r;
	r->handles = 1;
	*r_r = r;
	return 0;
}

static struct request *request_new(struct dns_resolver *r, dns_result_cb *cb, void *arg,
                                   bool mail)
{
	struct request *q;

	if (r->closing) {
		snprintf(r->error, sizeof(r->error), "resolver closing");
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(r->error, sizeof(r->error), "out of memory");
		return NULL;
	}
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->mail = mail;
	q->deadline = uv_now(r->loop) + r->timeout_ms;
	list_append(&r->pending, q);
	return q;
}

int dns_resolve_mail(struct dns_resolver *r, const char *domain, dns_result_cb *cb, void *arg)
{
	char name[DNS_NAME_MAX + 1];
	struct request *q;

	if (!name_check(domain, name, r->error, sizeof(r->error)))
		return -1;
	q = request_new(r, cb, arg, true);
	if (q == NULL)
		return -1;
	memcpy(q->name, name, sizeof(name));
	start_mx(q);
	reschedule(r);
	return 0;
}

/* "localhost" or a name under it, in any case, after name_check (no final dot). */
static bool is_localhost(const char *name)
{
	size_t len = strlen(name);
	return strcasecmp(name, "localhost") == 0 ||
	       (len > 10 && strcasecmp(name + len - 10, ".localhost") == 0);
}

int dns_resolve_host(struct dns_resolver *r, const char *host, dns_result_cb *cb, void *arg)
{
	char name[DNS_NAME_MAX + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	int family = inet_pton(AF_INET, host, bin) == 1    ? AF_INET
	             : inet_pton(AF_INET6, host, bin) == 1 ? AF_INET6
	                                                   : 0;
	struct request *q;

	if (family == 0 && !name_check(host, name, r->error, sizeof(r->error)))
		return -1;
	q = request_new(r, cb, arg, false);
	if (q == NULL)
		return -1;
	q->result.count = 1;
	if (family != 0) {
		struct dns_host *h = &q->result.hosts[0];

		inet_ntop(family, bin, h->addrs[0], sizeof(h->addrs[0]));
		snprintf(h->name, sizeof(h->name), "%s", h->addrs[0]);
		snprintf(q->name, sizeof(q->name), "%s", h->addrs[0]);
		h->addr_count = 1;
		finish(q);
	} else if (is_localhost(name)) {
		/* RFC 6761 6.3: localhost is the loopback, never asked of DNS
		 * (and /etc/hosts is not read): relay_host = localhost:25 works. */
		struct dns_host *h = &q->result.hosts[0];

		memcpy(q->name, name, sizeof(name));
		memcpy(h->name, name, sizeof(name));
		snprintf(h->addrs[0], sizeof(h->addrs[0]), "127.0.0.1");
		snprintf(h->addrs[1], sizeof(h->addrs[1]), "::1");
		h->addr_count = 2;
		finish(q);
	} else {
		memcpy(q->name, name, sizeof(name));
		memcpy(q->result.hosts[0].name, name, sizeof(name));
		start_addresses(q);
	}
	reschedule(r);
	return 0;
}

const char *dns_resolver_error(const struct dns_resolver *r)
{
	return r->error;
}

void dns_resolver_close(struct dns_resolver *r)
{
	if (r == NULL || r->closing)
		return;
	r->closing = true;
	/* Callbacks first, each may look at its own state one last time; a
	 * request stays allocated while c-ares still holds it. */
	while (r->ready.head != NULL || r->pending.head != NULL) {
		struct request *q = r->ready.head != NULL ? r->ready.head : r->pending.head;

		fail(q, DNS_CANCELLED, "%s: %s", "lookup cancelled");
		deliver(q);
	}
	/* Stop watching c-ares's sockets while they are still open; then
	 * ares_destroy ends every query (each frees its request) and closes
	 * them. sock_state_cb ignores it all now that closing is set. */
	while (r->socks != NULL)
		sock_close(r, r->socks);
	ares_destroy(r->channel);
	uv_close((uv_handle_t *)&r->timer, handle_closed_cb);
}
