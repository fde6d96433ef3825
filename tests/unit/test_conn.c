/*
 * test_conn.c - the connection layer (common/conn*.c, server.c) on a real
 * loop: lines and raw mode, pause, backpressure, idle timeout, limits,
 * the login deadline, stress mode, off-loop work, shutdown, IPv6. The
 * harness and the test protocol are in conn_harness.h; TLS has its own
 * file, test_conn_tls.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_harness.h"
#include "log.h"
#include "testutil.h"

static void client_echo(struct harness *h)
{
	struct tclient c;
	char batch[32 * 1024];
	size_t n = 0;

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "ECHO 1\r\nECHO 2\nECHO 3\r\n") == 0, "send");
	EXPECT(&c, "> ECHO 1");
	EXPECT(&c, "> ECHO 2 [lf]");
	EXPECT(&c, "> ECHO 3");
	/* 1000 pipelined commands in one write: answered in order, across
	 * many budget-limited rounds. */
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(batch + n, sizeof(batch) - n, "L%d\r\n", i);
	CHECK(tc_send(&c, batch, n) == 0, "send batch");
	for (int i = 0; i < 1000; i++) {
		char want[32];
		snprintf(want, sizeof(want), "> L%d", i);
		EXPECT(&c, want);
	}
	CHECK(tc_sendstr(&c, "QUIT\r\n") == 0, "send");
	EXPECT(&c, "221 bye");
	CHECK(tc_eof(&c), "no EOF after QUIT");
	tc_close(&c);
}

static void test_lines(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_echo);
	assert_int_equal(h.run_rc, 0);
	assert_int_equal(h.opens, 1);
}

static void client_pause(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	/* The lines after WORK and AFTER must wait for their replies. */
	CHECK(tc_sendstr(&c, "WORK 50\r\nECHO a\r\nAFTER\r\nECHO b\r\n") == 0, "send");
	EXPECT(&c, "250 work 42");
	EXPECT(&c, "> ECHO a");
	EXPECT(&c, "250 after");
	EXPECT(&c, "> ECHO b");

	/* While paused, a flood of input is buffered only up to the high
	 * water mark; then the socket is no longer read. */
	size_t len = 1024 * 1024, n = 0;
	char *big = malloc(len + 64);
	CHECK(big != NULL, "malloc");
	n += (size_t)snprintf(big, 64, "WORK 300\r\n");
	while (n + 100 < len) {
		memcpy(big + n, "SILENT ", 7);
		memset(big + n + 7, 'y', 90);
		memcpy(big + n + 97, "\r\n", 2);
		n += 99;
	}
	n += (size_t)snprintf(big + n, 64, "ECHO end\r\n");
	int rc = tc_send(&c, big, n);
	free(big);
	CHECK(rc == 0, "send flood");
	EXPECT(&c, "250 work 42");
	EXPECT(&c, "> ECHO end");
	tc_close(&c);
}

static void test_pause(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_pause);
	assert_true(h.max_in > 0);
	assert_true(h.max_in <= CONN_INPUT_HIGH_WATER + 64 * 1024);
}

static void client_raw(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	/* Command, body and the next command in one packet. */
	CHECK(tc_sendstr(&c, "DATA\r\nline1\r\n.line2\r\n.\r\nECHO after\r\n") == 0, "send");
	EXPECT(&c, "354 go");
	EXPECT(&c, "250 body 18");
	EXPECT(&c, "> ECHO after");
	/* The body split across packets, the terminator too. */
	CHECK(tc_sendstr(&c, "DATA\r\nab") == 0, "send");
	EXPECT(&c, "354 go");
	CHECK(tc_sendstr(&c, "c\r\n.") == 0, "send");
	usleep(20000);
	CHECK(tc_sendstr(&c, "\r\nQUIT\r\n") == 0, "send");
	EXPECT(&c, "250 body 8");
	EXPECT(&c, "221 bye");
	CHECK(tc_eof(&c), "no EOF after QUIT");
	tc_close(&c);
}

