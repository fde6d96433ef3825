/*
 * server.h - listeners, connection limits, TLS credentials and signals for
 * one daemon process on one libuv loop.
 *
 *   struct server *srv;
 *   server_new(&srv, &cfg, "smtpd", err, sizeof(err));
 *   server_listen(srv, &cfg.smtp_listen, ROLE_MX, false, &smtp_handler,
 *                 "421 4.7.0 Too many connections, try later\r\n", err, errlen);
 *   server_run(srv);      // until SIGTERM/SIGINT and the drain are over
 *   server_free(&srv);
 *
 * Limits: max_connections in total and max_connections_per_ip per client
 * (an IPv4 address or an IPv6 /64); a connection over either limit gets
 * the listener's reject line and is closed without reaching the session.
 * A connection from a peer in proxy_protocol_from must first send a PROXY
 * protocol header (conn-proxy.c); the client it names is then the peer
 * for the limits and everything else (conn_peer_ip). Service listeners
 * never expect one.
 * From 80% of max_connections until below 70% the server is in stress
 * mode: every idle timeout is capped at stress_idle_timeout, so idle
 * clients are shed before the limit refuses new ones. Deadlines per
 * connection (TLS
 * handshake, login, idle) are in conn.h. SIGTERM/SIGINT stop the
 * listeners, call handler->shutdown on every connection and give them
 * shutdown_timeout seconds; server_run then returns 0. SIGHUP reloads the
 * TLS certificate and key (new connections use the new ones; a bad file
 * keeps the old ones and logs an error).
 */
#ifndef MAIL_SERVER_H
#define MAIL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "conn.h"

struct server;

/*
 * Creates the loop and loads the TLS credentials when tls_cert/tls_key are
 * set (TLS 1.2 minimum, AEAD suites only, TLS 1.3 where mbedTLS has it).
 * `name` is used in logs. Returns 0 or -1 with a message in err.
 * Also ignores SIGPIPE and sets UV_THREADPOOL_SIZE=32 unless the
 * environment sets it (libuv's default 4 would serialise store jobs).
 */
int server_new(struct server **srv_r, const struct mail_config *cfg, const char *name,
               char *err, size_t errlen);

/*
 * Binds every address of `addrs` (an empty list is a no-op) for `role`
 * (a daemon-defined int, see conn_role). implicit_tls makes the handshake
 * happen before handler->open (RFC 8314); it fails when no certificate is
 * configured. reject_line is sent to connections over the limits.
 * Returns 0 or -1 with a message naming the address in err.
 */
int server_listen(struct server *srv, const struct config_listen *addrs, int role,
                  bool implicit_tls, const struct conn_handler *handler, const char *reject_line,
                  char *err, size_t errlen);

/*
 * A listener for the operator's own endpoints (the metrics and health
 * checks): plaintext, outside max_connections and the per-address limit
 * (it must answer when clients fill them), and open through the drain
 * after SIGTERM, so a health check can say "draining", until every
 * session has closed. Each conn starts with conn_data `data`.
 */
int server_listen_service(struct server *srv, const struct config_listen *addrs, int role,
                          const struct conn_handler *handler, void *data, char *err, size_t errlen);

/*
 * Dials out to ip:port (an IPv4 or IPv6 address in text: resolving names
 * is the caller's) for a session of our own, e.g. delivering mail. With
 * tls_host set, TLS starts at once as the client (implicit TLS, RFC 8314;
 * tls_host as in conn_starttls_client) and handler->open follows the
 * handshake. `data` is the conn's conn_data from the start. Once connected
 * the conn is like
 * an accepted one (handler->open first; lines, writes, timers, work, TLS,
 * shutdown; no login deadline) and counts against no client limit. If it
 * cannot connect within timeout_ms, handler->close(conn, reason) comes
 * without an open ("ECONNREFUSED", "ENETUNREACH", "connect_timeout",
 * "shutdown"), so the caller learns of every outcome through close.
 * Returns 0, or -1 with a message in err when nothing was started (no
 * callback follows).
 */
int server_connect(struct server *srv, const char *ip, unsigned port, const char *tls_host,
                   unsigned timeout_ms, const struct conn_handler *handler, int role, void *data,
                   char *err, size_t errlen);

/*
 * Drops privileges to the configured `user` if one is set (after binding).
 * Returns 0 or -1 with a message.
 */
int server_drop_privileges(struct server *srv, char *err, size_t errlen);

/*
 * Runs the loop until shutdown completes. Returns 0 when every connection
 * closed within shutdown_timeout, -1 when some had to be cut at the
 * deadline (or a second SIGTERM/SIGINT asked for it).
 */
int server_run(struct server *srv);

/* Starts the graceful shutdown, as SIGTERM does (for tests and daemons). */
void server_shutdown(struct server *srv);

/*
 * Registers cb(arg), called once when the shutdown drain is over (every
 * connection closed), from the loop. Daemon-level handles on server_loop()
 * (timers, async) must be closed there, or server_run never returns.
 * Thread-pool jobs still running complete before server_run returns.
 */
void server_set_stop_cb(struct server *srv, void (*cb)(void *arg), void *arg);

/*
 * The daemon's context (its configuration, counters, shared handles),
 * which every session reaches through conn_context(); set before
 * server_run. The server never looks inside it.
 */
void server_set_context(struct server *srv, void *ctx);

/*
 * The port the index-th bound address listens on (in server_listen call
 * and address order, from 0), useful after binding port 0. -1 if none.
 */
int server_listen_port(const struct server *srv, size_t index);

/* True once SIGTERM/SIGINT has been received (sessions should not start new transactions). */
bool server_stopping(const struct server *srv);

/* The server's libuv loop, for daemon-level timers and async handles. */
struct uv_loop_s *server_loop(struct server *srv);

/* Frees everything (the loop must have stopped) and sets *srv to NULL. */
void server_free(struct server **srv);

#endif
