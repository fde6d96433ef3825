/*
 * smtp_envelope.c - MAIL (RFC 5321 4.1.1.2) and RCPT (4.1.1.3): the
 * envelope of a transaction. Recipients are resolved on the loop through
 * the lookup handle when it is loop-safe (store.h) and can answer at once,
 * else on a worker thread with input paused, so pipelined commands wait
 * their turn (docs/DESIGN.md "One loop, off-loop work").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "histogram.h"
#include "log.h"
#include "smtp_session_private.h"

/* ---- MAIL ------------------------------------------------------------ */

bool smtp_dsn_offered(const struct smtp_session *s)
{
	return smtp_session_needs_auth(s);
}

/* The MAIL parameters this session advertised in EHLO (none after HELO). */
static unsigned envelope_extensions(const struct smtp_session *s)
{
	unsigned ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8;

	if (!s->esmtp)
		return 0;
	if (smtp_auth_offered(s))
		ext |= SMTP_EXT_AUTH;
	if (smtp_dsn_offered(s))
		ext |= SMTP_EXT_DSN;
	return ext;
}

/*
 * Whether the authenticated user may use `sender` (canonical): one of
 * the addresses the store gave at AUTH, compared without regard to case
 * (store.h "Addresses"), or such an address with a recipient extension
 * (alice+lists@ is alice's, as it reaches her).
 */
static bool envelope_sender_allowed(const struct smtp_session *s, const char *sender)
{
	char key[SMTP_MAILBOX_MAX + 1], base[SMTP_MAILBOX_MAX + 1], own[SMTP_MAILBOX_MAX + 1];
	bool has_base;

	smtp_address_key(sender, key, sizeof(key));
	has_base = smtp_address_strip_extension(key, s->env->cfg->recipient_delimiter, base,
	                                        sizeof(base));
	for (size_t i = 0; i < s->senders.count; i++) {
		smtp_address_key(s->senders.addr[i], own, sizeof(own));
		if (strcmp(own, key) == 0 || (has_base && strcmp(own, base) == 0))
			return true;
	}
	return false;
}

/* NULL when MAIL may go on, else its refusal. */
static const struct smtp_refusal *envelope_check_mail(const struct smtp_session *s,
                                                      const struct smtp_mail *mail,
                                                      const char *sender)
{
	if (mail->size_given && mail->size > s->env->cfg->max_message_size) {
		/* RFC 1870 6.1: refuse at MAIL what could never be accepted. */
		return smtp_refusal(SMTP_REFUSAL_MESSAGE_TOO_BIG);
	}
	if (!s->authenticated)
		return NULL;
	if (mail->path.null) {
		/*
		 * Bounces (the null reverse-path, RFC 5321 4.5.5) are made by
		 * mail servers, ours included, never by a user's client. One sent
		 * by a logged-in user names no sender we can check the user
		 * against, and nobody could answer or bounce it: refuse it like
		 * any address the user does not own.
		 */
		return smtp_refusal(SMTP_REFUSAL_NULL_SENDER);
	}
	if (!envelope_sender_allowed(s, sender))
		return smtp_refusal(SMTP_REFUSAL_SENDER_NOT_OWNED);
	return NULL;
}

