/*
 * conn-proxy.c - the PROXY protocol phase of an accepted connection from
 * a load balancer in proxy_protocol_from (state PROXY, conn-private.h).
 *
 * The header comes before everything else: before the limits are applied
 * (they must count the client, not the balancer), before the greeting,
 * before an implicit TLS handshake. Bytes are collected until
 * proxy_parse() decides, at most PROXY_HEADER_MAX of them; what arrived
 * after the header in the same read (a ClientHello, pipelined commands)
 * is handed on as if it had been read next, never lost. A missing,
 * malformed or late header closes the connection without a reply, as
 * HAProxy and Postfix do: the peer is a balancer that cannot be relied
 * on to speak our protocol, and a reply could be forwarded to a client
 * as if it were ours.
 */
#include "conn-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy_protocol.h"

void conn__proxy_begin(struct conn *conn, const char *reject_line)
{
	conn->proxy_reject_line = reject_line;
	conn__set_state(conn, CONN_S_PROXY);
	/* A balancer sends the header at once with its connect: the TLS
	 * handshake's deadline is ample, and already configurable. */
	conn__arm_handshake(conn);
	conn__progress(conn);
}

void conn__proxy_fail(struct conn *conn, const char *reason)
{
	log_info(conn->id, "proxy_error", "ip=%s reason=%s", conn->peer_ip, reason);
	conn__teardown(conn, "proxy_error");
}

/* The header is in: the conn becomes the client's (or stays the balancer's). */
static void take_header(struct conn *conn, const struct proxy_header *hdr)
{
	char proxy_ip[sizeof(conn->peer_ip)];

	memcpy(proxy_ip, conn->peer_ip, sizeof(proxy_ip));
	if (hdr->local) {
		/* A health check of the balancer's own, or a client it cannot
		 * name: the spec says to keep the connection's address. */
		log_info(conn->id, "proxy", "proxy=%s ip=%s version=%u local=yes", proxy_ip,
		         conn->peer_ip, hdr->version);
		return;
	}
	conn__set_peer_ip(conn, hdr->src_ip);
	log_info(conn->id, "proxy", "proxy=%s ip=%s port=%u version=%u", proxy_ip, conn->peer_ip,
	         hdr->src_port, hdr->version);
}

/* Bytes that followed the header, handed on as the next ones read. */
static void pass_on(struct conn *conn, const char *data, size_t len)
{
	if (conn->state == CONN_S_HANDSHAKE && conn->tls != NULL)
		conn__tls_input(conn, data, len);
	else if (conn->state == CONN_S_OPEN)
		conn__input(conn, data, len);
	/* Otherwise over a limit and closing: the session never sees them. */
}

void conn__proxy_input(struct conn *conn, const char *data, size_t len)
{
	struct proxy_header hdr;
	const char *why;
	const char *bytes = data;
	size_t have = len;
	bool buffered = conn->in_len > 0;

	/* Usually the whole header comes in one read and is parsed where
	 * it lies; only a header split across reads is collected. */
	if (buffered) {
		if (conn__buffer_input(conn, data, len) < 0)
			return;
		bytes = conn->in;
		have = conn->in_len;
	}
	switch (proxy_parse(bytes, have, &hdr, &why)) {
	case PROXY_NEED_MORE:
		if (!buffered)
			conn__buffer_input(conn, data, len);
		return;
	case PROXY_ERROR:
		conn__proxy_fail(conn, why);
		return;
	case PROXY_DONE:
		break;
	}
	/* The rest is taken out of conn->in first: the session or the TLS
	 * layer may buffer input of its own there while it is handed on. */
	char *held = NULL;
	if (buffered) {
		held = conn->in;
		conn->in = NULL;
		conn->in_len = conn->in_cap = 0;
	}
	const char *reject_line = conn->proxy_reject_line;
	conn->proxy_reject_line = NULL;
	take_header(conn, &hdr);
	server__admit(conn->srv, conn, reject_line);
	if (have > hdr.len)
		pass_on(conn, bytes + hdr.len, have - hdr.len);
	free(held);
}
