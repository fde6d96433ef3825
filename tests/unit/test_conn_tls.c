/*
 * test_conn_tls.c - TLS on the connection layer (common/conn-tls.c,
 * tls.c) with a real mbedTLS client: STARTTLS without buffered-plaintext
 * injection, implicit TLS, certificate reload on SIGHUP, idle sessions
 * whose record buffers are trimmed, the handshake deadline and failed
 * handshakes reported by reason; and our
 * own client side (conn_starttls_client) against our server. The
 * harness is in conn_harness.h.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn_harness.h"
#include "log.h"
#include "testutil.h"

static void client_starttls(struct harness *h)
{
	struct tclient c;
	char subject[256], line[256];

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "TLSINFO\r\n") == 0, "send");
	EXPECT(&c, "250 - -");
	/* The injection: plaintext after STARTTLS in the same packet. */
	CHECK(tc_sendstr(&c, "STARTTLS\r\nINJECTED\r\n") == 0, "send");
	EXPECT(&c, "220 go");
	CHECK(c.start == c.end, "bytes after 220 before the handshake");
	CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake");
	CHECK(tc_sendstr(&c, "ECHO secure\r\nTLSINFO\r\n") == 0, "send");
	EXPECT(&c, "> ECHO secure");
	CHECK(tc_line(&c, line, sizeof(line)) > 0, "TLSINFO");
	CHECK(strncmp(line, "250 TLSv1.", 10) == 0 &&
	          (strstr(line, "GCM") != NULL || strstr(line, "CHACHA20") != NULL),
	      "TLSINFO: %s", line);
	print_message("negotiated: %s\n", line + 4);
	CHECK(tc_sendstr(&c, "STARTTLS\r\n") == 0, "send");
	EXPECT(&c, "220 go"); /* a second STARTTLS closes: the test protocol does not refuse it */
	CHECK(tc_eof(&c), "no EOF after a second STARTTLS");
	tc_close(&c);
}

static void test_starttls(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_starttls);
	assert_int_equal(h.tls_ready, 1);
	/* A second STARTTLS is refused by the conn layer, not a failed handshake. */
	for (int i = 0; i < CONN_TLS_FAIL_COUNT; i++)
		assert_int_equal(h.tls_failed[i], 0);
	assert_null(strstr(h.seen, "INJECTED"));
	assert_non_null(strstr(h.seen, "ECHO secure"));
}

/* ---- the client side: a session we dial that upgrades with STARTTLS ---- */

struct tls_dial {
	int step;          /* 0 greeting, 1 after STARTTLS, 2 after TLSINFO */
	int tls_ready, closes;
	bool verified;
	char tls_info[128];
};

static struct tls_dial tls_dial;

static void tls_dial_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct tls_dial *d = conn_data(conn);

	bool greeting = d->step == 0 && len == 9 && memcmp(line, "220 hello", 9) == 0;

	if (greeting && conn_tls_active(conn)) {
		/* Implicit TLS: the greeting came encrypted. */
		d->verified = conn_tls_peer_verified(conn);
		conn_printf(conn, "TLSINFO\r\n");
		d->step = 2;
	} else if (greeting) {
		conn_printf(conn, "STARTTLS\r\n");
		d->step = 1;
	} else if (d->step == 1 && len == 6 && memcmp(line, "220 go", 6) == 0) {
		conn_starttls_client(conn, "localhost");
	} else if (d->step == 2) {
		snprintf(d->tls_info, sizeof(d->tls_info), "%.*s", (int)len, line);
		conn_printf(conn, "QUIT\r\n");
		d->step = 3;
	}
}

static void tls_dial_ready(conn_t *conn)
{
	struct tls_dial *d = conn_data(conn);

	d->tls_ready++;
	d->verified = conn_tls_peer_verified(conn);
	d->step = 2;
	conn_printf(conn, "TLSINFO\r\n");
}

static void tls_dial_close(conn_t *conn, const char *reason)
{
	struct tls_dial *d = conn_data(conn);
	d->closes++;
}

static void tls_dial_open(conn_t *conn)
{
}

static const struct conn_handler tls_dial_handler = {
	.open = tls_dial_open, .line = tls_dial_line, .tls_ready = tls_dial_ready,
	.close = tls_dial_close,
};

