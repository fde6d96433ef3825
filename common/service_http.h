/*
 * service_http.h - the operator's HTTP endpoints on `metrics_listen`, in
 * both daemons, served on the loop:
 *
 *   GET /metrics   the daemon's counters in Prometheus' text format
 *                  (version 0.0.4: "# HELP", "# TYPE", samples)
 *   GET /healthz   200 "ok" when the store answers a cheap probe (run on
 *                  the thread pool), 503 with the reason while the daemon
 *                  drains after SIGTERM or when the store fails
 *
 * HTTP/1.0 and 1.1, one request per connection (Connection: close), a
 * request line and headers of at most SERVICE_HTTP_HEAD_MAX octets; HEAD
 * as GET without the body; anything else is 400, 404 or 405. The listener
 * is a server_listen_service one: outside the client limits.
 */
#ifndef MAIL_SERVICE_HTTP_H
#define MAIL_SERVICE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "store.h"

#define SERVICE_HTTP_HEAD_MAX 8192

/* A metrics page being written. */
struct metrics_text {
	char *buf;
	size_t len, cap;
	int failed; /* out of memory: the page is 500 */
	char family[96]; /* the family of the last sample, for its HELP and TYPE */
};

/*
 * Writes "# HELP" and "# TYPE" for the sample's family (type counter,
 * gauge or histogram) unless the previous call named it too, then one
 * sample: `name` is the family, optionally with labels
 * ("smtp_rejections_total{reason=\"relay\"}"); a histogram's samples end
 * in _bucket, _sum and _count.
 */
void metrics_sample(struct metrics_text *out, const char *name, const char *type,
                    const char *help, uint64_t value);
/* The same with the value as text ("0.125"). */
void metrics_sample_text(struct metrics_text *out, const char *name, const char *type,
                         const char *help, const char *value);

struct service_http {
	/* Writes the daemon's samples; ctx is the daemon's context (conn_context). */
	void (*render)(void *ctx, struct metrics_text *out);
	store_pool_t *pool; /* probed by /healthz (store_pool_probe) */
};

/*
 * The gauges of a pool of database connections (store.h), as
 * PREFIX_db_connections_open and so on; nothing for a backend whose
 * handles are not pooled (SQLite).
 */
void metrics_store_pool(struct metrics_text *out, const char *prefix, store_pool_t *pool);

/* The handler of the metrics listener; the listener's data is a struct service_http. */
extern const struct conn_handler service_http_handler;

#endif
