/*
 * smtp_session.h - the SMTP server session (RFC 5321 with ESMTP extensions
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, SMTPUTF8,
 * STARTTLS and AUTH) as a conn_handler.
 *
 * main.c fills one struct smtp_env, calls smtp_session_setup() once, then
 * opens listeners with &smtp_session_handler and a role from enum
 * smtp_role. Everything else happens in the handler's callbacks on the loop
 * thread. The env must outlive the loop.
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

/* What every session shares: the read-only config, the counters and the
 * per-address login failure budget (owned by main.c, never NULL). */
struct smtp_env {
	const struct mail_config *cfg;
	struct smtp_metrics metrics;
	struct authlimit *authlimit;
	/* The loop's own read handle (STORE_OPEN_NOWAIT) for RCPT lookups; may be NULL. */
	store_t *lookup_store;
};

/* Registers the env the sessions use. Call once before server_run(). */
void smtp_session_setup(struct smtp_env *env);

extern const struct conn_handler smtp_session_handler;

#endif
