/*
 * pop3.h - the POP3 daemon's sessions as main.c sees them: the daemon's
 * context, made once the store is ready, and the connection handler to
 * give the listeners (common/daemon.h does the rest of the start-up).
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
#include "store.h"

struct authlimit;

/* Listener roles (conn_role). Both speak the same protocol; STLS is offered
 * wherever TLS is available and not yet active. */
enum pop3_role {
	POP3_ROLE_PLAIN = 1, /* pop3_listen: RFC 1939 with RFC 2595 STLS */
	POP3_ROLE_TLS = 2,   /* pop3s_listen: implicit TLS, RFC 8314 */
};

/* The reject line for connections over the server's limits (RFC 3206 SYS/TEMP). */
#define POP3_REJECT_LINE "-ERR [SYS/TEMP] too many connections, try again later\r\n"

struct pop3_context;

/*
 * Makes the context every session shares: the configuration, the
 * database's handles (store.h) and the per-address login failure table
 * (kept by pointer: all three must outlive it),
 * the lease owner prefix (hostname:pid:start time), and the loop's own
 * read handle (STORE_OPEN_NOWAIT), through which small messages are read
 * without a thread-pool round trip (without it, which is logged, every
 * read goes through the pool). Call it once the schema is up to date, as
 * the service user. Returns 0, or -1 with a message in err when
 * MAILTEST_POP3_LEASE_TTL is malformed; either way *ctx_r (possibly NULL)
 * is for pop3_context_free, after the loop has ended.
 */
int pop3_context_new(struct pop3_context **ctx_r, const struct mail_config *cfg,
                     store_pool_t *pool, struct authlimit *authlimit, char *err, size_t errlen);
void pop3_context_free(struct pop3_context **ctx);

/* The counters for GET /metrics (service_http.h); ctx is the pop3_context. */
struct metrics_text;
void pop3_metrics_render(void *ctx, struct metrics_text *out);

/* The connection handler for both listeners. */
extern const struct conn_handler pop3_handler;

#endif
