/*
 * conn.c - a connection's life: creation on accept, states, timers, the
 * one teardown path, and off-loop work. Input and output are in
 * conn-io.c, the TLS glue in conn-tls.c.
 */
#include "conn-private.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "server.h"
#include "tls.h"

static const char *const state_names[] = {
	[CONN_S_CONNECTING] = "connecting",
	[CONN_S_PROXY] = "proxy",
	[CONN_S_HANDSHAKE] = "handshake",
	[CONN_S_OPEN] = "open",
	[CONN_S_STARTTLS_FLUSH] = "starttls_flush",
	[CONN_S_CLOSING] = "closing",
	[CONN_S_LINGER] = "linger",
	[CONN_S_CLOSED] = "closed",
};

struct conn_work {
	uv_work_t req;
	struct conn_link link; /* the server's list of pending jobs */
	struct conn *conn;
	conn_work_fn *work;
	conn_done_fn *done;
	void *arg;
};

static void timer_cb(uv_timer_t *t);

void conn__set_state(struct conn *conn, enum conn_state state)
{
	log_debug(conn->id, "conn_state", "from=%s to=%s", state_names[conn->state],
	          state_names[state]);
	conn->state = state;
}

struct conn *conn__new(struct server *srv, const struct conn_handler *handler, int role,
                       bool implicit_tls, uint64_t id)
{
	struct conn *conn = calloc(1, sizeof(*conn));
	if (conn == NULL)
		return NULL;
	uv_loop_t *loop = server__loop(srv);
	const struct mail_config *cfg = server__config(srv);

	/* These cannot fail on an initialised loop (libuv only sets fields,
	 * and uv_tcp_init with AF_UNSPEC creates no socket). */
	uv_tcp_init(loop, &conn->tcp);
	uv_timer_init(loop, &conn->timer);
	uv_timer_init(loop, &conn->after_timer);
	uv_timer_init(loop, &conn->every_timer);
	conn->tcp.data = conn->timer.data = conn->after_timer.data = conn->every_timer.data = conn;
	conn->handles_open = 4;

	conn->srv = srv;
	conn->handler = handler;
	conn->id = id;
	conn->role = role;
	conn->implicit_tls = implicit_tls;
	conn->state = CONN_S_HANDSHAKE;
	conn->started_ms = uv_now(loop);
	conn->idle_timeout = cfg->idle_timeout;
	conn->mode = CONN_READ_LINES;
	linereader_init(&conn->lr, CONN_LINE_MAX_DEFAULT);
	writequeue_init(&conn->out);
	conn__link_init(&conn->link);
	conn__link_init(&conn->ready_link);
	return conn;
}

void conn__set_peer_ip(struct conn *conn, const char *ip)
{
	/* An IPv4 client of a dual-stack socket, or named so by a PROXY TCP6
	 * header, is an IPv4 client: for the per-address limits, the logs and
	 * the Received: line ("[192.0.2.1]", not "[IPv6:::ffff:192.0.2.1]"). */
	static const char mapped[] = "::ffff:";
	if (strncasecmp(ip, mapped, sizeof(mapped) - 1) == 0 && strchr(ip + sizeof(mapped) - 1, '.') != NULL)
		ip += sizeof(mapped) - 1;
	snprintf(conn->peer_ip, sizeof(conn->peer_ip), "%s", ip);
}

int conn__accept(struct conn *conn, uv_stream_t *listener)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	int rc = uv_accept(listener, (uv_stream_t *)&conn->tcp);
	if (rc < 0)
		return rc;
	char ip[sizeof(conn->peer_ip)];
	rc = uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sslen);
	if (rc == 0)
		rc = uv_ip_name((struct sockaddr *)&ss, ip, sizeof(ip));
	if (rc < 0)
		return rc;
	conn__set_peer_ip(conn, ip);
	/* Replies are batched per wake-up already; Nagle would only add an
	 * RTT to every pipelined group. */
	uv_tcp_nodelay(&conn->tcp, 1);
	return 0;
}

void conn__enter(struct conn *conn)
{
	conn->depth++;
}

void conn__leave(struct conn *conn)
{
	assert(conn->depth > 0);
	if (--conn->depth == 0)
		conn__progress(conn);
}