void smtp_cmd_mail(struct smtp_session *s, const char *args, size_t len)
{
	struct smtp_mail mail;
	const struct smtp_refusal *refusal;
	char sender[SMTP_MAILBOX_MAX + 1];

	if (s->txn != NULL) {
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_NESTED_MAIL));
		return;
	}
	enum smtp_parse_result pr = smtp_parse_mail(args, len, envelope_extensions(s), &mail);
	if (pr != SMTP_PARSE_OK) {
		smtp_session_refuse_parse(s, pr);
		return;
	}
	if (smtp_address_format(&mail.path.mailbox, sender, sizeof(sender)) < 0)
		sender[0] = '\0'; /* cannot happen: a parsed path always fits */
	if ((refusal = envelope_check_mail(s, &mail, sender)) != NULL) {
		char esc[SMTP_MAILBOX_MAX * 2];

		log_info(s->core.id, "mail_refused", "from=%s code=%d",
		         log_escape(esc, sizeof(esc), sender, strlen(sender)), refusal->code);
		smtp_session_refuse(s, refusal);
		return;
	}

	const struct mail_config *cfg = s->env->cfg;
	int rc = smtp_txn_new(sender, mail.smtputf8, cfg->tmpdir, &s->txn);
	if (rc != 0) {
		log_error(s->core.id, "txn_failed", "error=\"%s\"", store_strerror(rc));
		smtp_session_local_error(s);
		return;
	}
	s->txn->declared_size = mail.size_given ? mail.size : 0;
	rc = store_delivery_set_dsn(s->txn->delivery, (int)mail.ret, mail.envid);
	snprintf(s->txn->envid, sizeof(s->txn->envid), "%s", mail.envid);
	if (rc != 0) {
		smtp_txn_free(s->core.conn, &s->txn);
		smtp_session_local_error(s);
		return;
	}
	char esc[SMTP_MAILBOX_MAX * 2];
	s->txn_seq++;
	/* Debug only: the accepted line sums the transaction up (one write per
	 * message). No queue id yet: a message gets one when its body starts. */
	log_debug(s->core.id, "mail", "txn=%u from=%s size=%llu body=%s smtputf8=%d", s->txn_seq,
	         log_escape(esc, sizeof(esc), sender, strlen(sender)),
	         (unsigned long long)(mail.size_given ? mail.size : 0),
	         mail.body == SMTP_BODY_8BITMIME ? "8bitmime" : "7bit", mail.smtputf8);
	smtp_session_enter_state(s, SMTP_STATE_MAIL);
	/* On the MX listener, where nobody logs in, a mail transaction is what
	 * ends login_timeout (submission needed AUTH to get here). */
	conn_login_done(s->core.conn);
	smtp_reply(s, 250, "2.1.0", "Ok");
}

/* ---- RCPT ------------------------------------------------------------ */

struct resolve_dest {
	enum store_rcpt_kind kind;
	char address[SMTP_MAILBOX_MAX + 1];
};

/* A recipient lookup, on the loop (resolve_now) or on a worker thread;
 * owned by the work until done runs. */
struct resolve_job {
	store_pool_t *pool;
	struct store_resolve_config rules; /* points into the config, which outlives the job */
	char address[SMTP_MAILBOX_MAX + 1];
	uint64_t size; /* the transaction's declared size (SIZE=), 0 if none */
	unsigned notify; /* RFC 3461 NOTIFY and ORCPT of the RCPT, for its remote destinations */
	char orcpt[SMTP_ORCPT_MAX + 1];
	int rc;
	char err[256];
	struct resolve_dest *dests;
	size_t count;
	size_t cap;
	size_t full; /* rc == STORE_EQUOTA or STORE_ETOOBIG: the destination that refused */
	bool timed;      /* resolve_run ran: micros is how long it took */
	uint64_t micros;
};

static void resolve_dest_cb(void *ctx, enum store_rcpt_kind kind, const char *address)
{
	struct resolve_job *job = ctx;

	if (job->rc != 0)
		return;
	if (job->count == job->cap) {
		size_t cap = job->cap == 0 ? 4 : job->cap * 2;
		struct resolve_dest *d = realloc(job->dests, cap * sizeof(*d));

		if (d == NULL) {
			job->rc = STORE_ENOMEM;
			return;
		}
		job->dests = d;
		job->cap = cap;
	}
	job->dests[job->count].kind = kind;
	snprintf(job->dests[job->count].address, sizeof(job->dests[0].address), "%s", address);
	job->count++;
}

/*
 * Quotas (store.h): a local mailbox that cannot take the message is
 * refused here rather than after the sender has sent the body: one at or
 * over its quota, and, when MAIL declared a SIZE= (RFC 1870 6.4 lets a
 * server refuse a RCPT on the declared size), one with less room left
 * than that size (temporary: 452 4.2.2, RFC 3463 X.2.2) or whose whole
 * quota is smaller than it (permanent: 552 5.2.2, no retry can ever fit
 * it). RFC 5321 gives a RCPT one reply, so an alias one of whose
 * mailboxes refuses is refused as a whole, where accepting it would drop
 * that mailbox's copy silently; a permanent refusal among its mailboxes
 * wins over a temporary one. Returns 0, or STORE_EQUOTA or STORE_ETOOBIG
 * with job->full and job->err set, or a store error.
 */
