/*
 * smtp_auth.c - SMTP AUTH (RFC 4954) with the SASL mechanisms PLAIN
 * (RFC 4616) and LOGIN, on the submission roles only.
 *
 * The password check runs on a worker thread (yescrypt costs tens of
 * milliseconds); an unknown or disabled user costs the same as a wrong
 * password (password_verify with a NULL hash). Every failure is answered
 * after a delay that grows with the client address's recent failures
 * (common/authlimit.h); an address that used up its budget is refused
 * with 454 before any password is checked. After max_auth_failures on one
 * connection (refusals included) the client hears 421 and is
 * disconnected. On success the addresses the user may send as are fetched
 * in the same job, so MAIL can check its sender without another round
 * trip.
 *
 * Credentials are never logged; the decoded password lives only in the
 * job and is wiped when the job ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authlimit.h"
#include "log.h"
#include "password.h"
#include "sasl.h"
#include "smtp_session_private.h"
#include "store.h"

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

/* The SASL exchange between the AUTH command and the password check. */
struct smtp_sasl {
	enum sasl_mech mech;
	bool have_username;                 /* LOGIN: the username step is done */
	char username[SASL_FIELD_MAX + 1];  /* LOGIN */
};

/* A password check on a worker thread; owned by the work until done runs. */
struct auth_job {
	const char *db_path;
	const char *mech;
	char username[SASL_FIELD_MAX + 1];
	char password[SASL_FIELD_MAX + 1];
	/* Results. */
	bool ok;
	int rc;                              /* a store failure: temporary (454) */
	char err[256];
	char address[256];                   /* the user's address as stored (struct store_user) */
	struct smtp_senders senders;
};

bool smtp_auth_offered(const struct smtp_session *s)
{
	/* RFC 4954 4 and RFC 8314: never offer passwords over plaintext unless allowed. */
	return smtp_session_needs_auth(s) &&
	       (conn_tls_active(s->conn) || s->env->cfg->allow_plaintext_auth);
}

static void senders__free(struct smtp_senders *senders)
{
	free(senders->addr);
	senders->addr = NULL;
	senders->count = 0;
}

static void sasl__free(struct smtp_session *s)
{
	if (s->sasl == NULL)
		return;
	explicit_bzero(s->sasl, sizeof(*s->sasl));
	free(s->sasl);
	s->sasl = NULL;
}

void smtp_auth_reset(struct smtp_session *s)
{
	sasl__free(s);
	senders__free(&s->senders);
	s->authenticated = false;
	s->auth_user[0] = '\0';
	if (smtp_session_state(s) == SMTP_STATE_AUTH)
		smtp_session_enter_state(s, SMTP_STATE_READY);
}

static void job__free(struct auth_job *job)
{
	senders__free(&job->senders);
	explicit_bzero(job, sizeof(*job));
	free(job);
}

/* ---- the check, off the loop ----------------------------------------- */

static void job__sender_cb(void *ctx, const char *address)
{
	struct smtp_senders *senders = ctx;
	char (*addr)[SMTP_MAILBOX_MAX + 1] = realloc(senders->addr,
	                                            (senders->count + 1) * sizeof(*addr));

	if (addr == NULL)
		return; /* that alias cannot be used as sender: a refusal, never a wrong accept */
	senders->addr = addr;
	snprintf(addr[senders->count], sizeof(addr[0]), "%s", address);
	senders->count++;
}

static void job__work(void *arg)
{
	struct auth_job *job = arg;
	struct store_user user;
	store_t *store = store_thread_handle(job->db_path, 0, job->err, sizeof(job->err));

	if (store == NULL) {
		job->rc = STORE_EIO;
		return;
	}
	int rc = store_user_get(store, job->username, &user);
	/* A login name that is no address at all (EINVAL) names nobody: a
	 * failed login like any other, never a temporary error. */
	if (rc == STORE_ENOTFOUND || rc == STORE_EINVAL || (rc == STORE_OK && user.disabled)) {
		password_verify(job->password, NULL); /* same cost as a real check */
	} else if (rc != STORE_OK) {
		job->rc = rc;
		snprintf(job->err, sizeof(job->err), "%s", store_errmsg(store));
	} else if (password_verify(job->password, user.hash) == 1) {
		snprintf(job->address, sizeof(job->address), "%s", user.address);
		rc = store_user_sender_addresses(store, user.address, job__sender_cb, &job->senders);
		if (rc != STORE_OK) {
			job->rc = rc;
			snprintf(job->err, sizeof(job->err), "%s", store_errmsg(store));
		} else {
			job->ok = true;
		}
	}
	explicit_bzero(job->password, sizeof(job->password));
	explicit_bzero(&user, sizeof(user));
}

/* ---- outcomes ----------------------------------------------------------- */

/* Counts a failed or refused login on this connection; at max_auth_failures
 * sends the 421 and returns true (the session is closing). */