/* The loop time the login deadline passes at; 0 when none applies. */
static uint64_t login_deadline(const struct conn *conn)
{
	unsigned s = server__config(conn->srv)->login_timeout;
	if (conn->logged_in || s == 0)
		return 0;
	return conn->started_ms + (uint64_t)s * 1000;
}

/* The loop time the idle timeout passes at; 0 when none applies. */
static uint64_t idle_deadline(const struct conn *conn)
{
	uint64_t ms = server__idle_ms(conn->srv, conn->idle_timeout);
	return ms == 0 ? 0 : conn->idle_since + ms;
}

/* The earlier of two deadlines, 0 meaning none. */
static uint64_t earlier(uint64_t a, uint64_t b)
{
	if (a == 0 || (b != 0 && b < a))
		return b;
	return a;
}

/* Arms conn->timer for loop time `due` (now if it has passed); stops it for 0. */
static void arm_until(struct conn *conn, uint64_t due)
{
	if (due == 0) {
		uv_timer_stop(&conn->timer);
		return;
	}
	uint64_t now = uv_now(server__loop(conn->srv));
	conn__arm_deadline(conn, due > now ? due - now : 0);
}

void conn__arm_idle(struct conn *conn)
{
	arm_until(conn, earlier(idle_deadline(conn), login_deadline(conn)));
}

void conn__restart_idle(struct conn *conn)
{
	conn->idle_since = uv_now(server__loop(conn->srv));
	conn__arm_idle(conn);
}

void conn__arm_handshake(struct conn *conn)
{
	unsigned s = server__config(conn->srv)->handshake_timeout;
	uint64_t ms = s > 0 ? (uint64_t)s * 1000
	                    : conn->idle_timeout > 0 ? (uint64_t)conn->idle_timeout * 1000
	                                             : CONN_HANDSHAKE_TIMEOUT_MS;
	arm_until(conn, earlier(uv_now(server__loop(conn->srv)) + ms, login_deadline(conn)));
}

void conn__arm_deadline(struct conn *conn, uint64_t ms)
{
	uv_timer_start(&conn->timer, timer_cb, ms, 0);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *conn = req->data;

	if (conn->state != CONN_S_CONNECTING)
		return; /* torn down meanwhile (timeout, shutdown): UV_ECANCELED */
	if (status < 0) {
		log_info(conn->id, "connect_failed", "ip=%s error=%s", conn->peer_ip,
		         uv_err_name(status));
		conn__teardown(conn, uv_err_name(status));
		return;
	}
	uv_tcp_nodelay(&conn->tcp, 1);
	/* Our own session: the login deadline is for clients that connect to us. */
	conn->logged_in = true;
	conn->outbound_open = true;
	conn__start(conn);
}

int conn__connect(struct conn *conn, const struct sockaddr *addr, unsigned timeout_ms)
{
	conn__set_state(conn, CONN_S_CONNECTING);
	conn->connect_req.data = conn;
	int rc = uv_tcp_connect(&conn->connect_req, &conn->tcp, addr, connect_cb);
	if (rc < 0)
		return rc;
	conn->outbound = true;
	conn__arm_deadline(conn, timeout_ms);
	return 0;
}

void conn__start(struct conn *conn)
{
	log_info(conn->id, "connect", "ip=%s role=%d tls=%s", conn->peer_ip, conn->role,
	         conn->implicit_tls ? "implicit" : "no");
	if (conn->implicit_tls) {
		conn__tls_begin(conn);
		/* After a PROXY header this runs inside a read callback, which
		 * makes progress when it returns. */
		if (conn->depth == 0)
			conn__progress(conn);
		return;
	}
	conn__open(conn);
}

void conn__open(struct conn *conn)
{
	conn__set_state(conn, CONN_S_OPEN);
	conn__restart_idle(conn);
	conn->opened = true;
	conn__enter(conn);
	conn->handler->open(conn);
	conn__leave(conn);
}

void conn__reject(struct conn *conn, const char *line)
{
	conn->rejected = true;
	if (line != NULL)
		conn__queue_raw(conn, line, strlen(line));
	conn__begin_close(conn, "rejected");
}

