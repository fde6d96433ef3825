/*
 * conn.h - one client connection: TCP on libuv, optional TLS (mbedTLS),
 * a line reader with a hard limit, a raw-bytes mode, a write queue with
 * backpressure, an idle timer, and off-loop work that finds its way back.
 *
 * Protocol sessions (smtpd/, pop3d/) see events, never libuv or mbedTLS
 * types (OpenSMTPD's ioev is the model). All calls and callbacks happen on
 * the loop thread.
 *
 * Lifetime: the server creates a conn on accept and calls handler->open.
 * The session attaches its state with conn_set_data(). The conn is freed
 * after handler->close has been called; after that callback the session
 * must not touch the conn again. Every path that ends a connection (peer
 * hang-up, error, conn_close, timeout without a reply, shutdown deadline)
 * ends in exactly one close callback.
 */
#ifndef MAIL_CONN_H
#define MAIL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct conn conn_t;

/* Default read limits. RFC 5321 4.5.3.1.4: a command line is at most 512
 * octets including CRLF; RFC 2449 4 allows 255 for POP3 commands but SASL
 * responses are longer, so daemons pick their own with conn_set_line_max. */
#define CONN_LINE_MAX_DEFAULT 1024

/* Output above this many queued octets stops the producer (conn_output_full
 * turns true); handler->drain fires when the queue falls below half of it. */
#define CONN_OUTPUT_HIGH_WATER (256 * 1024)

/* Input buffered beyond this while paused stops reading from the socket. */
#define CONN_INPUT_HIGH_WATER (64 * 1024)

/*
 * Why a TLS handshake failed (handler->tls_failed). The version is not
 * known then (it is what the handshake negotiates), so failures are
 * counted by this small fixed set of reasons.
 */
enum conn_tls_failure {
	CONN_TLS_FAIL_PROTOCOL, /* the peer sent no acceptable TLS (garbage, no version or
	                         * cipher suite in common) or aborted with a fatal alert */
	CONN_TLS_FAIL_TIMEOUT,  /* handshake_timeout (or the login deadline) passed */
	CONN_TLS_FAIL_CLOSED,   /* the peer closed or reset the connection mid-handshake (one
	                         * that leaves before sending anything is not reported: TCP
	                         * health checks of implicit TLS ports do that) */
	CONN_TLS_FAIL_OTHER,    /* our own failure: memory, randomness */
	CONN_TLS_FAIL_COUNT
};

enum conn_read_mode {
	CONN_READ_LINES, /* handler->line per line */
	CONN_READ_RAW,   /* handler->data with whatever bytes arrived */
};

struct conn_handler {
	/* The connection is ready (for implicit TLS: after the handshake). Send the greeting. */
	void (*open)(conn_t *conn);
	/*
	 * One input line in CONN_READ_LINES mode, without its terminator.
	 * `crlf` tells whether it ended in CRLF (true) or a bare LF (false).
	 * `too_long` is set, once, for a line longer than the limit: `line`
	 * then holds its first bytes and the rest of the line up to its LF is
	 * discarded without further callbacks. The line is valid only during
	 * the call and may contain NUL bytes.
	 */
	void (*line)(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long);
	/*
	 * Bytes in CONN_READ_RAW mode; valid only during the call. All of them
	 * count as consumed unless the handler calls conn_data_consumed().
	 */
	void (*data)(conn_t *conn, const char *buf, size_t len);
	/* Queued output fell below half the high water mark: continue long output. */
	void (*drain)(conn_t *conn);
	/* The STARTTLS / STLS handshake succeeded. */
	void (*tls_ready)(conn_t *conn);
	/*
	 * A TLS handshake failed (implicit TLS, STARTTLS, or as a client), for
	 * counting and nothing else: the conn closes by itself, and the call
	 * may use only conn_id, conn_peer_ip, conn_role, conn_data and
	 * conn_context. Implicit TLS fails before open, so there is no
	 * session yet (conn_data is NULL and no close follows); after
	 * conn_starttls the session's close follows. A handshake cut short
	 * by the server's shutdown is not reported. May be NULL.
	 */
	void (*tls_failed)(conn_t *conn, enum conn_tls_failure why);
	/*
	 * No input for the idle timeout. The session usually replies (421 /
	 * -ERR) and calls conn_close(). If NULL, the conn is closed.
	 */
	void (*timeout)(conn_t *conn);
	/*
	 * The server is shutting down (SIGTERM). The session should finish the
	 * current transaction and close; sessions still open at the deadline
	 * are closed. May be NULL (closed at once after a flush).
	 */
	void (*shutdown)(conn_t *conn);
	/*
	 * The connection is gone: free the session. Called exactly once for
	 * every conn whose open was called (a connection rejected over a
	 * limit or failing implicit TLS before open reaches neither), and
	 * for every outbound conn (server_connect), also one that never
	 * connected: then `reason` says why.
	 */
	void (*close)(conn_t *conn, const char *reason);
};

