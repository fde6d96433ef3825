/*
 * server.c - one daemon process: its loop, listeners, connection limits,
 * TLS credentials, signals and the graceful shutdown.
 */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn-private.h"
#include "log.h"
#include "netlist.h"
#include "tls.h"

/* Pending connections the kernel may queue per listener (capped by
 * net.core.somaxconn). Bursts of MX connections are normal. */
#define SERVER_BACKLOG 1024

/* The read buffer shared by all connections: libuv hands it to one
 * socket at a time, and what a callback cannot use is copied out. */
#define SERVER_READ_BUFFER (64 * 1024)

/* One TLS record's plaintext at most (RFC 8446 5.1, RFC 5246 6.2.1: 2^14). */
#define SERVER_PLAIN_BUFFER (16 * 1024)

/*
 * Stress mode (Postfix's name) starts when this share of max_connections
 * is in use: connections then get stress_idle_timeout instead of
 * idle_timeout, so clients that sit idle (or a flood of them) are shed
 * before the limit turns everyone else away. It ends below the second
 * share, so that shedding leaves room for the connections that arrive
 * next, and so that a count hovering at the threshold does not switch it
 * (and walk every connection) on every accept.
 */
#define SERVER_STRESS_ON_PERCENT 80
#define SERVER_STRESS_OFF_PERCENT 70

/*
 * Threads in libuv's pool, set through UV_THREADPOOL_SIZE unless the
 * environment already does. libuv reads the variable once, when the first
 * job is queued, so server_new sets it before anything can queue one.
 * libuv's default of 4 would make store jobs (every session's RCPT
 * lookups, pop3d's reads) wait behind password hashing, which takes tens
 * of milliseconds per login.
 */
#define SERVER_THREADPOOL_SIZE "32"

struct listener {
	uv_tcp_t tcp;
	struct server *srv;
	const struct conn_handler *handler;
	int role;
	bool implicit_tls;
	int port;
	char *reject_line;
	char addr[64];
	/* An operator's service (metrics): no client limits, open through the
	 * drain (closed when it ends), and every conn starts with `data`. */
	bool service;
	void *data;
};

struct server {
	uv_loop_t loop;
	struct mail_config cfg;
	char name[32];
	struct tls_server *tls;
	struct tls_server *tls_client; /* outbound connections (server__tls_client), made on first use */

	struct listener **listeners; /* in bind order; NULL once closed */
	size_t nlisteners;

	struct peercount peers;
	unsigned counted; /* connections within the limits (not rejected ones) */
	unsigned leaving; /* of those, closing (flushing, lingering): not counted for stress */
	bool stressed;    /* stress mode: see SERVER_STRESS_ON_PERCENT */
	unsigned live;    /* conns whose handler->close has not run yet */
	uint64_t next_id;
	struct conn_link conns; /* every allocated conn */
	struct conn_link ready; /* conns with input to resume on the next iteration */
	struct conn_link works; /* pending conn_queue_work jobs */

	uv_idle_t ready_idle;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t stop_timer;
	uv_timer_t tls_sweep; /* releases idle TLS sessions' record buffers */
	uv_tcp_t spare; /* accepts and closes a connection when a conn cannot be allocated */
	bool spare_busy;
	bool own_handles_closed;
	bool signals_started;
	bool stopping, forced, finished;
	void (*stop_cb)(void *arg);
	void *stop_arg;
	void *context; /* server_set_context */

	char *read_buf;
	char *plain_buf;
};

/* ---- for conn*.c ------------------------------------------------------ */

uv_loop_t *server__loop(struct server *srv)
{
	return &srv->loop;
}

const struct mail_config *server__config(const struct server *srv)
{
	return &srv->cfg;
}

struct tls_server *server__tls_client(struct server *srv)
{
	char err[256];

	if (srv->tls_client == NULL && tls_server_new(&srv->tls_client, NULL, NULL, err,
	                                              sizeof(err)) != 0)
		log_error(0, "tls_client", "server=%s error=\"%s\"", srv->name, err);
	return srv->tls_client;
}

struct tls_server *server__tls(const struct server *srv)
{
	return srv->tls;
}