void conn__begin_close(struct conn *conn, const char *reason)
{
	if (conn->state >= CONN_S_CLOSING)
		return;
	if (conn->state == CONN_S_CONNECTING) {
		conn__teardown(conn, reason); /* nothing was sent: nothing to flush */
		return;
	}
	if (conn->close_reason == NULL)
		conn->close_reason = reason;
	/* RFC 8446 6.1 / RFC 5246 7.2.1: close_notify before our FIN, so the
	 * peer can tell a complete reply from a truncation attack. */
	if (conn->tls != NULL && conn->state == CONN_S_OPEN && tls_conn_handshake_done(conn->tls))
		tls_conn_close_notify(conn->tls);
	conn__set_state(conn, CONN_S_CLOSING);
	server__conn_leaving(conn->srv, conn);
	uv_timer_stop(&conn->after_timer);
	conn->after_cb = NULL;
	uv_timer_stop(&conn->every_timer);
	conn->every_cb = NULL;
	if (!conn->delivering)
		conn__drop_input(conn);
	conn__arm_deadline(conn, CONN_CLOSE_TIMEOUT_MS);
	if (conn->depth == 0)
		conn__progress(conn);
}

void conn__begin_linger(struct conn *conn)
{
	conn__set_state(conn, CONN_S_LINGER);
	if (conn->eof) {
		conn__teardown(conn, NULL);
		return;
	}
	conn__arm_deadline(conn, CONN_LINGER_MS);
	conn__update_reading(conn);
}

static void conn__free_if_done(struct conn *conn)
{
	if (!conn->finished || conn->work_pending > 0)
		return;
	conn__link_remove(&conn->link);
	free(conn);
}

static void close_cb(uv_handle_t *handle)
{
	struct conn *conn = handle->data;
	if (--conn->handles_open > 0)
		return;

	/* Pending writes were cancelled before the tcp close callback, so the
	 * queued chunks are no longer referenced by libuv. */
	writequeue_clear(&conn->out);
	tls_conn_free(&conn->tls);
	free(conn->in);
	conn->in = NULL;
	conn->in_len = conn->in_cap = 0;
	if (conn->opened || conn->outbound) {
		conn->opened = conn->outbound = false;
		conn->in_close_cb = true;
		conn->handler->close(conn, conn->close_reason);
		conn->in_close_cb = false;
	}
	conn->finished = true;
	server__conn_finished(conn->srv, conn);
	conn__free_if_done(conn);
}

void conn__teardown(struct conn *conn, const char *reason)
{
	if (conn->state == CONN_S_CLOSED)
		return;
	if (conn->close_reason == NULL)
		conn->close_reason = reason != NULL ? reason : "closed";
	conn__set_state(conn, CONN_S_CLOSED);
	conn__link_remove(&conn->ready_link);
	/* Off-loop work still holds the session's buffers (a spilled body, a
	 * commit), so the connection keeps its place under max_connections and
	 * the per-IP limit until that work is done: otherwise connect, send,
	 * reset in a loop piles up memory without bound while the disk is
	 * slow. The limits bound memory only while they count it. */
	if (conn->work_pending > 0)
		server__conn_leaving(conn->srv, conn);
	else
		server__conn_closing(conn->srv, conn);
	conn->reading = false;
	log_info(conn->id, "disconnect", "ip=%s reason=%s in=%llu out=%llu ms=%llu", conn->peer_ip,
	         conn->close_reason, (unsigned long long)conn->bytes_in,
	         (unsigned long long)conn->bytes_out,
	         (unsigned long long)(uv_now(server__loop(conn->srv)) - conn->started_ms));
	uv_close((uv_handle_t *)&conn->tcp, close_cb);
	uv_close((uv_handle_t *)&conn->timer, close_cb);
	uv_close((uv_handle_t *)&conn->after_timer, close_cb);
	uv_close((uv_handle_t *)&conn->every_timer, close_cb);
}

void conn__abort(struct conn *conn, const char *reason)
{
	conn__teardown(conn, reason);
}

void conn__shutdown(struct conn *conn)
{
	switch (conn->state) {
	case CONN_S_OPEN:
		if (conn->handler->shutdown != NULL) {
			conn__enter(conn);
			conn->handler->shutdown(conn);
			conn__leave(conn);
		} else {
			conn__begin_close(conn, "shutdown");
		}
		break;
	case CONN_S_CONNECTING:
	case CONN_S_PROXY:
	case CONN_S_HANDSHAKE:
	case CONN_S_STARTTLS_FLUSH:
		conn__teardown(conn, "shutdown");
		break;
	default:
		break;
	}
}