static int resolve_quota(store_t *store, struct resolve_job *job)
{
	int verdict = STORE_OK;
	char err[sizeof(job->err)];

	for (size_t i = 0; i < job->count && verdict != STORE_ETOOBIG; i++) {
		if (job->dests[i].kind != STORE_RCPT_LOCAL)
			continue;
		int rc = store_quota_check(store, job->dests[i].address, job->size);
		if (rc == STORE_OK || rc == STORE_ENOTFOUND)
			continue; /* ENOTFOUND: deleted since it resolved; the commit refuses it */
		if (rc != STORE_EQUOTA && rc != STORE_ETOOBIG)
			return rc;
		if (verdict == STORE_OK || rc == STORE_ETOOBIG) {
			verdict = rc;
			job->full = i;
			snprintf(err, sizeof(err), "%s", store_errmsg(store));
		}
	}
	if (verdict != STORE_OK)
		snprintf(job->err, sizeof(job->err), "%s", err);
	return verdict;
}

/* Resolution and the quota check through `store`; the outcome in job->rc. */
static void resolve_lookup(store_t *store, struct resolve_job *job)
{
	int rc = store_resolve(store, job->address, &job->rules, resolve_dest_cb, job);
	if (rc == STORE_OK && job->rc == 0) {
		rc = resolve_quota(store, job);
		if (rc == STORE_EQUOTA || rc == STORE_ETOOBIG) {
			job->rc = rc; /* job->err names the mailbox that refused */
			return;
		}
	}
	if (rc != STORE_OK && job->rc == 0) {
		job->rc = rc;
		snprintf(job->err, sizeof(job->err), "%s", store_errmsg(store));
	}
}

/* The same, timed for smtp_store_operation_seconds (counted by resolve_reply, on the loop). */
static void resolve_run(store_t *store, struct resolve_job *job)
{
	uint64_t started = histogram_now_us();

	resolve_lookup(store, job);
	job->micros = histogram_now_us() - started;
	job->timed = true;
}

static void resolve_work(void *arg)
{
	struct resolve_job *job = arg;
	store_t *store = store_pool_acquire(job->pool, job->err, sizeof(job->err));

	if (store == NULL) {
		job->rc = STORE_EIO;
		return;
	}
	resolve_run(store, job);
	store_pool_release(job->pool, &store);
}

static void resolve_free(struct resolve_job *job)
{
	free(job->dests);
	free(job);
}

/*
 * Relaying (RFC 5321 3.6.1): an address in a domain that is not ours comes
 * back from store_resolve as a single remote destination equal to itself.
 * Only an authenticated client may send there. Remote destinations reached
 * through one of our aliases are forwarding the operator set up, allowed
 * for anyone.
 */
static bool resolve_relay_denied(const struct smtp_session *s, const struct resolve_job *job)
{
	if (s->authenticated)
		return false;
	for (size_t i = 0; i < job->count; i++) {
		if (job->dests[i].kind == STORE_RCPT_REMOTE &&
		    strcasecmp(job->dests[i].address, job->address) == 0)
			return true;
	}
	return false;
}

/* Adds every destination; returns 0 or the first store error. */
static int resolve_add(struct smtp_txn *txn, const struct resolve_job *job)
{
	bool local = false;
	for (size_t i = 0; i < job->count; i++)
		local = local || job->dests[i].kind == STORE_RCPT_LOCAL;
	/* RFC 3461 5.2.2: a local delivery that was asked about is reported once,
	 * for the address the client named, however many mailboxes it reaches. */
	if (local && (job->notify & SMTP_NOTIFY_SUCCESS) && txn->sender[0] != '\0' &&
	    smtp_txn_add_notice(txn, job->address, job->orcpt) != 0)
		return STORE_ENOMEM;
	for (size_t i = 0; i < job->count; i++) {
		int rc = job->dests[i].kind == STORE_RCPT_LOCAL
		                 ? smtp_txn_add_local(txn, job->dests[i].address)
		                 : smtp_txn_add_remote(txn, job->dests[i].address, job->notify,
		                                       job->orcpt);
		if (rc != STORE_OK)
			return rc;
	}
	return 0;
}