/* ---- identity -------------------------------------------------------- */

/* Process-unique session id, for logs and for finding a session again. */
uint64_t conn_id(const conn_t *conn);
/* The peer's address as text ("192.0.2.1", "2001:db8::1"); behind a load
 * balancer in proxy_protocol_from, the client its PROXY header named. */
const char *conn_peer_ip(const conn_t *conn);
/* The role the listener was configured with (an int the daemon defines). */
int conn_role(const conn_t *conn);
void conn_set_data(conn_t *conn, void *data);
/* The daemon's context, as given to server_set_context (the same for every conn). */
void *conn_context(const conn_t *conn);
/* True once the server is shutting down (SIGTERM): sessions are draining. */
bool conn_draining(const conn_t *conn);
void *conn_data(const conn_t *conn);

/* ---- input ----------------------------------------------------------- */

/*
 * Takes effect for the very next input byte, also when called from inside
 * handler->line or handler->data for bytes that arrived in the same packet
 * (a pipelined "DATA\r\n" followed by the body).
 */
void conn_set_read_mode(conn_t *conn, enum conn_read_mode mode);
/*
 * Only for handler->data: just the first n bytes of its buffer were used
 * (e.g. up to the end of a DATA body or a BDAT chunk). The rest is offered
 * again after the callback returns, in the read mode then in force, so
 * pipelined commands after a body reach handler->line. If n is 0 and the
 * mode is still RAW, the bytes wait until more arrive.
 */
void conn_data_consumed(conn_t *conn, size_t n);
/* Line limit in octets, terminator excluded. */
void conn_set_line_max(conn_t *conn, size_t max);
/*
 * Pause stops input callbacks (input stays buffered; the socket stops being
 * read once CONN_INPUT_HIGH_WATER is buffered). Use it while off-loop work
 * for the current command runs, so pipelined commands wait their turn.
 * Resume delivers buffered input on the next loop iteration, not inside
 * the call. Pauses do not nest.
 */
void conn_pause(conn_t *conn);
void conn_resume(conn_t *conn);
/*
 * Idle timeout in seconds (0 = none). Restarted by every read; it does not
 * expire while the conn is paused (the client is waiting for us), but it
 * does while output is full (a peer that stopped reading). While the
 * server is in stress mode (server.h) stress_idle_timeout caps it.
 * Expiry calls handler->timeout.
 *
 * Two other deadlines come from the config: a TLS handshake must finish
 * within handshake_timeout (else the conn is closed: handler->tls_failed),
 * and a client must log in within login_timeout of connecting, however
 * busy it keeps the connection: at that deadline handler->timeout is
 * called as for an idle timeout, and the conn is closed after it.
 */
void conn_set_idle_timeout(conn_t *conn, unsigned seconds);
/*
 * The client has logged in (AUTH, PASS) or, on a listener without logins,
 * begun real work (smtpd's MX: its first accepted MAIL): the login
 * deadline no longer applies. Call it once the session trusts the client
 * that far; later calls do nothing.
 */
void conn_login_done(conn_t *conn);

/* ---- output ---------------------------------------------------------- */

/*
 * Queues bytes (copied; encrypted first under TLS). Never fails short of
 * out-of-memory, which closes the conn. Ignored after conn_close and
 * between conn_starttls and handler->tls_ready, where bytes would corrupt
 * the stream.
 */
