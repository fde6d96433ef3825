/*
 * bench_conn.h - one client connection of mailbench: TCP on libuv, an
 * optional mbedTLS session in front of it, replies split into lines, and a
 * timeout on every step.
 *
 * The owner embeds a struct bench_conn in its session, opens it with
 * bench_conn_open() and is told what happens through one callback:
 *
 *   BENCH_CONN_READY      connected (and, with implicit TLS, handshake done)
 *   BENCH_CONN_TLS_READY  the handshake begun by bench_conn_starttls() is done
 *   BENCH_CONN_LINE       one line from the server, CRLF removed (data, len)
 *   BENCH_CONN_ERROR      the connection failed and is closing; data is a
 *                         short reason: "connect", "timeout", "tls", "eof",
 *                         "reset", "write", "line-too-long", "nomem"
 *   BENCH_CONN_CLOSED     both handles are closed: the owner may free the
 *                         memory that holds the struct now, and not before
 *
 * After BENCH_CONN_ERROR or bench_conn_close() only BENCH_CONN_CLOSED
 * follows. The callback may write, start TLS or close from any event; a
 * line callback that closes the connection stops further lines.
 *
 * Timeout: while the connection is open the timer is armed for timeout_ms
 * and re-armed by every read and every completed write, so a long transfer
 * that makes progress never times out, and a silent server always does.
 * bench_conn_hold() disarms it (idle mode).
 */
#ifndef MAILBENCH_BENCH_CONN_H
#define MAILBENCH_BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "bench_tls.h"

enum bench_conn_event {
	BENCH_CONN_READY,
	BENCH_CONN_TLS_READY,
	BENCH_CONN_LINE,
	BENCH_CONN_ERROR,
	BENCH_CONN_CLOSED,
};

struct bench_conn;
typedef void bench_conn_cb(struct bench_conn *c, enum bench_conn_event ev, const char *data,
                           size_t len);

/* A growable byte buffer; fields private to bench_conn.c. */
struct bench_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Fields are private to bench_conn.c except `data`, the owner's pointer. */
struct bench_conn {
	void *data;

	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect_req;
	bench_conn_cb *cb;
	struct bench_tls *tls_conf;
	mbedtls_ssl_context *ssl;      /* non-NULL once TLS has started */
	unsigned timeout_ms;
	unsigned open_handles;         /* close callbacks still to come */
	bool implicit_tls;
	bool handshake_done;
	bool closing;
	bool held;                     /* timer disarmed by bench_conn_hold() */
	const char *fail_reason;       /* deferred failure, reported from the timer */
	struct bench_buf line;         /* start of a line not yet complete */
	struct bench_buf tin;          /* ciphertext received, not yet taken by mbedTLS */
	size_t tin_off;
	struct bench_buf tout;         /* ciphertext produced, not yet handed to libuv */
};

/*
 * Starts connecting to addr. tls_conf is NULL for plaintext; with
 * implicit_tls the handshake starts as soon as TCP is up. Never fails
 * synchronously: an immediate failure (EMFILE, say) is reported as
 * BENCH_CONN_ERROR "connect" from the loop, then BENCH_CONN_CLOSED.
 */
void bench_conn_open(struct bench_conn *c, uv_loop_t *loop, const struct sockaddr *addr,
                     struct bench_tls *tls_conf, bool implicit_tls, unsigned timeout_ms,
                     bench_conn_cb *cb, void *data);

/* Queues len bytes, copied (encrypted first under TLS). */
void bench_conn_write(struct bench_conn *c, const void *p, size_t len);

/*
 * Queues len bytes without copying them in plaintext mode: p must stay
 * valid until BENCH_CONN_CLOSED. Under TLS it is the same as
 * bench_conn_write().
 */
void bench_conn_write_ref(struct bench_conn *c, const void *p, size_t len);

/*
 * Starts a client TLS handshake (STARTTLS / STLS) on a plaintext
 * connection; needs the tls_conf given to bench_conn_open(). Anything the
 * server sent after the line being handled is discarded, never read as
 * data after the upgrade (RFC 3207 4.2). BENCH_CONN_TLS_READY follows.
 */
void bench_conn_starttls(struct bench_conn *c);

/* Disarms the step timer until the connection closes (idle connections). */
void bench_conn_hold(struct bench_conn *c);

/* Closes the connection (idempotent); BENCH_CONN_CLOSED follows. */
void bench_conn_close(struct bench_conn *c);

#endif