static void start_tls_dial(struct harness *h, void *arg)
{
	bool implicit = arg != NULL;
	char err[256];

	if (server_connect(h->srv, "127.0.0.1", (unsigned)(implicit ? h->tls_port : h->port),
	                   implicit ? "localhost" : NULL, 2000, &tls_dial_handler, 9, &tls_dial, err,
	                   sizeof(err)) != 0)
		failf(h, __LINE__, "server_connect: %s", err);
}

static bool tls_dial_done(struct harness *h)
{
	return tls_dial.closes == 1;
}

static void client_tls_dial(struct harness *h)
{
	CHECK(harness_on_loop(h, start_tls_dial, NULL) == 0, "loop");
	CHECK(harness_wait_for(h, tls_dial_done, 5000) == 0, "the TLS dial did not end");
}

static void client_tls_dial_implicit(struct harness *h)
{
	CHECK(harness_on_loop(h, start_tls_dial, h) == 0, "loop");
	CHECK(harness_wait_for(h, tls_dial_done, 5000) == 0, "the TLS dial did not end");
}

/*
 * Our TLS client (conn_starttls_client) against our server: the handshake
 * completes, the session goes on encrypted, and a self-signed certificate
 * is reported as not verified (the caller's policy decides).
 */
static void test_tls_client(void **state)
{
	struct harness h;

	memset(&tls_dial, 0, sizeof(tls_dial));
	harness_init(&h);
	harness_run(&h, client_tls_dial);
	assert_int_equal(tls_dial.tls_ready, 1);
	assert_false(tls_dial.verified);
	if (strncmp(tls_dial.tls_info, "250 TLSv1.", 10) != 0)
		fail_msg("TLSINFO: %s", tls_dial.tls_info);
	print_message("client negotiated: %s\n", tls_dial.tls_info + 4);
	assert_int_equal(h.tls_ready, 1);
	assert_int_equal(tls_dial.closes, 1);

	/* The same with implicit TLS (RFC 8314): open comes after the handshake. */
	memset(&tls_dial, 0, sizeof(tls_dial));
	harness_init(&h);
	harness_run(&h, client_tls_dial_implicit);
	assert_int_equal(tls_dial.tls_ready, 0);
	assert_false(tls_dial.verified);
	if (strncmp(tls_dial.tls_info, "250 TLSv1.", 10) != 0)
		fail_msg("implicit TLSINFO: %s", tls_dial.tls_info);
	assert_int_equal(tls_dial.closes, 1);
}

static void client_implicit(struct harness *h)
{
	struct tclient c;
	char subject[256], line[2048];
	int lines = 0;

	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake");
	CHECK(strcmp(subject, "CN=localhost") == 0, "subject %s", subject);
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "FLOOD 2048\r\n") == 0, "send");
	while (tc_line(&c, line, sizeof(line)) == FLOOD_LINE - 2)
		lines++;
	CHECK(lines == 2048 && strcmp(line, "250 flood done") == 0, "flood: %d lines, then %s", lines,
	      line);
	CHECK(tc_sendstr(&c, "QUIT\r\n") == 0, "send");
	EXPECT(&c, "221 bye");
	CHECK(tc_eof(&c), "no close_notify/EOF after QUIT");
	tc_close(&c);

	/* SIGHUP with a broken certificate keeps the old one... */
	char cert2[600], key2[600];
	snprintf(cert2, sizeof(cert2), "%s/cert2.pem", tmp_dir);
	snprintf(key2, sizeof(key2), "%s/key2.pem", tmp_dir);
	FILE *f = fopen(h->cfg.tls_cert, "w");
	CHECK(f != NULL, "rewrite cert");
	fputs("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	kill(getpid(), SIGHUP);
	usleep(200 * 1000);
	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake after a failed reload");
	CHECK(strcmp(subject, "CN=localhost") == 0, "subject %s", subject);
	EXPECT(&c, "220 hello");
	tc_close(&c);

	/* ...and a good one is used by new connections. */
	make_cert("reloaded", cert2, key2);
	CHECK(rename(cert2, h->cfg.tls_cert) == 0 && rename(key2, h->cfg.tls_key) == 0, "rename");
	kill(getpid(), SIGHUP);
	/* The signal reaches the loop asynchronously: poll for its effect. */
	for (int i = 0; i < 50; i++) {
		CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
		CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake after reload");
		EXPECT(&c, "220 hello");
		tc_close(&c);
		if (strcmp(subject, "CN=reloaded") == 0)
			break;
		usleep(50 * 1000);
	}
	CHECK(strcmp(subject, "CN=reloaded") == 0, "subject %s", subject);
}

