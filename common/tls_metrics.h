/*
 * tls_metrics.h - the TLS families both daemons export on GET /metrics
 * (service_http.h): handshakes completed, by the version negotiated, and
 * handshakes failed, by reason (conn.h's enum conn_tls_failure: a failed
 * handshake negotiated no version to label it with). Inbound
 * connections only, implicit TLS and STARTTLS/STLS alike.
 *
 * Counted on the loop thread (handler->open or ->tls_ready for a
 * success, handler->tls_failed for a failure): plain integers.
 */
#ifndef MAIL_TLS_METRICS_H
#define MAIL_TLS_METRICS_H

#include <stdint.h>

#include "conn.h"

struct metrics_text;

/* Versions counted apart: TLSv1.2, TLSv1.3, anything else. */
#define TLS_METRICS_VERSIONS 3

struct tls_metrics {
	uint64_t handshakes[TLS_METRICS_VERSIONS];
	uint64_t failures[CONN_TLS_FAIL_COUNT];
};

/* A handshake completed with `version` ("TLSv1.3", conn_tls_version; NULL counts as other). */
void tls_metrics_handshake(struct tls_metrics *m, const char *version);
/* A handshake failed. */
void tls_metrics_failure(struct tls_metrics *m, enum conn_tls_failure why);

/*
 * Writes PREFIX_tls_handshakes_total{version="..."} and
 * PREFIX_tls_handshake_failures_total{reason="..."}, every label value
 * always present (0 included), with HELP and TYPE. prefix: "smtp", "pop3".
 */
void tls_metrics_render(const struct tls_metrics *m, const char *prefix, struct metrics_text *out);

#endif
