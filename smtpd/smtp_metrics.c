/* smtp_metrics.c - names of the SMTP daemon's counters; see smtp_metrics.h. */
#include "smtp_metrics.h"

#include <stdio.h>
#include <string.h>

static const char *const reject_names[SMTP_REJECT_COUNT] = {
	[SMTP_REJECT_SYNTAX] = "syntax",
	[SMTP_REJECT_SEQUENCE] = "sequence",
	[SMTP_REJECT_LINE_TOO_LONG] = "line_too_long",
	[SMTP_REJECT_AUTH_REQUIRED] = "auth_required",
	[SMTP_REJECT_TLS_REQUIRED] = "tls_required",
	[SMTP_REJECT_SENDER] = "sender",
	[SMTP_REJECT_RELAY] = "relay",
	[SMTP_REJECT_UNKNOWN_USER] = "unknown_user",
	[SMTP_REJECT_ALIAS_LOOP] = "alias_loop",
	[SMTP_REJECT_RCPT_LIMIT] = "rcpt_limit",
	[SMTP_REJECT_SIZE] = "size",
	[SMTP_REJECT_HOPS] = "hops",
	[SMTP_REJECT_MAILBOX_FULL] = "mailbox_full",
	[SMTP_REJECT_OVER_QUOTA] = "over_quota",
	[SMTP_REJECT_TEMPFAIL] = "tempfail",
	[SMTP_REJECT_TOO_MANY_ERRORS] = "too_many_errors",
	[SMTP_REJECT_AUTH_FAILED] = "auth_failed",
	[SMTP_REJECT_TIMEOUT] = "timeout",
};

const char *smtp_metrics_reject_name(enum smtp_reject reason)
{
	if ((unsigned)reason >= SMTP_REJECT_COUNT)
		return "unknown";
	return reject_names[reason];
}

static const char *const listener_names[SMTP_METRICS_LISTENERS] = { "mx", "submission", "smtps" };
static const char *const tls_names[SMTP_METRICS_TLS_VERSIONS] = { "TLSv1.2", "TLSv1.3", "other" };

void smtp_metrics_count_session(struct smtp_metrics *m, int role, int delta)
{
	if (delta > 0) {
		m->connections++;
		m->sessions_open++;
	} else {
		m->sessions_open--;
	}
	if (role < 1 || role > SMTP_METRICS_LISTENERS)
		return;
	if (delta > 0) {
		m->listener_connections[role - 1]++;
		m->listener_sessions_open[role - 1]++;
	} else {
		m->listener_sessions_open[role - 1]--;
	}
}

void smtp_metrics_count_tls(struct smtp_metrics *m, const char *version)
{
	unsigned i = 2;
	if (version != NULL && strcmp(version, "TLSv1.2") == 0)
		i = 0;
	else if (version != NULL && strcmp(version, "TLSv1.3") == 0)
		i = 1;
	m->tls_handshakes++;
	m->tls_by_version[i]++;
}

/* Upper bounds of the commit duration buckets, in microseconds, and as Prometheus writes them (seconds). */
static const uint64_t commit_bounds[SMTP_METRICS_COMMIT_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};
static const char *const commit_le[SMTP_METRICS_COMMIT_BUCKETS] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1",
};
static const char *const end_names[SMTP_SESSION_END_COUNT] = {
	"quit", "timeout", "too_many_errors", "shutdown", "dropped",
};

void smtp_metrics_count_batch(struct smtp_metrics *m, size_t size, uint64_t micros)
{
	unsigned i = 0;
	while (i + 1 < SMTP_METRICS_BATCH_BUCKETS && size > ((size_t)1 << i))
		i++;
	m->commit_batches++;
	m->batch_buckets[i]++;
	m->batch_sum += size;
	for (i = 0; i < SMTP_METRICS_COMMIT_BUCKETS && micros > commit_bounds[i]; i++)
		;
	if (i < SMTP_METRICS_COMMIT_BUCKETS)
		m->commit_buckets[i]++;
	m->commit_micros += micros;
}