static bool auth__count_failure(struct smtp_session *s)
{
	const struct mail_config *cfg = s->env->cfg;

	s->auth_failures++;
	s->env->metrics.auth_failures++;
	if (s->auth_failures < cfg->max_auth_failures)
		return false;
	smtp_reply(s, 421, "4.7.0", "%s Error: too many authentication failures", cfg->hostname);
	smtp_session_enter_state(s, SMTP_STATE_CLOSING);
	return true;
}

static void auth__failed(struct smtp_session *s, const char *mech, const char *username,
                         const char *why)
{
	struct authlimit_result limit;
	char user[SASL_FIELD_MAX * 2];

	authlimit_fail(s->env->authlimit, conn_peer_ip(s->conn), &limit);
	log_info(s->id, "auth_failed", "mech=%s user=%s reason=\"%s\" failures=%u ip_failures=%u "
	         "delay_ms=%u", mech, log_escape(user, sizeof(user), username, strlen(username)),
	         why, s->auth_failures + 1, limit.failures, limit.delay_ms);
	if (limit.locked)
		log_info(s->id, "auth_lockout", "ip=%s failures=%u seconds=%u",
		         conn_peer_ip(s->conn), limit.failures, s->env->cfg->auth_lockout);
	session_delay_next(&s->core, limit.delay_ms);
	if (!auth__count_failure(s))
		smtp_reply(s, 535, "5.7.8", "Error: authentication credentials invalid");
}

/*
 * The client's address is locked out (authlimit.h): refused without a
 * password check, after the base failure delay so a refused guesser
 * cannot spin faster than a failing one.
 */
static void auth__refused(struct smtp_session *s, const char *mech, const char *username,
                          uint64_t locked_ms)
{
	char user[SASL_FIELD_MAX * 2];

	log_info(s->id, "auth_refused", "mech=%s user=%s reason=lockout retry_in_ms=%llu", mech,
	         log_escape(user, sizeof(user), username, strlen(username)),
	         (unsigned long long)locked_ms);
	smtp_session_reject(s, SMTP_REJECT_TEMPFAIL);
	session_delay_next(&s->core, s->env->cfg->auth_failure_delay_ms);
	if (!auth__count_failure(s))
		smtp_reply(s, 454, "4.7.0", "Error: too many failed logins from your address, "
		           "try again later");
}

static void job__done(conn_t *conn, void *arg, int status)
{
	struct auth_job *job = arg;

	if (conn == NULL) {
		job__free(job);
		return;
	}
	struct smtp_session *s = conn_data(conn);
	char user[SASL_FIELD_MAX * 2];

	if (status != 0 || job->rc != 0) {
		log_error(s->id, "auth_error", "error=\"%s\" detail=\"%s\"",
		          store_strerror(job->rc != 0 ? job->rc : STORE_EIO), job->err);
		smtp_session_reject(s, SMTP_REJECT_TEMPFAIL);
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
	} else if (job->ok) {
		s->authenticated = true;
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", job->address);
		s->senders = job->senders;
		job->senders = (struct smtp_senders){ 0 };
		s->env->metrics.auth_successes++;
		conn_login_done(s->conn);
		log_info(s->id, "auth", "mech=%s user=%s senders=%zu", job->mech,
		         log_escape(user, sizeof(user), s->auth_user, strlen(s->auth_user)),
		         s->senders.count);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
	} else {
		auth__failed(s, job->mech, job->username, "credentials");
	}
	job__free(job);
	session_done(&s->core);
}

/* Starts the password check; takes the credentials (the caller wipes its copies). */
static void auth__check(struct smtp_session *s, const char *mech, const char *username,
                        const char *password)
{
	sasl__free(s);
	smtp_session_enter_state(s, SMTP_STATE_READY);
	uint64_t locked_ms = authlimit_locked_ms(s->env->authlimit, conn_peer_ip(s->conn));
	if (locked_ms > 0) {
		auth__refused(s, mech, username, locked_ms);
		return;
	}
	struct auth_job *job = calloc(1, sizeof(*job));
	if (job != NULL) {
		job->db_path = s->env->cfg->db;
		job->mech = mech;
		snprintf(job->username, sizeof(job->username), "%s", username);
		snprintf(job->password, sizeof(job->password), "%s", password);
		if (session_queue_work(&s->core, job__work, job__done, job) == 0)
			return;
		job__free(job);
	}
	smtp_session_reject(s, SMTP_REJECT_TEMPFAIL);
	smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
}

/* A response that cannot be decoded, or the client gave up: the exchange is over. */
static void auth__abort(struct smtp_session *s, int code, const char *esc, const char *text)
{
	sasl__free(s);
	smtp_session_enter_state(s, SMTP_STATE_READY);
	smtp_session_reject(s, SMTP_REJECT_SYNTAX);
	smtp_reply(s, code, esc, "%s", text);
}

