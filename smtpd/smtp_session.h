/*
 * smtp_session.h - the SMTP server session (RFC 5321 with ESMTP extensions
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, SMTPUTF8,
 * STARTTLS and AUTH) as a conn_handler.
 *
 * main.c builds one struct smtp_env, the server's context
 * (server_set_context: every session finds it with conn_context), and
 * opens listeners with &smtp_session_handler and a role from enum
 * smtp_role. Everything else happens in the handler's callbacks on the
 * loop thread. The env outlives the loop.
 */
#ifndef SMTP_SESSION_H
#define SMTP_SESSION_H

#include "config.h"
#include "conn.h"
#include "smtp_metrics.h"
#include "store.h"

/* The listener roles (conn_role). */
enum smtp_role {
	SMTP_ROLE_MX = 1,         /* smtp_listen: local recipients from anyone, no AUTH */
	SMTP_ROLE_SUBMISSION = 2, /* submission_listen: AUTH required before MAIL (RFC 6409) */
	SMTP_ROLE_SMTPS = 3,      /* smtps_listen: as submission, implicit TLS (RFC 8314) */
};

struct authlimit;
struct smtp_committer;
struct smtp_queueid;
struct smtp_runner;

/* What every session shares: the read-only config, the counters, the
 * per-address login failure budget, the database's handles, and the
 * process's writers (owned by main.c; only lookup_store may be NULL). */
struct smtp_env {
	const struct mail_config *cfg;
	struct smtp_metrics metrics;
	struct authlimit *authlimit;
	store_pool_t *pool; /* the daemon's (daemon.h): worker jobs take their handles here */
	/* The loop's own read handle (STORE_OPEN_NOWAIT) for RCPT lookups; NULL
	 * when there is none (an error, or a backend whose handles cannot
	 * serve a loop). */
	store_t *lookup_store;
	struct smtp_queueid *queueids;    /* reserved message ids (smtp_queueid.h) */
	struct smtp_committer *committer; /* the group commit (smtp_commit.h) */
	struct smtp_runner *runner;       /* outbound delivery (smtp_runner.h) */
};

extern const struct conn_handler smtp_session_handler;

#endif
