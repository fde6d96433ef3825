/*
 * test_conn.c - the connection layer on a real loop: a server on
 * 127.0.0.1 with ephemeral ports runs a tiny line protocol (below), and a
 * blocking client (plain sockets, or mbedTLS for STARTTLS and implicit
 * TLS) talks to it from a second thread.
 *
 * The loop runs on the test's thread inside server_run(). The client
 * thread records its first failure as text (cmocka asserts are not
 * thread-safe there) and asks the server to shut down when it is done;
 * what the sessions observed is checked after the join. Every test ends
 * with no handle left on the loop (so uv_loop_close() returns 0) and, under
 * ASan, no leak.
 *
 * The test protocol, one command per line:
 *   anything      "> " + the line (+ " [lf]" for a bare LF)
 *   over-long     "500 too long"
 *   SILENT ...    no reply
 *   DATA          "354 go", raw mode until CRLF.CRLF, "250 body N"
 *   WORK ms       pause, sleep ms on the thread pool, "250 work 42", resume
 *   WORKCLOSE     queue a 200 ms job, close at once
 *   HOLD ms       conn_hold, a loop timer of ms, conn_release: "250 work 7"
 *   HOLDCLOSE     HOLD 200, close at once
 *   FLOOD n       n lines of 1 KiB, produced only while output is not full
 *   AFTER         conn_after 50 ms, then "250 after"
 *   STARTTLS      "220 go", conn_starttls
 *   TLSINFO       "250 <version> <cipher>"
 *   PEER          "250 <peer address>"
 *   STUBBORN      this session ignores the shutdown request
 *   QUIT          "221 bye", close
 * Greeting "220 hello"; idle timeout "421 idle"; shutdown "421 shutting down".
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif
#include <uv.h>

#include "conn-private.h" /* white box: the input buffer's size while paused */
#include "conn.h"
#include "log.h"
#include "server.h"
#include "testutil.h"

enum { ROLE_PLAIN = 1, ROLE_TLS = 2 };

#define REJECT_LINE "421 too many connections\r\n"
#define FLOOD_LINE 1024

struct harness {
	struct mail_config cfg;
	struct server *srv;
	int port;     /* plain listener (STARTTLS offered) */
	int tls_port; /* implicit TLS listener */
	int v6_port;  /* plain on [::1] */
	void (*client)(struct harness *h);
	uv_async_t stop_async;
	uv_timer_t watchdog;
	bool stop_sent;
	int run_rc;
	char fail[512];

	/* Seen by the sessions on the loop thread; read after the join. */
	int opens, closes, tls_ready, drains, too_long, full_seen;
	int done_null, cancelled, stop_cbs;
	size_t max_queued, max_in;
	char seen[8192]; /* every line received, '|'-separated */
	size_t seen_len;
};

static struct harness *H;
static char cert_file[512], key_file[512], tmp_dir[256];

