/* smtp_bounce.c - a job's failed recipients, reported to its sender; see smtp_bounce.h. */
#include "smtp_bounce.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "config.h"
#include "log.h"
#include "smtp_client.h"
#include "smtp_commit.h"
#include "smtp_dsn.h"
#include "smtp_parse.h"
#include "smtp_runner.h"
#include "smtp_session.h"
#include "smtp_txn.h"

struct resolved {
	store_delivery_t *delivery;
	bool remote;
	int err;
};

static void add_cb(void *ctx, enum store_rcpt_kind kind, const char *address)
{
	struct resolved *r = ctx;
	int rc = kind == STORE_RCPT_LOCAL ? store_delivery_add_local(r->delivery, address)
	                                  : store_delivery_add_remote(r->delivery, address);
	if (kind == STORE_RCPT_REMOTE)
		r->remote = true;
	if (rc != STORE_OK)
		r->err = rc;
}

/* What of the original goes back (RFC 3464 2.1, RFC 3461 4.3). */
#define HEADERS_MAX (64 * 1024)
/* RET=FULL returns the whole message up to this size (Postfix's bounce_size_limit is 50,000), else its headers. */
#define MESSAGE_MAX (128 * 1024)

/*
 * Reads the original's header section (without our Return-Path: line and
 * the empty line) and, when `full`, the whole message if it is at most
 * MESSAGE_MAX octets. Either may stay NULL (a body deleted meanwhile).
 */
static void read_original(store_t *store, int64_t message_id, bool full, char **headers_r,
                          size_t *hlen_r, char **message_r, size_t *mlen_r)
{
	store_reader_t *reader = NULL;
	char *buf = NULL;
	size_t len = 0;
	size_t limit = full ? MESSAGE_MAX : HEADERS_MAX;
	bool whole = true;

	*headers_r = *message_r = NULL;
	*hlen_r = *mlen_r = 0;
	if (store_reader_open(store, message_id, &reader) != STORE_OK)
		return;
	for (;;) {
		const void *data;
		size_t n;
		if (store_reader_next(store, reader, &data, &n) != STORE_OK) {
			whole = false;
			break;
		}
		if (n == 0)
			break;
		if (len + n > limit) {
			n = limit - len;
			whole = false;
		}
		char *grown = realloc(buf, len + n + 1);
		if (grown == NULL) {
			whole = false;
			break;
		}
		buf = grown;
		memcpy(buf + len, data, n);
		len += n;
		buf[len] = '\0';
		if (!whole || (!full && strstr(buf, "\r\n\r\n") != NULL))
			break;
	}
	store_reader_close(&reader);
	if (buf == NULL)
		return;
	/* Our own trace line is not part of what the sender sent. */
	size_t skip = 0;
	if (strncasecmp(buf, "Return-Path:", 12) == 0) {
		char *lf = memchr(buf, '\n', len);
		skip = lf != NULL ? (size_t)(lf - buf) + 1 : len;
	}
	char *end = strstr(buf + skip, "\r\n\r\n");
	size_t hlen = end != NULL ? (size_t)(end - (buf + skip)) + 2 : len - skip;
	if (hlen > HEADERS_MAX)
		hlen = HEADERS_MAX;
	*headers_r = malloc(hlen + 1);
	if (*headers_r != NULL) {
		memcpy(*headers_r, buf + skip, hlen);
		(*headers_r)[hlen] = '\0';
		*hlen_r = hlen;
	}
	if (full && whole) {
		memmove(buf, buf + skip, len - skip);
		*message_r = buf;
		*mlen_r = len - skip;
		return;
	}
	free(buf);
}

/*
 * Builds the report message into a delivery from the null sender to
 * dsn->sender, resolved with the store (a local mailbox, or the queue).
 * Frees nothing of dsn.
 */