char *server__read_buffer(struct server *srv, size_t *len_r)
{
	*len_r = SERVER_READ_BUFFER;
	return srv->read_buf;
}

char *server__plain_buffer(struct server *srv, size_t *len_r)
{
	*len_r = SERVER_PLAIN_BUFFER;
	return srv->plain_buf;
}

static void ready_cb(uv_idle_t *idle)
{
	struct server *srv = idle->data;
	struct conn_link batch;

	/* Conns that yield again while we work through this batch wait for
	 * the next iteration, after the others have had their turn. */
	conn__link_init(&batch);
	conn__link_move_all(&srv->ready, &batch);
	while (!conn__link_empty(&batch)) {
		struct conn_link *l = batch.next;
		conn__link_remove(l);
		conn__resume_delivery(conn__container_of(l, struct conn, ready_link));
	}
	if (conn__link_empty(&srv->ready))
		uv_idle_stop(idle);
}

void server__ready_add(struct server *srv, struct conn *conn)
{
	if (!conn__link_empty(&conn->ready_link))
		return;
	conn__link_add_tail(&srv->ready, &conn->ready_link);
	uv_idle_start(&srv->ready_idle, ready_cb);
}

void server__work_add(struct server *srv, struct conn_link *work_link)
{
	conn__link_add_tail(&srv->works, work_link);
}

/* percent of max_connections, rounded up (a limit of 1 is stressed only when in use). */
static unsigned share(const struct server *srv, unsigned percent)
{
	return (unsigned)(((uint64_t)srv->cfg.max_connections * percent + 99) / 100);
}

/*
 * Enters or leaves stress mode after the count changed. On entering, every
 * open conn's idle deadline is recomputed at once: an idle connection
 * already waiting out a long idle_timeout is shed in stress_idle_timeout.
 * On leaving nothing needs doing: a conn whose short deadline passes
 * after that re-arms for its full timeout (conn.c). Walking every conn is
 * O(max_connections), once per entry, and entries are at least 10% of
 * max_connections accepts apart.
 */
static void stress_update(struct server *srv)
{
	if (srv->cfg.max_connections == 0 || srv->cfg.stress_idle_timeout == 0)
		return;
	/* Connections on their way out have been shed already. */
	unsigned n = srv->counted - srv->leaving;
	bool on = srv->stressed ? n >= share(srv, SERVER_STRESS_OFF_PERCENT)
	                        : n >= share(srv, SERVER_STRESS_ON_PERCENT);
	if (on == srv->stressed)
		return;
	srv->stressed = on;
	if (!on) {
		log_info(0, "stress", "server=%s state=off connections=%u", srv->name, n);
		return;
	}
	log_warn(0, "stress", "server=%s state=on connections=%u max_connections=%u idle_timeout=%u",
	         srv->name, n, srv->cfg.max_connections, srv->cfg.stress_idle_timeout);
	for (struct conn_link *l = srv->conns.next; l != &srv->conns; l = l->next) {
		struct conn *conn = conn__container_of(l, struct conn, link);
		if (conn->state == CONN_S_OPEN)
			conn__arm_idle(conn);
	}
}

uint64_t server__idle_ms(const struct server *srv, unsigned idle_s)
{
	unsigned s = idle_s;
	if (srv->stressed && (s == 0 || s > srv->cfg.stress_idle_timeout))
		s = srv->cfg.stress_idle_timeout;
	return (uint64_t)s * 1000;
}

void server__conn_leaving(struct server *srv, struct conn *conn)
{
	if (!conn->counted || conn->leaving)
		return;
	conn->leaving = true;
	srv->leaving++;
	stress_update(srv);
}

void server__conn_closing(struct server *srv, struct conn *conn)
{
	if (!conn->counted)
		return;
	conn->counted = false;
	if (conn->leaving)
		srv->leaving--;
	srv->counted--;
	peercount_remove(&srv->peers, conn->peer_ip);
	stress_update(srv);
}

static void finish(struct server *srv);

void server__conn_finished(struct server *srv, struct conn *conn)
{
	srv->live--;
	if (srv->stopping && srv->live == 0)
		finish(srv);
}

/* ---- listeners --------------------------------------------------------- */