/* One base64 client response for the exchange in s->sasl. */
static void auth__step(struct smtp_session *s, const char *b64, size_t len)
{
	struct smtp_sasl *sasl = s->sasl;

	if (sasl->mech == SASL_MECH_PLAIN) {
		struct sasl_plain plain;
		int r = sasl_plain_decode(b64, len, &plain);

		if (r == SASL_EBASE64) {
			auth__abort(s, 501, "5.5.2", "Error: cannot decode response");
		} else if (r != SASL_OK) {
			sasl__free(s);
			smtp_session_enter_state(s, SMTP_STATE_READY);
			auth__failed(s, "PLAIN", "", sasl_strerror(r));
		} else if (!sasl_plain_authzid_ok(&plain)) {
			/* We never let one user act for another (RFC 4616 2). */
			sasl__free(s);
			smtp_session_enter_state(s, SMTP_STATE_READY);
			auth__failed(s, "PLAIN", plain.authcid, "authzid");
		} else {
			auth__check(s, "PLAIN", plain.authcid, plain.passwd);
		}
		sasl_plain_clear(&plain);
		return;
	}

	char field[SASL_FIELD_MAX + 1];
	int r = sasl_login_decode(b64, len, field, sizeof(field));
	if (r == SASL_EBASE64) {
		auth__abort(s, 501, "5.5.2", "Error: cannot decode response");
	} else if (r != SASL_OK) {
		char username[SASL_FIELD_MAX + 1];

		snprintf(username, sizeof(username), "%s", sasl->username);
		sasl__free(s);
		smtp_session_enter_state(s, SMTP_STATE_READY);
		auth__failed(s, "LOGIN", username, sasl_strerror(r));
	} else if (!sasl->have_username) {
		memcpy(sasl->username, field, sizeof(sasl->username));
		sasl->have_username = true;
		smtp_session_enter_state(s, SMTP_STATE_AUTH);
		smtp_reply(s, 334, NULL, SASL_LOGIN_CHALLENGE_PASSWORD);
	} else {
		char username[SASL_FIELD_MAX + 1];

		memcpy(username, sasl->username, sizeof(username));
		auth__check(s, "LOGIN", username, field);
	}
	explicit_bzero(field, sizeof(field));
}

void smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	if (sasl_is_cancel(line, len)) {
		/* RFC 4954 4: "*" cancels the exchange with 501. */
		auth__abort(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	auth__step(s, line, len);
}

/* ---- the command --------------------------------------------------------- */

static bool auth__check_command(struct smtp_session *s, struct smtp_refusal *r)
{
	if (!smtp_session_needs_auth(s)) {
		/* The MX listener never offers AUTH (DESIGN.md). */
		*r = (struct smtp_refusal){ 503, "5.5.1", "Error: authentication not enabled",
		                            SMTP_REJECT_SEQUENCE };
		return false;
	}
	if (!smtp_auth_offered(s)) {
		*r = (struct smtp_refusal){ 538, "5.7.11",
		                            "Encryption required for requested authentication mechanism",
		                            SMTP_REJECT_TLS_REQUIRED };
		return false;
	}
	if (s->authenticated) {
		/* RFC 4954 4: AUTH is not allowed once authenticated. */
		*r = (struct smtp_refusal){ 503, "5.5.1", "Error: already authenticated",
		                            SMTP_REJECT_SEQUENCE };
		return false;
	}
	if (s->txn != NULL) {
		/* RFC 4954 4: nor during a mail transaction. */
		*r = (struct smtp_refusal){ 503, "5.5.1", "Error: MAIL transaction in progress",
		                            SMTP_REJECT_SEQUENCE };
		return false;
	}
	return true;
}

void smtp_cmd_auth(struct smtp_session *s, const char *args, size_t len)
{
	struct smtp_refusal refusal;
	struct smtp_auth auth;

	if (!auth__check_command(s, &refusal)) {
		smtp_session_refuse(s, &refusal);
		return;
	}
	enum smtp_parse_result pr = smtp_parse_auth(args, len, &auth);
	if (pr != SMTP_PARSE_OK) {
		const struct smtp_parse_error *e = smtp_parse_error(pr);

		smtp_session_reject(s, SMTP_REJECT_SYNTAX);
		smtp_reply(s, e->code, e->enh, "%s", e->text);
		return;
	}
	enum sasl_mech mech;
	if (strcmp(auth.mech, "PLAIN") == 0) {
		mech = SASL_MECH_PLAIN;
	} else if (strcmp(auth.mech, "LOGIN") == 0) {
		mech = SASL_MECH_LOGIN;
	} else {
		smtp_session_reject(s, SMTP_REJECT_SYNTAX);
		smtp_reply(s, 504, "5.5.4", "Error: unrecognized authentication type");
		return;
	}
	s->sasl = calloc(1, sizeof(*s->sasl));
	if (s->sasl == NULL) {
		smtp_session_reject(s, SMTP_REJECT_TEMPFAIL);
		smtp_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	s->sasl->mech = mech;
	if (auth.has_initial) {
		auth__step(s, auth.initial, auth.initial_len);
		return;
	}
	/* RFC 4954 4: the PLAIN challenge is empty; LOGIN asks for the username. */
	smtp_session_enter_state(s, SMTP_STATE_AUTH);
	smtp_reply(s, 334, NULL, "%s", mech == SASL_MECH_PLAIN ? "" : SASL_LOGIN_CHALLENGE_USERNAME);
}
