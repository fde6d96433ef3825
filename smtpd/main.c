/*
 * smtpd - the SMTP daemon: receives mail on the MX, submission and smtps
 * listeners, and delivers the queue to other servers.
 *
 *   smtpd [-c FILE]
 *
 * The start-up is common/daemon.c's; what is smtpd's own is its listeners
 * and its context (struct smtp_env): the queue id pool, the loop's lookup
 * handle, the group commit and the queue runner, and the counters it logs
 * at exit.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "server.h"
#include "service_http.h"
#include "smtp_commit.h"
#include "smtp_queueid.h"
#include "smtp_runner.h"
#include "smtp_session.h"
#include "store.h"

/* Logs each sample line of a rendered page at debug level, "name=... value=...". */
static void metrics_log_samples(const struct metrics_text *page)
{
	const char *line = page->buf, *end = page->buf + page->len;

	while (line != NULL && line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *sp = nl;
		if (nl == NULL)
			break;
		while (sp > line && *sp != ' ')
			sp--;
		if (line[0] != '#' && sp > line)
			log_debug(0, "metric", "name=%.*s value=%.*s", (int)(sp - line), line,
			          (int)(nl - sp - 1), sp + 1);
		line = nl + 1;
	}
}

/* The counters at exit: a summary line, and every sample at debug level. */
static void metrics_log(const struct smtp_metrics *m)
{
	struct metrics_text page = { 0 };
	uint64_t rejections = 0;

	for (unsigned i = 0; i < SMTP_REJECT_COUNT; i++)
		rejections += m->rejections[i];
	log_info(0, "stats", "connections=%llu messages=%llu bytes=%llu recipients=%llu "
	         "batches=%llu auth_ok=%llu auth_failed=%llu rejections=%llu outbound_sent=%llu "
	         "outbound_deferred=%llu outbound_bounced=%llu outbound_failed=%llu",
	         (unsigned long long)m->connections, (unsigned long long)m->messages,
	         (unsigned long long)m->message_bytes, (unsigned long long)m->recipients,
	         (unsigned long long)m->commit_batches, (unsigned long long)m->auth_successes,
	         (unsigned long long)m->auth_failures, (unsigned long long)rejections,
	         (unsigned long long)m->outbound_sent, (unsigned long long)m->outbound_deferred,
	         (unsigned long long)m->outbound_bounced, (unsigned long long)m->outbound_failed);
	/* The same text as GET /metrics, so the two never disagree. */
	smtp_metrics_render(m, &page);
	metrics_log_samples(&page);
	free(page.buf);
}

static int start(const struct daemon *d, void **ctx_r, char *err, size_t errlen)
{
	struct smtp_env *env = calloc(1, sizeof(*env));
	char msg[256];

	*ctx_r = env;
	if (env == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	env->cfg = d->cfg;
	env->authlimit = d->authlimit;
	env->pool = d->pool;
	if (smtp_queueid_new(&env->queueids, server_loop(d->srv), d->pool, err, errlen) != 0)
		return -1;
	/* Without it, every lookup goes through the thread pool: slower, not wrong. */
	if (store_pool_open_loop(d->pool, &env->lookup_store, msg, sizeof(msg)) != STORE_OK)
		log_warn(0, "lookup_store", "error=\"%s\"", msg);
	if (smtp_commit_new(&env->committer, server_loop(d->srv), d->pool,
	                    store_writers_wanted(d->cfg->db), err, errlen) != 0)
		return -1;
	return smtp_runner_new(&env->runner, d->srv, env, err, errlen);
}

/*
 * Every session has closed, outbound ones too: the runner hands its
 * claims back, then the commits still running finish, and the
 * committer's handle closes.
 */
static void stop(void *ctx)
{
	struct smtp_env *env = ctx;

	smtp_runner_stop(env->runner);
	smtp_commit_stop(env->committer);
}

static void finish(void *ctx)
{
	struct smtp_env *env = ctx;

	if (env == NULL)
		return;
	metrics_log(&env->metrics);
	smtp_runner_free(&env->runner);
	smtp_commit_free(&env->committer);
	store_close(&env->lookup_store);
	smtp_queueid_free(&env->queueids);
	free(env);
}

static void metrics_render(void *ctx, struct metrics_text *out)
{
	struct smtp_env *env = ctx;
	struct smtp_metrics *m = &env->metrics;

	/* The queue's gauges, when the loop's no-wait handle can read them now
	 * (a locked database keeps the last values); otherwise the runner's
	 * claims refresh them (smtp_runner.c). */
	if (store_loop_safe(env->lookup_store) &&
	    store_queue_stats(env->lookup_store, &m->queue_pending, &m->queue_failed,
	                      &m->queue_oldest_seconds) != STORE_OK)
		log_debug(0, "metrics_queue", "error=\"%s\"", store_errmsg(env->lookup_store));
	smtp_metrics_render(m, out);
	metrics_store_pool(out, "smtp", env->pool);
}

static const struct daemon_listener listeners[] = {
	{ "smtp_listen", offsetof(struct mail_config, smtp_listen), SMTP_ROLE_MX, false },
	{ "submission_listen", offsetof(struct mail_config, submission_listen),
	  SMTP_ROLE_SUBMISSION, false },
	{ "smtps_listen", offsetof(struct mail_config, smtps_listen), SMTP_ROLE_SMTPS, true },
};

static const struct daemon_def smtpd = {
	.name = "smtpd",
	.program = CONFIG_PROGRAM_SMTPD,
	.usage = "usage: smtpd [-c FILE]\n"
	         "Receives mail (RFC 5321) on smtp_listen (MX), submission_listen and "
	         "smtps_listen.\n"
	         "Configuration keys can also be set as MAIL_<KEY> environment variables.\n",
	.listeners = listeners,
	.listener_count = sizeof(listeners) / sizeof(listeners[0]),
	.handler = &smtp_session_handler,
	.reject_line = "421 4.7.0 Too many connections, try later\r\n",
	.start = start,
	.stop = stop,
	.finish = finish,
	.metrics = metrics_render,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &smtpd);
}