/* Sends a DATA body of n lines of 1000 octets (full-size records) and a FLOOD of n lines. */
static void fill_buffers(struct harness *h, struct tclient *c, int n)
{
	char line[2048], chunk[1000], want[64];
	int lines = 0;

	memset(chunk, 'y', sizeof(chunk) - 2);
	memcpy(chunk + sizeof(chunk) - 2, "\r\n", 2);
	CHECK(tc_sendstr(c, "DATA\r\n") == 0, "send");
	EXPECT(c, "354 go");
	for (int i = 0; i < n; i++)
		CHECK(tc_send(c, chunk, sizeof(chunk)) == 0, "send body");
	CHECK(tc_sendstr(c, ".\r\n") == 0, "send");
	snprintf(want, sizeof(want), "250 body %d", n * 1000 + 3);
	EXPECT(c, want);
	CHECK(tc_sendstr(c, "FLOOD 64\r\n") == 0, "send");
	while (tc_line(c, line, sizeof(line)) == FLOOD_LINE - 2)
		lines++;
	CHECK(lines == 64 && strcmp(line, "250 flood done") == 0, "flood: %d lines, then %s", lines,
	      line);
}

/* Waits until the idle TLS sessions' releasable buffer pages are out of memory. */
static bool trimmed(struct harness *h)
{
	for (int i = 0; i < 100; i++) {
		if (harness_tls_resident(h) == 0)
			return true;
		usleep(100 * 1000); /* the sweep runs every second */
	}
	return false;
}

/*
 * Sessions idle for a sweep period give their record buffers' pages back
 * (tls_conn_trim): checked with mincore, through tls_conn_resident, so the
 * test fails if the pages stay in memory. The session must go on as if
 * nothing happened, with full-size records in and out.
 */
static void client_tls_idle(struct harness *h)
{
	struct tclient c;
	char subject[256], line[256];

	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake");
	EXPECT(&c, "220 hello");
	fill_buffers(h, &c, 200);
	/* Busy: the buffers' pages are in memory (asked in the same session, so not idle). */
	CHECK(tc_sendstr(&c, "TLSMEM\r\n") == 0, "send");
	CHECK(tc_line(&c, line, sizeof(line)) > 0, "TLSMEM");
	long busy = strtol(line + 4, NULL, 10);
	CHECK(strncmp(line, "250 ", 4) == 0 && busy >= 16 * 1024, "busy session: %s resident", line);
	CHECK(trimmed(h), "idle session's buffers still resident: %zu bytes", harness_tls_resident(h));

	CHECK(tc_sendstr(&c, "ECHO after idle\r\n") == 0, "send");
	EXPECT(&c, "> ECHO after idle");
	/* Full-size records in (a 200 KB body) into trimmed buffers, and out. */
	fill_buffers(h, &c, 200);
	CHECK(trimmed(h), "trimmed once, not twice: %zu bytes", harness_tls_resident(h));
	fill_buffers(h, &c, 50);
	CHECK(tc_sendstr(&c, "QUIT\r\n") == 0, "send");
	EXPECT(&c, "221 bye");
	tc_close(&c);
}

/*
 * handshake_timeout 1 s, idle_timeout 30 s: a client that never starts
 * (implicit TLS) or never finishes (STARTTLS) its handshake is cut after
 * the handshake timeout, not the idle timeout.
 */