/* A mailbox of the recipient refused (resolve_quota): permanently, or for now. */
static void resolve_reply_quota(struct smtp_session *s, const struct resolve_job *job, int rc,
                                const char *to)
{
	char mailbox[SMTP_MAILBOX_MAX * 2];
	const char *full = job->dests[job->full].address;
	bool never = rc == STORE_ETOOBIG;
	enum smtp_refusal_id id;

	log_info(s->core.id, "rcpt_refused", "to=%s reason=%s mailbox=%s size=%llu detail=\"%s\"", to,
	         never ? "over_quota" : "mailbox_full",
	         log_escape(mailbox, sizeof(mailbox), full, strlen(full)),
	         (unsigned long long)job->size, job->err);
	if (never)
		id = SMTP_REFUSAL_RCPT_OVER_QUOTA;
	else if (job->size > 0)
		id = SMTP_REFUSAL_RCPT_NO_ROOM; /* SIZE= said how much: that much does not fit */
	else
		id = SMTP_REFUSAL_RCPT_MAILBOX_FULL;
	smtp_session_refuse_quote(s, smtp_refusal(id), job->address);
}

/* Replies to the RCPT from the lookup's outcome, rc. */
static void resolve_reply(struct smtp_session *s, const struct resolve_job *job, int rc)
{
	char esc[SMTP_MAILBOX_MAX * 2];
	const char *to = log_escape(esc, sizeof(esc), job->address, strlen(job->address));

	if (job->timed)
		smtp_metrics_count_store(&s->env->metrics, SMTP_STORE_RCPT, job->micros);
	if (rc == 0 && job->count == 0)
		rc = STORE_ENOTFOUND;
	if (rc == STORE_ELOOP) {
		/*
		 * The operator's aliases loop (or nest deeper than the store
		 * follows): retrying will not help, and saying so tells the
		 * sender it is not a typo (RFC 3463 X.4.6, routing loop).
		 */
		log_warn(s->core.id, "rcpt_refused", "to=%s reason=alias_loop detail=\"%s\"", to, job->err);
		smtp_session_refuse_quote(s, smtp_refusal(SMTP_REFUSAL_RCPT_ALIAS_LOOP), job->address);
	} else if (rc == STORE_ENOTFOUND || rc == STORE_EINVAL) {
		/*
		 * EINVAL cannot come from a parsed address (the store takes what
		 * the parser takes) but would not heal by retrying either.
		 */
		log_info(s->core.id, "rcpt_refused", "to=%s reason=unknown_user detail=\"%s\"", to,
		         job->err);
		smtp_session_refuse_quote(s, smtp_refusal(SMTP_REFUSAL_RCPT_UNKNOWN), job->address);
	} else if (rc == STORE_EQUOTA || rc == STORE_ETOOBIG) {
		resolve_reply_quota(s, job, rc, to);
	} else if (rc != 0) {
		log_error(s->core.id, "resolve_failed", "to=%s error=\"%s\" detail=\"%s\"", to,
		          store_strerror(rc), job->err);
		smtp_session_refuse_quote(s, smtp_refusal(SMTP_REFUSAL_RCPT_LOOKUP_FAILED),
		                          job->address);
	} else if (resolve_relay_denied(s, job)) {
		log_info(s->core.id, "rcpt_refused", "to=%s reason=relay", to);
		smtp_session_refuse_quote(s, smtp_refusal(SMTP_REFUSAL_RELAY_DENIED), job->address);
	} else if ((rc = resolve_add(s->txn, job)) != 0) {
		log_error(s->core.id, "rcpt_failed", "to=%s error=\"%s\"", to, store_strerror(rc));
		smtp_session_local_error(s);
	} else {
		smtp_txn_add_rcpt(s->txn, job->address);
		s->env->metrics.recipients++;
		log_debug(s->core.id, "rcpt", "txn=%u to=%s destinations=%zu", s->txn_seq, to, job->count);
		smtp_reply(s, 250, "2.1.5", "Ok");
	}
}