static int parse_listen(const char *text, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[64];
	const char *port_text;
	size_t hostlen;

	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || end[1] != ':') {
			snprintf(err, errlen, "listen address '%s': expected [IPv6]:port", text);
			return -1;
		}
		hostlen = (size_t)(end - text - 1);
		text++;
		port_text = end + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL) {
			snprintf(err, errlen, "listen address '%s': expected host:port ([::1]:25 for IPv6)",
			         text);
			return -1;
		}
		hostlen = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (hostlen >= sizeof(host)) {
		snprintf(err, errlen, "listen address '%s': host too long", text);
		return -1;
	}
	memcpy(host, text, hostlen);
	host[hostlen] = '\0';

	char *end;
	errno = 0;
	long port = strtol(port_text, &end, 10);
	if (*port_text < '0' || *port_text > '9' || *end != '\0' || errno != 0 || port > 65535) {
		snprintf(err, errlen, "listen address '%s': bad port '%s'", host, port_text);
		return -1;
	}
	if (host[0] == '\0' || strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");

	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
		return 0;

	/* A name ("localhost"): resolved once, at start-up, blocking is fine. */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen address '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

static void listener_close_cb(uv_handle_t *handle)
{
	struct listener *l = handle->data;
	free(l->reject_line);
	free(l);
}

/* The client listeners at SIGTERM; the service ones too (all) when the drain is over. */
static void close_listeners(struct server *srv, bool all)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i] == NULL || (srv->listeners[i]->service && !all))
			continue;
		uv_close((uv_handle_t *)&srv->listeners[i]->tcp, listener_close_cb);
		srv->listeners[i] = NULL;
	}
}

static void spare_close_cb(uv_handle_t *handle)
{
	struct server *srv = handle->data;
	srv->spare_busy = false;
}

/* Without a conn the pending connection must still be taken off the
 * listener, or libuv stops accepting on it altogether. */
static void accept_and_drop(struct server *srv, uv_stream_t *listener)
{
	if (srv->spare_busy)
		return;
	uv_tcp_init(&srv->loop, &srv->spare);
	srv->spare.data = srv;
	srv->spare_busy = true;
	uv_accept(listener, (uv_stream_t *)&srv->spare);
	uv_close((uv_handle_t *)&srv->spare, spare_close_cb);
}

static const char *over_limit(struct server *srv, const char *ip)
{
	const struct mail_config *cfg = &srv->cfg;
	if (cfg->max_connections > 0 && srv->counted >= cfg->max_connections)
		return "max_connections";
	if (cfg->max_connections_per_ip > 0 &&
	    peercount_get(&srv->peers, ip) >= cfg->max_connections_per_ip)
		return "max_connections_per_ip";
	return NULL;
}

static void on_connection(uv_stream_t *stream, int status)
{
	struct listener *l = stream->data;
	struct server *srv = l->srv;

	if (status < 0) {
		log_error(0, "accept_error", "listen=%s error=%s", l->addr, uv_err_name(status));
		return;
	}
	struct conn *conn = conn__new(srv, l->handler, l->role, l->implicit_tls, ++srv->next_id);
	if (conn == NULL) {
		log_error(0, "accept_error", "listen=%s error=out_of_memory", l->addr);
		accept_and_drop(srv, stream);
		return;
	}
	conn__link_add_tail(&srv->conns, &conn->link);
	srv->live++;

	int rc = conn__accept(conn, stream);
	if (rc < 0) {
		/* Usually a peer that reset before we got to it. */
		log_info(conn->id, "accept_error", "listen=%s error=%s", l->addr, uv_err_name(rc));
		conn__abort(conn, "accept_failed");
		return;
	}
	if (l->service) {
		/* The operator's own endpoint: it must answer when clients are at their limits. */
		conn->data = l->data;
		conn__start(conn);
		return;
	}
	/* A load balancer's connection is the client's once its header names
	 * the client: the limits wait for it (conn-proxy.c). */
	if (netlist_match(&srv->cfg.proxy_protocol_from, conn->peer_ip)) {
		conn__proxy_begin(conn, l->reject_line);
		return;
	}
	server__admit(srv, conn, l->reject_line);
}

