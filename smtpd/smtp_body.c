/*
 * smtp_body.c - DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030): reading the
 * message into the transaction's delivery in raw mode, and handing it to
 * the group commit. The 250 is sent only when the commit has synced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "smtp_bounce.h"
#include "smtp_commit.h"
#include "smtp_header.h"
#include "smtp_queueid.h"
#include "smtp_received.h"
#include "smtp_runner.h"
#include "smtp_session_private.h"
#include "smtp_spool.h"

/*
 * Checks shared by DATA and BDAT: a transaction with at least one
 * recipient. NULL when they pass, else the refusal.
 */
static const struct smtp_refusal *body_check_txn(const struct smtp_session *s)
{
	if (s->txn == NULL)
		return smtp_refusal(SMTP_REFUSAL_NEED_MAIL);
	if (s->txn->rcpts == 0) {
		/* RFC 2920 3.1: after pipelined RCPTs that all failed, DATA gets 554. */
		return smtp_refusal(s->txn->rcpt_attempts > 0 ? SMTP_REFUSAL_NO_VALID_RCPTS
		                                              : SMTP_REFUSAL_NEED_RCPT);
	}
	return NULL;
}

/* 64 bits for a Message-ID: from the kernel, which after boot never blocks. */
static uint64_t body_random64(void)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* Still unique with the queue id beside it; only less unguessable. */
	return (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
}

/*
 * Writes Return-Path and Received and starts the receiver and the header
 * filter: on submission (an authenticated client), Bcc fields go and a
 * missing Date or Message-ID is added (RFC 6409 8.2, 8.3).
 */
static void body_begin(struct smtp_session *s, enum smtp_txn_body kind)
{
	const struct mail_config *cfg = s->env->cfg;
	struct smtp_txn *txn = s->txn;
	char trace[SMTP_TRACE_MAX];
	bool tls = conn_tls_active(s->core.conn);
	time_t now = time(NULL);
	struct smtp_trace t = {
		.sender = txn->sender,
		.helo = s->helo,
		.helo_valid = s->helo_valid,
		.peer_ip = conn_peer_ip(s->core.conn),
		.hostname = cfg->hostname,
		.esmtp = s->esmtp,
		.smtputf8 = txn->smtputf8,
		.tls_version = tls ? conn_tls_version(s->core.conn) : NULL,
		.tls_cipher = tls ? conn_tls_cipher(s->core.conn) : NULL,
		.authenticated = s->authenticated,
		.auth_user = s->authenticated && cfg->received_auth_header ? s->auth_user : NULL,
		.id = txn->id,
		.rcpt = txn->rcpts == 1 ? txn->first_rcpt : NULL,
		.when = now,
	};
	size_t len = smtp_received_format(&t, trace, sizeof(trace));
	unsigned flags = 0;

	if (s->authenticated) {
		flags = SMTP_HEADER_DROP_BCC | SMTP_HEADER_ADD_MISSING;
		smtp_received_date_field(now, txn->date_field, sizeof(txn->date_field));
		smtp_received_message_id_field(now, txn->id, body_random64(), cfg->hostname,
		                               txn->message_id_field, sizeof(txn->message_id_field));
	}
	smtp_txn_begin_body(txn, kind, cfg->max_message_size, trace, len, flags);
}

/* What a commit's outcome is counted and logged with: the session may be gone by then. */
struct body_commit {
	struct smtp_env *env;
	uint64_t session;
	uint64_t size; /* client octets (data.size), for message_bytes */
	bool remote;   /* some recipient is queued: the runner is told */
	char id[sizeof(((struct smtp_txn *)0)->id)];
};

/*
 * The client left before the reply: the message may be stored all the
 * same (counted by the caller). It will most likely send it again, so say
 * so in the log: that is where a duplicate comes from. A refusal is
 * logged and counted as the reply it would have had (body_commit_done_cb).
 */
static void body_commit_orphan(const struct body_commit *c, const struct smtp_commit_result *r)
{
	struct smtp_metrics *m = &c->env->metrics;

	if (r->status == STORE_OK) {
		log_info(c->session, "accepted", "id=%s size=%llu batch=%zu client=gone", c->id,
		         (unsigned long long)c->size, r->batch_size);
	} else if (r->status == STORE_EQUOTA) {
		log_info(c->session, "commit_refused", "id=%s reason=mailbox_full size=%llu client=gone",
		         c->id, (unsigned long long)c->size);
		m->rejections[SMTP_REJECT_MAILBOX_FULL]++;
	} else if (r->status == STORE_ETOOBIG) {
		log_info(c->session, "commit_refused", "id=%s reason=over_quota size=%llu client=gone",
		         c->id, (unsigned long long)c->size);
		m->rejections[SMTP_REJECT_OVER_QUOTA]++;
	} else {
		log_error(c->session, "commit_failed", "id=%s error=\"%s\" client=gone", c->id,
		          store_strerror(r->status));
		m->rejections[SMTP_REJECT_TEMPFAIL]++;
	}
}

