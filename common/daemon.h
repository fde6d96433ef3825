/*
 * daemon.h - the one start-up path of smtpd and pop3d.
 *
 * daemon_main() follows Postfix's order: parse "[-c FILE] [-h]", load and
 * validate the configuration, read the database's password
 * (db_password_file) while still privileged, create the server and the
 * per-address login failure table, bind the listeners, drop privileges,
 * bring the database
 * schema up to date as the service user (and say which stored addresses
 * need the operator), let the daemon make its context, then serve until
 * SIGTERM/SIGINT have drained the sessions. A daemon describes only what
 * is its own: listeners, connection handler, and three hooks.
 *
 * Exit statuses shared by smtpd, pop3d and mailctl (DESIGN.md): 0 success,
 * 1 runtime failure, 2 usage or configuration error.
 */
#ifndef MAIL_DAEMON_H
#define MAIL_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "conn.h"
#include "store.h"

#define DAEMON_EXIT_OK 0
#define DAEMON_EXIT_RUNTIME 1
#define DAEMON_EXIT_USAGE 2

/* conn_role of the metrics listener's connections (the daemons' own roles are small). */
#define DAEMON_ROLE_SERVICE 100

struct authlimit;
struct metrics_text;
struct server;

/* One listener key of the configuration. */
struct daemon_listener {
	const char *key;   /* "smtps_listen": for messages */
	size_t offset;     /* offsetof(struct mail_config, smtps_listen) */
	int role;          /* conn_role */
	bool implicit_tls; /* RFC 8314; skipped with a warning while no tls_cert is set */
};

/* What the start-up made, for the daemon's hooks; it outlives them. */
struct daemon {
	const char *name;
	const struct mail_config *cfg;
	struct server *srv;
	struct authlimit *authlimit;
	/* The process's handles on the database (store.h), with the password
	 * of db_password_file: every store handle of the daemon comes from it. */
	store_pool_t *pool;
};

struct daemon_def {
	const char *name;           /* "smtpd": messages and logs */
	enum config_program program;
	const char *usage;          /* -h text */
	const struct daemon_listener *listeners;
	size_t listener_count;
	const struct conn_handler *handler;
	const char *reject_line;    /* to connections over the limits */
	/*
	 * Once the schema is up to date, as the service user: makes the
	 * context every session reaches with conn_context(). Returns 0, or -1
	 * with a message in err (the daemon exits 1). Whatever it set in
	 * *ctx_r is given to finish either way.
	 */
	int (*start)(const struct daemon *d, void **ctx_r, char *err, size_t errlen);
	/* From the server's stop callback (every session closed): close loop handles. May be NULL. */
	void (*stop)(void *ctx);
	/* After the loop has ended and the server is freed: last words, then free the context. */
	void (*finish)(void *ctx);
	/* The daemon's samples for GET /metrics on metrics_listen (service_http.h), on the loop. */
	void (*metrics)(void *ctx, struct metrics_text *out);
};

/* Runs the daemon; returns main()'s exit status. */
int daemon_main(int argc, char **argv, const struct daemon_def *def);

#endif