static void client_handshake(struct harness *h)
{
	struct tclient imp, st;
	double t0 = now_s();

	CHECK(tc_connect(&imp, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_connect(&st, h->port, NULL, 0) == 0, "connect");
	EXPECT(&st, "220 hello");
	CHECK(tc_sendstr(&st, "STARTTLS\r\n") == 0, "send");
	EXPECT(&st, "220 go");
	double t1 = now_s();
	/* tc_eof gives up after 5 s (SO_RCVTIMEO): long before the idle timeout. */
	CHECK(tc_eof(&imp), "implicit TLS without a ClientHello: no EOF");
	double imp_s = now_s() - t0;
	CHECK(tc_eof(&st), "STARTTLS without a handshake: no EOF");
	double st_s = now_s() - t1;
	CHECK(imp_s >= 0.9 && st_s >= 0.9, "handshakes cut after %.2f s and %.2f s", imp_s, st_s);
	tc_close(&imp);
	tc_close(&st);
}

static void test_handshake_timeout(void **state)
{
	struct harness h;
	harness_init(&h);
	h.cfg.handshake_timeout = 1;
	harness_run(&h, client_handshake);
	assert_int_equal(h.opens, 1);
	assert_int_equal(h.tls_ready, 0);
	assert_int_equal(h.tls_failed[CONN_TLS_FAIL_TIMEOUT], 2);
	assert_int_equal(h.tls_failed_in_session, 1);
}

static bool failures_counted(struct harness *h)
{
	return h->tls_failed[CONN_TLS_FAIL_PROTOCOL] == 2 && h->tls_failed[CONN_TLS_FAIL_CLOSED] == 2;
}

/*
 * Failed handshakes reach handler->tls_failed with their reason: bytes
 * that are no TLS record (protocol) and a peer that hangs up before
 * finishing (closed), for implicit TLS (no session yet) and STARTTLS; a
 * peer that hangs up before sending anything is no failed handshake.
 */
static void client_tls_failures(struct harness *h)
{
	static const char garbage[] = "GET / HTTP/1.0\r\n\r\n";
	struct tclient c;

	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_send(&c, garbage, sizeof(garbage) - 1) == 0, "send");
	CHECK(tc_eof(&c), "implicit TLS after garbage: no EOF");
	tc_close(&c);

	/* Half a record header, then a hang-up: closed mid-handshake. */
	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_send(&c, "\x16\x03", 2) == 0, "send");
	tc_close(&c);

	/* A hang-up before any byte (a TCP health check): not reported. */
	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	tc_close(&c);

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "STARTTLS\r\n") == 0, "send");
	EXPECT(&c, "220 go");
	CHECK(tc_send(&c, garbage, sizeof(garbage) - 1) == 0, "send");
	CHECK(tc_eof(&c), "STARTTLS after garbage: no EOF");
	tc_close(&c);

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "STARTTLS\r\n") == 0, "send");
	EXPECT(&c, "220 go");
	CHECK(tc_send(&c, "\x16", 1) == 0, "send");
	tc_close(&c);

	CHECK(harness_wait_for(h, failures_counted, 10000) == 0, "failures not counted: %d %d",
	      h->tls_failed[CONN_TLS_FAIL_PROTOCOL], h->tls_failed[CONN_TLS_FAIL_CLOSED]);
}

static void test_tls_failures(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_tls_failures);
	assert_int_equal(h.tls_failed[CONN_TLS_FAIL_PROTOCOL], 2);
	assert_int_equal(h.tls_failed[CONN_TLS_FAIL_CLOSED], 2);
	assert_int_equal(h.tls_failed[CONN_TLS_FAIL_TIMEOUT], 0);
	assert_int_equal(h.tls_failed_in_session, 2);
	assert_int_equal(h.tls_ready, 0);
	assert_int_equal(h.opens, 2);
	assert_int_equal(h.closes, 2);
	assert_string_equal(conn_tls_failure_name(CONN_TLS_FAIL_PROTOCOL), "protocol");
	assert_string_equal(conn_tls_failure_name(CONN_TLS_FAIL_TIMEOUT), "timeout");
	assert_string_equal(conn_tls_failure_name(CONN_TLS_FAIL_CLOSED), "closed");
	assert_string_equal(conn_tls_failure_name(CONN_TLS_FAIL_OTHER), "other");
}

static void test_tls_idle(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_tls_idle);
}

static void test_implicit_tls(void **state)
{
	struct harness h;
	char cert[600], key[600];

	/* A private copy: this test rewrites the files. */
	snprintf(cert, sizeof(cert), "%s/icert.pem", tmp_dir);
	snprintf(key, sizeof(key), "%s/ikey.pem", tmp_dir);
	make_cert("localhost", cert, key);
	harness_init(&h);
	snprintf(h.cfg.tls_cert, sizeof(h.cfg.tls_cert), "%s", cert);
	snprintf(h.cfg.tls_key, sizeof(h.cfg.tls_key), "%s", key);
	harness_run(&h, client_implicit);
	assert_true(h.opens >= 3);
	assert_int_equal(h.tls_ready, 0);
}

int main(void)
{
	log_set_level(LOG_LEVEL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_tls_client),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_tls_idle),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_tls_failures),
	};
	return cmocka_run_group_tests(tests, conn_group_setup, conn_group_teardown);
}