void conn_write(conn_t *conn, const void *data, size_t len);
void conn_printf(conn_t *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Octets queued and not yet written to the socket. */
size_t conn_output_queued(const conn_t *conn);
/* True when queued output is above the high water mark: stop producing, wait for drain. */
bool conn_output_full(const conn_t *conn);

/*
 * Closes the connection once queued output has been written (or at once if
 * the peer is gone). Input is ignored from now on. The close callback comes
 * later, from the loop; the session stays valid until then.
 */
void conn_close(conn_t *conn);

/* ---- TLS ------------------------------------------------------------- */

/* True when the server has a certificate, i.e. STARTTLS may be offered. */
bool conn_tls_available(const conn_t *conn);
bool conn_tls_active(const conn_t *conn);
/*
 * Starts the TLS handshake once queued output (the "220 ready" reply) has
 * been flushed. Every input byte received before this call and not yet
 * consumed is discarded: plaintext sent ahead of the handshake must never
 * be read as a command after it (CVE-2011-0411 class). handler->tls_ready
 * follows on success; on failure the conn is closed.
 */
void conn_starttls(conn_t *conn);
/*
 * For a conn we dialled (server_connect): starts TLS as the client, after
 * the server's "220" to our STARTTLS (RFC 3207 4). `host` is sent as SNI
 * (unless an address) and is the name the certificate is checked against.
 * As with conn_starttls, input that arrived before is discarded;
 * handler->tls_ready follows on success, a close on failure. The
 * certificate does not stop the handshake: conn_tls_peer_verified() then
 * says whether it chained to a system root and named host, and the
 * caller's policy decides.
 */
void conn_starttls_client(conn_t *conn, const char *host);
bool conn_tls_peer_verified(const conn_t *conn);
/* "protocol", "timeout", "closed", "other": stable names for logs and metric labels. */
const char *conn_tls_failure_name(enum conn_tls_failure why);
/* "TLSv1.2" and the cipher suite name, for Received headers; NULL when no TLS. */
const char *conn_tls_version(const conn_t *conn);
const char *conn_tls_cipher(const conn_t *conn);

/*
 * Calls cb(conn) after `ms` milliseconds (one pending timer per conn; a new
 * call replaces it). Used for delayed replies after failed logins. Input is
 * paused meanwhile; cb usually replies and calls conn_resume(). Not called
 * if the conn closes first.
 */
void conn_after(conn_t *conn, unsigned ms, void (*cb)(conn_t *conn));

/*
 * Calls cb(conn) every `ms` milliseconds until the conn closes, or until
 * conn_every(conn, 0, NULL) stops it (one periodic timer per conn,
 * separate from conn_after's; a new call replaces it). Input is not
 * paused. Used for renewing a lease while a session holds it.
 */
void conn_every(conn_t *conn, unsigned ms, void (*cb)(conn_t *conn));

/* ---- off-loop work --------------------------------------------------- */

/*
 * Runs work(arg) on the libuv thread pool, then done(conn, arg, status) on
 * the loop. If the connection closed meanwhile, done is called with
 * conn == NULL so it can free arg (found by id, never a dangling pointer).
 * status is 0, or UV_ECANCELED when the server is shutting down and the
 * work never ran. Returns 0, or a negative libuv error, in which case
 * neither function is ever called. A closed connection with work (or a
 * conn_hold) outstanding still counts against max_connections and the
 * per-IP limit until the last job is done, so that the limits bound the
 * memory such jobs hold.
 *
 * It may also be called from handler->close, for clean-up the session
 * leaves behind (releasing a lease): done then always gets conn == NULL,
 * and the server's shutdown waits for (or cancels) the job like any other.
 */
typedef void conn_work_fn(void *arg);
/* The text of a status or return code of the functions here ("operation canceled"). */
const char *conn_strerror(int err);
typedef void conn_done_fn(conn_t *conn, void *arg, int status);
int conn_queue_work(conn_t *conn, conn_work_fn *work, conn_done_fn *done, void *arg);

/*
 * The same guarantee for work on the daemon's own threads (smtpd's
 * committer): conn_hold keeps the conn allocated while another thread
 * works for it; conn_release, back on the loop, drops that hold and calls
 * done(conn, arg, 0), or done(NULL, arg, 0) if the connection closed
 * meanwhile. Every conn_hold needs exactly one conn_release.
 */
void conn_hold(conn_t *conn);
void conn_release(conn_t *conn, conn_done_fn *done, void *arg);

#endif