static void test_raw_mode(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_raw);
	assert_null(strstr(h.seen, "line1"));
}

static void client_long(struct harness *h)
{
	struct tclient c;
	char big[5000];

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	memset(big, 'x', sizeof(big));
	CHECK(tc_send(&c, big, sizeof(big)) == 0 && tc_sendstr(&c, "\r\nECHO ok\r\n") == 0, "send");
	EXPECT(&c, "500 too long");
	EXPECT(&c, "> ECHO ok");
	/* A megabyte without LF, then a command hidden in its tail. */
	for (int i = 0; i < 200; i++)
		CHECK(tc_send(&c, big, sizeof(big)) == 0, "send");
	CHECK(tc_sendstr(&c, "QUIT\r\nECHO ok2\r\n") == 0, "send");
	EXPECT(&c, "500 too long");
	EXPECT(&c, "> ECHO ok2");
	tc_close(&c);
}

static void test_long_line(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_long);
	assert_int_equal(h.too_long, 2);
	assert_null(strstr(h.seen, "QUIT"));
}

static void client_flood(struct harness *h)
{
	struct tclient c;
	char line[2048];
	int lines = 0;

	CHECK(tc_connect(&c, h->port, NULL, 16 * 1024) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "FLOOD 16384\r\nECHO next\r\n") == 0, "send");
	/* Not reading: the session must stop producing. */
	usleep(300 * 1000);
	for (;;) {
		int n = tc_line(&c, line, sizeof(line));
		CHECK(n >= 0, "stream ended after %d lines", lines);
		if (n != FLOOD_LINE - 2)
			break;
		lines++;
	}
	CHECK(lines == 16384, "got %d flood lines", lines);
	CHECK(strcmp(line, "250 flood done") == 0, "got \"%s\"", line);
	EXPECT(&c, "> ECHO next");
	tc_close(&c);
}

static void test_backpressure(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_flood);
	assert_true(h.full_seen >= 1);
	assert_true(h.drains >= 1);
	assert_true(h.max_queued <= CONN_OUTPUT_HIGH_WATER + FLOOD_LINE);
}

static void client_idle(struct harness *h)
{
	struct tclient c, t;
	double t0 = now_s();

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	CHECK(tc_connect(&t, h->tls_port, NULL, 0) == 0, "connect tls");
	EXPECT(&c, "220 hello");
	usleep(600 * 1000);
	CHECK(tc_sendstr(&c, "ECHO still here\r\n") == 0, "send");
	EXPECT(&c, "> ECHO still here");
	/* A TLS client that never says hello is cut after one idle period. */
	CHECK(tc_eof(&t), "handshake timeout: no EOF");
	double t_tls = now_s() - t0;
	EXPECT(&c, "421 idle");
	CHECK(tc_eof(&c), "no EOF after idle timeout");
	double elapsed = now_s() - t0;
	CHECK(t_tls >= 0.9 && t_tls < 3.0, "handshake timeout after %.2f s", t_tls);
	CHECK(elapsed >= 1.5 && elapsed < 4.0, "idle timeout after %.2f s", elapsed);
	tc_close(&c);
	tc_close(&t);
}

static void test_idle_timeout(void **state)
{
	struct harness h;
	harness_init(&h);
	h.cfg.idle_timeout = 1;
	harness_run(&h, client_idle);
	assert_int_equal(h.opens, 1);
}

static int greeted(struct harness *h, struct tclient *c, const char *src)
{
	return tc_greeted(c, h->port, src, NULL);
}