static void failf(struct harness *h, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void failf(struct harness *h, int line, const char *fmt, ...)
{
	if (h->fail[0] != '\0')
		return;
	int n = snprintf(h->fail, sizeof(h->fail), "line %d: ", line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->fail + n, sizeof(h->fail) - (size_t)n, fmt, ap);
	va_end(ap);
}

#define CHECK(cond, ...)                                \
	do {                                                \
		if (!(cond)) {                                  \
			failf(h, __LINE__, __VA_ARGS__);            \
			return;                                     \
		}                                               \
	} while (0)

/* ---- the test protocol (loop thread) ---------------------------------- */

struct session {
	conn_t *conn;
	int match;      /* bytes of CRLF "." CRLF matched in DATA */
	size_t body;
	size_t flood_left;
	bool stubborn;
};

struct job {
	unsigned ms;
	int value;
};

static void job_work(void *arg)
{
	struct job *j = arg;
	usleep(j->ms * 1000);
	j->value = 42;
}

static void job_done(conn_t *conn, void *arg, int status)
{
	struct job *j = arg;
	if (status == UV_ECANCELED)
		H->cancelled++;
	if (conn == NULL) {
		H->done_null++;
		free(j);
		return;
	}
	if (conn->in_len > H->max_in)
		H->max_in = conn->in_len;
	conn_printf(conn, "250 work %d\r\n", j->value);
	conn_resume(conn);
	free(j);
}

static void queue_job(conn_t *conn, unsigned ms)
{
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->ms = ms;
	if (conn_queue_work(conn, job_work, job_done, j) != 0) {
		free(j);
		conn_printf(conn, "451 no work\r\n");
	}
}

/* Work done elsewhere than the pool (smtpd's committer): conn_hold, a timer, conn_release. */
struct held {
	uv_timer_t timer;
	conn_t *conn;
	struct job *job;
};

static void held_close_cb(uv_handle_t *handle)
{
	free(handle->data);
}

static void held_timer_cb(uv_timer_t *timer)
{
	struct held *hd = timer->data;
	conn_release(hd->conn, job_done, hd->job);
	uv_close((uv_handle_t *)timer, held_close_cb);
}

static void hold_job(conn_t *conn, unsigned ms)
{
	struct held *hd = calloc(1, sizeof(*hd));
	assert_non_null(hd);
	hd->job = calloc(1, sizeof(*hd->job));
	assert_non_null(hd->job);
	hd->job->value = 7;
	hd->conn = conn;
	conn_hold(conn);
	uv_timer_init(server_loop(H->srv), &hd->timer);
	hd->timer.data = hd;
	uv_timer_start(&hd->timer, held_timer_cb, ms, 0);
}

static void flood(struct session *s)
{
	static char line[FLOOD_LINE];
	if (line[0] == '\0') {
		memset(line, 'x', sizeof(line) - 2);
		memcpy(line + sizeof(line) - 2, "\r\n", 2);
	}
	while (s->flood_left > 0 && !conn_output_full(s->conn)) {
		conn_write(s->conn, line, sizeof(line));
		s->flood_left--;
		if (conn_output_queued(s->conn) > H->max_queued)
			H->max_queued = conn_output_queued(s->conn);
	}
	if (s->flood_left > 0)
		H->full_seen++;
	else
		conn_printf(s->conn, "250 flood done\r\n");
}

static void after_cb(conn_t *conn)
{
	conn_printf(conn, "250 after\r\n");
	conn_resume(conn);
}

static void record(const char *line, size_t len)
{
	if (H->seen_len + len + 2 > sizeof(H->seen))
		return;
	memcpy(H->seen + H->seen_len, line, len);
	H->seen_len += len;
	H->seen[H->seen_len++] = '|';
	H->seen[H->seen_len] = '\0';
}

static bool is(const char *line, size_t len, const char *cmd)
{
	size_t n = strlen(cmd);
	return len >= n && memcmp(line, cmd, n) == 0;
}

static void on_open(conn_t *conn)
{
	struct session *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->conn = conn;
	conn_set_data(conn, s);
	H->opens++;
	conn_printf(conn, "220 hello\r\n");
}

static void on_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct session *s = conn_data(conn);
	char arg[64] = "";

	if (too_long) {
		H->too_long++;
		conn_printf(conn, "500 too long\r\n");
		return;
	}
	if (is(line, len, "SILENT"))
		return;
	record(line, len);
	if (len > 0 && len < sizeof(arg) && memchr(line, ' ', len) != NULL) {
		const char *sp = memchr(line, ' ', len);
		memcpy(arg, sp + 1, len - (size_t)(sp + 1 - line));
		arg[len - (size_t)(sp + 1 - line)] = '\0';
	}
	if (is(line, len, "DATA")) {
		s->match = 2; /* the CRLF that ended DATA starts the terminator */
		s->body = 0;
		conn_set_read_mode(conn, CONN_READ_RAW);
		conn_printf(conn, "354 go\r\n");
	} else if (is(line, len, "HOLDCLOSE")) {
		hold_job(conn, 200);
		conn_close(conn);
	} else if (is(line, len, "HOLD")) {
		conn_pause(conn);
		hold_job(conn, (unsigned)atoi(arg));
	} else if (is(line, len, "WORKCLOSE")) {
		queue_job(conn, 200);
		conn_close(conn);
	} else if (is(line, len, "WORK")) {
		conn_pause(conn);
		queue_job(conn, (unsigned)atoi(arg));
	} else if (is(line, len, "FLOOD")) {
		s->flood_left = (size_t)atol(arg);
		flood(s);
	} else if (is(line, len, "AFTER")) {
		conn_after(conn, 50, after_cb);
	} else if (is(line, len, "STARTTLS")) {
		conn_printf(conn, "220 go\r\n");
		conn_starttls(conn);
	} else if (is(line, len, "TLSINFO")) {
		conn_printf(conn, "250 %s %s\r\n", conn_tls_version(conn) ? conn_tls_version(conn) : "-",
		            conn_tls_cipher(conn) ? conn_tls_cipher(conn) : "-");
	} else if (is(line, len, "PEER")) {
		conn_printf(conn, "250 %s\r\n", conn_peer_ip(conn));
	} else if (is(line, len, "STUBBORN")) {
		s->stubborn = true;
		conn_printf(conn, "250 ok\r\n");
	} else if (is(line, len, "QUIT")) {
		conn_printf(conn, "221 bye\r\n");
		conn_close(conn);
	} else {
		conn_printf(conn, "> %.*s%s\r\n", (int)len, line, crlf ? "" : " [lf]");
	}
}