static void on_idle(struct conn *conn)
{
	uint64_t now = uv_now(server__loop(conn->srv));
	uint64_t login = login_deadline(conn), idle = idle_deadline(conn);
	bool login_due = login != 0 && now >= login;

	if (!login_due && (idle == 0 || now < idle)) {
		/* Armed under stress mode, which has ended: the longer timeout applies. */
		conn__arm_idle(conn);
		return;
	}
	/* Paused means we are busy on the client's behalf (a store job): the
	 * client is waiting for us, not idle. Unless our output is backed up:
	 * then the client stopped reading (conn.h), and the session decides. */
	if (conn->paused && !conn_output_full(conn)) {
		if (login_due)
			conn__arm_deadline(conn, CONN_DEADLINE_RECHECK_MS);
		else
			conn__restart_idle(conn);
		return;
	}
	const char *what = login_due ? "login_timeout" : "idle_timeout";
	log_info(conn->id, what, "ip=%s seconds=%llu", conn->peer_ip,
	         (unsigned long long)(login_due ? server__config(conn->srv)->login_timeout
	                                        : server__idle_ms(conn->srv, conn->idle_timeout) / 1000));
	if (conn->handler->timeout == NULL) {
		conn__begin_close(conn, what);
		return;
	}
	conn__enter(conn);
	conn->handler->timeout(conn);
	/* A session that chose to stay open gets another idle period; the
	 * login deadline is not renewable. */
	if (conn->state == CONN_S_OPEN && login_due)
		conn__begin_close(conn, what);
	else if (conn->state == CONN_S_OPEN)
		conn__restart_idle(conn);
	conn__leave(conn);
}

static void timer_cb(uv_timer_t *t)
{
	struct conn *conn = t->data;
	switch (conn->state) {
	case CONN_S_OPEN:
		on_idle(conn);
		break;
	case CONN_S_CONNECTING:
		log_info(conn->id, "connect_failed", "ip=%s error=timeout", conn->peer_ip);
		conn__teardown(conn, "connect_timeout");
		break;
	case CONN_S_PROXY:
		conn__proxy_fail(conn, "timeout");
		break;
	case CONN_S_HANDSHAKE:
		log_info(conn->id, "tls_error", "ip=%s error=handshake_timeout", conn->peer_ip);
		conn__tls_failed(conn, CONN_TLS_FAIL_TIMEOUT);
		conn__teardown(conn, "tls_handshake_timeout");
		break;
	case CONN_S_STARTTLS_FLUSH:
	case CONN_S_CLOSING:
		conn__teardown(conn, "flush_timeout");
		break;
	case CONN_S_LINGER:
		conn__teardown(conn, NULL);
		break;
	case CONN_S_CLOSED:
		break;
	}
}

static void after_timer_cb(uv_timer_t *t)
{
	struct conn *conn = t->data;
	void (*cb)(conn_t *) = conn->after_cb;
	conn->after_cb = NULL;
	if (cb == NULL || conn->state != CONN_S_OPEN)
		return;
	conn__enter(conn);
	cb(conn);
	conn__leave(conn);
}

static void every_timer_cb(uv_timer_t *t)
{
	struct conn *conn = t->data;

	if (conn->every_cb == NULL || conn->state != CONN_S_OPEN)
		return;
	conn__enter(conn);
	conn->every_cb(conn);
	conn__leave(conn);
}

/* ---- public: identity and settings ----------------------------------- */

uint64_t conn_id(const conn_t *conn)
{
	return conn->id;
}

const char *conn_peer_ip(const conn_t *conn)
{
	return conn->peer_ip;
}

int conn_role(const conn_t *conn)
{
	return conn->role;
}

void conn_set_data(conn_t *conn, void *data)
{
	conn->data = data;
}

bool conn_draining(const conn_t *conn)
{
	return server_stopping(conn->srv);
}

void *conn_context(const conn_t *conn)
{
	return server__context(conn->srv);
}

void *conn_data(const conn_t *conn)
{
	return conn->data;
}

void conn_set_read_mode(conn_t *conn, enum conn_read_mode mode)
{
	if (conn->mode == mode)
		return;
	conn->mode = mode;
	/* Bytes held back in the old mode (raw bytes a handler declined) may
	 * be deliverable now, with no read to trigger it. Inside a delivery
	 * loop this is a no-op: the loop itself goes on. */
	if (conn->state == CONN_S_OPEN && conn->in_len > 0 && !conn->delivering)
		server__ready_add(conn->srv, conn);
}

