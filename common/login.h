/*
 * login.h - checking a login, the same way in both daemons: the user is
 * looked up and the password verified on the thread pool (yescrypt costs
 * tens of milliseconds), and every failure is counted against the
 * connection and against the client's address (authlimit.h).
 *
 * An unknown or disabled user, a name that is no address, and a store
 * failure all cost one password check, like a wrong password, so the
 * time of an answer tells nothing about who exists or whether the store
 * is struggling. The password is copied into the job and wiped on every
 * path; the caller wipes its own copy.
 *
 *   if (login_locked_ms(al, conn) > 0)        refuse: login_failed(..., refused = true)
 *   login_start(conn, &req, done_cb);         ... done_cb(conn, login) on the loop
 *   LOGIN_FAIL: v = login_failed(...);        delay the answer by v.delay_ms,
 *                                             hang up if v.hang_up
 */
#ifndef MAIL_LOGIN_H
#define MAIL_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "sasl.h"
#include "store.h"

struct authlimit;
struct mail_config;

/* Longest password a client may send: a POP3 PASS line or a SASL field. */
#define LOGIN_PASSWORD_MAX 1024

enum login_result {
	LOGIN_OK,       /* the password matches an enabled user (and `extra` succeeded) */
	LOGIN_FAIL,     /* wrong password, unknown or disabled user, a name that is no address */
	LOGIN_TEMPFAIL, /* the store failed: a temporary error, no verdict on the password */
};

/*
 * Runs on the worker after a successful check, with the worker's store
 * handle and the user's address as stored: what the daemon needs besides
 * (smtpd: the addresses the user may send as). Returns STORE_OK or a store
 * error, which makes the login LOGIN_TEMPFAIL.
 */
typedef int login_extra_fn(store_t *store, const char *address, void *ctx);

struct login {
	/* The request, set by login_start. */
	const char *method;          /* for logs: "PLAIN", "LOGIN", "USER" (a static string) */
	char user[SASL_FIELD_MAX + 1];
	login_extra_fn *extra;       /* may be NULL */
	void *extra_ctx;             /* the daemon's; done frees it on every path */

	/* The outcome, for the done callback. */
	enum login_result result;
	int store_err;               /* LOGIN_TEMPFAIL: what failed (STORE_E*) */
	char error[256];             /* LOGIN_TEMPFAIL: the store's message */
	char address[SASL_FIELD_MAX + 1]; /* LOGIN_OK: the user's address as stored */
	/* The check ran (it was not cancelled at shutdown): store_micros is how
	 * long its store calls took, the password check excluded (histogram.h). */
	bool timed;
	uint64_t store_micros;

	/* Private to login.c. */
	store_pool_t *pool;
	char password[LOGIN_PASSWORD_MAX + 1];
	bool too_long;
	void (*done)(conn_t *conn, struct login *login);
};

/*
 * Starts checking user/password (pwlen octets, no NUL among them) on the
 * thread pool, with handles from the store's `pool`, which is not held
 * during the password check. done(conn, login) follows on the loop, with conn == NULL when the
 * client has gone (then it only frees extra_ctx); the login is freed
 * after done returns. Returns 0, or a negative error (conn_strerror) when
 * nothing was started.
 */
int login_start(conn_t *conn, store_pool_t *pool, const char *method, const char *user,
                const char *password, size_t pwlen, login_extra_fn *extra, void *extra_ctx,
                void (*done)(conn_t *conn, struct login *login));

/* Milliseconds the client's address stays locked out (authlimit.h), 0 when it may log in. */
unsigned long long login_locked_ms(struct authlimit *authlimit, conn_t *conn);

/* What a failed or refused login costs the client. */
struct login_verdict {
	unsigned delay_ms; /* answer after this long */
	bool hang_up;      /* the connection used up max_auth_failures: say so and close */
};

/*
 * Records a failed login (`why`: "credentials", a SASL error...) or, with
 * refused set, one refused because the address is locked out: it counts
 * against the connection (*failures, against max_auth_failures), and a
 * failure (not a refusal, which checked no password) against the address.
 * Logs auth_failed / auth_refused (and auth_lockout when this failure
 * starts one). A refusal waits auth_failure_delay_ms, so a refused guesser
 * cannot spin faster than a failing one.
 */
struct login_verdict login_failed(struct authlimit *authlimit, const struct mail_config *cfg,
                                  conn_t *conn, unsigned *failures, bool refused,
                                  const char *method, const char *user, const char *why);

#endif
