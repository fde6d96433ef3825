/*
 * conn-tls.c - TLS on a connection: STARTTLS, implicit TLS, and the
 * ciphertext path between the socket and the line reader.
 *
 * mbedTLS never touches the socket. Ciphertext read by libuv is fed to
 * the session (tls_conn_feed) and always used up before the read callback
 * returns; ciphertext mbedTLS produces is appended to the conn's write
 * queue by send_cb and flushed like any other output.
 */
#include "conn-private.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "tls.h"

static int send_cb(void *ctx, const unsigned char *buf, size_t len)
{
	struct conn *conn = ctx;
	return writequeue_append(&conn->out, buf, len);
}

static void begin_starttls(struct conn *conn);
static void log_tls_error(struct conn *conn, const char *during, int rc);

void conn_starttls(conn_t *conn)
{
	if (conn->state != CONN_S_OPEN)
		return;
	if (conn->tls != NULL || server__tls(conn->srv) == NULL) {
		log_error(conn->id, "tls_error", "ip=%s error=%s", conn->peer_ip,
		          conn->tls != NULL ? "starttls_twice" : "no_certificate");
		conn__begin_close(conn, "tls_unavailable");
		return;
	}
	begin_starttls(conn);
}

void conn_starttls_client(conn_t *conn, const char *host)
{
	if (conn->state != CONN_S_OPEN || !conn->outbound_open)
		return;
	if (conn->tls != NULL || strlen(host) >= sizeof(conn->tls_host)) {
		log_error(conn->id, "tls_error", "ip=%s error=%s", conn->peer_ip,
		          conn->tls != NULL ? "starttls_twice" : "host_too_long");
		conn__begin_close(conn, "tls_unavailable");
		return;
	}
	snprintf(conn->tls_host, sizeof(conn->tls_host), "%s", host);
	begin_starttls(conn);
}

bool conn_tls_peer_verified(const conn_t *conn)
{
	return conn->tls != NULL && tls_conn_peer_verified(conn->tls);
}

static void begin_starttls(struct conn *conn)
{
	/*
	 * RFC 3207 4.2 / RFC 2595 4: nothing the peer sent before the
	 * handshake may be used after it (CVE-2011-0411; as a client, a
	 * server's bytes after its 220 are no better). Input still
	 * buffered is dropped here or, if a delivery loop is walking it, by
	 * that loop as soon as the callback returns; reading stops at once
	 * (before libuv's read loop can read more) and starts again only when
	 * the handshake does, after our last plaintext has been flushed.
	 */
	conn__set_state(conn, CONN_S_STARTTLS_FLUSH);
	if (!conn->delivering)
		conn__drop_input(conn);
	conn->lr.skipping = false;
	if (conn->depth == 0)
		conn__progress(conn);
	else
		conn__update_reading(conn);
}

static const char *const failure_names[CONN_TLS_FAIL_COUNT] = {
	[CONN_TLS_FAIL_PROTOCOL] = "protocol",
	[CONN_TLS_FAIL_TIMEOUT] = "timeout",
	[CONN_TLS_FAIL_CLOSED] = "closed",
	[CONN_TLS_FAIL_OTHER] = "other",
};

const char *conn_tls_failure_name(enum conn_tls_failure why)
{
	return (unsigned)why < CONN_TLS_FAIL_COUNT ? failure_names[why] : "other";
}

/* The reason a handshake error `rc` is counted under. */
static enum conn_tls_failure failure_of(int rc)
{
	switch (tls_error_kind(rc)) {
	case TLS_ERROR_PROTOCOL:
		return CONN_TLS_FAIL_PROTOCOL;
	case TLS_ERROR_CLOSED:
		return CONN_TLS_FAIL_CLOSED;
	default:
		return CONN_TLS_FAIL_OTHER;
	}
}

void conn__tls_failed(struct conn *conn, enum conn_tls_failure why)
{
	/* Only a handshake that began can fail: a plain conn is never in
	 * this state with a TLS session, and a shutdown is no failure. */
	if (conn->state != CONN_S_HANDSHAKE || conn->tls == NULL || conn->handler->tls_failed == NULL)
		return;
	/* A peer that leaves before sending a byte of it never tried: a TCP
	 * health check of an implicit TLS port, not a failed handshake. */
	if (why == CONN_TLS_FAIL_CLOSED && !conn->handshake_input)
		return;
	conn->handler->tls_failed(conn, why);
}