void server__admit(struct server *srv, struct conn *conn, const char *reject_line)
{
	const char *limit = over_limit(srv, conn->peer_ip);
	if (limit == NULL && peercount_add(&srv->peers, conn->peer_ip) < 0)
		limit = "out_of_memory";
	if (limit != NULL) {
		log_info(conn->id, "reject", "ip=%s limit=%s", conn->peer_ip, limit);
		/* A TLS client cannot read a plaintext reply: it just gets closed. */
		conn__reject(conn, conn->implicit_tls ? NULL : reject_line);
		return;
	}
	conn->counted = true;
	srv->counted++;
	stress_update(srv);
	conn__start(conn);
}

int server_connect(struct server *srv, const char *ip, unsigned port, const char *tls_host,
                   unsigned timeout_ms, const struct conn_handler *handler, int role, void *data,
                   char *err, size_t errlen)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (port < 1 || port > 65535 ||
	    (uv_ip4_addr(ip, (int)port, (struct sockaddr_in *)&ss) != 0 &&
	     uv_ip6_addr(ip, (int)port, (struct sockaddr_in6 *)&ss) != 0)) {
		snprintf(err, errlen, "connect %.64s:%u: not an IP address and port", ip, port);
		return -1;
	}
	if (srv->stopping) {
		snprintf(err, errlen, "connect %.64s:%u: shutting down", ip, port);
		return -1;
	}
	if (tls_host != NULL && (tls_host[0] == '\0' || strlen(tls_host) >= CONN_TLS_HOST_MAX)) {
		snprintf(err, errlen, "connect %.64s:%u: bad TLS host name", ip, port);
		return -1;
	}
	struct conn *conn = conn__new(srv, handler, role, tls_host != NULL, ++srv->next_id);
	if (conn == NULL) {
		snprintf(err, errlen, "connect %.64s:%u: out of memory", ip, port);
		return -1;
	}
	if (tls_host != NULL)
		snprintf(conn->tls_host, sizeof(conn->tls_host), "%s", tls_host);
	conn__link_add_tail(&srv->conns, &conn->link);
	srv->live++;
	/* Outbound sessions are ours: no max_connections or per-address limit applies. */
	snprintf(conn->peer_ip, sizeof(conn->peer_ip), "%s", ip);
	conn->data = data;
	int rc = conn__connect(conn, (const struct sockaddr *)&ss, timeout_ms);
	if (rc < 0) {
		snprintf(err, errlen, "connect %.64s:%u: %s", ip, port, uv_strerror(rc));
		conn->data = NULL;
		conn__abort(conn, "connect_failed"); /* not outbound yet: no callback */
		return -1;
	}
	log_info(conn->id, "connecting", "ip=%s port=%u role=%d", ip, port, role);
	return 0;
}

static int listen_one(struct server *srv, const char *addr, int role, bool implicit_tls,
                      const struct conn_handler *handler, const char *reject_line, void *service,
                      char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	if (parse_listen(addr, &ss, err, errlen) < 0)
		return -1;

	struct listener **grown = realloc(srv->listeners, (srv->nlisteners + 1) * sizeof(*grown));
	struct listener *l = calloc(1, sizeof(*l));
	char *line = reject_line != NULL ? strdup(reject_line) : NULL;
	if (grown != NULL)
		srv->listeners = grown;
	if (grown == NULL || l == NULL || (reject_line != NULL && line == NULL)) {
		free(l);
		free(line);
		snprintf(err, errlen, "listen %s: out of memory", addr);
		return -1;
	}
	l->srv = srv;
	l->handler = handler;
	l->role = role;
	l->implicit_tls = implicit_tls;
	l->reject_line = line;
	l->service = service != NULL;
	l->data = service;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	uv_tcp_init(&srv->loop, &l->tcp);
	l->tcp.data = l;
	srv->listeners[srv->nlisteners++] = l;

	/* IPV6ONLY so "[::]:25" and "0.0.0.0:25" can both be listed. Bind
	 * errors such as EADDRINUSE may only surface from uv_listen. */
	unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	int rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, SERVER_BACKLOG, on_connection);
	if (rc == 0) {
		struct sockaddr_storage bound;
		int len = sizeof(bound);
		rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
		if (rc == 0 && bound.ss_family == AF_INET)
			l->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		else if (rc == 0)
			l->port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	}
	if (rc < 0) {
		snprintf(err, errlen, "listen %s: %s", addr, uv_strerror(rc));
		uv_close((uv_handle_t *)&l->tcp, listener_close_cb);
		srv->listeners[srv->nlisteners - 1] = NULL;
		return -1;
	}
	log_info(0, "listen", "server=%s addr=%s port=%d role=%d tls=%s", srv->name, addr, l->port,
	         role,
	         implicit_tls ? "implicit" : (srv->tls != NULL && service == NULL ? "starttls" : "no"));
	return 0;
}