void smtp_metrics_foreach(const struct smtp_metrics *m, smtp_metrics_emit_fn *emit, void *ctx)
{
	char name[128];

	for (unsigned i = 0; i < SMTP_METRICS_LISTENERS; i++) {
		snprintf(name, sizeof(name), "smtp_connections_total{listener=\"%s\"}", listener_names[i]);
		emit(ctx, name, m->listener_connections[i]);
	}
	for (unsigned i = 0; i < SMTP_METRICS_LISTENERS; i++) {
		snprintf(name, sizeof(name), "smtp_sessions_open{listener=\"%s\"}", listener_names[i]);
		emit(ctx, name, m->listener_sessions_open[i]);
	}
	for (unsigned i = 0; i < SMTP_METRICS_TLS_VERSIONS; i++) {
		snprintf(name, sizeof(name), "smtp_tls_handshakes_total{version=\"%s\"}", tls_names[i]);
		emit(ctx, name, m->tls_by_version[i]);
	}
	/* Prometheus histograms: cumulative buckets, then sum and count. */
	uint64_t cumulative = 0;
	for (unsigned i = 0; i < SMTP_METRICS_BATCH_BUCKETS; i++) {
		cumulative += m->batch_buckets[i];
		snprintf(name, sizeof(name), "smtp_commit_batch_size_bucket{le=\"%u\"}", 1u << i);
		emit(ctx, name, cumulative);
	}
	emit(ctx, "smtp_commit_batch_size_bucket{le=\"+Inf\"}", cumulative);
	emit(ctx, "smtp_commit_batch_size_sum", m->batch_sum);
	emit(ctx, "smtp_commit_batch_size_count", cumulative);
	cumulative = 0;
	for (unsigned i = 0; i < SMTP_METRICS_COMMIT_BUCKETS; i++) {
		cumulative += m->commit_buckets[i];
		snprintf(name, sizeof(name), "smtp_commit_duration_seconds_bucket{le=\"%s\"}",
		         commit_le[i]);
		emit(ctx, name, cumulative);
	}
	emit(ctx, "smtp_commit_duration_seconds_bucket{le=\"+Inf\"}", m->commit_batches);
	/* The sum in microseconds: the metrics page writes it in seconds. */
	emit(ctx, "smtp_commit_duration_seconds_sum", m->commit_micros);
	emit(ctx, "smtp_commit_duration_seconds_count", m->commit_batches);
	for (unsigned i = 0; i < SMTP_SESSION_END_COUNT; i++) {
		snprintf(name, sizeof(name), "smtp_sessions_total{outcome=\"%s\"}", end_names[i]);
		emit(ctx, name, m->sessions_ended[i]);
	}
	emit(ctx, "smtp_queue_recipients{state=\"pending\"}", m->queue_pending);
	emit(ctx, "smtp_queue_recipients{state=\"failed\"}", m->queue_failed);
	emit(ctx, "smtp_queue_oldest_seconds", m->queue_oldest_seconds);
	emit(ctx, "smtp_messages_total", m->messages);
	emit(ctx, "smtp_message_bytes_total", m->message_bytes);
	emit(ctx, "smtp_recipients_total", m->recipients);
	emit(ctx, "smtp_commit_batches_total", m->commit_batches);
	emit(ctx, "smtp_auth_successes_total", m->auth_successes);
	emit(ctx, "smtp_auth_failures_total", m->auth_failures);
	emit(ctx, "smtp_outbound_total{outcome=\"sent\"}", m->outbound_sent);
	emit(ctx, "smtp_outbound_total{outcome=\"deferred\"}", m->outbound_deferred);
	emit(ctx, "smtp_outbound_total{outcome=\"bounced\"}", m->outbound_bounced);
	emit(ctx, "smtp_outbound_total{outcome=\"failed\"}", m->outbound_failed);
	for (unsigned i = 0; i < SMTP_REJECT_COUNT; i++) {
		snprintf(name, sizeof(name), "smtp_rejections_total{reason=\"%s\"}", reject_names[i]);
		emit(ctx, name, m->rejections[i]);
	}
}

static const struct {
	const char *family, *type, *help;
} families[] = {
	{ "smtp_connections_total", "counter", "SMTP sessions opened since start, by listener." },
	{ "smtp_sessions_open", "gauge", "SMTP sessions open now, by listener." },
	{ "smtp_tls_handshakes_total", "counter", "TLS handshakes completed (STARTTLS and implicit), by version." },
	{ "smtp_commit_batch_size", "histogram", "Messages per group commit (one store transaction and sync)." },
	{ "smtp_commit_duration_seconds", "histogram", "Duration of each group commit, its sync included." },
	{ "smtp_sessions_total", "counter", "SMTP sessions ended, by how they ended." },
	{ "smtp_queue_recipients", "gauge", "Outbound queue rows (one per remote recipient), by state." },
	{ "smtp_queue_oldest_seconds", "gauge", "Age of the oldest queued row, 0 when the queue is empty." },
	{ "smtp_messages_total", "counter", "Messages accepted and stored (250 after the data)." },
	{ "smtp_message_bytes_total", "counter", "Octets of the messages accepted, as the clients sent them." },
	{ "smtp_recipients_total", "counter", "RCPT commands accepted." },
	{ "smtp_commit_batches_total", "counter", "Store transactions that committed accepted messages (group commit)." },
	{ "smtp_auth_successes_total", "counter", "Successful AUTH commands." },
	{ "smtp_auth_failures_total", "counter", "Failed AUTH attempts." },
	{ "smtp_outbound_total", "counter", "Outbound recipients by outcome of their delivery attempt." },
	{ "smtp_rejections_total", "counter", "Commands and messages refused, by reason." },
};

void smtp_metrics_describe(const char *name, const char **type_r, const char **help_r)
{
	size_t len = strcspn(name, "{");
	/* A histogram's samples are its family's. */
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(suffixes[i]);
		if (len > n && strncmp(name + len - n, suffixes[i], n) == 0 &&
		    (strncmp(name, "smtp_commit_batch_size", len - n) == 0 ||
		     strncmp(name, "smtp_commit_duration_seconds", len - n) == 0))
			len -= n;
	}
	*type_r = "untyped";
	*help_r = "SMTP daemon counter.";
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strlen(families[i].family) == len && strncmp(families[i].family, name, len) == 0) {
			*type_r = families[i].type;
			*help_r = families[i].help;
		}
}
