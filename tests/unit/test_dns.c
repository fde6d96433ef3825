/*
 * test_dns.c - the DNS module (common/dns.h) against a private dnsmasq on
 * 127.0.0.1 and a free port, serving the zone below from the command
 * line: MX order and addresses, implicit MX, null MX, NXDOMAIN, exchangers
 * without addresses, host lookups (names and literals), refused names,
 * silent and closed servers (DNS_TEMPFAIL within the timeout) and
 * cancellation. dnsmasq (Debian package dnsmasq-base, installed by
 * `scripts/deps.sh test`) is required: without it the tests fail.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "dns.h"
#include "testutil.h"

/* $MAIL_TEST_DNSMASQ, if set, names another dnsmasq (or a missing one,
 * to see the tests fail without it). */
#define DNSMASQ "/usr/sbin/dnsmasq"
/* Generous for loopback; the silent-server tests use their own. */
#define TIMEOUT_MS 5000

/* The zone, in dnsmasq's options. --local makes every other .test name
 * NXDOMAIN instead of "refused, no upstream". */
static const char *const zone[] = {
	"--local=/test/",
	"--mx-host=mx.test,b.mx.test,20",
	"--mx-host=mx.test,a.mx.test,10",
	"--mx-host=mx.test,c.mx.test,10",
	"--mx-host=mx.test,v6.mx.test,30",
	"--host-record=a.mx.test,192.0.2.1,2001:db8::1",
	"--host-record=a.mx.test,192.0.2.11",
	"--host-record=b.mx.test,192.0.2.2",
	"--host-record=c.mx.test,192.0.2.3",
	"--host-record=v6.mx.test,2001:db8::6",
	"--host-record=implicit.test,192.0.2.9",
	"--txt-record=txtonly.test,\"no mail here\"",
	/* RFC 7505: preference 0 (0000) and the root name (00). */
	"--dns-rr=null.test,15,000000",
	"--mx-host=noaddr.test,nothing.noaddr.test,10",
	"--mx-host=partial.test,nothing.partial.test,10",
	"--mx-host=partial.test,ok.partial.test,20",
	"--host-record=ok.partial.test,192.0.2.20",
	"--host-record=relay.test,192.0.2.25,2001:db8::25",
};

static char tmpdir[256];
static pid_t dnsmasq_pid;
static unsigned dns_port;
static char servers[64];

/* A port free for both UDP and TCP on 127.0.0.1 (dnsmasq takes both). */
static unsigned free_port(void)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		unsigned port = 0;

		assert_true(u >= 0 && t >= 0);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    getsockname(u, (struct sockaddr *)&sa, &len) == 0 &&
		    bind(t, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			port = ntohs(sa.sin_port);
		close(u);
		close(t);
		if (port != 0)
			return port;
	}
	fail_msg("no free port on 127.0.0.1");
	return 0;
}

