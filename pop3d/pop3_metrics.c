/* pop3_metrics.c - pop3d's counters on GET /metrics; see pop3_metrics.h and pop3.h. */
#include "pop3_metrics.h"

#include <stdio.h>

#include "pop3.h"
#include "pop3_session.h"
#include "service_http.h"

static const char *const store_op_names[POP3_STORE_OP_COUNT] = {
	[POP3_STORE_LOGIN] = "login",
	[POP3_STORE_MAILDROP_OPEN] = "maildrop_open",
	[POP3_STORE_MESSAGE_READ] = "message_read",
	[POP3_STORE_UPDATE] = "update",
};

void pop3_metrics_count_store(struct pop3_metrics *m, enum pop3_store_op op, uint64_t micros)
{
	if ((unsigned)op < POP3_STORE_OP_COUNT)
		histogram_observe(&m->store_ops[op], &histogram_store_seconds, micros);
}

void pop3_metrics_render(void *ctx, struct metrics_text *out)
{
	const struct pop3_metrics *m = ((const struct pop3_context *)ctx)->metrics;

	metrics_sample(out, "pop3_connections_total", "counter", "POP3 sessions opened since start.",
	               m->connections);
	metrics_sample(out, "pop3_sessions_open", "gauge", "POP3 sessions open now.",
	               m->sessions_open);
	tls_metrics_render(&m->tls, "pop3", out);
	metrics_store_pool(out, "pop3", ((const struct pop3_context *)ctx)->pool);
	metrics_sample(out, "pop3_logins_total", "counter", "Successful POP3 logins.", m->logins);
	metrics_sample(out, "pop3_login_failures_total", "counter", "Failed POP3 logins.",
	               m->login_failures);
	metrics_sample(out, "pop3_messages_retrieved_total", "counter",
	               "RETR and TOP answers started.", m->messages_retrieved);
	metrics_sample(out, "pop3_retrieved_bytes_total", "counter",
	               "Octets of the messages RETR started.", m->bytes_retrieved);
	metrics_sample(out, "pop3_messages_deleted_total", "counter",
	               "Messages deleted at QUIT (RFC 1939 UPDATE state).", m->messages_deleted);
	histogram_render_by(m->store_ops, POP3_STORE_OP_COUNT, &histogram_store_seconds, out,
	                    "pop3_store_operation_seconds", "op", store_op_names,
	                    "Duration of store operations, failed ones included, by operation: "
	                    "login (password check excluded), maildrop_open (lease and snapshot), "
	                    "message_read (RETR/TOP until the first octets), update (QUIT's "
	                    "deletes and lease release).");
}