static void client_limits(struct harness *h)
{
	struct tclient a, b, c, d, e;
	int rc = 0;

	CHECK(greeted(h, &a, "127.0.0.1") == 1, "first from .1");
	CHECK(greeted(h, &b, "127.0.0.1") == 1, "second from .1");
	CHECK(greeted(h, &c, "127.0.0.1") == 0, "third from .1 not rejected");
	tc_close(&c);
	CHECK(greeted(h, &d, "127.0.0.2") == 1, "first from .2");
	CHECK(greeted(h, &e, "127.0.0.3") == 0, "fourth in total not rejected");
	tc_close(&e);
	/* Closing one makes room again, once the server has seen the close. */
	tc_close(&a);
	for (int i = 0; i < 100; i++) {
		rc = greeted(h, &c, "127.0.0.1");
		if (rc == 1)
			break;
		tc_close(&c);
		usleep(20000);
	}
	CHECK(rc == 1, "no room after a close");
	tc_close(&b);
	tc_close(&c);
	tc_close(&d);
}

static void test_limits(void **state)
{
	struct harness h;
	harness_init(&h);
	h.cfg.max_connections = 3;
	h.cfg.max_connections_per_ip = 2;
	harness_run(&h, client_limits);
	/* Rejected connections never reached the session. */
	assert_int_equal(h.opens, 4);
}


/*
 * login_timeout 1 s, idle_timeout 30 s: a client that keeps talking but
 * never logs in is cut at the login deadline; one that logged in is not;
 * one whose off-loop work outlasts the deadline gets its reply first.
 */
static void client_login(struct harness *h)
{
	struct tclient busy, in, slow;
	char line[256];
	int echoes = 0;
	double t0 = now_s();

	CHECK(tc_connect(&busy, h->port, NULL, 0) == 0, "connect");
	CHECK(tc_connect(&in, h->port, NULL, 0) == 0, "connect");
	CHECK(tc_connect(&slow, h->port, NULL, 0) == 0, "connect");
	EXPECT(&busy, "220 hello");
	EXPECT(&in, "220 hello");
	EXPECT(&slow, "220 hello");
	CHECK(tc_sendstr(&in, "LOGIN\r\n") == 0, "send");
	EXPECT(&in, "250 logged in");
	CHECK(tc_sendstr(&slow, "WORK 1500\r\n") == 0, "send");
	for (;;) {
		CHECK(now_s() - t0 < 5, "still served %.2f s after connecting, %d echoes", now_s() - t0,
		      echoes);
		/* Once the server has closed, the send may fail: the reply is read anyway. */
		if (tc_sendstr(&busy, "ECHO busy\r\n") != 0)
			break;
		CHECK(tc_line(&busy, line, sizeof(line)) >= 0, "no reply after %d echoes", echoes);
		if (strcmp(line, "> ECHO busy") != 0)
			break;
		echoes++;
		usleep(100 * 1000);
	}
	double cut = now_s() - t0;
	if (strcmp(line, "> ECHO busy") == 0)
		CHECK(tc_line(&busy, line, sizeof(line)) >= 0, "no reply at the deadline");
	CHECK(strcmp(line, "421 idle") == 0, "at the login deadline: \"%s\"", line);
	CHECK(tc_eof(&busy), "no EOF after the login deadline");
	CHECK(cut >= 0.9 && echoes >= 5, "login deadline after %.2f s, %d echoes", cut, echoes);
	/* Past the same deadline, the logged-in client is still served. */
	CHECK(tc_sendstr(&in, "ECHO in\r\n") == 0, "send");
	EXPECT(&in, "> ECHO in");
	/* Paused for its work at the deadline: answered, then cut. */
	EXPECT(&slow, "250 work 42");
	EXPECT(&slow, "421 idle");
	CHECK(tc_eof(&slow), "no EOF after the work");
	tc_close(&busy);
	tc_close(&in);
	tc_close(&slow);
}

static void test_login_timeout(void **state)
{
	struct harness h;
	harness_init(&h);
	h.cfg.login_timeout = 1;
	harness_run(&h, client_login);
	assert_int_equal(h.opens, 3);
}

/* Waits up to 5 s for a line on any of n clients; its index, or -1. */
static int first_readable(struct tclient *c, const bool *skip, int n, unsigned ms)
{
	struct pollfd fds[16];
	for (int i = 0; i < n; i++) {
		fds[i].fd = skip[i] ? -1 : c[i].fd;
		fds[i].events = POLLIN;
	}
	if (poll(fds, (nfds_t)n, (int)ms) <= 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (fds[i].revents != 0)
			return i;
	}
	return -1;
}