void conn__tls_begin(struct conn *conn)
{
	if (conn->tls_host[0] != '\0') {
		struct tls_server *ts = server__tls_client(conn->srv);
		conn->tls = ts != NULL ? tls_conn_new_client(ts, conn->tls_host, send_cb, conn) : NULL;
	} else {
		conn->tls = tls_conn_new(server__tls(conn->srv), send_cb, conn);
	}
	if (conn->tls == NULL) {
		conn__teardown(conn, "out_of_memory");
		return;
	}
	conn__set_state(conn, CONN_S_HANDSHAKE);
	conn__arm_handshake(conn);
	if (conn->tls_host[0] == '\0')
		return;
	/* A client speaks first: its ClientHello goes out now (the caller flushes). */
	int rc = tls_conn_handshake(conn->tls);
	if (rc != TLS_WANT_READ) {
		log_tls_error(conn, "handshake", rc);
		conn__tls_failed(conn, failure_of(rc));
		conn__teardown(conn, "tls_handshake_failed");
	}
}

static void handshake_done(struct conn *conn)
{
	log_info(conn->id, "tls", "ip=%s version=%s cipher=%s", conn->peer_ip,
	         tls_conn_version(conn->tls), tls_conn_cipher(conn->tls));
	if (!conn->opened) {
		conn__open(conn);
		return;
	}
	conn__set_state(conn, CONN_S_OPEN);
	conn__restart_idle(conn);
	if (conn->handler->tls_ready != NULL) {
		conn__enter(conn);
		conn->handler->tls_ready(conn);
		conn__leave(conn);
	}
}

static void log_tls_error(struct conn *conn, const char *during, int rc)
{
	char msg[128];
	log_info(conn->id, "tls_error", "ip=%s during=%s error=\"%s\"", conn->peer_ip, during,
	         tls_strerror(rc, msg, sizeof(msg)));
}

void conn__tls_input(struct conn *conn, const char *data, size_t len)
{
	size_t cap;
	char *plain = server__plain_buffer(conn->srv, &cap);

	tls_conn_feed(conn->tls, data, len);
	if (conn->state == CONN_S_HANDSHAKE) {
		conn->handshake_input = true;
		int rc = tls_conn_handshake(conn->tls);
		if (rc == TLS_WANT_READ)
			goto out;
		if (rc != 0) {
			log_tls_error(conn, "handshake", rc);
			conn__tls_failed(conn, failure_of(rc));
			/* Closing after the flush sends the alert mbedTLS queued. */
			conn__begin_close(conn, "tls_handshake_failed");
			goto out;
		}
		handshake_done(conn);
	}
	/* Records that arrived with the end of the handshake, or in one read,
	 * are all decrypted now: mbedTLS keeps no pointer into `data`. */
	while (conn->state == CONN_S_OPEN) {
		size_t n;
		int rc = tls_conn_read(conn->tls, plain, cap, &n);
		if (rc == 0) {
			conn__input(conn, plain, n);
		} else if (rc == TLS_WANT_READ) {
			break;
		} else if (rc == TLS_EOF) {
			conn__on_eof(conn);
			break;
		} else {
			log_tls_error(conn, "read", rc);
			conn__teardown(conn, "tls_error");
			break;
		}
	}
out:
	tls_conn_feed(conn->tls, NULL, 0);
}

size_t conn__tls_sweep(struct conn *conn)
{
	if (conn->tls == NULL || conn->state != CONN_S_OPEN)
		return 0;
	return tls_conn_trim(conn->tls);
}

bool conn_tls_available(const conn_t *conn)
{
	return server__tls(conn->srv) != NULL;
}

bool conn_tls_active(const conn_t *conn)
{
	return conn->tls != NULL && tls_conn_handshake_done(conn->tls);
}

const char *conn_tls_version(const conn_t *conn)
{
	return conn->tls != NULL ? tls_conn_version(conn->tls) : NULL;
}

const char *conn_tls_cipher(const conn_t *conn)
{
	return conn->tls != NULL ? tls_conn_cipher(conn->tls) : NULL;
}
