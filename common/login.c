/* login.c - the login check and the failed-login budget; see login.h. */
#include "login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "authlimit.h"
#include "config.h"
#include "log.h"
#include "password.h"

static void free_login(struct login *login)
{
	explicit_bzero(login, sizeof(*login));
	free(login);
}

/* On a worker: the lookup and the one password check every attempt pays for. */
static void check_work(void *arg)
{
	struct login *login = arg;
	struct store_user user;
	const char *hash = NULL;

	memset(&user, 0, sizeof(user));
	store_t *store = store_pool_acquire(login->pool, login->error, sizeof(login->error));
	uint64_t started = uv_hrtime();
	int rc = store != NULL ? store_user_get(store, login->user, &user) : STORE_EIO;
	login->store_micros = (uv_hrtime() - started) / 1000;
	login->timed = true;

	if (rc == STORE_OK && !user.disabled && !login->too_long)
		hash = user.hash;
	/* A name that is no address at all (EINVAL) names nobody: a failure, never temporary. */
	else if (rc != STORE_OK && rc != STORE_ENOTFOUND && rc != STORE_EINVAL)
		login->store_err = rc;
	if (login->store_err != STORE_OK && store != NULL)
		snprintf(login->error, sizeof(login->error), "%s", store_errmsg(store));
	/* The hash check takes long and needs no handle: another job may use it meanwhile. */
	store_pool_release(login->pool, &store);
	/* Unknown, disabled and store failures all pay for one hash check. */
	int ok = password_verify(login->password, hash);
	explicit_bzero(login->password, sizeof(login->password));

	if (login->store_err != STORE_OK) {
		login->result = LOGIN_TEMPFAIL;
	} else if (ok != 1 || hash == NULL) {
		login->result = LOGIN_FAIL;
	} else {
		snprintf(login->address, sizeof(login->address), "%s", user.address);
		rc = STORE_OK;
		if (login->extra != NULL) {
			store = store_pool_acquire(login->pool, login->error, sizeof(login->error));
			started = uv_hrtime();
			rc = store != NULL ? login->extra(store, user.address, login->extra_ctx)
			                   : STORE_EIO;
			if (rc != STORE_OK && store != NULL)
				snprintf(login->error, sizeof(login->error), "%s", store_errmsg(store));
			store_pool_release(login->pool, &store);
			login->store_micros += (uv_hrtime() - started) / 1000;
		}
		if (rc != STORE_OK) {
			login->result = LOGIN_TEMPFAIL;
			login->store_err = rc;
		} else {
			login->result = LOGIN_OK;
		}
	}
	explicit_bzero(&user, sizeof(user));
}

static void check_done(conn_t *conn, void *arg, int status)
{
	struct login *login = arg;

	if (status != 0 && conn != NULL) {
		/* Cancelled at shutdown: the check never ran. */
		login->result = LOGIN_TEMPFAIL;
		login->store_err = STORE_EIO;
		snprintf(login->error, sizeof(login->error), "%s", conn_strerror(status));
	}
	login->done(conn, login);
	free_login(login);
}

int login_start(conn_t *conn, store_pool_t *pool, const char *method, const char *user,
                const char *password, size_t pwlen, login_extra_fn *extra, void *extra_ctx,
                void (*done)(conn_t *conn, struct login *login))
{
	struct login *login = calloc(1, sizeof(*login));
	if (login == NULL)
		return UV_ENOMEM;
	login->pool = pool;
	login->method = method;
	snprintf(login->user, sizeof(login->user), "%s", user);
	/* Longer than any line can carry: checked (for the time) as an empty one, never matched. */
	login->too_long = pwlen > LOGIN_PASSWORD_MAX;
	if (!login->too_long)
		memcpy(login->password, password, pwlen);
	login->extra = extra;
	login->extra_ctx = extra_ctx;
	login->done = done;
	int rc = conn_queue_work(conn, check_work, check_done, login);
	if (rc != 0)
		free_login(login);
	return rc;
}

unsigned long long login_locked_ms(struct authlimit *authlimit, conn_t *conn)
{
	return authlimit_locked_ms(authlimit, conn_peer_ip(conn));
}

struct login_verdict login_failed(struct authlimit *authlimit, const struct mail_config *cfg,
                                  conn_t *conn, unsigned *failures, bool refused,
                                  const char *method, const char *user, const char *why)
{
	struct login_verdict v = { .delay_ms = cfg->auth_failure_delay_ms };
	char esc[SASL_FIELD_MAX * 2];

	log_escape(esc, sizeof(esc), user, strlen(user));
	++*failures;
	if (refused) {
		log_info(conn_id(conn), "auth_refused",
		         "method=%s user=%s reason=lockout retry_in_ms=%llu failures=%u", method, esc,
		         login_locked_ms(authlimit, conn), *failures);
	} else {
		struct authlimit_result limit;

		authlimit_fail(authlimit, conn_peer_ip(conn), &limit);
		v.delay_ms = limit.delay_ms;
		log_info(conn_id(conn), "auth_failed",
		         "method=%s user=%s reason=\"%s\" failures=%u ip_failures=%u delay_ms=%u",
		         method, esc, why, *failures, limit.failures, limit.delay_ms);
		if (limit.locked)
			log_info(conn_id(conn), "auth_lockout", "ip=%s failures=%u seconds=%u",
			         conn_peer_ip(conn), limit.failures, cfg->auth_lockout);
	}
	v.hang_up = *failures >= cfg->max_auth_failures;
	return v;
}
