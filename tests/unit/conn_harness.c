/* conn_harness.c - the server side, the client and the harness of conn_harness.h. */
#include "conn_harness.h"

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

#include "conn-private.h" /* white box: the input buffer's size while paused, conn->tls */
#include "log.h"
#include "testutil.h"
#include "tls.h"

struct harness *H;
char cert_file[512], key_file[512];
char tmp_dir[256];

void failf(struct harness *h, int line, const char *fmt, ...)
{
	if (h->fail[0] != '\0')
		return;
	int n = snprintf(h->fail, sizeof(h->fail), "line %d: ", line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->fail + n, sizeof(h->fail) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* ---- the test protocol (loop thread) ---------------------------------- */

struct session {
	conn_t *conn;
	struct session *next, **prevp; /* H->sessions */
	int match;      /* bytes of CRLF "." CRLF matched in DATA */
	size_t body;
	size_t flood_left;
	bool stubborn;
	int ticks_left;  /* EVERY */
	bool close_job;  /* CLOSEJOB: queue a job from the close callback */
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

static void every_cb(conn_t *conn)
{
	struct session *s = conn_data(conn);

	conn_printf(conn, "250 tick %d\r\n", s->ticks_left);
	if (--s->ticks_left == 0)
		conn_every(conn, 0, NULL);
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
	s->next = H->sessions;
	s->prevp = &H->sessions;
	if (s->next != NULL)
		s->next->prevp = &s->next;
	H->sessions = s;
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
	} else if (is(line, len, "EVERY")) {
		s->ticks_left = atoi(arg);
		conn_every(conn, 10, every_cb);
	} else if (is(line, len, "CLOSEJOB")) {
		s->close_job = true;
		conn_close(conn);
	} else if (is(line, len, "AFTER")) {
		conn_after(conn, 50, after_cb);
	} else if (is(line, len, "STARTTLS")) {
		conn_printf(conn, "220 go\r\n");
		conn_starttls(conn);
	} else if (is(line, len, "TLSINFO")) {
		conn_printf(conn, "250 %s %s\r\n", conn_tls_version(conn) ? conn_tls_version(conn) : "-",
		            conn_tls_cipher(conn) ? conn_tls_cipher(conn) : "-");
	} else if (is(line, len, "TLSMEM")) {
		conn_printf(conn, "250 %zu\r\n", conn->tls != NULL ? tls_conn_resident(conn->tls) : 0);
	} else if (is(line, len, "PEER")) {
		conn_printf(conn, "250 %s\r\n", conn_peer_ip(conn));
	} else if (is(line, len, "LOGIN")) {
		conn_login_done(conn);
		conn_printf(conn, "250 logged in\r\n");
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

static void on_tls_failed(conn_t *conn, enum conn_tls_failure why)
{
	assert_true((unsigned)why < CONN_TLS_FAIL_COUNT);
	H->tls_failed[why]++;
	if (conn_data(conn) != NULL)
		H->tls_failed_in_session++;
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
	struct session *s = conn_data(conn);
	assert_non_null(reason);
	H->closes++;
	if (s->close_job)
		queue_job(conn, 100);
	*s->prevp = s->next;
	if (s->next != NULL)
		s->next->prevp = s->prevp;
	free(s);
	conn_set_data(conn, NULL);
}

static const struct conn_handler handler = {
	.open = on_open,
	.line = on_line,
	.data = on_data,
	.drain = on_drain,
	.tls_ready = on_tls_ready,
	.tls_failed = on_tls_failed,
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

int tc_connect(struct tclient *c, int port, const char *source_ip, int rcvbuf)
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

int tc_connect6(struct tclient *c, int port)
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
int tc_starttls(struct tclient *c, char *subject, size_t len)
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

int tc_send(struct tclient *c, const void *data, size_t len)
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

int tc_sendstr(struct tclient *c, const char *s)
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

int tc_line(struct tclient *c, char *out, size_t len)
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

bool tc_eof(struct tclient *c)
{
	return c->start == c->end && tc_fill(c) == 0;
}

int tc_greeted(struct tclient *c, int port, const char *source_ip, const char *first)
{
	char line[256];
	if (tc_connect(c, port, source_ip, 0) != 0 || (first != NULL && tc_sendstr(c, first) != 0) ||
	    tc_line(c, line, sizeof(line)) < 0)
		return -1;
	if (strcmp(line, "220 hello") == 0)
		return 1;
	if (strcmp(line, "421 too many connections") == 0 && tc_eof(c))
		return 0;
	return -1;
}

void tc_close(struct tclient *c)
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

double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the harness --------------------------------------------------------- */

void harness_stop(struct harness *h)
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

static void call_async_cb(uv_async_t *a)
{
	struct harness *h = a->data;
	pthread_mutex_lock(&h->call_lock);
	if (h->call_fn != NULL && !h->call_done) {
		h->call_fn(h, h->call_arg);
		h->call_done = true;
		pthread_cond_signal(&h->call_cond);
	}
	pthread_mutex_unlock(&h->call_lock);
}

int harness_on_loop(struct harness *h, void (*fn)(struct harness *h, void *arg), void *arg)
{
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&h->call_lock);
	h->call_fn = fn;
	h->call_arg = arg;
	h->call_done = false;
	uv_async_send(&h->call_async);
	while (!h->call_done && rc == 0)
		rc = pthread_cond_timedwait(&h->call_cond, &h->call_lock, &deadline);
	bool done = h->call_done;
	h->call_fn = NULL;
	pthread_mutex_unlock(&h->call_lock);
	return done ? 0 : -1;
}

struct pred_call {
	bool (*pred)(struct harness *h);
	bool result;
};

static void call_pred(struct harness *h, void *arg)
{
	struct pred_call *c = arg;
	c->result = c->pred(h);
}

int harness_wait_for(struct harness *h, bool (*pred)(struct harness *h), unsigned timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	struct pred_call c = {.pred = pred};
	for (;;) {
		if (harness_on_loop(h, call_pred, &c) != 0)
			return -1;
		if (c.result)
			return 0;
		if (now_s() >= deadline)
			return -1;
		usleep(10 * 1000);
	}
}

static void sum_tls_resident(struct harness *h, void *arg)
{
	size_t *total = arg;
	for (struct session *s = h->sessions; s != NULL; s = s->next) {
		if (s->conn->tls != NULL)
			*total += tls_conn_resident(s->conn->tls);
	}
}

size_t harness_tls_resident(struct harness *h)
{
	size_t total = 0;
	if (harness_on_loop(h, sum_tls_resident, &total) != 0)
		return SIZE_MAX;
	return total;
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

const char *harness_ipv6_missing(void)
{
	static char why[128];
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);

	if (fd < 0) {
		snprintf(why, sizeof(why), "no IPv6 sockets on this host (%s)", strerror(errno));
		return why;
	}
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	int rc = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	int saved = errno;
	close(fd);
	if (rc != 0) {
		snprintf(why, sizeof(why), "no IPv6 on the loopback interface: bind [::1]: %s",
		         strerror(saved));
		return why;
	}
	return NULL;
}

void harness_init(struct harness *h)
{
	memset(h, 0, sizeof(*h));
	h->cfg.idle_timeout = 30;
	h->cfg.shutdown_timeout = 5;
	snprintf(h->cfg.tls_cert, sizeof(h->cfg.tls_cert), "%s", cert_file);
	snprintf(h->cfg.tls_key, sizeof(h->cfg.tls_key), "%s", key_file);
}

void harness_run(struct harness *h, void (*client)(struct harness *h))
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
	if (h->ipv6 &&
	    server_listen(h->srv, &v6, ROLE_PLAIN, false, &handler, REJECT_LINE, err, sizeof(err)) != 0)
		fail_msg("server_listen: %s", err);
	h->port = server_listen_port(h->srv, 0);
	h->tls_port = server_listen_port(h->srv, 1);
	h->v6_port = h->ipv6 ? server_listen_port(h->srv, 2) : 0;
	assert_true(h->port > 0 && h->tls_port > 0 && h->port != h->tls_port);
	assert_true(!h->ipv6 || h->v6_port > 0);
	assert_int_equal(server_listen_port(h->srv, h->ipv6 ? 3 : 2), -1);

	uv_loop_t *loop = server_loop(h->srv);
	uv_async_init(loop, &h->stop_async, stop_async_cb);
	h->stop_async.data = h;
	uv_unref((uv_handle_t *)&h->stop_async);
	uv_async_init(loop, &h->call_async, call_async_cb);
	h->call_async.data = h;
	uv_unref((uv_handle_t *)&h->call_async);
	pthread_mutex_init(&h->call_lock, NULL);
	pthread_cond_init(&h->call_cond, NULL);
	uv_timer_init(loop, &h->watchdog);
	h->watchdog.data = h;
	uv_timer_start(&h->watchdog, watchdog_cb, 30000, 0);
	uv_unref((uv_handle_t *)&h->watchdog);
	server_set_stop_cb(h->srv, stop_cb, h);

	assert_int_equal(pthread_create(&thread, NULL, client_main, h), 0);
	h->run_rc = server_run(h->srv);
	assert_int_equal(pthread_join(thread, NULL), 0);

	uv_close((uv_handle_t *)&h->stop_async, NULL);
	uv_close((uv_handle_t *)&h->call_async, NULL);
	uv_close((uv_handle_t *)&h->watchdog, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	int handles = 0;
	uv_walk(loop, count_handle, &handles);
	assert_int_equal(handles, 0);
	assert_false(uv_loop_alive(loop)); /* so uv_loop_close() in server_free returns 0 */
	server_free(&h->srv);
	assert_null(h->srv);
	pthread_mutex_destroy(&h->call_lock);
	pthread_cond_destroy(&h->call_cond);

	if (h->fail[0] != '\0')
		fail_msg("%s", h->fail);
	assert_int_equal(h->stop_cbs, 1);
	assert_int_equal(h->opens, h->closes);
}

void make_cert(const char *cn, const char *cert, const char *key)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
	         "-subj /CN=%s -keyout '%s' -out '%s' >/dev/null 2>&1",
	         cn, key, cert);
	assert_int_equal(system(cmd), 0);
}

int conn_group_setup(void **state)
{
	testutil_mkdtemp(tmp_dir, sizeof(tmp_dir));
	testutil_path(cert_file, sizeof(cert_file), tmp_dir, "cert.pem");
	testutil_path(key_file, sizeof(key_file), tmp_dir, "key.pem");
	make_cert("localhost", cert_file, key_file);
	return 0;
}

int conn_group_teardown(void **state)
{
	testutil_rmtree(tmp_dir);
	return 0;
}
