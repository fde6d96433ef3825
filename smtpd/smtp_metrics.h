/*
 * smtp_metrics.h - counters of the SMTP daemon.
 *
 * One struct per process, owned by main.c and handed to the sessions in
 * struct smtp_env. Every counter is incremented on the loop thread only
 * (sessions run there; results of off-loop work are counted in their done
 * callbacks), so plain integers suffice. Readers (the log line at exit,
 * later the metrics listener) also run on the loop.
 *
 * Counters only ever grow, except `sessions_open`, a gauge.
 */
#ifndef SMTP_METRICS_H
#define SMTP_METRICS_H

#include <stddef.h>
#include <stdint.h>

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
/* TLS versions counted apart: 1.2, 1.3, anything else. */
#define SMTP_METRICS_TLS_VERSIONS 3
/* Group commit sizes: buckets of at most 1, 2, 4, ... 64 messages. */
#define SMTP_METRICS_BATCH_BUCKETS 7
/* Group commit durations: 1, 2.5, 5, 10, 25, 50, 100, 250, 1000 ms. */
#define SMTP_METRICS_COMMIT_BUCKETS 9

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
	uint64_t tls_handshakes;     /* STARTTLS upgrades and implicit TLS sessions */
	/* The same by listener, and handshakes by version (smtp_metrics_count_*). */
	uint64_t listener_connections[SMTP_METRICS_LISTENERS];
	uint64_t listener_sessions_open[SMTP_METRICS_LISTENERS];
	uint64_t tls_by_version[SMTP_METRICS_TLS_VERSIONS];
	/* Histogram of group commit sizes (messages per store transaction). */
	uint64_t batch_buckets[SMTP_METRICS_BATCH_BUCKETS]; /* not cumulative here */
	uint64_t batch_sum;
	/* Histogram of those transactions' durations (smtp_metrics_count_batch). */
	uint64_t commit_buckets[SMTP_METRICS_COMMIT_BUCKETS]; /* not cumulative here */
	uint64_t commit_micros;
	/* Sessions ended, by how (enum smtp_session_end). */
	uint64_t sessions_ended[SMTP_SESSION_END_COUNT];
	/* Gauges the metrics page fills from the queue just before it is written. */
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
/* A TLS handshake completed with `version` ("TLSv1.3"; NULL counts as other). */
void smtp_metrics_count_tls(struct smtp_metrics *m, const char *version);
/* A group commit of `size` messages that took `micros`. */
void smtp_metrics_count_batch(struct smtp_metrics *m, size_t size, uint64_t micros);

/* A stable snake_case name for a reject reason, for logs and metric labels. */
const char *smtp_metrics_reject_name(enum smtp_reject reason);

/*
 * Calls emit once per counter with a stable name ("smtp_messages_total",
 * "smtp_rejections_total{reason=\"relay\"}") and its value, in a fixed
 * order. The names follow Prometheus' text format so the metrics listener
 * can print them as they come.
 */
typedef void smtp_metrics_emit_fn(void *ctx, const char *name, uint64_t value);
void smtp_metrics_foreach(const struct smtp_metrics *m, smtp_metrics_emit_fn *emit, void *ctx);

/* The Prometheus type ("counter", "gauge") and help text of a name foreach gives. */
void smtp_metrics_describe(const char *name, const char **type_r, const char **help_r);

#endif
