/*
 * bench_tls.h - mailbench's TLS client configuration (mbedTLS).
 *
 * The client does NOT verify the server's certificate: a benchmark runs
 * against throw-away servers with self-signed certificates on loopback,
 * and measures cost, not trust. Never reuse this configuration for a
 * client that talks to anything real.
 *
 * One struct bench_tls per process holds the RNG and the shared
 * mbedtls_ssl_config; each connection gets its own mbedtls_ssl_context
 * from bench_tls_session_new().
 */
#ifndef MAILBENCH_BENCH_TLS_H
#define MAILBENCH_BENCH_TLS_H

#include <stddef.h>

#include <mbedtls/ssl.h>

struct bench_tls;

/* Returns 0 and a new configuration in *tls_r, or -1 with a message in err. */
int bench_tls_init(struct bench_tls **tls_r, char *err, size_t errlen);

/* Frees the configuration (all sessions must be freed first); sets *tls to NULL. */
void bench_tls_free(struct bench_tls **tls);

/*
 * Returns a new client session bound to the shared configuration, with
 * "localhost" as server name (SNI; mbedTLS 3.6.3+ also wants one set), or
 * NULL when out of memory. The caller sets the BIO and frees it with
 * bench_tls_session_free().
 */
mbedtls_ssl_context *bench_tls_session_new(struct bench_tls *tls);
void bench_tls_session_free(mbedtls_ssl_context **ssl);

#endif
