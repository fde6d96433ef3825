/*
 * smtp_client.h - the outbound SMTP client session (RFC 5321 as the
 * client): one connection to one address of a destination, carrying one
 * message after another for the queue runner.
 *
 *   greeting -> EHLO (HELO when EHLO is refused) -> STARTTLS and EHLO again
 *   (per the TLS policy) -> AUTH (a smarthost with a login) -> ready
 *   ready: ask the runner for a job -> MAIL, RCPT..., DATA (pipelined when
 *   offered, RFC 2920) -> the body (smtp_outbody.h) -> "." -> ready
 *   no job left, or the server stopping -> QUIT
 *
 * A job is one message to at most SMTP_JOB_RCPT_MAX recipients; the
 * session fills in each recipient's outcome (the remote reply, or our own
 * reason) and hands the job back, so the runner alone talks to the store
 * about outcomes. A recipient counts as delivered only after the remote
 * 250 to the final dot. Before the first job the session may fail (no
 * connection, a 4xx/5xx greeting, TLS required but absent): the runner
 * then tries the destination's next address.
 *
 * The session is built on the session core (session.h): states checked
 * against a table, stop at a command boundary on SIGTERM, off-loop reads of
 * the body with input paused.
 */
#ifndef SMTP_CLIENT_H
#define SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_retry.h"

struct server;
struct smtp_env;

/* RFC 5321 4.5.3.1.8: a server must take at least 100; we send no more than 50 at once. */
#define SMTP_JOB_RCPT_MAX 50

struct smtp_job_rcpt {
	int64_t queue_id;  /* the queue row */
	char address[256];
	int attempts;      /* before this one */
	bool delay_warned; /* the sender was told of the delay already */
	enum smtp_outcome outcome;
	bool done;         /* outcome is set */
	char status[16];   /* RFC 3463: "5.1.1" */
	char diagnostic[512]; /* "550 5.1.1 no such user" (the remote reply) or our reason */
	unsigned notify;   /* RFC 3461 NOTIFY (SMTP_NOTIFY_*), 0 when the sender gave none */
	char orcpt[512];   /* RFC 3461 ORCPT as given, or "" */
	bool report;       /* the runner's: this outcome goes into a report to the sender */
};

struct smtp_job {
	int64_t message_id;
	int64_t created;      /* when the message was queued (database clock) */
	char sender[256];     /* "" for the null sender */
	size_t rcpt_count;
	struct smtp_job_rcpt rcpts[SMTP_JOB_RCPT_MAX];
	char remote_mta[256]; /* the host that answered, once one did */
	bool remote_dsn;      /* it offered DSN: NOTIFY went along, it reports successes itself */
	int ret;              /* RFC 3461 RET (enum smtp_dsn_ret in smtp_parse.h), 0 when none */
	char envid[128];      /* RFC 3461 ENVID as given, or "" */
	struct smtp_job *next; /* the runner's list */
	void *dest;            /* the runner's destination */
};

/* Sets every recipient without an outcome to `outcome` with status and text. */
void smtp_job_settle(struct smtp_job *job, enum smtp_outcome outcome, const char *status,
                     const char *diagnostic);
void smtp_job_free(struct smtp_job *job);

/* Where and how to connect. */
struct smtp_client_target {
	char host[256];    /* name: SNI, the certificate check, logs, Remote-MTA */
	char ip[64];       /* the address dialled */
	unsigned port;
	int tls_policy;    /* enum config_tls_policy */
	const char *auth_user;     /* NULL: no AUTH */
	const char *auth_password;
};

/* What the session asks of its runner; all on the loop. */
struct smtp_client_ops {
	/* The next job for this destination, or NULL: then the session QUITs. */
	struct smtp_job *(*next_job)(void *owner, void *dest);
	/* A job is over: every recipient has its outcome. The runner owns it again. */
	void (*job_done)(void *owner, struct smtp_job *job);
	/*
	 * The connection is gone. `usable` tells whether it ever got as far
	 * as a job (else `reason` says why not, and the runner tries the next
	 * address).
	 */
	void (*closed)(void *owner, void *dest, bool usable, const char *reason);
};

/*
 * Dials target for the destination `dest`. Returns 0 (ops->closed follows,
 * exactly once), or -1 with a reason in err when nothing was started.
 */
int smtp_client_start(struct server *srv, struct smtp_env *env, const struct smtp_client_target *t,
                      const struct smtp_client_ops *ops, void *owner, void *dest, char *err,
                      size_t errlen);

#endif
