/*
 * smtp_auth.c - SMTP AUTH (RFC 4954) with the SASL mechanisms PLAIN
 * (RFC 4616) and LOGIN, on the submission roles only: the protocol. The
 * check itself, its cost for unknown users and store failures, and the
 * failure budget are common/login.h's.
 *
 * Every failure is answered after a delay that grows with the client
 * address's recent failures (common/authlimit.h); an address that used up
 * its budget is refused with 454 before any password is checked. After
 * max_auth_failures on one connection (refusals included) the client
 * hears 421 and is disconnected. On success the addresses the user may
 * send as are fetched in the same job, so MAIL can check its sender
 * without another round trip.
 *
 * Credentials are never logged; the decoded password is wiped as soon as
 * the job has it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "login.h"
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

bool smtp_auth_offered(const struct smtp_session *s)
{
	/* RFC 4954 4 and RFC 8314: never offer passwords over plaintext unless allowed. */
	return smtp_session_needs_auth(s) &&
	       (conn_tls_active(s->core.conn) || s->env->cfg->allow_plaintext_auth);
}

static void free_senders(struct smtp_senders *senders)
{
	if (senders == NULL)
		return;
	free(senders->addr);
	senders->addr = NULL;
	senders->count = 0;
}

static void free_sasl(struct smtp_session *s)
{
	if (s->sasl == NULL)
		return;
	explicit_bzero(s->sasl, sizeof(*s->sasl));
	free(s->sasl);
	s->sasl = NULL;
}

void smtp_auth_reset(struct smtp_session *s)
{
	free_sasl(s);
	free_senders(&s->senders);
	s->authenticated = false;
	s->auth_user[0] = '\0';
	if (smtp_session_state(s) == SMTP_STATE_AUTH)
		smtp_session_enter_state(s, SMTP_STATE_READY);
}

/* ---- on the worker, after a good password: the user's sender addresses ---- */

static void add_sender_cb(void *ctx, const char *address)
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

static int fetch_senders(store_t *store, const char *address, void *ctx)
{
	return store_user_sender_addresses(store, address, add_sender_cb, ctx);
}

/* ---- outcomes ----------------------------------------------------------- */

/*
 * A failed login, or with `refused` one refused because the address is
 * locked out: counted (common/login.h), answered after its delay with
 * `reply`, or with the 421 once the connection used up max_auth_failures.
 */
static void auth_failed(struct smtp_session *s, bool refused, const char *mech,
                        const char *username, const char *why, enum smtp_refusal_id reply)
{
	struct login_verdict v = login_failed(s->env->authlimit, s->env->cfg, s->core.conn,
	                                      &s->auth_failures, refused, mech, username, why);

	s->env->metrics.auth_failures++;
	session_delay_next(&s->core, v.delay_ms);
	if (v.hang_up)
		smtp_session_refuse_quote(s, smtp_refusal(SMTP_REFUSAL_AUTH_TOO_MANY_FAILURES),
		                          s->env->cfg->hostname);
	else
		smtp_session_refuse(s, smtp_refusal(reply));
}

static void login_done_cb(conn_t *conn, struct login *login)
{
	struct smtp_senders *senders = login->extra_ctx;
	struct smtp_session *s = conn != NULL ? conn_data(conn) : NULL;
	char user[SASL_FIELD_MAX * 2];

	if (s == NULL) {
		free_senders(senders);
		free(senders);
		return;
	}
	if (login->timed)
		smtp_metrics_count_store(&s->env->metrics, SMTP_STORE_AUTH, login->store_micros);
	if (login->result == LOGIN_TEMPFAIL) {
		log_error(s->core.id, "auth_error", "error=\"%s\" detail=\"%s\"",
		          store_strerror(login->store_err), login->error);
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_AUTH_TEMPFAIL));
	} else if (login->result == LOGIN_OK) {
		s->authenticated = true;
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", login->address);
		s->senders = *senders;
		*senders = (struct smtp_senders){ 0 };
		s->env->metrics.auth_successes++;
		conn_login_done(s->core.conn);
		log_info(s->core.id, "auth", "mech=%s user=%s senders=%zu", login->method,
		         log_escape(user, sizeof(user), s->auth_user, strlen(s->auth_user)),
		         s->senders.count);
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
	} else {
		auth_failed(s, false, login->method, login->user, "credentials",
		            SMTP_REFUSAL_AUTH_FAILED);
	}
	free_senders(senders);
	free(senders);
	session_done(&s->core);
}

/* Starts the password check; takes the credentials (the caller wipes its copies). */
static void auth_check(struct smtp_session *s, const char *mech, const char *username,
                       const char *password)
{
	free_sasl(s);
	smtp_session_enter_state(s, SMTP_STATE_READY);
	if (login_locked_ms(s->env->authlimit, s->core.conn) > 0) {
		auth_failed(s, true, mech, username, "lockout", SMTP_REFUSAL_AUTH_LOCKED_OUT);
		return;
	}
	struct smtp_senders *senders = calloc(1, sizeof(*senders));
	int rc = senders == NULL ? -1
	                         : login_start(s->core.conn, s->env->pool, mech, username, password,
	                                       strlen(password), fetch_senders, senders,
	                                       login_done_cb);
	if (rc == 0) {
		session_busy(&s->core);
		return;
	}
	free(senders);
	log_error(s->core.id, "auth_error", "error=\"%s\"", rc < 0 ? conn_strerror(rc) : "");
	smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_AUTH_TEMPFAIL));
}

