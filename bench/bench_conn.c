#include "bench_conn.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/version.h>

#define BENCH_CONN_READ_SIZE 65536
/* Longer than any line a server should send (RFC 5322 2.1.1: 998 + CRLF). */
#define BENCH_CONN_MAX_LINE 65536

/*
 * One loop thread: every read is consumed (split into lines, copied into
 * the connection's line or ciphertext buffer) before the next alloc
 * callback, so all connections can share the read buffers, and 10,000
 * idle connections cost no 64 KiB each.
 */
static char read_buf[BENCH_CONN_READ_SIZE];
static char plain_buf[BENCH_CONN_READ_SIZE];

struct bench_conn_wreq {
	uv_write_t req;
	struct bench_conn *c;
	char *owned;           /* freed when the write completes */
	char copy[];
};

static void conn_close_cb(uv_handle_t *h);
static void conn_timer_cb(uv_timer_t *t);

static int buf_append(struct bench_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap != 0 ? b->cap : 256;
		char *d;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2)
				return -1;
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_free(struct bench_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void conn_arm(struct bench_conn *c)
{
	if (!c->closing && !c->held && c->fail_reason == NULL)
		uv_timer_start(&c->timer, conn_timer_cb, c->timeout_ms, 0);
}

/* Reports the failure to the owner (only once) and closes. */
static void conn_fail(struct bench_conn *c, const char *reason)
{
	if (c->closing)
		return;
	c->cb(c, BENCH_CONN_ERROR, reason, strlen(reason));
	bench_conn_close(c);
}

/*
 * For failures found inside a call the owner made: reporting them from
 * the loop keeps the owner's callback from running inside its own call.
 */
static void conn_fail_later(struct bench_conn *c, const char *reason)
{
	if (c->closing || c->fail_reason != NULL)
		return;
	c->fail_reason = reason;
	uv_timer_start(&c->timer, conn_timer_cb, 0, 0);
}

static void conn_timer_cb(uv_timer_t *t)
{
	struct bench_conn *c = t->data;

	conn_fail(c, c->fail_reason != NULL ? c->fail_reason : "timeout");
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct bench_conn_wreq *w = (struct bench_conn_wreq *)req;
	struct bench_conn *c = w->c;

	free(w->owned);
	free(w);
	if (status == UV_ECANCELED)
		return;
	if (status < 0)
		conn_fail(c, "write");
	else
		conn_arm(c);
}

/* Hands len bytes at p to libuv; owned (may be NULL) is freed when done. */
static void conn_submit(struct bench_conn *c, struct bench_conn_wreq *w, char *p, size_t len)
{
	uv_buf_t b = uv_buf_init(p, (unsigned)len);

	w->c = c;
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_write_cb) < 0) {
		free(w->owned);
		free(w);
		conn_fail_later(c, "write");
	}
}

static void conn_write_plain(struct bench_conn *c, const void *p, size_t len, bool copy)
{
	struct bench_conn_wreq *w = malloc(sizeof(*w) + (copy ? len : 0));

	if (w == NULL) {
		conn_fail_later(c, "nomem");
		return;
	}
	w->owned = NULL;
	if (copy) {
		memcpy(w->copy, p, len);
		p = w->copy;
	}
	conn_submit(c, w, (char *)p, len);
}

/* Sends what mbedTLS produced, handing the buffer itself to libuv. */
static void tls_flush(struct bench_conn *c)
{
	struct bench_conn_wreq *w;

	if (c->tout.len == 0 || c->closing)
		return;
	w = malloc(sizeof(*w));
	if (w == NULL) {
		conn_fail_later(c, "nomem");
		return;
	}
	w->owned = c->tout.data;
	conn_submit(c, w, c->tout.data, c->tout.len);
	c->tout.data = NULL;
	c->tout.len = c->tout.cap = 0;
}

