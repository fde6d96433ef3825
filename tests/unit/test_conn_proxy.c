/*
 * test_conn_proxy.c - the PROXY protocol phase of the connection layer
 * (common/conn-proxy.c, server.c) on a real loop: the header's client
 * becomes conn_peer_ip before the session opens and before the limits
 * count it, bytes after the header reach the session, implicit TLS
 * follows the header, LOCAL keeps the balancer's address, a bad, missing
 * or late header closes without a byte and without reaching the session,
 * peers outside proxy_protocol_from are sessions' clients as before, and
 * a conn waiting for its header does not hold up the shutdown. The
 * harness is in conn_harness.h; the header parser has its own tests
 * (test_proxy_protocol.c).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn_harness.h"
#include "log.h"
#include "netlist.h"

#define TRUSTED "127.0.0.1"
#define DIRECT "127.0.0.2"

#define V1(src) "PROXY TCP4 " src " 192.0.2.25 40000 25\r\n"
/* v2 PROXY TCP4 203.0.113.9:56324 -> 192.0.2.25:25 with a 7-byte TLV. */
static const char v2_tcp4[] = "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x13"
                              "\xcb\x00\x71\x09\xc0\x00\x02\x19\xdc\x04\x00\x19"
                              "\x01\x00\x04smtp";
static const char v2_local[] = "\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

/* The server closes without having sent a byte. */
static bool closed_silently(struct tclient *c)
{
	char line[256];
	return tc_line(c, line, sizeof(line)) < 0 && c->end == 0;
}

static void client_peer(struct harness *h)
{
	struct tclient c;

	/* A header and a pipelined command in one write. */
	CHECK(tc_connect(&c, h->port, TRUSTED, 0) == 0, "connect");
	CHECK(tc_sendstr(&c, V1("203.0.113.7") "PEER\r\n") == 0, "send");
	EXPECT(&c, "220 hello");
	EXPECT(&c, "250 203.0.113.7");
	tc_close(&c);

	/* v2 a byte per write, the last one with the command. */
	CHECK(tc_connect(&c, h->port, TRUSTED, 0) == 0, "connect");
	for (size_t i = 0; i + 1 < sizeof(v2_tcp4) - 1; i++) {
		CHECK(tc_send(&c, v2_tcp4 + i, 1) == 0, "send");
		usleep(1000);
	}
	CHECK(tc_send(&c, v2_tcp4 + sizeof(v2_tcp4) - 2, 1) == 0, "send");
	CHECK(tc_sendstr(&c, "PEER\r\n") == 0, "send");
	EXPECT(&c, "220 hello");
	EXPECT(&c, "250 203.0.113.9");
	tc_close(&c);

	/* LOCAL: the balancer's own health check keeps its address. */
	CHECK(tc_connect(&c, h->port, TRUSTED, 0) == 0, "connect");
	CHECK(tc_send(&c, v2_local, sizeof(v2_local) - 1) == 0, "send");
	CHECK(tc_sendstr(&c, "PEER\r\n") == 0, "send");
	EXPECT(&c, "220 hello");
	EXPECT(&c, "250 127.0.0.1");
	tc_close(&c);

	/* Implicit TLS after the header. */
	char subject[256];
	CHECK(tc_connect(&c, h->tls_port, TRUSTED, 0) == 0, "connect");
	CHECK(tc_sendstr(&c, V1("198.51.100.4")) == 0, "send");
	CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake after the header");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "PEER\r\n") == 0, "send");
	EXPECT(&c, "250 198.51.100.4");
	tc_close(&c);

	/* Not in proxy_protocol_from: a header is just a line. */
	CHECK(tc_connect(&c, h->port, DIRECT, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, V1("203.0.113.7") "PEER\r\n") == 0, "send");
	EXPECT(&c, "> PROXY TCP4 203.0.113.7 192.0.2.25 40000 25");
	EXPECT(&c, "250 127.0.0.2");
	tc_close(&c);
}

