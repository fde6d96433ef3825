/*
 * pop3_metrics.h - pop3d's counters, for GET /metrics (service_http.h;
 * pop3.h's pop3_metrics_render writes them).
 *
 * One struct per process, in the daemon's context. Counted on the loop
 * thread only: sessions run there, off-loop jobs are counted in their
 * done callbacks, and a duration measured on a worker travels back in
 * the job. So plain integers suffice.
 */
#ifndef MAIL_POP3_METRICS_H
#define MAIL_POP3_METRICS_H

#include <stdint.h>

#include "histogram.h"
#include "tls_metrics.h"

/*
 * Store operations timed for pop3_store_operation_seconds{op}, measured
 * around the store calls of one job (or of a read on the loop's handle).
 */
enum pop3_store_op {
	POP3_STORE_LOGIN,         /* "login": the user lookup of USER/PASS or AUTH, hash check excluded */
	POP3_STORE_MAILDROP_OPEN, /* "maildrop_open": lease (RFC 1939 8 lock) and snapshot */
	POP3_STORE_MESSAGE_READ,  /* "message_read": RETR/TOP's first batch, until the +OK can go */
	POP3_STORE_UPDATE,        /* "update": QUIT's deletes and lease release (RFC 1939 6) */
	POP3_STORE_OP_COUNT
};

struct pop3_metrics {
	uint64_t connections;        /* sessions opened since start */
	uint64_t sessions_open;      /* gauge */
	uint64_t logins;             /* successful logins */
	uint64_t login_failures;
	uint64_t messages_retrieved; /* RETR and TOP answers started */
	uint64_t bytes_retrieved;    /* the sizes of the messages RETR started */
	uint64_t messages_deleted;   /* deleted at QUIT (the UPDATE state) */
	struct tls_metrics tls;      /* STLS and pop3s handshakes by version, failures by reason */
	struct histogram store_ops[POP3_STORE_OP_COUNT]; /* microseconds */
};

/* A store operation that took `micros`, whatever its result. */
void pop3_metrics_count_store(struct pop3_metrics *m, enum pop3_store_op op, uint64_t micros);

#endif
