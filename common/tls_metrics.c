/* tls_metrics.c - TLS handshakes and failures for GET /metrics; see tls_metrics.h. */
#include "tls_metrics.h"

#include <stdio.h>
#include <string.h>

#include "service_http.h"

static const char *const version_names[TLS_METRICS_VERSIONS] = { "TLSv1.2", "TLSv1.3", "other" };

void tls_metrics_handshake(struct tls_metrics *m, const char *version)
{
	unsigned i = TLS_METRICS_VERSIONS - 1;

	for (unsigned k = 0; version != NULL && k + 1 < TLS_METRICS_VERSIONS; k++)
		if (strcmp(version, version_names[k]) == 0)
			i = k;
	m->handshakes[i]++;
}

void tls_metrics_failure(struct tls_metrics *m, enum conn_tls_failure why)
{
	if ((unsigned)why < CONN_TLS_FAIL_COUNT)
		m->failures[why]++;
}

void tls_metrics_render(const struct tls_metrics *m, const char *prefix, struct metrics_text *out)
{
	char name[128];

	for (unsigned i = 0; i < TLS_METRICS_VERSIONS; i++) {
		snprintf(name, sizeof(name), "%s_tls_handshakes_total{version=\"%s\"}", prefix,
		         version_names[i]);
		metrics_sample(out, name, "counter",
		               "TLS handshakes completed (implicit TLS and STARTTLS/STLS), by version.",
		               m->handshakes[i]);
	}
	for (unsigned i = 0; i < CONN_TLS_FAIL_COUNT; i++) {
		snprintf(name, sizeof(name), "%s_tls_handshake_failures_total{reason=\"%s\"}", prefix,
		         conn_tls_failure_name((enum conn_tls_failure)i));
		metrics_sample(out, name, "counter",
		               "TLS handshakes that failed, by reason (no version: none was negotiated): "
		               "protocol (no acceptable TLS from the client, or its fatal alert), "
		               "timeout (handshake_timeout), closed (the client left mid-handshake), "
		               "other (our own failure).",
		               m->failures[i]);
	}
}