int server_listen(struct server *srv, const struct config_listen *addrs, int role,
                  bool implicit_tls, const struct conn_handler *handler, const char *reject_line,
                  char *err, size_t errlen)
{
	if (addrs->count > 0 && implicit_tls && srv->tls == NULL) {
		snprintf(err, errlen, "listen %s: implicit TLS needs tls_cert and tls_key", addrs->addr[0]);
		return -1;
	}
	for (size_t i = 0; i < addrs->count && i < CONFIG_MAX_LISTEN; i++) {
		if (listen_one(srv, addrs->addr[i], role, implicit_tls, handler, reject_line, NULL, err,
		               errlen) < 0)
			return -1;
	}
	return 0;
}

int server_listen_service(struct server *srv, const struct config_listen *addrs, int role,
                          const struct conn_handler *handler, void *data, char *err, size_t errlen)
{
	for (size_t i = 0; i < addrs->count && i < CONFIG_MAX_LISTEN; i++) {
		if (listen_one(srv, addrs->addr[i], role, false, handler, NULL, data, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int server_listen_port(const struct server *srv, size_t index)
{
	if (index >= srv->nlisteners || srv->listeners[index] == NULL)
		return -1;
	return srv->listeners[index]->port;
}

/* ---- shutdown and signals ---------------------------------------------- */

static void close_own_handles(struct server *srv)
{
	if (srv->own_handles_closed)
		return;
	srv->own_handles_closed = true;
	uv_close((uv_handle_t *)&srv->ready_idle, NULL);
	uv_close((uv_handle_t *)&srv->sig_term, NULL);
	uv_close((uv_handle_t *)&srv->sig_int, NULL);
	uv_close((uv_handle_t *)&srv->sig_hup, NULL);
	uv_close((uv_handle_t *)&srv->stop_timer, NULL);
	uv_close((uv_handle_t *)&srv->tls_sweep, NULL);
}

static void finish(struct server *srv)
{
	if (srv->finished)
		return;
	srv->finished = true;
	log_info(0, "shutdown_complete", "server=%s forced=%s", srv->name, srv->forced ? "yes" : "no");
	close_listeners(srv, true);
	close_own_handles(srv);
	/* Jobs still running keep the loop alive until their done callbacks. */
	if (srv->stop_cb != NULL)
		srv->stop_cb(srv->stop_arg);
}

static void force_close(struct server *srv)
{
	struct conn_link *l;

	srv->forced = true;
	log_warn(0, "shutdown_deadline", "server=%s connections=%u", srv->name, srv->live);
	for (l = srv->works.next; l != &srv->works; l = l->next)
		conn__work_cancel(l);
	/* conn__abort never unlinks synchronously: the walk stays valid. */
	for (l = srv->conns.next; l != &srv->conns; l = l->next)
		conn__abort(conn__container_of(l, struct conn, link), "shutdown_deadline");
}

static void stop_timer_cb(uv_timer_t *t)
{
	force_close(t->data);
}

void server_shutdown(struct server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	log_info(0, "shutdown", "server=%s connections=%u timeout=%u", srv->name, srv->live,
	         srv->cfg.shutdown_timeout);
	close_listeners(srv, false);
	/* Sessions may close themselves from here; unlinking waits for the
	 * close callbacks, so the walk stays valid. */
	for (struct conn_link *l = srv->conns.next; l != &srv->conns; l = l->next)
		conn__shutdown(conn__container_of(l, struct conn, link));
	if (srv->live == 0)
		finish(srv);
	else
		uv_timer_start(&srv->stop_timer, stop_timer_cb,
		               (uint64_t)srv->cfg.shutdown_timeout * 1000, 0);
}

static void reload_tls(struct server *srv)
{
	char err[512];
	if (srv->tls == NULL) {
		log_info(0, "tls_reload", "server=%s result=skipped reason=no_certificate", srv->name);
		return;
	}
	if (tls_server_reload(srv->tls, srv->cfg.tls_cert, srv->cfg.tls_key, err, sizeof(err)) < 0) {
		log_error(0, "tls_reload", "server=%s result=failed kept=old error=\"%s\"", srv->name, err);
		return;
	}
	log_info(0, "tls_reload", "server=%s result=ok cert=%s", srv->name, srv->cfg.tls_cert);
}

static void signal_cb(uv_signal_t *sig, int signum)
{
	struct server *srv = sig->data;

	if (signum == SIGHUP) {
		reload_tls(srv);
		return;
	}
	log_info(0, "signal", "server=%s signal=%s", srv->name, signum == SIGTERM ? "TERM" : "INT");
	/* A second TERM/INT during the drain means "now". */
	if (srv->stopping)
		force_close(srv);
	else
		server_shutdown(srv);
}

bool server_stopping(const struct server *srv)
{
	return srv->stopping;
}

void server_set_context(struct server *srv, void *ctx)
{
	srv->context = ctx;
}

void *server__context(const struct server *srv)
{
	return srv->context;
}

void server_set_stop_cb(struct server *srv, void (*cb)(void *arg), void *arg)
{
	srv->stop_cb = cb;
	srv->stop_arg = arg;
}

/*
 * An idle TLS session keeps two 16 KiB record buffers; a session without
 * TLS traffic for a whole period gives their pages back (tls_conn_trim).
 * Busy sessions are only marked, so they pay nothing.
 */
#define TLS_SWEEP_MS 1000

static void tls_sweep_cb(uv_timer_t *timer)
{
	struct server *srv = timer->data;

	size_t released = 0;
	for (struct conn_link *l = srv->conns.next; l != &srv->conns; l = l->next)
		released += conn__tls_sweep(conn__container_of(l, struct conn, link));
	if (released > 0) {
		log_debug(0, "tls_trim", "server=%s bytes=%zu", srv->name, released);
		malloc_trim(0);
	}
}

int server_run(struct server *srv)
{
	if (!srv->signals_started && !srv->own_handles_closed) {
		int rc = uv_signal_start(&srv->sig_term, signal_cb, SIGTERM);
		if (rc == 0)
			rc = uv_signal_start(&srv->sig_int, signal_cb, SIGINT);
		if (rc == 0)
			rc = uv_signal_start(&srv->sig_hup, signal_cb, SIGHUP);
		if (rc < 0) {
			log_error(0, "signal", "server=%s error=%s", srv->name, uv_strerror(rc));
			return -1;
		}
		srv->signals_started = true;
		if (srv->tls != NULL) {
			uv_timer_start(&srv->tls_sweep, tls_sweep_cb, TLS_SWEEP_MS, TLS_SWEEP_MS);
			uv_unref((uv_handle_t *)&srv->tls_sweep);
		}
	}
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	return srv->forced ? -1 : 0;
}

uv_loop_t *server_loop(struct server *srv)
{
	return &srv->loop;
}

/* ---- creation, privileges, teardown ------------------------------------ */

int server_new(struct server **srv_r, const struct mail_config *cfg, const char *name,
               char *err, size_t errlen)
{
	struct server *srv;
	int rc;

	*srv_r = NULL;
	setenv("UV_THREADPOOL_SIZE", SERVER_THREADPOOL_SIZE, 0);
	/* A peer that resets while we write must give EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);

	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
		snprintf(err, errlen, "tls_cert and tls_key must be set together");
		return -1;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->cfg = *cfg;
	snprintf(srv->name, sizeof(srv->name), "%s", name);
	srv->read_buf = malloc(SERVER_READ_BUFFER);
	srv->plain_buf = malloc(SERVER_PLAIN_BUFFER);
	if (srv->read_buf == NULL || srv->plain_buf == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (cfg->tls_cert[0] != '\0' &&
	    tls_server_new(&srv->tls, cfg->tls_cert, cfg->tls_key, err, errlen) < 0)
		goto fail;

	rc = uv_loop_init(&srv->loop);
	if (rc < 0) {
		snprintf(err, errlen, "event loop: %s", uv_strerror(rc));
		goto fail;
	}
	uv_idle_init(&srv->loop, &srv->ready_idle);
	uv_timer_init(&srv->loop, &srv->stop_timer);
	uv_timer_init(&srv->loop, &srv->tls_sweep);
	uv_signal_t *sigs[] = {&srv->sig_term, &srv->sig_int, &srv->sig_hup};
	for (size_t i = 0; i < 3; i++) {
		rc = uv_signal_init(&srv->loop, sigs[i]);
		if (rc < 0) {
			snprintf(err, errlen, "signal handling: %s", uv_strerror(rc));
			uv_close((uv_handle_t *)&srv->ready_idle, NULL);
			uv_close((uv_handle_t *)&srv->stop_timer, NULL);
			uv_close((uv_handle_t *)&srv->tls_sweep, NULL);
			for (size_t j = 0; j < i; j++)
				uv_close((uv_handle_t *)sigs[j], NULL);
			uv_run(&srv->loop, UV_RUN_DEFAULT);
			uv_loop_close(&srv->loop);
			goto fail;
		}
	}
	srv->ready_idle.data = srv->stop_timer.data = srv->tls_sweep.data = srv;
	srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
	conn__link_init(&srv->conns);
	conn__link_init(&srv->ready);
	conn__link_init(&srv->works);
	peercount_init(&srv->peers);
	*srv_r = srv;
	return 0;

fail:
	tls_server_free(&srv->tls);
	free(srv->read_buf);
	free(srv->plain_buf);
	free(srv);
	return -1;
}

int server_drop_privileges(struct server *srv, char *err, size_t errlen)
{
	const char *user = srv->cfg.user;
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (user[0] == '\0')
		return 0;
	int rc = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
	if (found == NULL) {
		snprintf(err, errlen, "user %s: %s", user, rc != 0 ? strerror(rc) : "no such user");
		return -1;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw.pw_uid)
			return 0;
		snprintf(err, errlen, "user %s: switching users needs root (running as uid %u)", user,
		         (unsigned)geteuid());
		return -1;
	}
	/* Groups first: once the uid changes we may no longer change them. */
	if (setgroups(1, &pw.pw_gid) < 0 || setgid(pw.pw_gid) < 0 || setuid(pw.pw_uid) < 0) {
		snprintf(err, errlen, "user %s: %s", user, strerror(errno));
		return -1;
	}
	/* As Postfix does: make sure root cannot be regained. */
	if (pw.pw_uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "user %s: could still regain root after dropping privileges", user);
		return -1;
	}
	log_info(0, "privileges", "server=%s user=%s uid=%u gid=%u", srv->name, user,
	         (unsigned)pw.pw_uid, (unsigned)pw.pw_gid);
	return 0;
}

static void close_straggler(uv_handle_t *handle, void *arg)
{
	if (uv_is_closing(handle))
		return;
	log_warn(0, "handle_leak", "server=%s type=%s", ((struct server *)arg)->name,
	         uv_handle_type_name(uv_handle_get_type(handle)));
	uv_close(handle, NULL);
}

void server_free(struct server **srvp)
{
	struct server *srv = *srvp;
	if (srv == NULL)
		return;
	close_listeners(srv, true);
	close_own_handles(srv);
	/* The daemon's own handles should be closed by now (see
	 * server_set_stop_cb); any left over are closed so the loop can end. */
	uv_walk(&srv->loop, close_straggler, srv);
	uv_run(&srv->loop, UV_RUN_DEFAULT);
	int rc = uv_loop_close(&srv->loop);
	if (rc != 0)
		log_error(0, "loop_close", "server=%s error=%s", srv->name, uv_err_name(rc));
	tls_server_free(&srv->tls);
	tls_server_free(&srv->tls_client);
	peercount_free(&srv->peers);
	free(srv->listeners);
	free(srv->read_buf);
	free(srv->plain_buf);
	free(srv);
	*srvp = NULL;
}
