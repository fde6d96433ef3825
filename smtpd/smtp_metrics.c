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

void smtp_metrics_foreach(const struct smtp_metrics *m, smtp_metrics_emit_fn *emit, void *ctx)
{
	emit(ctx, "smtp_connections_total", m->connections);
	emit(ctx, "smtp_sessions_open", m->sessions_open);
	emit(ctx, "smtp_tls_handshakes_total", m->tls_handshakes);
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
		char name[96];

		snprintf(name, sizeof(name), "smtp_rejections_total{reason=\"%s\"}", reject_names[i]);
		emit(ctx, name, m->rejections[i]);
	}
}

static const struct {
	const char *family, *type, *help;
} families[] = {
	{ "smtp_connections_total", "counter", "SMTP sessions opened since start." },
	{ "smtp_sessions_open", "gauge", "SMTP sessions open now." },
	{ "smtp_tls_handshakes_total", "counter", "TLS handshakes completed (STARTTLS and implicit)." },
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
	*type_r = "untyped";
	*help_r = "SMTP daemon counter.";
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strlen(families[i].family) == len && strncmp(families[i].family, name, len) == 0) {
			*type_r = families[i].type;
			*help_r = families[i].help;
		}
}