static int report_delivery(store_t *store, const struct mail_config *cfg,
                           const struct smtp_dsn *dsn, store_delivery_t **delivery_r,
                           bool *remote_r)
{
	char *text = NULL;
	size_t len = 0;
	if (smtp_dsn_build(dsn, &text, &len) != 0)
		return STORE_ENOMEM;

	struct resolved res = { .err = STORE_OK };
	int err = store_delivery_new("", cfg->tmpdir, &res.delivery);
	/* As smtpd stores every message: the envelope sender first (RFC 5321
	 * 4.4); dropped again if the report itself goes out (smtp_outbody.h). */
	static const char return_path[] = "Return-Path: <>\r\n";
	if (err == STORE_OK)
		err = store_delivery_write(res.delivery, return_path, sizeof(return_path) - 1);
	if (err == STORE_OK)
		err = store_delivery_write(res.delivery, text, len);
	free(text);
	if (err == STORE_OK) {
		struct store_resolve_config rules = {
			.recipient_delimiter = cfg->recipient_delimiter,
			.postmaster_address = cfg->postmaster_address,
			.default_domain = cfg->hostname,
		};
		err = store_resolve(store, dsn->sender, &rules, add_cb, &res);
		if (err == STORE_OK)
			err = res.err;
	}
	if (err != STORE_OK) {
		store_delivery_free(&res.delivery);
		return err;
	}
	*delivery_r = res.delivery;
	*remote_r = res.remote;
	return STORE_OK;
}

/* A unique token for the report's Message-ID and MIME boundary. */
static void make_token(char *out, size_t outlen, int64_t message_id, time_t now)
{
	uint64_t random = 0;
	if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != (ssize_t)sizeof(random))
		random = (uint64_t)now ^ (uint64_t)message_id << 20;
	snprintf(out, outlen, "%" PRId64 "x%016" PRIx64, message_id, random);
}

int smtp_bounce_delivery(store_t *store, const struct mail_config *cfg, const struct smtp_job *job,
                         time_t now, store_delivery_t **delivery_r, bool *remote_r)
{
	struct smtp_dsn_recipient rcpts[SMTP_JOB_RCPT_MAX];
	size_t n = 0;

	*delivery_r = NULL;
	*remote_r = false;
	if (job->sender[0] == '\0')
		return STORE_OK;
	for (size_t i = 0; i < job->rcpt_count; i++) {
		const struct smtp_job_rcpt *r = &job->rcpts[i];
		if (!r->report)
			continue;
		rcpts[n++] = (struct smtp_dsn_recipient){
			.address = r->address,
			.failed = r->outcome == SMTP_OUTCOME_PERMANENT,
			.relayed = r->outcome == SMTP_OUTCOME_DELIVERED,
			.orcpt = r->orcpt,
			.status = r->status,
			.remote_mta = job->remote_mta[0] != '\0' ? job->remote_mta : NULL,
			.diagnostic = r->diagnostic,
			.last_attempt = now,
		};
	}
	if (n == 0)
		return STORE_OK;

	char token[64], queue_id[32];
	make_token(token, sizeof(token), job->message_id, now);
	snprintf(queue_id, sizeof(queue_id), "%" PRId64, job->message_id);
	struct smtp_dsn dsn = {
		.reporting_mta = cfg->hostname,
		.sender = job->sender,
		.queue_id = queue_id,
		.envid = job->envid,
		.token = token,
		.arrival = (time_t)job->created,
		.now = now,
		.retry_until = (time_t)job->created + (time_t)cfg->queue_lifetime,
		.rcpts = rcpts,
		.rcpt_count = n,
	};
	/* RFC 3461 4.3: the whole message only for RET=FULL and only with a failure. */
	bool any_failed = false;
	for (size_t i = 0; i < n; i++)
		any_failed = any_failed || rcpts[i].failed;
	char *headers = NULL, *original = NULL;
	read_original(store, job->message_id, any_failed && job->ret == SMTP_DSN_RET_FULL, &headers,
	              &dsn.headers_len, &original, &dsn.message_len);
	dsn.headers = headers;
	dsn.message = original;
	int err = report_delivery(store, cfg, &dsn, delivery_r, remote_r);
	free(headers);
	free(original);
	return err;
}