/*
 * max_connections 10: stress mode from 8 connections until below 7.
 * Seven idle clients and an active one start it; with stress_idle_timeout
 * 1 s (idle_timeout 30 s) idle ones are shed about a second after their
 * last input until the count is below 7, while the active one is served;
 * the others then keep the long timeout.
 */
enum { STRESS_IDLE = 7 };

static void client_stress(struct harness *h)
{
	struct tclient idle[STRESS_IDLE], active;
	bool cut[STRESS_IDLE] = { false };
	double opened[STRESS_IDLE];
	char line[256];
	int ncut = 0;

	for (int i = 0; i < STRESS_IDLE; i++) {
		CHECK(tc_connect(&idle[i], h->port, NULL, 0) == 0, "connect %d", i);
		EXPECT(&idle[i], "220 hello");
		opened[i] = now_s();
	}
	CHECK(tc_connect(&active, h->port, NULL, 0) == 0, "connect");
	EXPECT(&active, "220 hello");
	double t0 = now_s();
	/* Active every 200 ms for 2.5 s: idle ones are cut meanwhile. */
	while (now_s() - t0 < 2.5) {
		CHECK(tc_sendstr(&active, "ECHO active\r\n") == 0, "send");
		EXPECT(&active, "> ECHO active");
		int i;
		while ((i = first_readable(idle, cut, STRESS_IDLE, 200)) >= 0) {
			EXPECT(&idle[i], "421 idle");
			CHECK(tc_eof(&idle[i]), "no EOF after the stress timeout");
			double after = now_s() - opened[i];
			CHECK(after >= 0.9 && after < 5, "idle %d cut after %.2f s", i, after);
			cut[i] = true;
			ncut++;
		}
	}
	/* 8 -> 6: below 70% of 10 the mode ends, and shedding with it. */
	CHECK(ncut == 2, "%d idle connections cut, want 2", ncut);
	for (int i = 0; i < STRESS_IDLE; i++) {
		if (cut[i])
			continue;
		CHECK(tc_sendstr(&idle[i], "ECHO still\r\n") == 0, "send");
		CHECK(tc_line(&idle[i], line, sizeof(line)) >= 0 && strcmp(line, "> ECHO still") == 0,
		      "idle %d after stress: \"%s\"", i, line);
	}
	for (int i = 0; i < STRESS_IDLE; i++)
		tc_close(&idle[i]);
	tc_close(&active);
}

static void test_stress_mode(void **state)
{
	struct harness h;
	harness_init(&h);
	h.cfg.max_connections = 10;
	h.cfg.stress_idle_timeout = 1;
	harness_run(&h, client_stress);
	assert_int_equal(h.opens, STRESS_IDLE + 1);
}

static void client_work_close(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "WORKCLOSE\r\nECHO never\r\n") == 0, "send");
	CHECK(tc_eof(&c), "no EOF after WORKCLOSE");
	tc_close(&c);
}

static void test_work_after_close(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_work_close);
	assert_int_equal(h.done_null, 1);
	assert_int_equal(h.cancelled, 0);
	assert_null(strstr(h.seen, "never"));
}

static void client_every(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "EVERY 3\r\n") == 0, "send");
	EXPECT(&c, "250 tick 3");
	EXPECT(&c, "250 tick 2");
	EXPECT(&c, "250 tick 1");
	/* Input was never paused, and the timer stopped after the third tick. */
	CHECK(tc_sendstr(&c, "ECHO x\r\n") == 0, "send");
	EXPECT(&c, "> ECHO x");
	CHECK(tc_sendstr(&c, "QUIT\r\n") == 0, "send");
	EXPECT(&c, "221 bye");
	tc_close(&c);
}

static void test_every(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_every);
	assert_null(strstr(h.seen, "tick 0"));
}