static void resolve_done(conn_t *conn, void *arg, int status)
{
	struct resolve_job *job = arg;

	if (conn != NULL) {
		struct smtp_session *s = conn_data(conn);

		resolve_reply(s, job, status != 0 ? STORE_EIO : job->rc);
		session_done(&s->core);
	}
	resolve_free(job);
}

/*
 * Resolves on the loop when the session env's lookup handle is loop-safe
 * (store.h): a few pages of small, hot tables, cheaper than a round trip
 * through the thread pool (two thread switches per RCPT). Returns false
 * when there is no such handle or it cannot answer now (the database is
 * locked, say): the pool, whose handles wait, takes the lookup over.
 */
static bool resolve_now(struct smtp_session *s, struct resolve_job *job)
{
	store_t *store = s->env->lookup_store;

	if (!store_loop_safe(store))
		return false;
	resolve_run(store, job);
	int rc = job->rc;
	if (rc != STORE_OK && rc != STORE_ENOTFOUND && rc != STORE_EINVAL && rc != STORE_ELOOP &&
	    rc != STORE_EQUOTA && rc != STORE_ETOOBIG) {
		job->rc = 0;
		job->count = 0;
		job->err[0] = '\0';
		return false;
	}
	resolve_reply(s, job, rc);
	return true;
}

/* NULL when RCPT may go on, else its refusal. */
static const struct smtp_refusal *envelope_check_rcpt(const struct smtp_session *s)
{
	if (s->txn == NULL)
		return smtp_refusal(SMTP_REFUSAL_NEED_MAIL);
	if (s->txn->body != SMTP_TXN_BODY_NONE) /* RFC 3030 2: the envelope is closed */
		return smtp_refusal(SMTP_REFUSAL_RCPT_AFTER_BDAT);
	return NULL;
}

void smtp_cmd_rcpt(struct smtp_session *s, const char *args, size_t len)
{
	const struct smtp_refusal *refusal;
	struct smtp_rcpt rcpt;

	if ((refusal = envelope_check_rcpt(s)) != NULL) {
		smtp_session_refuse(s, refusal);
		return;
	}
	enum smtp_parse_result pr = smtp_parse_rcpt(args, len, s->txn->smtputf8,
	                                            envelope_extensions(s), &rcpt);
	if (pr != SMTP_PARSE_OK) {
		smtp_session_refuse_parse(s, pr);
		return;
	}
	s->txn->rcpt_attempts++;
	if (s->txn->rcpts >= s->env->cfg->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452 (not 552) so the client sends the rest later. */
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_TOO_MANY_RCPTS));
		return;
	}

	struct resolve_job *job = calloc(1, sizeof(*job));
	if (job == NULL) {
		smtp_session_local_error(s);
		return;
	}
	job->pool = s->env->pool;
	job->size = s->txn->declared_size;
	job->notify = rcpt.notify;
	memcpy(job->orcpt, rcpt.orcpt, sizeof(job->orcpt));
	job->rules = (struct store_resolve_config){
		.recipient_delimiter = s->env->cfg->recipient_delimiter,
		.postmaster_address = s->env->cfg->postmaster_address,
		.default_domain = s->env->cfg->hostname,
	};
	if (smtp_address_format(&rcpt.path.mailbox, job->address, sizeof(job->address)) < 0) {
		resolve_free(job);
		smtp_session_local_error(s);
		return;
	}
	if (resolve_now(s, job)) {
		resolve_free(job);
		return;
	}
	if (session_queue_work(&s->core, resolve_work, resolve_done, job) != 0) {
		resolve_free(job);
		smtp_session_local_error(s);
	}
}
