/* smtp_bounce.c - a job's failed recipients, reported to its sender; see smtp_bounce.h. */
#include "smtp_bounce.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config.h"
#include "smtp_client.h"
#include "smtp_dsn.h"

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

	uint64_t random = 0;
	if (getrandom(&random, sizeof(random), GRND_NONBLOCK) != (ssize_t)sizeof(random))
		random = (uint64_t)now ^ (uint64_t)job->message_id << 20;
	char token[64], queue_id[32];
	snprintf(token, sizeof(token), "%" PRId64 "x%016" PRIx64, job->message_id, random);
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
		.headers = job->headers,
		.headers_len = job->headers_len,
	};
	char *text = NULL;
	size_t len = 0;
	if (smtp_dsn_build(&dsn, &text, &len) != 0)
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
		err = store_resolve(store, job->sender, &rules, add_cb, &res);
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