static void on_data(conn_t *conn, const char *buf, size_t len)
{
	static const char end[] = "\r\n.\r\n";
	struct session *s = conn_data(conn);

	for (size_t i = 0; i < len; i++) {
		if (buf[i] == end[s->match])
			s->match++;
		else
			s->match = buf[i] == '\r' ? 1 : 0;
		if (s->match == 5) {
			s->body += i + 1;
			conn_data_consumed(conn, i + 1);
			conn_set_read_mode(conn, CONN_READ_LINES);
			conn_printf(conn, "250 body %zu\r\n", s->body);
			return;
		}
	}
	s->body += len;
}

static void on_drain(conn_t *conn)
{
	struct session *s = conn_data(conn);
	H->drains++;
	if (s->flood_left > 0)
		flood(s);
}

static void on_tls_ready(conn_t *conn)
{
	H->tls_ready++;
}

static void on_timeout(conn_t *conn)
{
	conn_printf(conn, "421 idle\r\n");
	conn_close(conn);
}

static void on_shutdown(conn_t *conn)
{
	struct session *s = conn_data(conn);
	if (s->stubborn)
		return;
	conn_printf(conn, "421 shutting down\r\n");
	conn_close(conn);
}

static void on_close(conn_t *conn, const char *reason)
{
	assert_non_null(reason);
	H->closes++;
	free(conn_data(conn));
	conn_set_data(conn, NULL);
}

static const struct conn_handler handler = {
	.open = on_open,
	.line = on_line,
	.data = on_data,
	.drain = on_drain,
	.tls_ready = on_tls_ready,
	.timeout = on_timeout,
	.shutdown = on_shutdown,
	.close = on_close,
};

/* ---- the client (client thread) ---------------------------------------- */

struct tls_client {
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

struct tclient {
	int fd;
	struct tls_client *tls;
	char buf[16384];
	size_t start, end;
};

static int tc_connect(struct tclient *c, int port, const char *source_ip, int rcvbuf)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (rcvbuf > 0)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (source_ip != NULL) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		inet_pton(AF_INET, source_ip, &src.sin_addr);
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
			return -1;
	}
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	return connect(c->fd, (struct sockaddr *)&sin, sizeof(sin));
}

