/*
 * smtp_metrics.h - counters of the SMTP daemon.
 *
 * One struct per process, owned by main.c and handed to the sessions in
 * struct smtp_env. Every counter is incremented on the loop thread only
 * (sessions run there; results of off-loop work are counted in their done
 * callbacks, durations measured there travel back with the result), so
 * plain integers suffice. Readers (the log lines at exit, the metrics
 * listener) also run on the loop.
 *
 * Counters only ever grow, except `sessions_open`, a gauge.
 */
#ifndef SMTP_METRICS_H
#define SMTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "tls_metrics.h"

struct metrics_text;

/* Why a command or message was refused; one counter each. */
enum smtp_reject {
	SMTP_REJECT_SYNTAX,        /* 500/501/555: unparsable command or argument; 502: not implemented */
	SMTP_REJECT_SEQUENCE,      /* 503: command out of order */
	SMTP_REJECT_LINE_TOO_LONG, /* 500 5.5.2 */
	SMTP_REJECT_AUTH_REQUIRED, /* 530 on the submission listeners */
	SMTP_REJECT_TLS_REQUIRED,  /* 538: AUTH before TLS */
	SMTP_REJECT_AUTH_FAILED,   /* 535, and the 421 after max_auth_failures */
	SMTP_REJECT_SENDER,        /* 553: sender not owned by the authenticated user */
	SMTP_REJECT_RELAY,         /* 554 5.7.1 relay access denied */
	SMTP_REJECT_UNKNOWN_USER,  /* 550 5.1.1 */
	SMTP_REJECT_ALIAS_LOOP,    /* 550 5.4.6: the recipient's aliases loop */
	SMTP_REJECT_RCPT_LIMIT,    /* 452 4.5.3 too many recipients */
	SMTP_REJECT_SIZE,          /* 552 5.3.4 message too big */
	SMTP_REJECT_HOPS,          /* 554 5.4.6 too many Received: fields (a mail loop) */
	SMTP_REJECT_MAILBOX_FULL,  /* 452 4.2.2 at RCPT or after DATA: a mailbox's quota */
	SMTP_REJECT_OVER_QUOTA,    /* 552 5.2.2: larger than a mailbox's whole quota */
	SMTP_REJECT_TEMPFAIL,      /* 451/452: our own failure (store, disk) */
	SMTP_REJECT_TOO_MANY_ERRORS, /* 421 hang-up after the error limit */
	SMTP_REJECT_TIMEOUT,       /* 421 4.4.2 idle timeout */
	SMTP_REJECT_COUNT
};

/* Listeners (enum smtp_role - 1), for labels. */
#define SMTP_METRICS_LISTENERS 3

/*
 * Store operations timed for smtp_store_operation_seconds{op}, where the
 * store call is made (the lookup handle on the loop, a pool job, the
 * committer thread) and counted when the result is back on the loop. The
 * group commit has its own histogram (smtp_commit_duration_seconds).
 */
enum smtp_store_op {
	SMTP_STORE_RCPT,         /* "rcpt_resolve": RCPT's resolution and quota check */
	SMTP_STORE_AUTH,         /* "auth_lookup": AUTH's user (and sender addresses) lookup, hash check excluded */
	SMTP_STORE_QUEUE_CLAIM,  /* "queue_claim": the runner claims queue rows */
	SMTP_STORE_QUEUE_REPORT, /* "queue_report": the runner writes a delivery's outcomes */
	SMTP_STORE_OP_COUNT
};

/* How a session ended. */
enum smtp_session_end {
	SMTP_SESSION_END_QUIT,            /* the client said QUIT */
	SMTP_SESSION_END_TIMEOUT,         /* idle or login deadline */
	SMTP_SESSION_END_TOO_MANY_ERRORS, /* the hard error limit */
	SMTP_SESSION_END_SHUTDOWN,        /* closed by the drain after SIGTERM */
	SMTP_SESSION_END_DROPPED,         /* the client went away without QUIT */
	SMTP_SESSION_END_COUNT
};

struct smtp_metrics {
	uint64_t connections;        /* sessions opened since start */
	uint64_t sessions_open;      /* gauge: sessions open now */
	/* The same by listener (smtp_metrics_count_session). */
	uint64_t listener_connections[SMTP_METRICS_LISTENERS];
	uint64_t listener_sessions_open[SMTP_METRICS_LISTENERS];
	/* STARTTLS upgrades and implicit TLS sessions by version, failed handshakes by reason. */
	struct tls_metrics tls;
	/* Group commits: messages per store transaction, and its duration in
	 * microseconds (smtp_metrics_count_batch). */
	struct histogram commit_size;
	struct histogram commit_duration;
	/* Other store operations, microseconds (smtp_metrics_count_store). */
	struct histogram store_ops[SMTP_STORE_OP_COUNT];
	/* Sessions ended, by how (enum smtp_session_end). */
	uint64_t sessions_ended[SMTP_SESSION_END_COUNT];
	/* Gauges of the queue: the metrics page reads them just before it is
	 * written where the loop may read the store (SQLite); elsewhere
	 * (PostgreSQL) the runner reads them after each claim, so they are
	 * as of the last scan (queue_scan_interval). */
	uint64_t queue_pending;
	uint64_t queue_failed;
	uint64_t queue_oldest_seconds;
	uint64_t messages;           /* messages committed (250 sent after DATA/BDAT LAST) */
	uint64_t message_bytes;      /* client octets of those messages (trace headers excluded) */
	uint64_t recipients;         /* RCPT commands accepted */
	uint64_t commit_batches;     /* store_deliver_batch calls that carried our messages */
	uint64_t auth_successes;
	uint64_t auth_failures;
	uint64_t rejections[SMTP_REJECT_COUNT];
	/* Outbound delivery, per recipient (smtp_runner.c). */
	uint64_t outbound_sent;     /* a 2xx to the final dot */
	uint64_t outbound_deferred; /* tried again later */
	uint64_t outbound_bounced;  /* failed and reported to the sender */
	uint64_t outbound_failed;   /* failed, no report (the null sender, NOTIFY=NEVER) */
};

/* A session opened (+1) or closed (-1) on the listener of `role` (enum smtp_role). */
void smtp_metrics_count_session(struct smtp_metrics *m, int role, int delta);
/* A group commit of `size` messages that took `micros`. */
void smtp_metrics_count_batch(struct smtp_metrics *m, size_t size, uint64_t micros);
/* A store operation that took `micros`, whatever its result. */
void smtp_metrics_count_store(struct smtp_metrics *m, enum smtp_store_op op, uint64_t micros);

/* A stable snake_case name for a reject reason, for logs and metric labels. */
const char *smtp_metrics_reject_name(enum smtp_reject reason);

/*
 * Writes every family in Prometheus' text format, each with HELP and
 * TYPE, label values always present (0 included) and in a fixed order:
 * GET /metrics, and the debug lines logged at exit.
 */
void smtp_metrics_render(const struct smtp_metrics *m, struct metrics_text *out);

#endif