static bool tcp_accepts(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void show_log(void)
{
	char path[512], cmd[600];

	testutil_path(path, sizeof(path), tmpdir, "dnsmasq.log");
	snprintf(cmd, sizeof(cmd), "cat '%s' >&2", path);
	if (system(cmd) != 0)
		fprintf(stderr, "(no dnsmasq log)\n");
}

static int start_dnsmasq(void **state)
{
	char pidfile[512], logfile[512], port_arg[32], pid_arg[600];
	const char *argv[64];
	const char *dnsmasq = getenv("MAIL_TEST_DNSMASQ");
	size_t n = 0;

	(void)state;
	if (dnsmasq == NULL || dnsmasq[0] == '\0')
		dnsmasq = DNSMASQ;
	if (access(dnsmasq, X_OK) != 0) {
		/* Fail, never skip: CI installs it through scripts/deps.sh test. */
		fprintf(stderr, "test_dns: %s not found: install the Debian package dnsmasq-base "
		                "(scripts/deps.sh test)\n", dnsmasq);
		return -1;
	}
	testutil_mkdtemp(tmpdir, sizeof(tmpdir));
	testutil_path(pidfile, sizeof(pidfile), tmpdir, "dnsmasq.pid");
	testutil_path(logfile, sizeof(logfile), tmpdir, "dnsmasq.log");
	dns_port = free_port();
	snprintf(port_arg, sizeof(port_arg), "--port=%u", dns_port);
	snprintf(pid_arg, sizeof(pid_arg), "--pid-file=%s", pidfile);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", dns_port);

	argv[n++] = dnsmasq;
	argv[n++] = "-k"; /* stay in the foreground: our child, killed at the end */
	argv[n++] = "--no-resolv";
	argv[n++] = "--no-hosts";
	argv[n++] = "--conf-file=/dev/null";
	argv[n++] = "--listen-address=127.0.0.1";
	argv[n++] = "--bind-interfaces";
	argv[n++] = port_arg;
	argv[n++] = pid_arg;
	argv[n++] = "--log-facility=-"; /* stderr, into dnsmasq.log */
	/* As root dnsmasq would switch to the user "dnsmasq", which only the
	 * dnsmasq package (not dnsmasq-base) creates; as anyone else it keeps
	 * its user. */
	if (getuid() == 0) {
		argv[n++] = "--user=root";
		argv[n++] = "--group=root";
	}
	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		argv[n++] = zone[i];
	argv[n] = NULL;

	fflush(NULL);
	dnsmasq_pid = fork();
	assert_true(dnsmasq_pid >= 0);
	if (dnsmasq_pid == 0) {
		if (freopen(logfile, "w", stderr) == NULL)
			_exit(126);
		execv(dnsmasq, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int st;

		if (waitpid(dnsmasq_pid, &st, WNOHANG) == dnsmasq_pid) {
			fprintf(stderr, "test_dns: dnsmasq exited (status %d) at start:\n", st);
			show_log();
			dnsmasq_pid = 0;
			return -1;
		}
		if (tcp_accepts(dns_port))
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "test_dns: dnsmasq not listening on port %u after 5 s\n", dns_port);
	show_log();
	return -1;
}

static int stop_dnsmasq(void **state)
{
	(void)state;
	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = 0;
	}
	if (tmpdir[0] != '\0')
		testutil_rmtree(tmpdir);
	return 0;
}

/* One lookup's outcome, copied out of the callback. */
struct outcome {
	int calls;
	struct dns_result result;
	uint64_t at_ns; /* uv_hrtime() at the callback */
};

static void outcome_cb(void *arg, const struct dns_result *result)
{
	struct outcome *o = arg;

	o->calls++;
	o->result = *result;
	o->at_ns = uv_hrtime();
}

static void must_new(uv_loop_t *loop, const char *list, unsigned timeout_ms,
                     struct dns_resolver **r)
{
	char err[256] = "";

	assert_int_equal(uv_loop_init(loop), 0);
	if (dns_resolver_new(loop, list, timeout_ms, r, err, sizeof(err)) != 0)
		fail_msg("dns_resolver_new(%s): %s", list, err);
}

/* Closes the resolver, runs the loop until its handles are gone and
 * checks that nothing is left on the loop. */
static void must_close(uv_loop_t *loop, struct dns_resolver *r)
{
	dns_resolver_close(r);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* Resolves on a fresh loop and resolver against `list`; returns the
 * elapsed milliseconds. The callback must come once, not inside the call. */
static uint64_t lookup_with(const char *list, unsigned timeout_ms, bool mail, const char *name,
                            struct outcome *o)
{
	uv_loop_t loop;
	struct dns_resolver *r;
	uint64_t start;
	int rc;

	memset(o, 0, sizeof(*o));
	must_new(&loop, list, timeout_ms, &r);
	start = uv_hrtime();
	rc = mail ? dns_resolve_mail(r, name, outcome_cb, o) : dns_resolve_host(r, name, outcome_cb, o);
	if (rc != 0)
		fail_msg("resolving '%s' refused: %s", name, dns_resolver_error(r));
	assert_int_equal(o->calls, 0);
	while (o->calls == 0)
		assert_int_equal(uv_run(&loop, UV_RUN_ONCE) >= 0, 1);
	must_close(&loop, r);
	assert_int_equal(o->calls, 1);
	return (o->at_ns - start) / 1000000;
}

static void lookup(bool mail, const char *name, struct outcome *o)
{
	(void)lookup_with(servers, TIMEOUT_MS, mail, name, o);
}

static void expect_status(const struct outcome *o, enum dns_status want)
{
	if (o->result.status != want)
		fail_msg("status %d, want %d (error '%s')", o->result.status, want, o->result.error);
	if (want == DNS_OK && o->result.error[0] != '\0')
		fail_msg("DNS_OK with error text '%s'", o->result.error);
	if (want != DNS_OK && o->result.error[0] == '\0')
		fail_msg("status %d without error text", o->result.status);
}

/* A host's name, preference and addresses: each expected address once,
 * nothing else, IPv4 before IPv6 (order within a family is the server's). */
static void expect_host(const struct dns_host *h, const char *name, unsigned pref, ...)
{
	va_list ap;
	const char *addr;
	size_t n = 0;

	if (strcmp(h->name, name) != 0)
		fail_msg("host '%s', want '%s'", h->name, name);
	if (h->pref != pref)
		fail_msg("%s: pref %u, want %u", name, h->pref, pref);
	va_start(ap, pref);
	while ((addr = va_arg(ap, const char *)) != NULL) {
		size_t i = 0;

		while (i < h->addr_count && strcmp(h->addrs[i], addr) != 0)
			i++;
		if (i == h->addr_count)
			fail_msg("%s: address '%s' missing", name, addr);
		n++;
	}
	va_end(ap);
	if (n != h->addr_count)
		fail_msg("%s: %zu addresses, want %zu", name, h->addr_count, n);
	for (size_t i = 1; i < h->addr_count; i++)
		if (strchr(h->addrs[i - 1], ':') != NULL && strchr(h->addrs[i], ':') == NULL)
			fail_msg("%s: IPv6 '%s' before IPv4 '%s'", name, h->addrs[i - 1], h->addrs[i]);
}

static void test_mx_order(void **state)
{
	struct outcome o;
	const struct dns_host *h;
	bool seen_a_first = false, seen_c_first = false;

	(void)state;
	/* Equal preferences come in random order: both orders show up. */
	for (int round = 0; round < 40 && !(seen_a_first && seen_c_first); round++) {
		lookup(true, "mx.test", &o);
		expect_status(&o, DNS_OK);
		assert_false(o.result.implicit_mx);
		assert_int_equal(o.result.count, 4);
		h = o.result.hosts;
		if (strcmp(h[0].name, "a.mx.test") == 0) {
			seen_a_first = true;
			expect_host(&h[0], "a.mx.test", 10, "192.0.2.1", "192.0.2.11", "2001:db8::1", NULL);
			expect_host(&h[1], "c.mx.test", 10, "192.0.2.3", NULL);
		} else {
			seen_c_first = true;
			expect_host(&h[0], "c.mx.test", 10, "192.0.2.3", NULL);
			expect_host(&h[1], "a.mx.test", 10, "192.0.2.1", "192.0.2.11", "2001:db8::1", NULL);
		}
		expect_host(&h[2], "b.mx.test", 20, "192.0.2.2", NULL);
		expect_host(&h[3], "v6.mx.test", 30, "2001:db8::6", NULL);
	}
	assert_true(seen_a_first);
	assert_true(seen_c_first);
}

static void test_implicit_mx(void **state)
{
	struct outcome o;

	(void)state;
	lookup(true, "implicit.test", &o);
	expect_status(&o, DNS_OK);
	assert_true(o.result.implicit_mx);
	assert_int_equal(o.result.count, 1);
	expect_host(&o.result.hosts[0], "implicit.test", 0, "192.0.2.9", NULL);

	/* A final dot is the same name. */
	lookup(true, "Implicit.Test.", &o);
	expect_status(&o, DNS_OK);
	assert_true(o.result.implicit_mx);
	assert_int_equal(o.result.hosts[0].addr_count, 1);

	/* The name exists (a TXT record) but has neither MX nor address. */
	lookup(true, "txtonly.test", &o);
	expect_status(&o, DNS_NOT_FOUND);
	assert_int_equal(o.result.count, 0);
	assert_string_equal(o.result.error, "txtonly.test: no MX and no address record");
}

static void test_null_mx(void **state)
{
	struct outcome o;

	(void)state;
	lookup(true, "null.test", &o);
	expect_status(&o, DNS_NULL_MX);
	assert_int_equal(o.result.count, 0);
	assert_non_null(strstr(o.result.error, "null.test"));
}

static void test_nxdomain(void **state)
{
	struct outcome o;

	(void)state;
	lookup(true, "nxdomain.test", &o);
	expect_status(&o, DNS_NOT_FOUND);
	assert_int_equal(o.result.count, 0);
	assert_string_equal(o.result.error, "nxdomain.test: host not found");

	lookup(false, "nxdomain.test", &o);
	expect_status(&o, DNS_NOT_FOUND);
	assert_string_equal(o.result.error, "nxdomain.test: host not found");
}

static void test_exchanger_without_address(void **state)
{
	struct outcome o;

	(void)state;
	/* The only exchanger has no address: nowhere to deliver. */
	lookup(true, "noaddr.test", &o);
	expect_status(&o, DNS_NOT_FOUND);
	assert_int_equal(o.result.count, 0);
	assert_non_null(strstr(o.result.error, "nothing.noaddr.test: host not found"));

	/* One of two has none: it stays, empty, and the other counts. */
	lookup(true, "partial.test", &o);
	expect_status(&o, DNS_OK);
	assert_int_equal(o.result.count, 2);
	expect_host(&o.result.hosts[0], "nothing.partial.test", 10, NULL);
	expect_host(&o.result.hosts[1], "ok.partial.test", 20, "192.0.2.20", NULL);
}

static void test_host(void **state)
{
	struct outcome o;

	(void)state;
	lookup(false, "relay.test", &o);
	expect_status(&o, DNS_OK);
	assert_false(o.result.implicit_mx);
	assert_int_equal(o.result.count, 1);
	expect_host(&o.result.hosts[0], "relay.test", 0, "192.0.2.25", "2001:db8::25", NULL);

	/* Literals come back as they are (canonical text), without a query:
	 * a resolver pointed at nothing still answers them. */
	lookup_with("127.0.0.1:9", TIMEOUT_MS, false, "192.0.2.7", &o);
	expect_status(&o, DNS_OK);
	assert_int_equal(o.result.count, 1);
	expect_host(&o.result.hosts[0], "192.0.2.7", 0, "192.0.2.7", NULL);
	lookup_with("127.0.0.1:9", TIMEOUT_MS, false, "2001:DB8:0::7", &o);
	expect_status(&o, DNS_OK);
	expect_host(&o.result.hosts[0], "2001:db8::7", 0, "2001:db8::7", NULL);
	/* RFC 6761: localhost is the loopback, also with no resolver answering. */
	lookup_with("127.0.0.1:9", TIMEOUT_MS, false, "LocalHost", &o);
	expect_status(&o, DNS_OK);
	expect_host(&o.result.hosts[0], "LocalHost", 0, "127.0.0.1", "::1", NULL);
	lookup_with("127.0.0.1:9", TIMEOUT_MS, false, "relay.localhost.", &o);
	expect_status(&o, DNS_OK);
	expect_host(&o.result.hosts[0], "relay.localhost", 0, "127.0.0.1", "::1", NULL);
}

static void test_bad_names(void **state)
{
	static const struct {
		const char *name, *why;
	} bad[] = {
		{ "", "empty name" },
		{ ".", "empty name" },
		{ "a..test", "empty label" },
		{ ".a.test", "empty label" },
		{ "a.test..", "empty label" },
		{ "exa mple.test", "bad character 0x20" },
		{ "b\xc3\xa4r.test", "bad character 0xc3" },
		{ "[192.0.2.1]", "bad character 0x5b" },
		{ "0123456789012345678901234567890123456789012345678901234567890123.test",
		  "label longer than 63" },
	};
	char long_name[300];
	uv_loop_t loop;
	struct dns_resolver *r;
	struct outcome o = { 0 };

	(void)state;
	must_new(&loop, servers, TIMEOUT_MS, &r);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int mail = 0; mail < 2; mail++) {
			int rc = mail ? dns_resolve_mail(r, bad[i].name, outcome_cb, &o)
			              : dns_resolve_host(r, bad[i].name, outcome_cb, &o);

			if (rc != -1)
				fail_msg("'%s' accepted (rc %d)", testutil_show(bad[i].name, strlen(bad[i].name)),
				         rc);
			if (strstr(dns_resolver_error(r), bad[i].why) == NULL)
				fail_msg("'%s': '%s' does not say '%s'", bad[i].name, dns_resolver_error(r),
				         bad[i].why);
		}
	}
	/* 254 octets (63-octet labels of 'a' and a final ".test") is too long. */
	memset(long_name, 'a', sizeof(long_name));
	for (size_t i = 63; i < 254; i += 64)
		long_name[i] = '.';
	memcpy(long_name + 249, ".test", 6);
	assert_int_equal(dns_resolve_mail(r, long_name, outcome_cb, &o), -1);
	assert_non_null(strstr(dns_resolver_error(r), "longer than 253"));
	/* 253 octets is fine (and NXDOMAIN here). */
	memcpy(long_name + 248, ".test", 6);
	assert_int_equal(strlen(long_name), 253);
	assert_int_equal(dns_resolve_mail(r, long_name, outcome_cb, &o), 0);
	while (o.calls == 0)
		uv_run(&loop, UV_RUN_ONCE);
	expect_status(&o, DNS_NOT_FOUND);
	must_close(&loop, r);
	assert_int_equal(o.calls, 1);
}