static int tc_connect6(struct tclient *c, int port)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	return connect(c->fd, (struct sockaddr *)&sin6, sizeof(sin6));
}

/* Handshakes as a client (no verification: the test owns both ends) and
 * returns the server certificate's subject. */
static int tc_starttls(struct tclient *c, char *subject, size_t len)
{
	struct tls_client *t = calloc(1, sizeof(*t));
	int rc;

	if (t == NULL)
		return -1;
	c->tls = t;
	mbedtls_ssl_init(&t->ssl);
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	psa_crypto_init();
#endif
	if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, NULL, 0) != 0 ||
	    mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -1;
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
	if (mbedtls_ssl_setup(&t->ssl, &t->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&t->ssl, "localhost") != 0)
		return -1;
	t->net.fd = c->fd;
	mbedtls_ssl_set_bio(&t->ssl, &t->net, mbedtls_net_send, mbedtls_net_recv, NULL);
	while ((rc = mbedtls_ssl_handshake(&t->ssl)) != 0) {
		if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
			return -1;
	}
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&t->ssl);
	if (peer == NULL || mbedtls_x509_dn_gets(subject, len, &peer->subject) < 0)
		return -1;
	return 0;
}

static int tc_send(struct tclient *c, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t n = c->tls != NULL ? mbedtls_ssl_write(&c->tls->ssl, p, len)
		                           : send(c->fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int tc_sendstr(struct tclient *c, const char *s)
{
	return tc_send(c, s, strlen(s));
}

/* Returns bytes read, 0 at the end of the stream, -1 on error or timeout. */
static ssize_t tc_fill(struct tclient *c)
{
	if (c->start == c->end)
		c->start = c->end = 0;
	size_t room = sizeof(c->buf) - c->end;
	if (c->tls == NULL)
		return recv(c->fd, c->buf + c->end, room, 0);
	for (;;) {
		int rc = mbedtls_ssl_read(&c->tls->ssl, (unsigned char *)c->buf + c->end, room);
		if (rc >= 0)
			return rc;
		if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			return 0;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
		if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
#endif
		if (rc != MBEDTLS_ERR_SSL_WANT_READ)
			return -1;
	}
}

static int tc_line(struct tclient *c, char *out, size_t len)
{
	for (;;) {
		char *lf = memchr(c->buf + c->start, '\n', c->end - c->start);
		if (lf != NULL) {
			size_t n = (size_t)(lf - (c->buf + c->start));
			size_t keep = n > 0 && lf[-1] == '\r' ? n - 1 : n;
			if (keep >= len)
				keep = len - 1;
			memcpy(out, c->buf + c->start, keep);
			out[keep] = '\0';
			c->start += n + 1;
			return (int)keep;
		}
		if (c->start > 0) {
			memmove(c->buf, c->buf + c->start, c->end - c->start);
			c->end -= c->start;
			c->start = 0;
		}
		if (c->end == sizeof(c->buf))
			return -1;
		ssize_t n = tc_fill(c);
		if (n <= 0)
			return -1;
		c->end += (size_t)n;
	}
}

static bool tc_eof(struct tclient *c)
{
	return c->start == c->end && tc_fill(c) == 0;
}

static void tc_close(struct tclient *c)
{
	if (c->tls != NULL) {
		mbedtls_ssl_free(&c->tls->ssl);
		mbedtls_ssl_config_free(&c->tls->conf);
		mbedtls_ctr_drbg_free(&c->tls->drbg);
		mbedtls_entropy_free(&c->tls->entropy);
		free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads one line and compares it. */
#define EXPECT(c, want)                                                                    \
	do {                                                                                   \
		char got_[2048];                                                                   \
		int n_ = tc_line((c), got_, sizeof(got_));                                         \
		CHECK(n_ >= 0 && strcmp(got_, (want)) == 0, "want \"%s\", got \"%s\"", (want),     \
		      n_ >= 0 ? got_ : "<eof/error>");                                             \
	} while (0)

/* ---- the harness --------------------------------------------------------- */

static void harness_stop(struct harness *h)
{
	if (h->stop_sent)
		return;
	h->stop_sent = true;
	uv_async_send(&h->stop_async);
}

static void stop_async_cb(uv_async_t *a)
{
	server_shutdown(((struct harness *)a->data)->srv);
}

static void watchdog_cb(uv_timer_t *t)
{
	struct harness *h = t->data;
	failf(h, __LINE__, "watchdog: test took too long");
	server_shutdown(h->srv);
}

static void stop_cb(void *arg)
{
	((struct harness *)arg)->stop_cbs++;
}

static void *client_main(void *arg)
{
	struct harness *h = arg;
	h->client(h);
	harness_stop(h);
	return NULL;
}

static void count_handle(uv_handle_t *handle, void *arg)
{
	(*(int *)arg)++;
}

static void harness_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	h->cfg.idle_timeout = 30;
	h->cfg.shutdown_timeout = 5;
	snprintf(h->cfg.tls_cert, sizeof(h->cfg.tls_cert), "%s", cert_file);
	snprintf(h->cfg.tls_key, sizeof(h->cfg.tls_key), "%s", key_file);
}

static void harness_run(struct harness *h, void (*client)(struct harness *h))
{
	struct config_listen addrs = {.count = 1, .addr = {"127.0.0.1:0"}};
	char err[512];
	pthread_t thread;

	H = h;
	h->client = client;
	if (server_new(&h->srv, &h->cfg, "test", err, sizeof(err)) != 0)
		fail_msg("server_new: %s", err);
	if (server_listen(h->srv, &addrs, ROLE_PLAIN, false, &handler, REJECT_LINE, err,
	                  sizeof(err)) != 0 ||
	    server_listen(h->srv, &addrs, ROLE_TLS, true, &handler, REJECT_LINE, err,
	                  sizeof(err)) != 0)
		fail_msg("server_listen: %s", err);
	struct config_listen v6 = {.count = 1, .addr = {"[::1]:0"}};
	if (server_listen(h->srv, &v6, ROLE_PLAIN, false, &handler, REJECT_LINE, err, sizeof(err)) != 0)
		fail_msg("server_listen: %s", err);
	h->port = server_listen_port(h->srv, 0);
	h->tls_port = server_listen_port(h->srv, 1);
	h->v6_port = server_listen_port(h->srv, 2);
	assert_true(h->port > 0 && h->tls_port > 0 && h->v6_port > 0 && h->port != h->tls_port);
	assert_int_equal(server_listen_port(h->srv, 3), -1);

	uv_loop_t *loop = server_loop(h->srv);
	uv_async_init(loop, &h->stop_async, stop_async_cb);
	h->stop_async.data = h;
	uv_unref((uv_handle_t *)&h->stop_async);
	uv_timer_init(loop, &h->watchdog);
	h->watchdog.data = h;
	uv_timer_start(&h->watchdog, watchdog_cb, 30000, 0);
	uv_unref((uv_handle_t *)&h->watchdog);
	server_set_stop_cb(h->srv, stop_cb, h);

	assert_int_equal(pthread_create(&thread, NULL, client_main, h), 0);
	h->run_rc = server_run(h->srv);
	assert_int_equal(pthread_join(thread, NULL), 0);

	uv_close((uv_handle_t *)&h->stop_async, NULL);
	uv_close((uv_handle_t *)&h->watchdog, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	int handles = 0;
	uv_walk(loop, count_handle, &handles);
	assert_int_equal(handles, 0);
	assert_false(uv_loop_alive(loop)); /* so uv_loop_close() in server_free returns 0 */
	server_free(&h->srv);
	assert_null(h->srv);

	if (h->fail[0] != '\0')
		fail_msg("%s", h->fail);
	assert_int_equal(h->stop_cbs, 1);
	assert_int_equal(h->opens, h->closes);
}

/* ---- tests ----------------------------------------------------------------- */

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

/* Connects from src and expects a greeting (true) or the reject line then EOF (false). */
static int greeted(struct harness *h, struct tclient *c, const char *src)
{
	char line[256];
	if (tc_connect(c, h->port, src, 0) != 0 || tc_line(c, line, sizeof(line)) < 0)
		return -1;
	if (strcmp(line, "220 hello") == 0)
		return 1;
	if (strcmp(line, "421 too many connections") == 0 && tc_eof(c))
		return 0;
	return -1;
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
	assert_null(strstr(h.seen, "INJECTED"));
	assert_non_null(strstr(h.seen, "ECHO secure"));
}

static void make_cert(const char *cn, const char *cert, const char *key)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
	         "-subj /CN=%s -keyout '%s' -out '%s' >/dev/null 2>&1",
	         cn, key, cert);
	assert_int_equal(system(cmd), 0);
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

/* Sessions idle for a sweep period give their record buffers' pages back
 * (tls_conn_trim); the session must go on as if nothing happened. */
static void client_tls_idle(struct harness *h)
{
	struct tclient c;
	char subject[256], line[2048], chunk[1000];
	int lines = 0;

	CHECK(tc_connect(&c, h->tls_port, NULL, 0) == 0, "connect");
	CHECK(tc_starttls(&c, subject, sizeof(subject)) == 0, "handshake");
	EXPECT(&c, "220 hello");
	usleep(2300 * 1000); /* two sweeps: the buffers are trimmed */
	CHECK(tc_sendstr(&c, "ECHO after idle\r\n") == 0, "send");
	EXPECT(&c, "> ECHO after idle");
	CHECK(tc_sendstr(&c, "FLOOD 64\r\n") == 0, "send");
	while (tc_line(&c, line, sizeof(line)) == FLOOD_LINE - 2)
		lines++;
	CHECK(lines == 64 && strcmp(line, "250 flood done") == 0, "flood: %d lines, then %s", lines,
	      line);
	usleep(2300 * 1000);
	/* Full-size records in (a 200 KB body) into a trimmed input buffer. */
	CHECK(tc_sendstr(&c, "DATA\r\n") == 0, "send");
	EXPECT(&c, "354 go");
	memset(chunk, 'y', sizeof(chunk) - 2);
	memcpy(chunk + sizeof(chunk) - 2, "\r\n", 2);
	for (int i = 0; i < 200; i++)
		CHECK(tc_send(&c, chunk, sizeof(chunk)) == 0, "send body");
	CHECK(tc_sendstr(&c, ".\r\n") == 0, "send");
	EXPECT(&c, "250 body 200003");
	CHECK(tc_sendstr(&c, "QUIT\r\n") == 0, "send");
	EXPECT(&c, "221 bye");
	tc_close(&c);
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
	/* The release comes after the close: its done must see conn == NULL. */
	usleep(400 * 1000);
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
	harness_init(&h);
	harness_run(&h, client_ipv6);
	assert_int_equal(h.opens, 2);
}

static int group_setup(void **state)
{
	testutil_mkdtemp(tmp_dir, sizeof(tmp_dir));
	testutil_path(cert_file, sizeof(cert_file), tmp_dir, "cert.pem");
	testutil_path(key_file, sizeof(key_file), tmp_dir, "key.pem");
	make_cert("localhost", cert_file, key_file);
	return 0;
}

static int group_teardown(void **state)
{
	testutil_rmtree(tmp_dir);
	return 0;
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
		cmocka_unit_test(test_raw_mode),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_tls_idle),
		cmocka_unit_test(test_work_after_close),
		cmocka_unit_test(test_hold_release),
		cmocka_unit_test(test_shutdown_drain),
		cmocka_unit_test(test_shutdown_deadline),
		cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