/* A response that cannot be decoded, or the client gave up: the exchange is over. */
static void auth_abort(struct smtp_session *s, enum smtp_refusal_id why)
{
	free_sasl(s);
	smtp_session_enter_state(s, SMTP_STATE_READY);
	smtp_session_refuse(s, smtp_refusal(why));
}

/* One base64 client response for the exchange in s->sasl. */
static void auth_step(struct smtp_session *s, const char *b64, size_t len)
{
	struct smtp_sasl *sasl = s->sasl;

	if (sasl->mech == SASL_MECH_PLAIN) {
		struct sasl_plain plain;
		int r = sasl_plain_decode(b64, len, &plain);

		if (r == SASL_EBASE64) {
			auth_abort(s, SMTP_REFUSAL_AUTH_UNDECODABLE);
		} else if (r != SASL_OK) {
			free_sasl(s);
			smtp_session_enter_state(s, SMTP_STATE_READY);
			auth_failed(s, false, "PLAIN", "", sasl_strerror(r), SMTP_REFUSAL_AUTH_FAILED);
		} else if (!sasl_plain_authzid_ok(&plain)) {
			/* We never let one user act for another (RFC 4616 2). */
			free_sasl(s);
			smtp_session_enter_state(s, SMTP_STATE_READY);
			auth_failed(s, false, "PLAIN", plain.authcid, "authzid", SMTP_REFUSAL_AUTH_FAILED);
		} else {
			auth_check(s, "PLAIN", plain.authcid, plain.passwd);
		}
		sasl_plain_clear(&plain);
		return;
	}

	char field[SASL_FIELD_MAX + 1];
	int r = sasl_login_decode(b64, len, field, sizeof(field));
	if (r == SASL_EBASE64) {
		auth_abort(s, SMTP_REFUSAL_AUTH_UNDECODABLE);
	} else if (r != SASL_OK) {
		char username[SASL_FIELD_MAX + 1];

		snprintf(username, sizeof(username), "%s", sasl->username);
		free_sasl(s);
		smtp_session_enter_state(s, SMTP_STATE_READY);
		auth_failed(s, false, "LOGIN", username, sasl_strerror(r), SMTP_REFUSAL_AUTH_FAILED);
	} else if (!sasl->have_username) {
		memcpy(sasl->username, field, sizeof(sasl->username));
		sasl->have_username = true;
		smtp_session_enter_state(s, SMTP_STATE_AUTH);
		smtp_reply(s, 334, NULL, SASL_LOGIN_CHALLENGE_PASSWORD);
	} else {
		char username[SASL_FIELD_MAX + 1];

		memcpy(username, sasl->username, sizeof(username));
		auth_check(s, "LOGIN", username, field);
		explicit_bzero(username, sizeof(username));
	}
	explicit_bzero(field, sizeof(field));
}

void smtp_auth_response(struct smtp_session *s, const char *line, size_t len)
{
	if (sasl_is_cancel(line, len)) {
		/* RFC 4954 4: "*" cancels the exchange with 501. */
		auth_abort(s, SMTP_REFUSAL_AUTH_CANCELLED);
		return;
	}
	auth_step(s, line, len);
}

/* ---- the command --------------------------------------------------------- */

/* Whether AUTH may be used now; the refusal if not. */
static const struct smtp_refusal *auth_refusal(const struct smtp_session *s)
{
	if (!smtp_session_needs_auth(s))
		return smtp_refusal(SMTP_REFUSAL_AUTH_NOT_ENABLED);
	if (!smtp_auth_offered(s))
		return smtp_refusal(SMTP_REFUSAL_AUTH_NEEDS_TLS);
	if (s->authenticated)
		return smtp_refusal(SMTP_REFUSAL_AUTH_ALREADY);
	if (s->txn != NULL) /* RFC 4954 4: nor during a mail transaction */
		return smtp_refusal(SMTP_REFUSAL_TXN_IN_PROGRESS);
	return NULL;
}

void smtp_cmd_auth(struct smtp_session *s, const char *args, size_t len)
{
	const struct smtp_refusal *refusal = auth_refusal(s);
	struct smtp_auth auth;

	if (refusal != NULL) {
		smtp_session_refuse(s, refusal);
		return;
	}
	enum smtp_parse_result pr = smtp_parse_auth(args, len, &auth);
	if (pr != SMTP_PARSE_OK) {
		smtp_session_refuse_parse(s, pr);
		return;
	}
	enum sasl_mech mech;
	if (strcmp(auth.mech, "PLAIN") == 0) {
		mech = SASL_MECH_PLAIN;
	} else if (strcmp(auth.mech, "LOGIN") == 0) {
		mech = SASL_MECH_LOGIN;
	} else {
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_AUTH_MECHANISM));
		return;
	}
	s->sasl = calloc(1, sizeof(*s->sasl));
	if (s->sasl == NULL) {
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_AUTH_TEMPFAIL));
		return;
	}
	s->sasl->mech = mech;
	if (auth.has_initial) {
		auth_step(s, auth.initial, auth.initial_len);
		return;
	}
	/* RFC 4954 4: the PLAIN challenge is empty; LOGIN asks for the username. */
	smtp_session_enter_state(s, SMTP_STATE_AUTH);
	smtp_reply(s, 334, NULL, "%s", mech == SASL_MECH_PLAIN ? "" : SASL_LOGIN_CHALLENGE_USERNAME);
}
