/*
 * conn-io.c - a connection's input (socket -> line reader -> handler,
 * with pause, mode switches and a per-wake-up budget) and output (write
 * queue -> uv_write, with backpressure and the close sequence).
 *
 * Input is delivered straight from the server's shared read buffer when
 * nothing is pending; only what cannot be delivered now (an incomplete
 * line, or the rest of a read after a pause, a full output queue or the
 * end of the budget) is copied into the conn's own buffer, which is freed
 * again when it empties. So an idle connection holds no buffer.
 */
#include "conn-private.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tls.h"

/* A read or write on the socket failed (a reset, mostly): the conn is
 * gone, and so is a handshake under way, which the peer left. */
static void socket_failed(struct conn *conn, const char *what, int err)
{
	log_info(conn->id, what, "ip=%s error=%s", conn->peer_ip, uv_err_name(err));
	conn__tls_failed(conn, CONN_TLS_FAIL_CLOSED);
	conn__teardown(conn, what);
}

/* ---- input ----------------------------------------------------------- */

static bool can_deliver(const struct conn *conn)
{
	/* Output above the high water mark holds input back too: a peer that
	 * pipelines commands but never reads replies must not make us queue
	 * replies without bound. */
	return conn->state == CONN_S_OPEN && !conn->paused && !conn->yielded && !conn->out_full;
}

void conn__drop_input(struct conn *conn)
{
	assert(!conn->delivering);
	free(conn->in);
	conn->in = NULL;
	conn->in_len = conn->in_cap = 0;
}

int conn__buffer_input(struct conn *conn, const char *data, size_t len)
{
	if (conn->in_cap - conn->in_len < len) {
		size_t need = conn->in_len + len;
		size_t cap = conn->in_cap > 0 ? conn->in_cap : CONN_INPUT_INITIAL;
		while (cap < need)
			cap *= 2;
		char *p = realloc(conn->in, cap);
		if (p == NULL) {
			conn__teardown(conn, "out_of_memory");
			return -1;
		}
		conn->in = p;
		conn->in_cap = cap;
	}
	memcpy(conn->in + conn->in_len, data, len);
	conn->in_len += len;
	return 0;
}

static void consume_input(struct conn *conn, size_t used)
{
	if (used == conn->in_len) {
		conn__drop_input(conn);
		return;
	}
	memmove(conn->in, conn->in + used, conn->in_len - used);
	conn->in_len -= used;
	/* Give back what a burst made us allocate once it has been delivered. */
	if (conn->in_cap > 2 * CONN_INPUT_INITIAL && conn->in_len <= CONN_INPUT_INITIAL) {
		char *p = realloc(conn->in, CONN_INPUT_INITIAL);
		if (p != NULL) {
			conn->in = p;
			conn->in_cap = CONN_INPUT_INITIAL;
		}
	}
}

static void yield(struct conn *conn)
{
	conn->yielded = true;
	server__ready_add(conn->srv, conn);
}

/*
 * Hands buf[0..len) to the handler until it is used up, the budget runs
 * out or the handler pauses, switches to STARTTLS or closes. After each
 * callback the state is looked at again, so a mode switch or a pause
 * applies to the very next byte. Returns the bytes consumed; the caller
 * owns the rest. The caller holds a callback depth (conn__enter), so
 * replies are flushed once, after the loop.
 */
static size_t deliver(struct conn *conn, const char *buf, size_t len)
{
	size_t pos = 0;

	conn->delivering = true;
	while (pos < len && can_deliver(conn)) {
		if (conn->budget == 0) {
			yield(conn);
			break;
		}
		if (conn->mode == CONN_READ_LINES) {
			struct linereader_line line;
			bool found;
			size_t n = linereader_next(&conn->lr, buf + pos, len - pos, &line, &found);
			pos += n;
			if (!found) {
				if (n == 0)
					break;
				continue;
			}
			conn->budget--;
			conn->handler->line(conn, line.data, line.len, line.crlf, line.too_long);
		} else {
			size_t avail = len - pos;
			conn->budget--;
			conn->in_data_cb = true;
			conn->data_used = avail;
			conn->handler->data(conn, buf + pos, avail);
			conn->in_data_cb = false;
			pos += conn->data_used;
			/* Nothing taken and still raw: it waits for more bytes. */
			if (conn->data_used == 0 && conn->mode == CONN_READ_RAW)
				break;
		}
	}
	conn->delivering = false;
	return pos;
}

void conn__input(struct conn *conn, const char *data, size_t len)
{
	if (conn->state != CONN_S_OPEN)
		return;
	if (conn->in_len == 0 && can_deliver(conn)) {
		size_t used = deliver(conn, data, len);
		/* After STARTTLS or a close the rest is dropped, never buffered. */
		if (conn->state == CONN_S_OPEN && used < len)
			conn__buffer_input(conn, data + used, len - used);
		return;
	}
	if (conn__buffer_input(conn, data, len) < 0 || !can_deliver(conn))
		return;
	size_t used = deliver(conn, conn->in, conn->in_len);
	if (conn->state == CONN_S_OPEN)
		consume_input(conn, used);
	else
		conn__drop_input(conn);
}