void conn_set_line_max(conn_t *conn, size_t max)
{
	linereader_set_max(&conn->lr, max > 0 ? max : 1);
}

void conn_pause(conn_t *conn)
{
	conn->paused = true;
}

void conn_resume(conn_t *conn)
{
	if (!conn->paused)
		return;
	conn->paused = false;
	/* Never deliver from inside the caller: the session may be in the
	 * middle of a callback, and the next line must see its new state. */
	if (conn->state == CONN_S_OPEN && (conn->in_len > 0 || conn->eof))
		server__ready_add(conn->srv, conn);
	if (conn->depth == 0)
		conn__progress(conn);
}

void conn_set_idle_timeout(conn_t *conn, unsigned seconds)
{
	conn->idle_timeout = seconds;
	if (conn->state == CONN_S_OPEN)
		conn__restart_idle(conn);
}

void conn_login_done(conn_t *conn)
{
	if (conn->logged_in)
		return;
	conn->logged_in = true;
	if (conn->state == CONN_S_OPEN)
		conn__arm_idle(conn);
}

void conn_close(conn_t *conn)
{
	conn__begin_close(conn, "closed");
}

void conn_after(conn_t *conn, unsigned ms, void (*cb)(conn_t *conn))
{
	if (conn->state != CONN_S_OPEN)
		return;
	conn->paused = true;
	conn->after_cb = cb;
	uv_timer_start(&conn->after_timer, after_timer_cb, ms, 0);
}

void conn_every(conn_t *conn, unsigned ms, void (*cb)(conn_t *conn))
{
	if (cb == NULL || ms == 0) {
		uv_timer_stop(&conn->every_timer);
		conn->every_cb = NULL;
		return;
	}
	if (conn->state != CONN_S_OPEN)
		return;
	conn->every_cb = cb;
	uv_timer_start(&conn->every_timer, every_timer_cb, ms, ms);
}

/* ---- off-loop work ----------------------------------------------------- */

/* Hands a job's result to its session, or to nobody if the conn closed
 * meanwhile; the last job of a closed conn gives back its place under the
 * limits (see conn__teardown). */
static void finish_work(struct conn *conn, conn_done_fn *done, void *arg, int status)
{
	if (conn->state != CONN_S_CLOSED) {
		conn__enter(conn);
		done(conn, arg, status);
		conn__leave(conn);
	} else {
		done(NULL, arg, status);
		if (conn->work_pending == 0)
			server__conn_closing(conn->srv, conn);
		conn__free_if_done(conn);
	}
}

static void work_cb(uv_work_t *req)
{
	struct conn_work *w = conn__container_of(req, struct conn_work, req);
	w->work(w->arg);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct conn_work *w = conn__container_of(req, struct conn_work, req);
	struct conn *conn = w->conn;

	conn__link_remove(&w->link);
	conn->work_pending--;
	finish_work(conn, w->done, w->arg, status);
	free(w);
}

int conn_queue_work(conn_t *conn, conn_work_fn *work, conn_done_fn *done, void *arg)
{
	if (conn->state == CONN_S_CLOSED && !conn->in_close_cb)
		return UV_ENOTCONN;
	struct conn_work *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return UV_ENOMEM;
	w->conn = conn;
	w->work = work;
	w->done = done;
	w->arg = arg;
	int rc = uv_queue_work(server__loop(conn->srv), &w->req, work_cb, after_work_cb);
	if (rc < 0) {
		free(w);
		return rc;
	}
	conn->work_pending++;
	server__work_add(conn->srv, &w->link);
	return 0;
}

const char *conn_strerror(int err)
{
	return uv_strerror(err);
}

void conn_hold(conn_t *conn)
{
	conn->work_pending++;
}

void conn_release(conn_t *conn, conn_done_fn *done, void *arg)
{
	conn->work_pending--;
	finish_work(conn, done, arg, 0);
}

void conn__work_cancel(struct conn_link *work_link)
{
	struct conn_work *w = conn__container_of(work_link, struct conn_work, link);
	/* Fails harmlessly (UV_EBUSY) for a job already running: it completes. */
	uv_cancel((uv_req_t *)&w->req);
}