static void body_commit_done_cb(conn_t *conn, void *arg, const struct smtp_commit_result *r)
{
	struct body_commit *c = arg;
	struct smtp_metrics *m = &c->env->metrics;

	/* Counted here, where the result arrives, whether or not anyone waits for it. */
	if (r->batch_first)
		smtp_metrics_count_batch(m, r->batch_size, r->micros);
	if (r->status == STORE_OK) {
		m->messages++;
		m->message_bytes += c->size;
		if (c->remote)
			smtp_runner_kick(c->env->runner); /* new mail is tried at once */
	}
	if (conn == NULL) {
		body_commit_orphan(c, r);
		free(c);
		return;
	}
	free(c);
	struct smtp_session *s = conn_data(conn);
	struct smtp_txn *txn = s->txn;

	if (r->status == STORE_OK) {
		char from[SMTP_MAILBOX_MAX * 2], to[SMTP_MAILBOX_MAX * 2];
		log_info(s->core.id, "accepted",
		         "id=%s from=%s to=%s rcpts=%u remote=%u size=%llu batch=%zu bare_lf=%llu",
		         txn->id, log_escape(from, sizeof(from), txn->sender, strlen(txn->sender)),
		         log_escape(to, sizeof(to), txn->first_rcpt, strlen(txn->first_rcpt)),
		         txn->rcpts, txn->remote_rcpts, (unsigned long long)txn->data.size,
		         r->batch_size, (unsigned long long)txn->data.bare_lf);
		smtp_reply(s, 250, "2.0.0", "Ok: queued as %s", txn->id);
		if (txn->notice_count > 0)
			smtp_bounce_delivered(s->env, txn);
	} else if (r->status == STORE_EQUOTA) {
		/*
		 * The message would take a recipient's mailbox past its quota
		 * (checked inside the commit). After DATA there is one reply for
		 * all recipients (RFC 5321 4.1.1.4), so the whole message is
		 * deferred: delivering it to the others and answering 452 would
		 * make the retry a duplicate for them, and answering 250 would
		 * drop the full mailbox's copy. The sender retries all of it.
		 */
		log_info(s->core.id, "commit_refused", "id=%s reason=mailbox_full size=%llu", txn->id,
		         (unsigned long long)txn->data.size);
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_MAILBOX_FULL));
	} else if (r->status == STORE_ETOOBIG) {
		/*
		 * Larger than a recipient mailbox's whole quota: it would not
		 * fit even in that mailbox emptied, so a retry can never
		 * succeed. A permanent 552 5.2.2 ("exceeded storage allocation",
		 * RFC 5321 4.2.2; RFC 3463 X.2.2) makes the sender bounce it
		 * now instead of retrying for days; stored for nobody, as above.
		 */
		log_info(s->core.id, "commit_refused", "id=%s reason=over_quota size=%llu", txn->id,
		         (unsigned long long)txn->data.size);
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_OVER_QUOTA));
	} else {
		log_error(s->core.id, "commit_failed", "id=%s error=\"%s\"", txn->id,
		          store_strerror(r->status));
		smtp_session_local_error(s);
	}
	smtp_session_reset_txn(s);
	session_done(&s->core);
}

/*
 * The whole body is in: reply now if it cannot be kept, else commit it.
 * Either way the transaction ends (RFC 5321 4.1.1.4: after the reply to
 * the end of data, the buffers are cleared).
 */