static void check_eof(struct conn *conn)
{
	/* Whatever is left after a delivery round is an incomplete line or
	 * raw bytes the handler declined: with the peer gone they will never
	 * complete. */
	if (conn->eof && can_deliver(conn))
		conn__begin_close(conn, "peer_closed");
}

void conn__resume_delivery(struct conn *conn)
{
	if (conn->state != CONN_S_OPEN)
		return;
	conn__enter(conn);
	conn->yielded = false;
	conn->budget = CONN_BUDGET;
	if (conn->in_len > 0 && can_deliver(conn)) {
		size_t used = deliver(conn, conn->in, conn->in_len);
		if (conn->state == CONN_S_OPEN)
			consume_input(conn, used);
		else
			conn__drop_input(conn);
	}
	if (conn->state == CONN_S_OPEN)
		check_eof(conn);
	conn__leave(conn);
}

void conn__on_eof(struct conn *conn)
{
	conn->eof = true;
	/* libuv stops reading by itself at EOF. */
	conn->reading = false;
	switch (conn->state) {
	case CONN_S_OPEN:
		check_eof(conn);
		break;
	case CONN_S_PROXY:
		conn__proxy_fail(conn, "peer_closed");
		break;
	case CONN_S_HANDSHAKE:
		log_info(conn->id, "tls_error", "ip=%s error=peer_closed_in_handshake", conn->peer_ip);
		conn__tls_failed(conn, CONN_TLS_FAIL_CLOSED);
		conn__teardown(conn, "peer_closed");
		break;
	case CONN_S_STARTTLS_FLUSH:
		conn__teardown(conn, "peer_closed");
		break;
	case CONN_S_LINGER:
		conn__teardown(conn, NULL);
		break;
	case CONN_S_CONNECTING:
	case CONN_S_CLOSING:
	case CONN_S_CLOSED:
		break;
	}
}

void conn_data_consumed(conn_t *conn, size_t n)
{
	if (conn->in_data_cb && n < conn->data_used)
		conn->data_used = n;
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *conn = handle->data;
	size_t len;
	buf->base = server__read_buffer(conn->srv, &len);
	buf->len = len;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *conn = stream->data;

	if (nread == 0)
		return;
	conn__enter(conn);
	if (nread == UV_EOF) {
		conn__on_eof(conn);
	} else if (nread < 0) {
		socket_failed(conn, "read_error", (int)nread);
	} else {
		conn->bytes_in += (uint64_t)nread;
		if (!conn->yielded)
			conn->budget = CONN_BUDGET;
		switch (conn->state) {
		case CONN_S_OPEN:
			conn__restart_idle(conn);
			if (conn->tls != NULL)
				conn__tls_input(conn, buf->base, (size_t)nread);
			else
				conn__input(conn, buf->base, (size_t)nread);
			break;
		case CONN_S_HANDSHAKE:
			conn__tls_input(conn, buf->base, (size_t)nread);
			break;
		case CONN_S_PROXY:
			conn__proxy_input(conn, buf->base, (size_t)nread);
			break;
		default:
			/* LINGER, or bytes that raced a close or STARTTLS: discarded. */
			break;
		}
	}
	conn__leave(conn);
}

void conn__update_reading(struct conn *conn)
{
	bool want = false;

	if (!conn->eof) {
		switch (conn->state) {
		case CONN_S_PROXY:
		case CONN_S_HANDSHAKE:
		case CONN_S_LINGER:
			want = true;
			break;
		case CONN_S_OPEN:
			want = conn->in_len <= CONN_INPUT_HIGH_WATER;
			break;
		default:
			break;
		}
	}
	if (want == conn->reading)
		return;
	if (!want) {
		uv_read_stop((uv_stream_t *)&conn->tcp);
		conn->reading = false;
		return;
	}
	int rc = uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb);
	if (rc < 0) {
		socket_failed(conn, "read_error", rc);
		return;
	}
	conn->reading = true;
}

/* ---- output ---------------------------------------------------------- */

static void write_cb(uv_write_t *req, int status);
static void shutdown_cb(uv_shutdown_t *req, int status);

/* n octets of the queue's head have reached the socket. */
static void wrote(struct conn *conn, size_t n)
{
	writequeue_consume(&conn->out, n);
	conn->bytes_out += n;
}

/* Called with depth raised: lets the producer go on once output has drained enough. */
static void check_drain(struct conn *conn)
{
	if (!conn->out_full || conn->out.len >= CONN_OUTPUT_HIGH_WATER / 2)
		return;
	conn->out_full = false;
	if (conn->state == CONN_S_OPEN && conn->handler->drain != NULL)
		conn->handler->drain(conn);
	/* Input held back while output was full can flow again. */
	if (conn->state == CONN_S_OPEN && (conn->in_len > 0 || conn->eof))
		server__ready_add(conn->srv, conn);
}

/*
 * Writes the head of the queue. Most replies fit in the socket buffer at
 * once, so it tries a plain write first (uv_try_write): a uv_write that
 * completes at once still costs an epoll_ctl and a deferred callback.
 * Returns true when everything peeked went out now; otherwise a uv_write
 * is in flight (or the conn was torn down).
 */