static void client_close_job(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "CLOSEJOB\r\n") == 0, "send");
	CHECK(tc_eof(&c), "no EOF after CLOSEJOB");
	tc_close(&c);
}

/* Clean-up work queued from the close callback runs, and its done callback sees no conn. */
static void test_work_from_close_callback(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_close_job);
	assert_int_equal(h.done_null, 1);
	assert_int_equal(h.closes, 1);
}

/* ---- dialling out (server_connect) ---- */

struct dial {
	int opens, closes;
	char first[64];  /* the first line the server sent */
	char reason[64]; /* the close callback's */
};

static struct dial dial_ok, dial_refused;
static int dial_bad_rc;
static int closed_port;

static void dial_open(conn_t *conn)
{
	struct dial *d = conn_data(conn);
	d->opens++;
}

static void dial_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct dial *d = conn_data(conn);
	if (d->first[0] != '\0')
		return;
	snprintf(d->first, sizeof(d->first), "%.*s", (int)len, line);
	conn_printf(conn, "QUIT\r\n");
}

static void dial_close(conn_t *conn, const char *reason)
{
	struct dial *d = conn_data(conn);
	d->closes++;
	snprintf(d->reason, sizeof(d->reason), "%s", reason != NULL ? reason : "");
}

static const struct conn_handler dial_handler = {
	.open = dial_open, .line = dial_line, .close = dial_close,
};

static void start_dials(struct harness *h, void *arg)
{
	char err[256];

	if (server_connect(h->srv, "127.0.0.1", (unsigned)h->port, NULL, 2000, &dial_handler, 9,
	                   &dial_ok, err, sizeof(err)) != 0 ||
	    server_connect(h->srv, "127.0.0.1", (unsigned)closed_port, NULL, 2000, &dial_handler,
	                   9, &dial_refused, err, sizeof(err)) != 0)
		failf(h, __LINE__, "server_connect: %s", err);
	dial_bad_rc = server_connect(h->srv, "mx.example.test", 25, NULL, 2000, &dial_handler, 9,
	                             NULL, err, sizeof(err));
}

static bool dials_done(struct harness *h)
{
	return dial_ok.closes == 1 && dial_refused.closes == 1;
}

static void client_dial(struct harness *h)
{
	CHECK(harness_on_loop(h, start_dials, NULL) == 0, "loop");
	CHECK(harness_wait_for(h, dials_done, 5000) == 0, "the dials did not end");
}

/* A port nothing listens on (bound, then closed again). */
static int unused_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* Dialling out: an outbound session talks to a server (here ours) and ends in close, and a
 * refused connect ends in close too, without open; a name is refused at once. */
static void test_dial_out(void **state)
{
	struct harness h;

	memset(&dial_ok, 0, sizeof(dial_ok));
	memset(&dial_refused, 0, sizeof(dial_refused));
	closed_port = unused_port();
	harness_init(&h);
	harness_run(&h, client_dial);
	assert_int_equal(dial_ok.opens, 1);
	assert_string_equal(dial_ok.first, "220 hello");
	assert_int_equal(dial_ok.closes, 1);
	assert_int_equal(dial_refused.opens, 0);
	assert_int_equal(dial_refused.closes, 1);
	assert_string_equal(dial_refused.reason, "ECONNREFUSED");
	assert_int_equal(dial_bad_rc, -1);
	assert_non_null(strstr(h.seen, "QUIT"));
}

static bool released_after_close(struct harness *h)
{
	return h->done_null == 1;
}

static void client_hold(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	/* Paused meanwhile: the pipelined line waits for the release. */
	CHECK(tc_sendstr(&c, "HOLD 50\r\nECHO after\r\n") == 0, "send");
	EXPECT(&c, "250 work 7");
	EXPECT(&c, "> ECHO after");
	tc_close(&c);

	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "HOLDCLOSE\r\nECHO never\r\n") == 0, "send");
	CHECK(tc_eof(&c), "no EOF after HOLDCLOSE");
	tc_close(&c);
	/* The release comes after the close (before the shutdown): its done
	 * must see conn == NULL. */
	CHECK(harness_wait_for(h, released_after_close, 5000) == 0, "no release after the close");
}

