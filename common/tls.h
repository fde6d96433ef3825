/*
 * tls.h - the mbedTLS server side, without any I/O of its own.
 *
 * struct tls_server holds what every connection of one process shares:
 * the entropy source and CTR-DRBG, and the current credentials (the
 * certificate chain, the key and the mbedtls_ssl_config built on them:
 * TLS 1.2 minimum, ECDHE with AES-GCM or ChaCha20-Poly1305 only, TLS 1.3
 * where the library has it). A reload builds new credentials; connections
 * keep a reference to the ones they started with, so old credentials are
 * freed when their last connection is.
 *
 * struct tls_conn is one session driven through memory: the caller feeds
 * ciphertext it read from the socket (tls_conn_feed), and mbedTLS hands
 * the ciphertext it wants to send to the caller's send function, which
 * must take all of it (it queues). So no call ever blocks or returns
 * "want write". Only the loop thread uses these objects, and the library
 * differences between mbedTLS 2.28 and 3.x stay inside tls.c.
 *
 * Errors are negative mbedTLS codes; tls_strerror() describes them.
 */
#ifndef MAIL_TLS_H
#define MAIL_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* More input is needed before the call can make progress. */
#define TLS_WANT_READ 1
/* The peer sent close_notify: no more application data will come. */
#define TLS_EOF 2

struct tls_server;
struct tls_conn;

/*
 * Seeds the DRBG and loads cert_file (PEM chain, leaf first) and key_file.
 * cert_file NULL makes a context for outbound connections only
 * (tls_conn_new_client). Returns 0, or -1 with a message naming the file
 * in err.
 */
int tls_server_new(struct tls_server **ts_r, const char *cert_file, const char *key_file,
                   char *err, size_t errlen);

/*
 * Loads the files again into new credentials for connections started from
 * now on. On failure the current credentials stay and -1 is returned with
 * a message in err.
 */
int tls_server_reload(struct tls_server *ts, const char *cert_file, const char *key_file,
                      char *err, size_t errlen);

/* Frees the server side; every tls_conn must have been freed. Sets *ts to NULL. */
void tls_server_free(struct tls_server **ts);

/*
 * Receives ciphertext to be sent to the peer; must consume all len bytes
 * and return 0, or return -1 (out of memory), which fails the TLS call.
 */
typedef int tls_send_fn(void *ctx, const unsigned char *buf, size_t len);

/* A server-side session. Returns NULL when out of memory. */
struct tls_conn *tls_conn_new(struct tls_server *ts, tls_send_fn *send, void *ctx);

/*
 * The client side of a connection we opened, to `host` (sent as SNI unless
 * it is an address literal, and the name the certificate is checked
 * against). The handshake completes whatever the peer's certificate:
 * tls_conn_peer_verified() says afterwards whether it chained to a system
 * root and named host. NULL when out of memory.
 */
struct tls_conn *tls_conn_new_client(struct tls_server *ts, const char *host, tls_send_fn *send,
                                     void *ctx);
bool tls_conn_peer_verified(const struct tls_conn *tc);

/*
 * Makes buf[0..len) the ciphertext available to the next calls. The bytes
 * are not copied: they must stay valid until tls_conn_pending() is 0,
 * which the calls below reach by consuming all of them, except after an
 * error.
 */
void tls_conn_feed(struct tls_conn *tc, const void *buf, size_t len);
size_t tls_conn_pending(const struct tls_conn *tc);

/* Advances the handshake. Returns 0 when it is complete, TLS_WANT_READ, or an error. */
int tls_conn_handshake(struct tls_conn *tc);
bool tls_conn_handshake_done(const struct tls_conn *tc);

/*
 * Decrypts application data into buf. Returns 0 with *n_r > 0 bytes,
 * TLS_WANT_READ when the fed ciphertext is used up, TLS_EOF after the
 * peer's close_notify, or an error.
 */
int tls_conn_read(struct tls_conn *tc, void *buf, size_t len, size_t *n_r);

/* Encrypts all of data[0..len) to the send function. Returns 0 or an error. */
int tls_conn_write(struct tls_conn *tc, const void *data, size_t len);

/* Sends close_notify. Returns 0 or an error. */
int tls_conn_close_notify(struct tls_conn *tc);

/*
 * Gives the pages of an idle session's two record buffers (16 KiB each
 * in mbedTLS, allocated for the session's whole life) back to the kernel,
 * as OpenSSL's SSL_MODE_RELEASE_BUFFERS frees them. "Idle" means no TLS
 * call since the previous tls_conn_trim() and nothing received and
 * unread; call it periodically. The pages come back, zeroed, when the next
 * record uses them. Returns the bytes released.
 */
size_t tls_conn_trim(struct tls_conn *tc);

/*
 * Bytes of the pages tls_conn_trim() releases that are resident in memory
 * now (mincore(2)): 0 after a trim until records use the buffers again.
 * For tests and diagnostics: it shows the trim's effect, not its intent.
 */
size_t tls_conn_resident(const struct tls_conn *tc);

/*
 * "TLSv1.2" or "TLSv1.3", and mbedTLS's name of the cipher suite
 * ("TLS-ECDHE-RSA-WITH-AES-256-GCM-SHA384"). NULL before the handshake.
 */
const char *tls_conn_version(const struct tls_conn *tc);
const char *tls_conn_cipher(const struct tls_conn *tc);

void tls_conn_free(struct tls_conn **tc);

/* Describes an mbedTLS error code into buf; returns buf. */
const char *tls_strerror(int err, char *buf, size_t len);

/* Whose fault a failed handshake was, for counting failures by reason. */
enum tls_error_kind {
	TLS_ERROR_PROTOCOL, /* the peer's: bytes that are no acceptable TLS, or its fatal alert */
	TLS_ERROR_CLOSED,   /* the peer ended the session with close_notify */
	TLS_ERROR_LOCAL,    /* ours: memory, randomness, an internal error */
};
/* The kind of an error tls_conn_handshake returned. */
enum tls_error_kind tls_error_kind(int err);

#endif