static bool start_write(struct conn *conn)
{
	struct writequeue_span spans[CONN_WRITE_BATCH];
	uv_buf_t bufs[CONN_WRITE_BATCH];
	size_t n = writequeue_peek(&conn->out, spans, CONN_WRITE_BATCH);
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		assert(spans[i].len <= UINT_MAX);
		bufs[i] = uv_buf_init((char *)spans[i].base, (unsigned)spans[i].len);
		total += spans[i].len;
	}
	int rc = uv_try_write((uv_stream_t *)&conn->tcp, bufs, (unsigned)n);
	if (rc >= 0) {
		wrote(conn, (size_t)rc);
		if ((size_t)rc == total)
			return true;
		/* The rest waits for the socket: queue it with uv_write. */
		n = writequeue_peek(&conn->out, spans, CONN_WRITE_BATCH);
		total = 0;
		for (size_t i = 0; i < n; i++) {
			bufs[i] = uv_buf_init((char *)spans[i].base, (unsigned)spans[i].len);
			total += spans[i].len;
		}
	} else if (rc != UV_EAGAIN) {
		socket_failed(conn, "write_error", rc);
		return false;
	}
	rc = uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, bufs, (unsigned)n, write_cb);
	if (rc < 0) {
		socket_failed(conn, "write_error", rc);
		return false;
	}
	conn->writing = true;
	conn->inflight = total;
	return false;
}

static void start_shutdown(struct conn *conn)
{
	int rc = uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp, shutdown_cb);
	if (rc < 0) {
		conn__teardown(conn, NULL);
		return;
	}
	conn->shutting = true;
}

static void flush(struct conn *conn)
{
	if (conn->writing || conn->shutting)
		return;
	/* A loop, not recursion: a drain handler (RETR streaming) refills the queue. */
	while (conn->out.len > 0) {
		if (!start_write(conn))
			return;
		conn->depth++;
		check_drain(conn);
		conn->depth--;
		if (conn->state == CONN_S_CLOSED)
			return;
	}
	/* Everything before this point has reached the socket. */
	if (conn->state == CONN_S_STARTTLS_FLUSH) {
		conn__tls_begin(conn);
		/* As a client we speak first: the ClientHello is queued now. */
		if (conn->state == CONN_S_HANDSHAKE && conn->out.len > 0)
			flush(conn);
	} else if (conn->state == CONN_S_CLOSING)
		start_shutdown(conn);
}

void conn__progress(struct conn *conn)
{
	assert(conn->depth == 0);
	if (conn->state == CONN_S_CLOSED)
		return;
	flush(conn);
	if (conn->state == CONN_S_CLOSED)
		return;
	conn__update_reading(conn);
}

static void write_cb(uv_write_t *req, int status)
{
	struct conn *conn = conn__container_of(req, struct conn, write_req);

	conn->writing = false;
	if (conn->state == CONN_S_CLOSED)
		return;
	if (status < 0) {
		socket_failed(conn, "write_error", status);
		return;
	}
	wrote(conn, conn->inflight);
	conn->inflight = 0;

	conn__enter(conn);
	check_drain(conn);
	conn__leave(conn);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *conn = conn__container_of(req, struct conn, shutdown_req);

	conn->shutting = false;
	if (conn->state == CONN_S_CLOSED)
		return;
	if (status < 0) {
		conn__teardown(conn, NULL);
		return;
	}
	conn__begin_linger(conn);
}

int conn__queue_raw(struct conn *conn, const void *data, size_t len)
{
	if (writequeue_append(&conn->out, data, len) < 0) {
		conn__teardown(conn, "out_of_memory");
		return -1;
	}
	return 0;
}

void conn_write(conn_t *conn, const void *data, size_t len)
{
	/* Writes are only meaningful while open: after conn_close, during a
	 * STARTTLS handshake or after teardown they would corrupt the stream
	 * or go nowhere. */
	if (conn->state != CONN_S_OPEN || len == 0)
		return;
	if (conn->tls != NULL) {
		int rc = tls_conn_write(conn->tls, data, len);
		if (rc != 0) {
			char msg[128];
			log_error(conn->id, "tls_error", "ip=%s error=\"%s\"", conn->peer_ip,
			          tls_strerror(rc, msg, sizeof(msg)));
			conn__teardown(conn, "tls_error");
			return;
		}
	} else if (conn__queue_raw(conn, data, len) < 0) {
		return;
	}
	if (conn->out.len > CONN_OUTPUT_HIGH_WATER)
		conn->out_full = true;
	if (conn->depth == 0)
		conn__progress(conn);
}

void conn_printf(conn_t *conn, const char *fmt, ...)
{
	char small[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		conn_write(conn, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (big == NULL) {
		conn__teardown(conn, "out_of_memory");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	conn_write(conn, big, (size_t)n);
	free(big);
}

size_t conn_output_queued(const conn_t *conn)
{
	return conn->out.len;
}

bool conn_output_full(const conn_t *conn)
{
	return conn->out.len > CONN_OUTPUT_HIGH_WATER;
}
