/*
 * conn-private.h - what conn*.c and server.c share behind conn.h and
 * server.h. Nothing outside common/ includes this.
 *
 * Ownership: the server allocates a conn on accept (conn__new) and owns
 * the list of all conns; conn*.c drives a conn through its states and
 * frees it (conn__free_if_done) once its libuv handles are closed and no
 * thread-pool work refers to it. A conn stays allocated while work is
 * pending (a reference count, work_pending), which is how a finished
 * job finds out that its connection is gone without a lookup by id:
 * conn_queue_work's done callback then gets conn == NULL.
 *
 * States (one variable, changed only by the functions in conn.c):
 *
 *   accept -> [PROXY] -> [HANDSHAKE (implicit TLS)] -> OPEN
 *   OPEN -> STARTTLS_FLUSH -> HANDSHAKE -> OPEN      (conn_starttls)
 *   OPEN -> CLOSING -> LINGER -> CLOSED               (conn_close, EOF)
 *   any  -> CLOSED                                     (errors, deadlines)
 *
 * PROXY (conn-proxy.c) reads the PROXY protocol header a trusted load
 * balancer sends first; the limits and the session only begin after it.
 * CLOSING flushes the output (and close_notify), LINGER has sent FIN and
 * reads until the peer's FIN so that unread input cannot turn our close
 * into a reset that destroys the last reply, and CLOSED means uv_close
 * has been called on every handle; handler->close runs in the last close
 * callback, never inside a call the session made.
 */
#ifndef MAIL_CONN_PRIVATE_H
#define MAIL_CONN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "conn.h"
#include "config.h"
#include "linereader.h"
#include "peercount.h"
#include "writequeue.h"

struct server;
struct tls_conn;
struct tls_server;

#define conn__container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* An intrusive circular doubly linked list (libuv's QUEUE, spelled out). */
struct conn_link {
	struct conn_link *prev, *next;
};

static inline void conn__link_init(struct conn_link *l)
{
	l->prev = l->next = l;
}

static inline bool conn__link_empty(const struct conn_link *l)
{
	return l->next == l;
}