static void test_hold_release(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_hold);
	assert_int_equal(h.done_null, 1);
	assert_null(strstr(h.seen, "never"));
}

static void client_shutdown(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	harness_stop(h);
	EXPECT(&c, "421 shutting down");
	CHECK(tc_eof(&c), "no EOF after shutdown");
	tc_close(&c);
	/* The listeners are closed now. */
	CHECK(tc_connect(&c, h->port, NULL, 0) != 0, "still listening after shutdown");
	tc_close(&c);
}

static void test_shutdown_drain(void **state)
{
	struct harness h;
	harness_init(&h);
	harness_run(&h, client_shutdown);
	assert_int_equal(h.run_rc, 0);
	assert_int_equal(h.opens, 1);
}

static void client_deadline(struct harness *h)
{
	struct tclient a, b;
	CHECK(tc_connect(&a, h->port, NULL, 0) == 0, "connect");
	CHECK(tc_connect(&b, h->port, NULL, 0) == 0, "connect");
	EXPECT(&a, "220 hello");
	EXPECT(&b, "220 hello");
	CHECK(tc_sendstr(&a, "STUBBORN\r\nWORK 1500\r\n") == 0, "send");
	EXPECT(&a, "250 ok");
	usleep(100 * 1000);
	/* The pool has one thread (see main): this job waits, and is cancelled. */
	CHECK(tc_sendstr(&b, "STUBBORN\r\nWORK 10\r\n") == 0, "send");
	EXPECT(&b, "250 ok");
	double t0 = now_s();
	harness_stop(h);
	CHECK(tc_eof(&a) && tc_eof(&b), "no EOF at the deadline");
	double elapsed = now_s() - t0;
	CHECK(elapsed >= 0.8 && elapsed < 3.0, "deadline after %.2f s", elapsed);
	tc_close(&a);
	tc_close(&b);
}

static void test_shutdown_deadline(void **state)
{
	struct harness h;
	harness_init(&h);
	h.cfg.shutdown_timeout = 1;
	harness_run(&h, client_deadline);
	assert_int_equal(h.run_rc, -1);
	assert_int_equal(h.done_null, 2);
	assert_int_equal(h.cancelled, 1);
}

static void client_ipv6(struct harness *h)
{
	struct tclient c;
	CHECK(tc_connect6(&c, h->v6_port) == 0, "connect [::1]");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "PEER\r\n") == 0, "send");
	EXPECT(&c, "250 ::1");
	tc_close(&c);
	CHECK(tc_connect(&c, h->port, NULL, 0) == 0, "connect");
	EXPECT(&c, "220 hello");
	CHECK(tc_sendstr(&c, "PEER\r\n") == 0, "send");
	EXPECT(&c, "250 127.0.0.1");
	tc_close(&c);
}

static void test_ipv6(void **state)
{
	struct harness h;
	const char *missing = harness_ipv6_missing();
	if (missing != NULL)
		TESTUTIL_SKIP("%s", missing);
	harness_init(&h);
	h.ipv6 = true;
	harness_run(&h, client_ipv6);
	assert_int_equal(h.opens, 2);
}

int main(void)
{
	/* One pool thread makes a queued job cancellable at the deadline
	 * (server_new keeps a value the environment already has). */
	setenv("UV_THREADPOOL_SIZE", "1", 1);
	log_set_level(LOG_LEVEL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_every),
		cmocka_unit_test(test_dial_out),
		cmocka_unit_test(test_work_from_close_callback),
		cmocka_unit_test(test_raw_mode),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_login_timeout),
		cmocka_unit_test(test_stress_mode),
		cmocka_unit_test(test_work_after_close),
		cmocka_unit_test(test_hold_release),
		cmocka_unit_test(test_shutdown_drain),
		cmocka_unit_test(test_shutdown_deadline),
		cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, conn_group_setup, conn_group_teardown);
}