static int tls_bio_send(void *ctx, const unsigned char *p, size_t len)
{
	struct bench_conn *c = ctx;

	if (buf_append(&c->tout, p, len) != 0)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

static int tls_bio_recv(void *ctx, unsigned char *p, size_t len)
{
	struct bench_conn *c = ctx;
	size_t avail = c->tin.len - c->tin_off;

	if (avail == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (len > avail)
		len = avail;
	memcpy(p, c->tin.data + c->tin_off, len);
	c->tin_off += len;
	return (int)len;
}

/* Splits plaintext into lines for the owner; stops when TLS starts or the owner closes. */
static void feed_plain(struct bench_conn *c, const char *p, size_t n)
{
	const char *end = p + n;
	const mbedtls_ssl_context *ssl_at_start = c->ssl;

	while (p < end && !c->closing && c->ssl == ssl_at_start) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line;
		size_t len;

		if (nl == NULL) {
			if (c->line.len + (size_t)(end - p) > BENCH_CONN_MAX_LINE)
				conn_fail(c, "line-too-long");
			else if (buf_append(&c->line, p, (size_t)(end - p)) != 0)
				conn_fail(c, "nomem");
			return;
		}
		if (c->line.len != 0) {
			if (c->line.len + (size_t)(nl - p) > BENCH_CONN_MAX_LINE) {
				conn_fail(c, "line-too-long");
				return;
			}
			if (buf_append(&c->line, p, (size_t)(nl - p)) != 0) {
				conn_fail(c, "nomem");
				return;
			}
			line = c->line.data;
			len = c->line.len;
		} else {
			line = p;
			len = (size_t)(nl - p);
		}
		p = nl + 1;
		if (len != 0 && line[len - 1] == '\r')
			len--;
		c->cb(c, BENCH_CONN_LINE, line, len);
		c->line.len = 0;
	}
	/* STARTTLS began: bytes after the command's reply are never data (RFC 3207 4.2). */
	c->line.len = 0;
}

static bool tls_again(int r)
{
	return r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Runs the handshake, then decrypts everything received so far. */
static void tls_pump(struct bench_conn *c)
{
	if (!c->handshake_done) {
		int r = mbedtls_ssl_handshake(c->ssl);

		tls_flush(c);
		if (tls_again(r))
			goto compact;
		if (r != 0) {
			conn_fail(c, "tls");
			return;
		}
		c->handshake_done = true;
		c->cb(c, c->implicit_tls ? BENCH_CONN_READY : BENCH_CONN_TLS_READY, NULL, 0);
		if (c->closing)
			return;
	}
	for (;;) {
		int r = mbedtls_ssl_read(c->ssl, (unsigned char *)plain_buf, sizeof(plain_buf));

		if (r > 0) {
			feed_plain(c, plain_buf, (size_t)r);
			if (c->closing)
				return;
			continue;
		}
		if (tls_again(r))
			break;
#if defined(MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		/* TLS 1.3 tickets arrive after the handshake (mbedTLS 3.x); nothing to do. */
		if (r == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
#endif
		conn_fail(c, r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ? "eof" : "tls");
		return;
	}
	tls_flush(c);
compact:
	if (c->tin_off == c->tin.len) {
		c->tin.len = 0;
		c->tin_off = 0;
	} else if (c->tin_off > c->tin.len / 2) {
		memmove(c->tin.data, c->tin.data + c->tin_off, c->tin.len - c->tin_off);
		c->tin.len -= c->tin_off;
		c->tin_off = 0;
	}
}

/* Creates the TLS session and sends the ClientHello; failures are reported from the loop. */
static void tls_begin(struct bench_conn *c)
{
	int r;

	assert(c->tls_conf != NULL && c->ssl == NULL);
	c->ssl = bench_tls_session_new(c->tls_conf);
	if (c->ssl == NULL) {
		conn_fail_later(c, "nomem");
		return;
	}
	mbedtls_ssl_set_bio(c->ssl, c, tls_bio_send, tls_bio_recv, NULL);
	r = mbedtls_ssl_handshake(c->ssl);
	tls_flush(c);
	if (!tls_again(r))
		conn_fail_later(c, "tls");
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct bench_conn *c = s->data;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		conn_fail(c, nread == UV_EOF ? "eof" : "reset");
		return;
	}
	conn_arm(c);
	if (c->ssl == NULL) {
		feed_plain(c, buf->base, (size_t)nread);
		return;
	}
	if (buf_append(&c->tin, buf->base, (size_t)nread) != 0) {
		conn_fail(c, "nomem");
		return;
	}
	tls_pump(c);
}

static void conn_connect_cb(uv_connect_t *req, int status)
{
	struct bench_conn *c = req->data;

	if (status == UV_ECANCELED || c->closing)
		return;
	if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) < 0) {
		conn_fail(c, "connect");
		return;
	}
	/* Commands are small and each waits for its reply: Nagle would only add delay. */
	uv_tcp_nodelay(&c->tcp, 1);
	conn_arm(c);
	if (c->implicit_tls)
		tls_begin(c);
	else
		c->cb(c, BENCH_CONN_READY, NULL, 0);
}

void bench_conn_open(struct bench_conn *c, uv_loop_t *loop, const struct sockaddr *addr,
                     struct bench_tls *tls_conf, bool implicit_tls, unsigned timeout_ms,
                     bench_conn_cb *cb, void *data)
{
	memset(c, 0, sizeof(*c));
	c->data = data;
	c->cb = cb;
	c->tls_conf = tls_conf;
	c->implicit_tls = implicit_tls;
	c->timeout_ms = timeout_ms;
	/* Neither init can fail: the socket is only created by uv_tcp_connect. */
	uv_tcp_init(loop, &c->tcp);
	uv_timer_init(loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->connect_req.data = c;
	c->open_handles = 2;
	if (uv_tcp_connect(&c->connect_req, &c->tcp, addr, conn_connect_cb) < 0) {
		conn_fail_later(c, "connect");
		return;
	}
	conn_arm(c);
}

void bench_conn_write(struct bench_conn *c, const void *p, size_t len)
{
	const unsigned char *u = p;

	if (c->closing || len == 0)
		return;
	if (c->ssl == NULL) {
		conn_write_plain(c, p, len, true);
		return;
	}
	while (len > 0) {
		int r = mbedtls_ssl_write(c->ssl, u, len);

		if (r <= 0) {
			conn_fail_later(c, "tls");
			return;
		}
		u += r;
		len -= (size_t)r;
	}
	tls_flush(c);
}

void bench_conn_write_ref(struct bench_conn *c, const void *p, size_t len)
{
	if (c->ssl != NULL) {
		bench_conn_write(c, p, len);
		return;
	}
	if (!c->closing && len != 0)
		conn_write_plain(c, p, len, false);
}

void bench_conn_starttls(struct bench_conn *c)
{
	if (c->closing)
		return;
	c->line.len = 0;
	tls_begin(c);
}

void bench_conn_hold(struct bench_conn *c)
{
	c->held = true;
	if (c->fail_reason == NULL)
		uv_timer_stop(&c->timer);
}

static void conn_close_cb(uv_handle_t *h)
{
	struct bench_conn *c = h->data;

	if (--c->open_handles != 0)
		return;
	buf_free(&c->line);
	buf_free(&c->tin);
	buf_free(&c->tout);
	bench_tls_session_free(&c->ssl);
	c->cb(c, BENCH_CONN_CLOSED, NULL, 0);
}

void bench_conn_close(struct bench_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
	uv_close((uv_handle_t *)&c->timer, conn_close_cb);
}