static inline void conn__link_add_tail(struct conn_link *head, struct conn_link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

/* Unlinks l from whatever list holds it; harmless on a self-linked node. */
static inline void conn__link_remove(struct conn_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	conn__link_init(l);
}

/* Moves every node of `from` to the end of `to`. */
static inline void conn__link_move_all(struct conn_link *from, struct conn_link *to)
{
	if (conn__link_empty(from))
		return;
	from->next->prev = to->prev;
	from->prev->next = to;
	to->prev->next = from->next;
	to->prev = from->prev;
	conn__link_init(from);
}

/* Callbacks (lines or data chunks) one conn gets per wake-up before it
 * yields to the others (libuv itself reads at most 32 times per wake-up). */
#define CONN_BUDGET 64

/* Output spans handed to one uv_write. */
#define CONN_WRITE_BATCH 16

/* Initial input buffer; it grows to what is pending and is freed when empty. */
#define CONN_INPUT_INITIAL (4 * 1024)

/* How long a closing connection may take to flush its output. */
#define CONN_CLOSE_TIMEOUT_MS (30 * 1000)

/* How long we keep reading (and discarding) after our FIN, waiting for the peer's. */
#define CONN_LINGER_MS (2 * 1000)

/* TLS handshake deadline when neither handshake_timeout nor the idle
 * timeout is set (a config not loaded by config_load, in tests). */
#define CONN_HANDSHAKE_TIMEOUT_MS (60 * 1000)

/* While a session is paused (off-loop work for it) past its login
 * deadline, how often the deadline is checked again: the client is
 * waiting for us then, so it is not cut in the middle of a reply. */
#define CONN_DEADLINE_RECHECK_MS 1000

/* A TLS client's peer name: a host name (253 octets) or an address, and its NUL. */
#define CONN_TLS_HOST_MAX 256

enum conn_state {
	CONN_S_CONNECTING, /* outbound: waiting for the TCP connect */
	CONN_S_PROXY,      /* waiting for the PROXY protocol header (conn-proxy.c) */
	CONN_S_HANDSHAKE,
	CONN_S_OPEN,
	CONN_S_STARTTLS_FLUSH,
	CONN_S_CLOSING,
	CONN_S_LINGER,
	CONN_S_CLOSED,
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;       /* idle; handshake, close and linger deadlines */
	uv_timer_t after_timer; /* conn_after */
	uv_timer_t every_timer; /* conn_every */
	uv_write_t write_req;
	uv_connect_t connect_req; /* outbound (server_connect) */
	uv_shutdown_t shutdown_req;

	struct server *srv;
	const struct conn_handler *handler;
	struct conn_link link;       /* the server's list of all conns */
	struct conn_link ready_link; /* the server's list of conns to resume */
	uint64_t id;
	uint64_t started_ms;
	uint64_t bytes_in, bytes_out;
	int role;
	enum conn_state state;
	void *data;
	const char *close_reason;

	/* Input: bytes not delivered yet (a partial line, or held while paused). */
	struct linereader lr;
	enum conn_read_mode mode;
	char *in;
	size_t in_len, in_cap;
	unsigned budget;
	size_t data_used; /* conn_data_consumed() inside handler->data */

	/* Output: bytes for the socket (ciphertext with TLS). */
	struct writequeue out;
	size_t inflight; /* octets in the uv_write in progress */
	struct tls_conn *tls;

	unsigned idle_timeout; /* seconds, 0 = none */
	uint64_t idle_since;   /* loop time the idle timeout counts from (the last input) */
	void (*after_cb)(conn_t *conn);
	void (*every_cb)(conn_t *conn);
	bool in_close_cb; /* handler->close is running: clean-up work may still be queued */
	bool outbound;    /* dialled by us: handler->close follows even a failed connect */
	bool outbound_open; /* ... and connected: we are the TLS client */
	char tls_host[CONN_TLS_HOST_MAX]; /* TLS client: the peer's name (SNI, certificate check) */
	unsigned handles_open; /* handles uv_close has not called back for yet */
	unsigned work_pending; /* conn_queue_work jobs not yet done */
	unsigned depth;        /* handler callbacks in progress (nesting) */

	bool implicit_tls;
	bool handshake_input; /* a byte of the TLS handshake arrived (see conn__tls_failed) */
	bool opened;      /* handler->open was called, so handler->close is owed */
	bool logged_in;   /* conn_login_done: login_timeout no longer applies */
	bool rejected;    /* over a limit: reject line only, never the handler */
	bool counted;     /* counted in the server's limits */
	bool leaving;     /* counted, and closing: no longer counted for stress mode */
	bool paused;
	bool yielded;     /* budget spent: delivery resumes from the ready list */
	bool eof;         /* the peer's FIN (or close_notify) arrived */
	bool reading;
	bool writing;     /* write_req in flight */
	bool out_full;    /* went above CONN_OUTPUT_HIGH_WATER since the last drain */
	bool shutting;    /* shutdown_req in flight */
	bool delivering;  /* a delivery loop is walking the input */
	bool in_data_cb;
	bool finished;    /* handles closed, handler->close done */
	char peer_ip[PEERCOUNT_ADDR_MAX];
	/* State PROXY: the listener's reject line, for the limits applied
	 * once the header has arrived. Listeners close before their memory
	 * goes only at shutdown, which ends every conn in this state first. */
	const char *proxy_reject_line;
};

/* ---- conn.c, for server.c ---------------------------------------------- */

/*
 * Allocates a conn and initialises its handles on the server's loop.
 * Returns NULL when out of memory (nothing to clean up).
 */
struct conn *conn__new(struct server *srv, const struct conn_handler *handler, int role,
                       bool implicit_tls, uint64_t id);
/* Accepts from `listener` into conn and reads the peer address. Returns 0 or a libuv error. */
int conn__accept(struct conn *conn, uv_stream_t *listener);
/* Sets peer_ip, with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as plain IPv4. */
void conn__set_peer_ip(struct conn *conn, const char *ip);
/* Within the limits: greets (handler->open) or starts the implicit TLS handshake. */
void conn__start(struct conn *conn);
/* Over a limit: sends `line` (may be NULL) and closes; the handler never hears of it. */
void conn__reject(struct conn *conn, const char *line);
/* Graceful shutdown: handler->shutdown, or a close after the flush. */
void conn__shutdown(struct conn *conn);
/* Closes at once (shutdown deadline, accept failure); `reason` is a static string. */
void conn__abort(struct conn *conn, const char *reason);
/* Called from the server's ready list: continue delivering buffered input. */
void conn__resume_delivery(struct conn *conn);
/* Cancels a queued job that has not started (shutdown deadline). */
void conn__work_cancel(struct conn_link *work_link);

/* ---- between conn.c, conn-io.c and conn-tls.c -------------------------- */

/* The only way to change conn->state (logs the transition at debug). */
void conn__set_state(struct conn *conn, enum conn_state state);
/*
 * Bracket every handler callback. Output is flushed, the read state
 * updated and pending closes acted on when the outermost one leaves, so a
 * group of pipelined replies goes out in one write.
 */
void conn__enter(struct conn *conn);
void conn__leave(struct conn *conn);
/*
 * Outbound: starts connecting to addr (state CONNECTING); conn__start
 * follows once connected, or a teardown with the error as the reason
 * ("ECONNREFUSED", "connect_timeout" after timeout_ms). Returns 0 or a
 * negative libuv error (nothing started).
 */
int conn__connect(struct conn *conn, const struct sockaddr *addr, unsigned timeout_ms);
/* Handshake over (or none): state OPEN, handler->open. */
void conn__open(struct conn *conn);
/*
 * In state OPEN, conn->timer runs to the earlier of the idle deadline
 * (idle_since + the idle timeout in force, shorter in stress mode) and
 * the login deadline (started_ms + login_timeout, until conn_login_done).
 * conn__restart_idle counts the idle timeout from now (input arrived);
 * conn__arm_idle re-arms for the deadlines as they are now (the server
 * entered stress mode). conn__arm_deadline arms conn->timer for another
 * state's deadline in ms.
 */
void conn__restart_idle(struct conn *conn);
void conn__arm_idle(struct conn *conn);
void conn__arm_deadline(struct conn *conn, uint64_t ms);
/* State HANDSHAKE: arms handshake_timeout, never past the login deadline. */
void conn__arm_handshake(struct conn *conn);
/* Close after the flush; `reason` is a static string kept for handler->close. */
void conn__begin_close(struct conn *conn, const char *reason);
/* FIN sent: read and discard until the peer's FIN or CONN_LINGER_MS. */
void conn__begin_linger(struct conn *conn);
/* The one teardown path: closes every handle; handler->close follows from the loop. */
void conn__teardown(struct conn *conn, const char *reason);

/* conn-io.c */
/* Flushes output and updates the read state; only at callback depth 0. */
void conn__progress(struct conn *conn);
void conn__update_reading(struct conn *conn);
/* Plaintext from the peer: deliver what can be delivered, buffer the rest. */
void conn__input(struct conn *conn, const char *data, size_t len);
/* Appends to conn->in. Returns 0, or -1 after tearing down (OOM). */
int conn__buffer_input(struct conn *conn, const char *data, size_t len);
/* The peer's FIN or close_notify. */
void conn__on_eof(struct conn *conn);
/* Forgets buffered input (never while a delivery loop walks it). */
void conn__drop_input(struct conn *conn);
/* Queues bytes for the socket as they are. Returns 0, or -1 after tearing down (OOM). */
int conn__queue_raw(struct conn *conn, const void *data, size_t len);

/* conn-proxy.c */
/*
 * From a peer in proxy_protocol_from: state PROXY, reading the header
 * within handshake_timeout. Once it has arrived, peer_ip is the client it
 * names and server__admit follows; bytes after the header go on to the
 * TLS handshake or the session. A missing, malformed or late header
 * closes the conn without a reply (logged as proxy_error).
 */
void conn__proxy_begin(struct conn *conn, const char *reject_line);
/* State PROXY: bytes from the peer. */
void conn__proxy_input(struct conn *conn, const char *data, size_t len);
/* State PROXY: the peer closed, or the deadline passed. Tears down. */
void conn__proxy_fail(struct conn *conn, const char *reason);

/* conn-tls.c */
/* Creates the TLS session and waits for the ClientHello (state HANDSHAKE). */
void conn__tls_begin(struct conn *conn);
/* Ciphertext from the peer: advances the handshake, decrypts, delivers. */
void conn__tls_input(struct conn *conn, const char *data, size_t len);
/*
 * The handshake under way failed: tells handler->tls_failed. Call it
 * before the state changes; it does nothing outside a handshake (so a
 * read error or EOF path may call it whatever the state).
 */
void conn__tls_failed(struct conn *conn, enum conn_tls_failure why);
/* Called every TLS_SWEEP_MS for each conn: releases an idle session's record
 * buffers; returns the bytes released. */
size_t conn__tls_sweep(struct conn *conn);

/* ---- server.c, for conn.c ---------------------------------------------- */

uv_loop_t *server__loop(struct server *srv);
const struct mail_config *server__config(const struct server *srv);
void *server__context(const struct server *srv);
/* The TLS context of outbound connections, made on first use; NULL if that fails. */
struct tls_server *server__tls_client(struct server *srv);
struct tls_server *server__tls(const struct server *srv);
/* One read buffer shared by every conn: libuv reads one socket at a time. */
char *server__read_buffer(struct server *srv, size_t *len_r);
/* Where TLS connections decrypt into, shared the same way. */
char *server__plain_buffer(struct server *srv, size_t *len_r);
/* Asks for conn__resume_delivery on the next loop iteration. */
void server__ready_add(struct server *srv, struct conn *conn);
void server__work_add(struct server *srv, struct conn_link *work_link);
/*
 * An accepted client conn, its peer address final (after a PROXY header):
 * applies max_connections and max_connections_per_ip (over one, sends
 * reject_line unless the listener is implicit TLS, and closes), else
 * counts the conn and calls conn__start.
 */
void server__admit(struct server *srv, struct conn *conn, const char *reject_line);
/* The conn began closing: it still counts for the limits, not for stress mode. */
void server__conn_leaving(struct server *srv, struct conn *conn);
/* The conn stopped counting for the limits (teardown began). */
void server__conn_closing(struct server *srv, struct conn *conn);
/* The idle timeout in ms in force for a conn whose own is idle_s seconds
 * (0 = none): stress_idle_timeout caps it in stress mode. 0 = none. */
uint64_t server__idle_ms(const struct server *srv, unsigned idle_s);
/* handler->close has run; the server may finish its shutdown. */
void server__conn_finished(struct server *srv, struct conn *conn);

#endif
