/* smtp_metrics.c - the SMTP daemon's counters and how they are shown; see smtp_metrics.h. */
#include "smtp_metrics.h"

#include <stdio.h>

#include "service_http.h"

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
static const char *const end_names[SMTP_SESSION_END_COUNT] = {
	"quit", "timeout", "too_many_errors", "shutdown", "dropped",
};
static const char *const store_op_names[SMTP_STORE_OP_COUNT] = {
	[SMTP_STORE_RCPT] = "rcpt_resolve",
	[SMTP_STORE_AUTH] = "auth_lookup",
	[SMTP_STORE_QUEUE_CLAIM] = "queue_claim",
	[SMTP_STORE_QUEUE_REPORT] = "queue_report",
};

/* Group commit sizes: at most 1, 2, 4, ... 64 messages (SMTP_COMMIT_BATCH_MAX). */
static const struct histogram_layout batch_layout = {
	.bounds = { 1, 2, 4, 8, 16, 32, 64 },
	.count = 7,
	.scale = 1,
};
/* Group commit durations in microseconds: 1 ms to 1 s, shown in seconds. */
static const struct histogram_layout commit_layout = {
	.bounds = { 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000 },
	.count = 9,
	.scale = 1000000,
};

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

void smtp_metrics_count_batch(struct smtp_metrics *m, size_t size, uint64_t micros)
{
	m->commit_batches++;
	histogram_observe(&m->commit_size, &batch_layout, size);
	histogram_observe(&m->commit_duration, &commit_layout, micros);
}

void smtp_metrics_count_store(struct smtp_metrics *m, enum smtp_store_op op, uint64_t micros)
{
	if ((unsigned)op < SMTP_STORE_OP_COUNT)
		histogram_observe(&m->store_ops[op], &histogram_store_seconds, micros);
}

/* One sample per label value: family{label="names[i]"} values[i]. */
static void labelled(struct metrics_text *out, const char *family, const char *label,
                     const char *const *names, const uint64_t *values, size_t n,
                     const char *type, const char *help)
{
	char name[128];

	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s{%s=\"%s\"}", family, label, names[i]);
		metrics_sample(out, name, type, help, values[i]);
	}
}

void smtp_metrics_render(const struct smtp_metrics *m, struct metrics_text *out)
{
	labelled(out, "smtp_connections_total", "listener", listener_names, m->listener_connections,
	         SMTP_METRICS_LISTENERS, "counter", "SMTP sessions opened since start, by listener.");
	labelled(out, "smtp_sessions_open", "listener", listener_names, m->listener_sessions_open,
	         SMTP_METRICS_LISTENERS, "gauge", "SMTP sessions open now, by listener.");
	tls_metrics_render(&m->tls, "smtp", out);
	histogram_render(&m->commit_size, &batch_layout, out, "smtp_commit_batch_size", NULL,
	                 "Messages per group commit (one store transaction and sync).");
	histogram_render(&m->commit_duration, &commit_layout, out, "smtp_commit_duration_seconds",
	                 NULL, "Duration of each group commit, its sync included.");
	histogram_render_by(m->store_ops, SMTP_STORE_OP_COUNT, &histogram_store_seconds, out,
	                    "smtp_store_operation_seconds", "op", store_op_names,
	                    "Duration of store operations, failed ones included, by operation: "
	                    "rcpt_resolve, auth_lookup (password check excluded), queue_claim, "
	                    "queue_report.");
	labelled(out, "smtp_sessions_total", "outcome", end_names, m->sessions_ended,
	         SMTP_SESSION_END_COUNT, "counter", "SMTP sessions ended, by how they ended.");
	static const char *const queue_states[] = { "pending", "failed" };
	const uint64_t queue_rows[] = { m->queue_pending, m->queue_failed };
	labelled(out, "smtp_queue_recipients", "state", queue_states, queue_rows, 2, "gauge",
	         "Outbound queue rows (one per remote recipient), by state.");
	metrics_sample(out, "smtp_queue_oldest_seconds", "gauge",
	               "Age of the oldest queued row, 0 when the queue is empty.",
	               m->queue_oldest_seconds);
	metrics_sample(out, "smtp_messages_total", "counter",
	               "Messages accepted and stored (250 after the data).", m->messages);
	metrics_sample(out, "smtp_message_bytes_total", "counter",
	               "Octets of the messages accepted, as the clients sent them.", m->message_bytes);
	metrics_sample(out, "smtp_recipients_total", "counter", "RCPT commands accepted.",
	               m->recipients);
	metrics_sample(out, "smtp_commit_batches_total", "counter",
	               "Store transactions that committed accepted messages (group commit).",
	               m->commit_batches);
	metrics_sample(out, "smtp_auth_successes_total", "counter", "Successful AUTH commands.",
	               m->auth_successes);
	metrics_sample(out, "smtp_auth_failures_total", "counter", "Failed AUTH attempts.",
	               m->auth_failures);
	static const char *const outcomes[] = { "sent", "deferred", "bounced", "failed" };
	const uint64_t outbound[] = { m->outbound_sent, m->outbound_deferred, m->outbound_bounced,
		                      m->outbound_failed };
	labelled(out, "smtp_outbound_total", "outcome", outcomes, outbound, 4, "counter",
	         "Outbound recipients by outcome of their delivery attempt.");
	labelled(out, "smtp_rejections_total", "reason", reject_names, m->rejections,
	         SMTP_REJECT_COUNT, "counter", "Commands and messages refused, by reason.");
}