static void body_complete(struct smtp_session *s)
{
	struct smtp_txn *txn = s->txn;

	if (txn->data.too_big) {
		log_info(s->core.id, "too_big", "id=%s size=%llu", txn->id, (unsigned long long)txn->data.size);
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_MESSAGE_TOO_BIG));
		smtp_session_reset_txn(s);
		return;
	}
	if (txn->header.received > s->env->cfg->max_hops) {
		/* RFC 5321 6.3: a loop; Postfix's hopcount_limit answers the same. */
		log_info(s->core.id, "too_many_hops", "id=%s received=%u max_hops=%u", txn->id,
		         txn->header.received, s->env->cfg->max_hops);
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_TOO_MANY_HOPS));
		smtp_session_reset_txn(s);
		return;
	}
	if (txn->write_err != 0) {
		log_error(s->core.id, "spool_failed", "id=%s error=\"%s\"", txn->id,
		          store_strerror(txn->write_err));
		smtp_session_local_error(s);
		smtp_session_reset_txn(s);
		return;
	}
	struct body_commit *c = malloc(sizeof(*c));
	if (c == NULL) {
		log_error(s->core.id, "commit_failed", "id=%s error=\"%s\"", txn->id,
		          store_strerror(STORE_ENOMEM));
		smtp_session_local_error(s);
		smtp_session_reset_txn(s);
		return;
	}
	c->env = s->env;
	c->session = s->core.id;
	c->size = txn->data.size;
	c->remote = txn->remote_rcpts > 0;
	snprintf(c->id, sizeof(c->id), "%s", txn->id);
	store_delivery_t *delivery = smtp_txn_take_delivery(txn);
	int rc = smtp_commit_start(s->env->committer, s->core.conn, &delivery, body_commit_done_cb, c);
	if (rc != 0) {
		free(c);
		log_error(s->core.id, "commit_failed", "id=%s rc=%d", txn->id, rc);
		smtp_session_local_error(s);
		smtp_session_reset_txn(s);
		return;
	}
	session_busy(&s->core);
}

/* ---- the queue id ---------------------------------------------------- */

static void body_data_go(struct smtp_session *s);
static void body_bdat_go(struct smtp_session *s);

/* The id is in txn->id (or the pool could not give one: id is 0). */
static void body_start(struct smtp_session *s, int64_t id)
{
	enum smtp_txn_body kind = s->txn->starting;

	s->txn->starting = SMTP_TXN_BODY_NONE;
	if (id == 0) {
		if (kind == SMTP_TXN_BODY_DATA) {
			smtp_session_local_error(s);
			return;
		}
		/* The chunk is read all the same, then refused. */
		s->chunk.reset_after = true;
		s->chunk.refusal = smtp_refusal(SMTP_REFUSAL_LOCAL_ERROR);
		body_bdat_go(s);
		return;
	}
	smtp_txn_set_id(s->txn, id);
	body_begin(s, kind);
	if (kind == SMTP_TXN_BODY_DATA)
		body_data_go(s);
	else
		body_bdat_go(s);
}

static void body_queueid_cb(conn_t *conn, int64_t id)
{
	struct smtp_session *s = conn_data(conn);

	if (s == NULL || s->txn == NULL)
		return; /* cannot happen: input was paused and the conn is open */
	if (id == 0)
		log_error(s->core.id, "queueid_failed", "error=\"no message id could be reserved\"");
	body_start(s, id);
	/* After a 354, or with a BDAT chunk to read, a SIGTERM's 421 waits
	 * for the end of the message (the session's may_stop). */
	session_done(&s->core);
}

/* Gets the transaction its queue id, then starts its body (DATA or the first BDAT). */
static void body_get_id(struct smtp_session *s, enum smtp_txn_body kind)
{
	int64_t id = smtp_queueid_take(s->env->queueids);

	s->txn->starting = kind;
	if (id != 0) {
		body_start(s, id);
		return;
	}
	int rc = smtp_queueid_wait(s->env->queueids, s->core.conn, body_queueid_cb);
	if (rc != 0) {
		log_error(s->core.id, "queueid_failed", "error=\"%s\"", store_strerror(rc));
		body_start(s, 0);
		return;
	}
	log_debug(s->core.id, "queueid_wait", "txn=%u", s->txn_seq);
	session_busy(&s->core);
}

/* ---- DATA ------------------------------------------------------------ */

static void body_data_go(struct smtp_session *s)
{
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	smtp_session_enter_state(s, SMTP_STATE_DATA);
	conn_set_read_mode(s->core.conn, CONN_READ_RAW);
}

void smtp_cmd_data(struct smtp_session *s, const char *args, size_t len)
{
	const struct smtp_refusal *refusal = body_check_txn(s);

	if (refusal != NULL) {
		smtp_session_refuse(s, refusal);
		return;
	}
	if (s->txn->body == SMTP_TXN_BODY_BDAT) {
		/* RFC 3030 2: DATA and BDAT cannot be mixed in one transaction. */
		smtp_session_refuse(s, smtp_refusal(SMTP_REFUSAL_DATA_AFTER_BDAT));
		return;
	}
	body_get_id(s, SMTP_TXN_BODY_DATA);
}