static void test_bad_servers(void **state)
{
	static const char *const bad[] = { "nonsense", "127.0.0.1,,127.0.0.2", "127.0.0.1:x",
		                           " , " };
	uv_loop_t loop;
	struct dns_resolver *r;
	char err[256];

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (dns_resolver_new(&loop, bad[i], 1000, &r, err, sizeof(err)) == 0)
			fail_msg("dns_servers '%s' accepted", bad[i]);
		assert_null(r);
		assert_non_null(strstr(err, "dns_servers"));
	}
	/* Spaces around entries, IPv6 in brackets and a second server. */
	char list[128];
	snprintf(list, sizeof(list), " %s , [::1]:%u", servers, dns_port);
	if (dns_resolver_new(&loop, list, 1000, &r, err, sizeof(err)) != 0)
		fail_msg("dns_servers '%s' refused: %s", list, err);
	dns_resolver_close(r);
	dns_resolver_close(NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A UDP socket that is bound and never read: queries to it time out. */
static int silent_server(char *list, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(list, len, "127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

static void test_tempfail(void **state)
{
	char list[64];
	struct outcome o;
	uint64_t ms;
	int fd;

	(void)state;
	/* Nothing answers: DNS_TEMPFAIL, by our deadline or c-ares's own
	 * retries, whichever ends first (c-ares 1.34 gives up at ~500 ms of a
	 * 600 ms deadline). The bound only proves the lookup ends; it is not
	 * a timing assertion. */
	fd = silent_server(list, sizeof(list));
	ms = lookup_with(list, 600, true, "mx.test", &o);
	expect_status(&o, DNS_TEMPFAIL);
	assert_int_equal(o.result.count, 0);
	print_message("silent server: DNS_TEMPFAIL after %llu ms (timeout 600): %s\n",
	              (unsigned long long)ms, o.result.error);
	if (ms > 10000)
		fail_msg("DNS_TEMPFAIL only after %llu ms, timeout 600", (unsigned long long)ms);
	ms = lookup_with(list, 600, false, "relay.test", &o);
	expect_status(&o, DNS_TEMPFAIL);
	if (ms > 10000)
		fail_msg("host: DNS_TEMPFAIL only after %llu ms, timeout 600", (unsigned long long)ms);
	close(fd);

	/* Nothing listens (ICMP port unreachable): DNS_TEMPFAIL, within the timeout. */
	snprintf(list, sizeof(list), "127.0.0.1:%u", free_port());
	ms = lookup_with(list, 600, true, "mx.test", &o);
	expect_status(&o, DNS_TEMPFAIL);
	print_message("closed port: DNS_TEMPFAIL after %llu ms: %s\n", (unsigned long long)ms,
	              o.result.error);
	if (ms > 900)
		fail_msg("closed port: DNS_TEMPFAIL after %llu ms, timeout 600", (unsigned long long)ms);

	/* dnsmasq refuses what is not its own (no upstream): temporary. */
	lookup(true, "example.invalid", &o);
	expect_status(&o, DNS_TEMPFAIL);
	print_message("refused: %s\n", o.result.error);
}

struct cancel_state {
	struct dns_resolver *r;
	struct outcome first, second;
	int resolve_rc;
};

static void close_in_cb(void *arg, const struct dns_result *result)
{
	struct cancel_state *c = arg;

	outcome_cb(&c->first, result);
	/* The other lookup is still waiting on the silent server. */
	dns_resolver_close(c->r);
	/* Closing: no new lookups. */
	c->resolve_rc = dns_resolve_host(c->r, "relay.test", outcome_cb, &c->second);
}

static void test_cancel(void **state)
{
	char list[64];
	uv_loop_t loop;
	struct dns_resolver *r;
	struct outcome a = { 0 }, b = { 0 }, lit = { 0 };
	struct cancel_state c = { 0 };
	int fd;

	(void)state;
	fd = silent_server(list, sizeof(list));
	must_new(&loop, list, TIMEOUT_MS, &r);
	assert_int_equal(dns_resolve_mail(r, "mx.test", outcome_cb, &a), 0);
	assert_int_equal(dns_resolve_host(r, "relay.test", outcome_cb, &b), 0);
	/* The queries go out and wait. */
	assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 1);
	/* Ready but not yet delivered: cancelled all the same. */
	assert_int_equal(dns_resolve_host(r, "192.0.2.1", outcome_cb, &lit), 0);
	dns_resolver_close(r);
	/* Callbacks made before dns_resolver_close returned. */
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(lit.calls, 1);
	expect_status(&a, DNS_CANCELLED);
	expect_status(&b, DNS_CANCELLED);
	expect_status(&lit, DNS_CANCELLED);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(a.calls + b.calls + lit.calls, 3);

	/* Closing from inside a result callback, with a lookup pending. */
	must_new(&loop, list, TIMEOUT_MS, &r);
	c.r = r;
	memset(&b, 0, sizeof(b));
	assert_int_equal(dns_resolve_host(r, "relay.test", outcome_cb, &b), 0);
	assert_int_equal(dns_resolve_host(r, "192.0.2.1", close_in_cb, &c), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(c.first.calls, 1);
	expect_status(&c.first, DNS_OK);
	assert_int_equal(b.calls, 1);
	expect_status(&b, DNS_CANCELLED);
	assert_int_equal(c.resolve_rc, -1);
	assert_int_equal(c.second.calls, 0);
	close(fd);
}

struct expired_state {
	struct dns_resolver *r;
	struct outcome o;
};

static void close_when_expired_cb(void *arg, const struct dns_result *result)
{
	struct expired_state *e = arg;

	outcome_cb(&e->o, result);
	dns_resolver_close(e->r);
}

/* The deadline passes while c-ares still has the query out (two silent
 * servers: c-ares's own tries take twice the deadline); the callback
 * closes the resolver, which ends that query under it. ASan watches. */
static void test_close_after_deadline(void **state)
{
	char one[64], two[64], list[140];
	uv_loop_t loop;
	struct expired_state e = { 0 };
	uint64_t start;
	int fd1, fd2;

	(void)state;
	fd1 = silent_server(one, sizeof(one));
	fd2 = silent_server(two, sizeof(two));
	snprintf(list, sizeof(list), "%s,%s", one, two);
	must_new(&loop, list, 300, &e.r);
	start = uv_hrtime();
	assert_int_equal(dns_resolve_mail(e.r, "mx.test", close_when_expired_cb, &e), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(e.o.calls, 1);
	expect_status(&e.o, DNS_TEMPFAIL);
	assert_string_equal(e.o.result.error, "mx.test: DNS timeout");
	if ((e.o.at_ns - start) / 1000000 > 500)
		fail_msg("DNS_TEMPFAIL after %llu ms, timeout 300",
		         (unsigned long long)((e.o.at_ns - start) / 1000000));
	close(fd1);
	close(fd2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_order),
		cmocka_unit_test(test_implicit_mx),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_exchanger_without_address),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_servers),
		cmocka_unit_test(test_tempfail),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_close_after_deadline),
	};

	return cmocka_run_group_tests(tests, start_dnsmasq, stop_dnsmasq);
}