/* ---- "delivered" reports of local deliveries ------------------------------ */

struct notice_job {
	struct smtp_env *env;
	char sender[SMTP_MAILBOX_MAX + 1];
	int64_t message_id;
	char envid[128];
	time_t arrival;
	struct smtp_txn_notice *notices;
	size_t count;
	bool remote;
};

/* Committer thread: the report, committed on its own. */
static int notice_op(store_t *store, void *arg)
{
	struct notice_job *nj = arg;
	const struct mail_config *cfg = nj->env->cfg;
	struct smtp_dsn_recipient *rcpts = calloc(nj->count, sizeof(*rcpts));
	if (rcpts == NULL)
		return STORE_ENOMEM;
	for (size_t i = 0; i < nj->count; i++)
		rcpts[i] = (struct smtp_dsn_recipient){
			.address = nj->notices[i].rcpt,
			.delivered = true,
			.orcpt = nj->notices[i].orcpt,
			.status = "2.0.0",
			.last_attempt = nj->arrival,
		};
	char token[64], queue_id[32];
	make_token(token, sizeof(token), nj->message_id, nj->arrival);
	snprintf(queue_id, sizeof(queue_id), "%" PRId64, nj->message_id);
	struct smtp_dsn dsn = {
		.reporting_mta = cfg->hostname,
		.sender = nj->sender,
		.queue_id = queue_id,
		.envid = nj->envid,
		.token = token,
		.arrival = nj->arrival,
		.now = time(NULL),
		.rcpts = rcpts,
		.rcpt_count = nj->count,
	};
	char *headers = NULL, *original = NULL;
	size_t hlen = 0, mlen = 0;
	read_original(store, nj->message_id, false, &headers, &hlen, &original, &mlen);
	dsn.headers = headers;
	dsn.headers_len = hlen;
	store_delivery_t *delivery = NULL;
	int err = report_delivery(store, cfg, &dsn, &delivery, &nj->remote);
	if (err == STORE_OK)
		err = store_deliver(store, delivery);
	store_delivery_free(&delivery);
	free(headers);
	free(rcpts);
	return err;
}

static void notice_done(conn_t *conn, void *arg, const struct smtp_commit_result *result)
{
	struct notice_job *nj = arg;
	(void)conn;
	if (result->status != STORE_OK)
		log_warn(0, "dsn_failed", "id=%" PRId64 " error=\"%s\"", nj->message_id,
		         store_strerror(result->status));
	else if (nj->remote)
		smtp_runner_kick(nj->env->runner);
	free(nj->notices);
	free(nj);
}

void smtp_bounce_delivered(struct smtp_env *env, struct smtp_txn *txn)
{
	struct notice_job *nj = calloc(1, sizeof(*nj));
	if (nj == NULL || txn->notice_count == 0 || txn->sender[0] == '\0') {
		free(nj);
		return;
	}
	nj->env = env;
	snprintf(nj->sender, sizeof(nj->sender), "%s", txn->sender);
	nj->message_id = strtoll(txn->id, NULL, 10);
	snprintf(nj->envid, sizeof(nj->envid), "%s", txn->envid);
	nj->arrival = time(NULL);
	/* Taken from the transaction, which is reset right after. */
	nj->notices = txn->notices;
	nj->count = txn->notice_count;
	txn->notices = NULL;
	txn->notice_count = 0;
	if (smtp_commit_run(env->committer, notice_op, notice_done, nj) != 0) {
		log_warn(0, "dsn_failed", "id=%" PRId64 " error=\"out of memory\"", nj->message_id);
		free(nj->notices);
		free(nj);
	}
}