static void test_peer(void **state)
{
	struct harness h;
	char why[256];
	harness_init(&h);
	assert_int_equal(netlist_parse("10.0.0.0/8, " TRUSTED, &h.cfg.proxy_protocol_from, why,
	                               sizeof(why)), 0);
	harness_run(&h, client_peer);
	assert_int_equal(h.run_rc, 0);
	assert_int_equal(h.opens, 5);
}

static void client_bad(struct harness *h)
{
	static const char *const bad[] = {
		"ECHO no header\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.25 40000\r\n",
		"PROXY TCP4 203.0.113.7 192.0.2.25 40000 25\n",
		"\r\n\r\n\r\n",
	};
	struct tclient c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(tc_connect(&c, h->port, TRUSTED, 0) == 0, "connect");
		CHECK(tc_sendstr(&c, bad[i]) == 0, "send");
		CHECK(closed_silently(&c), "case %zu: not closed silently", i);
		tc_close(&c);
	}
	/* Also on the implicit TLS listener: no alert, no plaintext. */
	CHECK(tc_connect(&c, h->tls_port, TRUSTED, 0) == 0, "connect");
	CHECK(tc_sendstr(&c, "\x16\x03\x01\x00\x05hello") == 0, "send");
	CHECK(closed_silently(&c), "implicit TLS: not closed silently");
	tc_close(&c);
	/* Nothing, or half a header: closed at handshake_timeout. */
	struct tclient silent, half;
	CHECK(tc_connect(&silent, h->port, TRUSTED, 0) == 0, "connect");
	CHECK(tc_connect(&half, h->port, TRUSTED, 0) == 0, "connect");
	CHECK(tc_sendstr(&half, "PROXY TCP4 203.0.") == 0, "send");
	CHECK(closed_silently(&silent), "silent peer: not closed");
	CHECK(closed_silently(&half), "half a header: not closed");
	tc_close(&silent);
	tc_close(&half);
}

static void test_bad_header(void **state)
{
	struct harness h;
	char why[256];
	harness_init(&h);
	h.cfg.handshake_timeout = 1;
	assert_int_equal(netlist_parse(TRUSTED, &h.cfg.proxy_protocol_from, why, sizeof(why)), 0);
	harness_run(&h, client_bad);
	assert_int_equal(h.run_rc, 0);
	/* None of them reached the session. */
	assert_int_equal(h.opens, 0);
}

static int greeted(struct harness *h, struct tclient *c, const char *header)
{
	return tc_greeted(c, h->port, TRUSTED, header);
}

/* max_connections_per_ip 1: the limit counts the header's client, not the balancer. */
static void client_limits(struct harness *h)
{
	struct tclient a, b, c, waiting;

	/* A conn waiting for its header is not counted yet. */
	CHECK(tc_connect(&waiting, h->port, TRUSTED, 0) == 0, "connect");
	CHECK(greeted(h, &a, V1("203.0.113.1")) == 1, "first from .1");
	CHECK(greeted(h, &b, V1("203.0.113.2")) == 1, "first from .2");
	CHECK(greeted(h, &c, V1("203.0.113.1")) == 0, "second from .1 not rejected");
	tc_close(&c);
	CHECK(tc_sendstr(&a, "PEER\r\n") == 0, "send");
	EXPECT(&a, "250 203.0.113.1");
	tc_close(&a);
	tc_close(&b);
	/* Shut down with a conn still in the PROXY state. */
	harness_stop(h);
	CHECK(closed_silently(&waiting), "the waiting conn: not closed at shutdown");
	tc_close(&waiting);
}

static void test_limits(void **state)
{
	struct harness h;
	char why[256];
	harness_init(&h);
	h.cfg.max_connections = 10;
	h.cfg.max_connections_per_ip = 1;
	assert_int_equal(netlist_parse(TRUSTED, &h.cfg.proxy_protocol_from, why, sizeof(why)), 0);
	harness_run(&h, client_limits);
	assert_int_equal(h.run_rc, 0);
	assert_int_equal(h.opens, 2);
}

int main(void)
{
	log_set_level(LOG_LEVEL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, conn_group_setup, conn_group_teardown);
}