static size_t body_data_input(struct smtp_session *s, const char *buf, size_t len)
{
	size_t used = smtp_txn_feed(s->txn, buf, len);

	if (!s->txn->data.ended) {
		if (smtp_txn_spill_wanted(s->txn))
			smtp_spool_start(s); /* input waits for the disk */
		return used;
	}
	conn_set_read_mode(s->core.conn, CONN_READ_LINES);
	smtp_session_enter_state(s, SMTP_STATE_MAIL);
	body_complete(s);
	return used;
}

/* ---- BDAT ------------------------------------------------------------ */

static void body_chunk_end(struct smtp_session *s)
{
	struct smtp_chunk *c = &s->chunk;
	struct smtp_txn *txn = s->txn;

	conn_set_read_mode(s->core.conn, CONN_READ_LINES);
	smtp_session_enter_state(s, c->resume);
	if (c->refusal != NULL) {
		smtp_session_refuse(s, c->refusal);
		if (c->reset_after)
			smtp_session_reset_txn(s);
		return;
	}
	if (!c->last && !txn->data.too_big && txn->write_err == 0 &&
	    txn->header.received <= s->env->cfg->max_hops) {
		smtp_reply(s, 250, "2.0.0", "Ok: %llu octets received",
		           (unsigned long long)txn->data.size);
		return;
	}
	if (c->last)
		smtp_txn_finish(txn);
	body_complete(s);
}

void smtp_cmd_bdat(struct smtp_session *s, const char *args, size_t len)
{
	struct smtp_chunk *c = &s->chunk;
	uint64_t size;
	bool last;
	enum smtp_parse_result pr = smtp_parse_bdat(args, len, &size, &last);

	if (pr != SMTP_PARSE_OK) {
		/* The chunk's length is unknown, so its octets cannot be skipped: any
		 * of them would be read as commands. Hang up after the reply. */
		smtp_session_refuse_parse(s, pr);
		session_close(&s->core);
		smtp_session_enter_state(s, SMTP_STATE_CLOSING);
		return;
	}
	*c = (struct smtp_chunk){ .remaining = size, .last = last, .resume = smtp_session_state(s) };
	uint64_t max = s->env->cfg->max_message_size;
	/* A refused chunk is read all the same, and dropped (smtp_session_private.h). */
	c->refusal = smtp_session_check(s, SMTP_VERB_BDAT);
	if (c->refusal == NULL)
		c->refusal = body_check_txn(s);
	if (c->refusal == NULL && s->txn->body == SMTP_TXN_BODY_DATA) {
		/* cannot happen: DATA ends its transaction */
		c->refusal = smtp_refusal(SMTP_REFUSAL_BDAT_AFTER_DATA);
	} else if (c->refusal == NULL &&
	           (size > max ||
	            (s->txn->body == SMTP_TXN_BODY_BDAT && s->txn->data.size > max - size))) {
		/* RFC 3030 2: the chunk is still read; the transaction is over. */
		c->reset_after = true;
		c->refusal = smtp_refusal(SMTP_REFUSAL_MESSAGE_TOO_BIG);
	}
	if (c->refusal == NULL && s->txn->body == SMTP_TXN_BODY_NONE) {
		body_get_id(s, SMTP_TXN_BODY_BDAT);
		return;
	}
	body_bdat_go(s);
}

/* Reads the chunk the command announced (or ends it at once if empty). */
static void body_bdat_go(struct smtp_session *s)
{
	if (s->chunk.remaining == 0) {
		body_chunk_end(s);
		return;
	}
	smtp_session_enter_state(s, SMTP_STATE_BDAT);
	conn_set_read_mode(s->core.conn, CONN_READ_RAW);
}

static size_t body_chunk_input(struct smtp_session *s, const char *buf, size_t len)
{
	struct smtp_chunk *c = &s->chunk;
	size_t n = len;

	if (n > c->remaining)
		n = (size_t)c->remaining;
	if (c->refusal == NULL)
		n = smtp_txn_feed(s->txn, buf, n); /* all of it, unless a spill must come first */
	c->remaining -= n;
	if (c->remaining == 0)
		body_chunk_end(s);
	else if (c->refusal == NULL && smtp_txn_spill_wanted(s->txn))
		smtp_spool_start(s); /* input waits for the disk */
	return n;
}

size_t smtp_body_input(struct smtp_session *s, const char *buf, size_t len)
{
	switch (smtp_session_state(s)) {
	case SMTP_STATE_DATA:
		return body_data_input(s, buf, len);
	case SMTP_STATE_BDAT:
		return body_chunk_input(s, buf, len);
	default:
		/* Cannot happen: raw mode ends with the body. Should it, the bytes
		 * are commands, so hand them back to the line reader. */
		conn_set_read_mode(s->core.conn, CONN_READ_LINES);
		return 0;
	}
}
