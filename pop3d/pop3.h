/*
 * pop3.h - the POP3 daemon's sessions as main.c sees them: one process-wide
 * setup call and the connection handler to give the listeners.
 *
 *   pop3_init(&cfg, authlimit, err, sizeof(err));
 *   server_listen(srv, &cfg.pop3_listen, POP3_ROLE_PLAIN, false, &pop3_handler, ...);
 *   server_listen(srv, &cfg.pop3s_listen, POP3_ROLE_TLS, true, &pop3_handler, ...);
 *
 * Everything else (state machine, AUTHORIZATION, maildrop access, RETR
 * streaming) is internal to pop3d; see pop3_session.h.
 *
 * Test hook: the environment variable MAILTEST_POP3_LEASE_TTL (seconds, 3
 * to 3600, default 60; read only in MAIL_TEST_HOOKS builds) shortens the
 * maildrop lease so the end-to-end tests can watch a killed pop3d's lease
 * expire. It is not a configuration key on purpose: operators have no
 * reason to change it.
 */
#ifndef MAIL_POP3_H
#define MAIL_POP3_H

#include <stddef.h>

#include "config.h"
#include "conn.h"

struct authlimit;

/* Listener roles (conn_role). Both speak the same protocol; STLS is offered
 * wherever TLS is available and not yet active. */
enum pop3_role {
	POP3_ROLE_PLAIN = 1, /* pop3_listen: RFC 1939 with RFC 2595 STLS */
	POP3_ROLE_TLS = 2,   /* pop3s_listen: implicit TLS, RFC 8314 */
};

/* The reject line for connections over the server's limits (RFC 3206 SYS/TEMP). */
#define POP3_REJECT_LINE "-ERR [SYS/TEMP] too many connections, try again later\r\n"

/*
 * Sets up the process-wide session context: the configuration and the
 * per-address login failure table (kept by pointer: both must outlive
 * every session; the caller frees the table after the loop ends) and
 * the lease owner prefix (hostname:pid:start time). Returns 0, or -1 with a message in err when
 * MAILTEST_POP3_LEASE_TTL is malformed.
 */
int pop3_init(const struct mail_config *cfg, struct authlimit *authlimit, char *err,
              size_t errlen);

/*
 * Opens the loop's own read handle (STORE_OPEN_NOWAIT), through which small
 * messages are read without a thread-pool round trip. Call it once the
 * schema is up to date, as the service user; without it (it logs why),
 * every read goes through the pool. pop3_finish() closes it after the loop
 * has ended.
 */
void pop3_open_loop_store(void);
void pop3_finish(void);

/* The connection handler for both listeners. */
extern const struct conn_handler pop3_handler;

#endif
