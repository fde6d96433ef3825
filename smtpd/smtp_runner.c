/*
 * smtp_runner.c - the outbound queue runner; see smtp_runner.h.
 *
 * Like smtp_commit.c and smtp_queueid.c this file includes uv.h: its scan
 * and lease timers belong to no connection.
 */
#include "smtp_runner.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "dns.h"
#include "log.h"
#include "route.h"
#include "secret_file.h"
#include "server.h"
#include "smtp_bounce.h"
#include "smtp_client.h"
#include "smtp_commit.h"
#include "smtp_parse.h"
#include "smtp_retry.h"
#include "smtp_session.h"
#include "smtp_wakeup.h"
#include "store.h"

/* Rows held at most, claimed CLAIM_BATCH at a time (a full claim is followed
 * by another at once): small claims let other runners on the store share. */
#define CLAIM_MAX 200
#define CLAIM_BATCH 50
/* A claim lasts this long and is renewed every third of it while work runs. */
#define LEASE_S 600
/* Addresses of one destination tried before its jobs are deferred. */
#define ADDRS_MAX 16

enum dest_kind { DEST_ROUTE, DEST_RELAY, DEST_MX };

struct dest_addr {
	char host[DNS_NAME_MAX + 1];
	char ip[64];
};

struct dest {
	struct smtp_runner *runner;
	struct dest *next;
	enum dest_kind kind;
	char key[300];           /* "mx:example.com", "hop:host:port" */
	char name[DNS_NAME_MAX + 1]; /* the domain (MX) or the next hop's host */
	unsigned port;
	struct smtp_job *head, **tail; /* jobs waiting for a session */
	size_t waiting;
	unsigned conns;          /* sessions open or connecting */
	bool proven;             /* a session got through: more may open at once */
	bool resolving;
	bool resolved;
	struct dest_addr addrs[ADDRS_MAX];
	size_t addr_count, addr_next;
	char last_error[512];
};

struct smtp_runner {
	struct server *srv;
	struct smtp_env *env;
	const struct mail_config *cfg;
	char owner[128];
	int lease_s;          /* LEASE_S; shorter in tests (MAILTEST_QUEUE_LEASE) */
	unsigned mx_port;     /* 25; another in tests (MAILTEST_MX_PORT) */
	char *relay_password;
	uv_timer_t scan_timer;
	uv_timer_t renew_timer;
	struct smtp_wakeup *wakeup; /* other processes' new mail; NULL without */
	struct dns_resolver *dns;
	struct dest *dests;
	unsigned conns;       /* outbound sessions in all */
	size_t claimed;       /* rows claimed and not yet reported */
	bool claiming;
	bool claimed_ever;    /* some row was claimed: release at stop */
	bool again;           /* claim once more when the current claim is back */
	bool stopped;
};

/* ---- outcomes ------------------------------------------------------------ */

struct report {
	struct smtp_runner *runner;
	struct smtp_job *job;
	struct store_queue_outcome outcomes[SMTP_JOB_RCPT_MAX];
	bool bounced;         /* a bounce was committed */
	bool bounce_remote;   /* ... and it went to the queue */
	char bounce_error[256];
};

static uint32_t random32(void)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)time(NULL) * 2654435761u;
	return r;
}

/* Decides each recipient's verdict, on the loop (the policy is smtp_retry.h's). */
static void decide(struct smtp_runner *r, struct smtp_job *job, struct report *rep)
{
	time_t now = time(NULL);
	for (size_t i = 0; i < job->rcpt_count; i++) {
		struct smtp_job_rcpt *rc = &job->rcpts[i];
		struct store_queue_outcome *o = &rep->outcomes[i];
		o->id = rc->queue_id;
		o->error = rc->diagnostic;
		if (rc->outcome == SMTP_OUTCOME_TEMPORARY &&
		    smtp_retry_expired(job->created, now, r->cfg->queue_lifetime)) {
			/* RFC 3463 4.4.7: delivery time expired; the last error says why. */
			char text[sizeof(rc->diagnostic)];
			snprintf(text, sizeof(text), "%.400s (gave up after %u s in the queue)",
			         rc->diagnostic, r->cfg->queue_lifetime);
			snprintf(rc->diagnostic, sizeof(rc->diagnostic), "%s", text);
			snprintf(rc->status, sizeof(rc->status), "4.4.7");
			rc->outcome = SMTP_OUTCOME_PERMANENT;
		}
		/* RFC 3461 4.1: NOTIFY decides what is reported; without it, failures are. */
		unsigned notify = rc->notify != 0 ? rc->notify : SMTP_NOTIFY_FAILURE;
		rc->report = job->sender[0] != '\0' &&
		             ((rc->outcome == SMTP_OUTCOME_PERMANENT && (notify & SMTP_NOTIFY_FAILURE)) ||
		              (rc->outcome == SMTP_OUTCOME_DELIVERED && (notify & SMTP_NOTIFY_SUCCESS) &&
		               !job->remote_dsn));
		switch (rc->outcome) {
		case SMTP_OUTCOME_DELIVERED:
			o->verdict = STORE_QUEUE_REMOVE;
			break;
		case SMTP_OUTCOME_TEMPORARY:
			o->verdict = STORE_QUEUE_DEFER;
			o->delay_seconds = (int)smtp_retry_delay((unsigned)rc->attempts + 1, random32());
			/* One warning once delay_warning_time has passed (Postfix's
			 * delay_warning_time), unless NOTIFY leaves DELAY out. */
			if (job->sender[0] != '\0' && r->cfg->delay_warning_time > 0 && !rc->delay_warned &&
			    now - job->created >= (int64_t)r->cfg->delay_warning_time &&
			    (rc->notify == 0 || (rc->notify & SMTP_NOTIFY_DELAY))) {
				rc->report = true;
				o->warned = true;
			}
			break;
		case SMTP_OUTCOME_PERMANENT:
			/* Reported to the sender, or not wanted by them (NOTIFY=NEVER):
			 * removed; the null sender's failures are kept for the operator. */
			o->verdict = job->sender[0] != '\0' ? STORE_QUEUE_REMOVE : STORE_QUEUE_FAIL;
			break;
		}
	}
}

/* Committer thread: the bounce and the outcomes, in one transaction. */
static int report_op(store_t *store, void *arg)
{
	struct report *rep = arg;
	struct smtp_job *job = rep->job;
	store_delivery_t *bounce = NULL;
	int err = smtp_bounce_delivery(store, rep->runner->cfg, job, time(NULL), &bounce,
	                               &rep->bounce_remote);
	if (err == STORE_OK) {
		err = store_queue_report(store, rep->runner->owner, rep->outcomes, job->rcpt_count,
		                         bounce);
		rep->bounced = bounce != NULL && err == STORE_OK;
	}
	store_delivery_free(&bounce);
	if (err == STORE_OK)
		return STORE_OK;
	/* A lost connection or a deadlock that the store's own retry did not
	 * overcome says nothing against the bounce: nothing was written, and
	 * the rows come back when their lease expires, bounce and all. */
	if (err == STORE_ERETRY)
		return err;
	/* The report could not be built or stored (the sender's mailbox is
	 * full, or leads nowhere): keep the failures for the operator. */
	snprintf(rep->bounce_error, sizeof(rep->bounce_error), "%s", store_errmsg(store));
	for (size_t i = 0; i < job->rcpt_count; i++) {
		if (job->rcpts[i].outcome == SMTP_OUTCOME_PERMANENT)
			rep->outcomes[i].verdict = STORE_QUEUE_FAIL;
		rep->outcomes[i].warned = false;
	}
	rep->bounce_remote = false;
	return store_queue_report(store, rep->runner->owner, rep->outcomes, job->rcpt_count, NULL);
}

static void claim(struct smtp_runner *r);

/* Logs each recipient's outcome and counts it (smtp_metrics.h). */
static void log_outcomes(struct smtp_metrics *m, const struct smtp_job *job,
                         const struct report *rep)
{
	static const char *const names[] = { "sent", "deferred", "bounced" };
	for (size_t i = 0; i < job->rcpt_count; i++) {
		const struct smtp_job_rcpt *rc = &job->rcpts[i];
		const char *what = names[rc->outcome];
		uint64_t *counter = rc->outcome == SMTP_OUTCOME_DELIVERED   ? &m->outbound_sent
		                    : rc->outcome == SMTP_OUTCOME_TEMPORARY ? &m->outbound_deferred
		                                                            : &m->outbound_bounced;
		/* Failed without a report: the null sender's, NOTIFY=NEVER, or a report that could not be stored. */
		if (rc->outcome == SMTP_OUTCOME_PERMANENT && (!rc->report || !rep->bounced)) {
			what = "failed";
			counter = &m->outbound_failed;
		}
		(*counter)++;
		char to[600], text[1200];
		log_escape(to, sizeof(to), rc->address, strlen(rc->address));
		log_escape(text, sizeof(text), rc->diagnostic, strlen(rc->diagnostic));
		log_info(0, "delivery", "id=%" PRId64 " row=%" PRId64 " to=%s relay=%s status=%s "
		         "dsn=%s reply=%s", job->message_id, rc->queue_id, to,
		         job->remote_mta[0] ? job->remote_mta : "none", what, rc->status, text);
	}
}

static void report_done(conn_t *conn, void *arg, const struct smtp_commit_result *res)
{
	struct report *rep = arg;
	struct smtp_runner *r = rep->runner;
	(void)conn;
	smtp_metrics_count_store(&r->env->metrics, SMTP_STORE_QUEUE_REPORT, res->micros);
	if (res->status != STORE_OK)
		log_error(0, "queue_report_failed", "id=%" PRId64 " error=\"%s\" (the rows come back "
		          "when their lease expires)", rep->job->message_id, store_strerror(res->status));
	else
		log_outcomes(&r->env->metrics, rep->job, rep);
	if (rep->bounce_error[0] != '\0')
		log_warn(0, "bounce_failed", "id=%" PRId64 " error=\"%s\"", rep->job->message_id,
		         rep->bounce_error);
	r->claimed -= rep->job->rcpt_count;
	if (rep->bounce_remote)
		smtp_runner_kick(r);
	smtp_job_free(rep->job);
	free(rep);
	/* Room for more work. */
	if (!r->stopped && r->claimed < CLAIM_MAX / 2)
		claim(r);
}

/* A job is over (from a session, or failed before one): report its outcomes. */
static void job_finished(struct smtp_runner *r, struct smtp_job *job)
{
	struct report *rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		log_error(0, "queue_report_failed", "id=%" PRId64 " error=\"out of memory\"",
		          job->message_id);
		r->claimed -= job->rcpt_count;
		smtp_job_free(job);
		return;
	}
	rep->runner = r;
	rep->job = job;
	decide(r, job, rep);
	if (smtp_commit_run(r->env->committer, report_op, report_done, rep) != 0) {
		log_error(0, "queue_report_failed", "id=%" PRId64 " error=\"out of memory\"",
		          job->message_id);
		r->claimed -= job->rcpt_count;
		smtp_job_free(job);
		free(rep);
	}
}

/* ---- destinations ---------------------------------------------------------- */

static void dispatch(struct dest *d);

static void dest_free_if_idle(struct dest *d)
{
	if (d->head != NULL || d->conns > 0 || d->resolving)
		return;
	struct dest **pp = &d->runner->dests;
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	free(d);
}

/* Every waiting job of the destination ends with the same outcome. */
static void dest_settle_all(struct dest *d, enum smtp_outcome outcome, const char *status,
                            const char *why)
{
	struct smtp_job *job = d->head;
	d->head = NULL;
	d->tail = &d->head;
	d->waiting = 0;
	while (job != NULL) {
		struct smtp_job *next = job->next;
		smtp_job_settle(job, outcome, status, why);
		job_finished(d->runner, job);
		job = next;
	}
}

static void resolved_cb(void *arg, const struct dns_result *res)
{
	struct dest *d = arg;
	d->resolving = false;
	if (res->status == DNS_CANCELLED) {
		dest_free_if_idle(d);
		return;
	}
	char why[600];
	switch (res->status) {
	case DNS_OK:
		d->addr_count = 0;
		for (size_t h = 0; h < res->count && d->addr_count < ADDRS_MAX; h++)
			for (size_t a = 0; a < res->hosts[h].addr_count && d->addr_count < ADDRS_MAX; a++) {
				struct dest_addr *da = &d->addrs[d->addr_count++];
				snprintf(da->host, sizeof(da->host), "%s", res->hosts[h].name);
				snprintf(da->ip, sizeof(da->ip), "%s", res->hosts[h].addrs[a]);
			}
		d->addr_next = 0;
		if (d->addr_count > 0) {
			d->resolved = true;
			dispatch(d);
			return;
		}
		snprintf(why, sizeof(why), "%s: no address for any mail exchanger", d->name);
		dest_settle_all(d, SMTP_OUTCOME_TEMPORARY, "4.4.3", why);
		break;
	case DNS_NULL_MX:
		/* RFC 7505 3: the domain accepts no mail; fail at once. */
		snprintf(why, sizeof(why), "%s does not accept mail (null MX, RFC 7505)", d->name);
		dest_settle_all(d, SMTP_OUTCOME_PERMANENT, "5.1.10", why);
		break;
	case DNS_NOT_FOUND:
		snprintf(why, sizeof(why), "%s: %s", d->name, res->error);
		/* A recipient domain that does not exist fails; a configured host
		 * that does not is the operator's to fix, meanwhile retried. */
		if (d->kind == DEST_MX)
			dest_settle_all(d, SMTP_OUTCOME_PERMANENT, "5.4.4", why);
		else
			dest_settle_all(d, SMTP_OUTCOME_TEMPORARY, "4.4.3", why);
		break;
	default:
		snprintf(why, sizeof(why), "%s: %s", d->name, res->error);
		dest_settle_all(d, SMTP_OUTCOME_TEMPORARY, "4.4.3", why);
		break;
	}
	dest_free_if_idle(d);
}

static struct smtp_job *next_job_cb(void *owner, void *dest)
{
	struct smtp_runner *r = owner;
	struct dest *d = dest;
	if (r->stopped || server_stopping(r->srv) || d->head == NULL)
		return NULL;
	struct smtp_job *job = d->head;
	d->head = job->next;
	if (d->head == NULL)
		d->tail = &d->head;
	d->waiting--;
	job->next = NULL;
	d->proven = true;
	return job;
}

static void job_done_cb(void *owner, struct smtp_job *job)
{
	job_finished(owner, job);
}

static void closed_cb(void *owner, void *dest, bool usable, const char *reason)
{
	struct smtp_runner *r = owner;
	struct dest *d = dest;
	r->conns--;
	d->conns--;
	if (!usable) {
		snprintf(d->last_error, sizeof(d->last_error), "%s", reason);
		d->addr_next++;
		if (d->addr_next >= d->addr_count && d->conns == 0) {
			/* Every address failed: the jobs wait for their next attempt, and
			 * the destination is looked up afresh then. */
			dest_settle_all(d, SMTP_OUTCOME_TEMPORARY, "4.4.1", d->last_error);
			d->resolved = false;
			d->proven = false;
		}
	}
	if (!r->stopped)
		dispatch(d);
	/* Others may have waited for the overall limit. */
	for (struct dest *o = r->dests, *next; o != NULL; o = next) {
		next = o->next;
		if (o != d && o->head != NULL && !r->stopped)
			dispatch(o);
	}
	dest_free_if_idle(d);
}

static const struct smtp_client_ops client_ops = {
	.next_job = next_job_cb,
	.job_done = job_done_cb,
	.closed = closed_cb,
};

/* Opens sessions for waiting jobs, within the limits. */
static void dispatch(struct dest *d)
{
	struct smtp_runner *r = d->runner;
	if (r->stopped || server_stopping(r->srv) || d->head == NULL)
		return;
	if (!d->resolved) {
		if (d->resolving)
			return;
		d->resolving = true;
		int rc = d->kind == DEST_MX ? dns_resolve_mail(r->dns, d->name, resolved_cb, d)
		                            : dns_resolve_host(r->dns, d->name, resolved_cb, d);
		if (rc != 0) {
			char why[600];
			d->resolving = false;
			snprintf(why, sizeof(why), "%s: cannot be looked up", d->name);
			dest_settle_all(d, d->kind == DEST_MX ? SMTP_OUTCOME_PERMANENT : SMTP_OUTCOME_TEMPORARY,
			                d->kind == DEST_MX ? "5.1.2" : "4.4.3", why);
		}
		return;
	}
	/* Until a session gets through, one at a time: addresses are tried in turn. */
	unsigned cap = d->proven ? r->cfg->outbound_connections_per_destination : 1;
	while (d->conns < cap && d->conns < d->waiting && r->conns < r->cfg->outbound_connections &&
	       d->addr_next < d->addr_count) {
		const struct dest_addr *a = &d->addrs[d->addr_next];
		struct smtp_client_target t = {
			.port = d->port,
			.tls_policy = d->kind == DEST_MX ? CONFIG_TLS_MAY : r->cfg->relay_tls_policy,
		};
		snprintf(t.host, sizeof(t.host), "%s", a->host);
		snprintf(t.ip, sizeof(t.ip), "%s", a->ip);
		if (d->kind == DEST_RELAY && r->relay_password != NULL) {
			t.auth_user = r->cfg->relay_auth_user;
			t.auth_password = r->relay_password;
		}
		char err[256];
		if (smtp_client_start(r->srv, r->env, &t, &client_ops, r, d, err, sizeof(err)) != 0) {
			snprintf(d->last_error, sizeof(d->last_error), "%s[%s]: %s", a->host, a->ip, err);
			d->addr_next++;
			continue;
		}
		d->conns++;
		r->conns++;
	}
	if (d->conns == 0 && d->addr_next >= d->addr_count) {
		dest_settle_all(d, SMTP_OUTCOME_TEMPORARY, "4.4.1", d->last_error);
		d->resolved = false;
	}
}

/* The destination of a recipient: routes, then relay_host, then MX. */
static struct dest *dest_for(struct smtp_runner *r, const char *recipient)
{
	const char *at = strrchr(recipient, '@');
	const char *domain = at != NULL ? at + 1 : recipient;
	const struct route *route = route_table_find(&r->cfg->route_table, domain);
	char key[300];
	enum dest_kind kind;
	const char *name;
	unsigned port;
	if (route != NULL) {
		kind = DEST_ROUTE;
		name = route->hop.host;
		port = route->hop.port;
	} else if (r->cfg->relay.host[0] != '\0') {
		kind = DEST_RELAY;
		name = r->cfg->relay.host;
		port = r->cfg->relay.port;
	} else {
		kind = DEST_MX;
		name = domain;
		port = r->mx_port;
	}
	snprintf(key, sizeof(key), "%d:%s:%u", (int)kind, name, port);
	for (struct dest *d = r->dests; d != NULL; d = d->next)
		if (strcasecmp(d->key, key) == 0)
			return d;
	struct dest *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->runner = r;
	d->kind = kind;
	d->port = port;
	snprintf(d->key, sizeof(d->key), "%s", key);
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->tail = &d->head;
	d->next = r->dests;
	r->dests = d;
	/* A literal address in a route needs no lookup. */
	return d;
}

/* Claimed rows into jobs: one message, one destination, up to SMTP_JOB_RCPT_MAX recipients. */
static void make_jobs(struct smtp_runner *r, const struct store_queue_item *items, size_t n)
{
	struct dest *touched[CLAIM_MAX];
	size_t ntouched = 0;
	struct smtp_job *open[CLAIM_MAX];
	size_t nopen = 0;

	for (size_t i = 0; i < n; i++) {
		const struct store_queue_item *it = &items[i];
		struct dest *d = dest_for(r, it->recipient);
		struct smtp_job *job = NULL;
		for (size_t k = 0; k < nopen; k++)
			if (open[k]->message_id == it->message_id && open[k]->dest == d &&
			    open[k]->rcpt_count < SMTP_JOB_RCPT_MAX)
				job = open[k];
		if (job == NULL) {
			job = calloc(1, sizeof(*job));
			if (job == NULL || d == NULL) {
				/* Out of memory: the row comes back when its lease ends. */
				free(job);
				r->claimed--;
				continue;
			}
			job->message_id = it->message_id;
			job->created = it->created;
			job->ret = it->dsn_ret;
			snprintf(job->envid, sizeof(job->envid), "%s", it->dsn_envid);
			snprintf(job->sender, sizeof(job->sender), "%s", it->sender);
			job->dest = d;
			open[nopen++] = job;
			*d->tail = job;
			d->tail = &job->next;
			d->waiting++;
			bool seen = false;
			for (size_t k = 0; k < ntouched; k++)
				seen |= touched[k] == d;
			if (!seen)
				touched[ntouched++] = d;
		}
		struct smtp_job_rcpt *rc = &job->rcpts[job->rcpt_count++];
		rc->queue_id = it->id;
		rc->attempts = it->attempts;
		rc->notify = it->dsn_notify;
		rc->delay_warned = it->delay_warned;
		snprintf(rc->orcpt, sizeof(rc->orcpt), "%s", it->dsn_orcpt);
		snprintf(rc->address, sizeof(rc->address), "%s", it->recipient);
	}
	for (size_t k = 0; k < ntouched; k++)
		dispatch(touched[k]);
}

/* ---- claims and leases ------------------------------------------------------ */

struct claim_job {
	struct smtp_runner *runner;
	size_t max;
	struct store_queue_item *items;
	size_t count;
	/* The queue's gauges, read after the claim when the metrics page may
	 * not read them on the loop itself (smtp_metrics.h). */
	bool stats;
	bool stats_read;
	uint64_t pending, failed, oldest;
};

static int claim_op(store_t *store, void *arg)
{
	struct claim_job *cj = arg;
	int err = store_queue_claim(store, cj->runner->owner, cj->runner->lease_s, cj->max,
	                            &cj->items, &cj->count);
	if (cj->stats)
		cj->stats_read = store_queue_stats(store, &cj->pending, &cj->failed, &cj->oldest) ==
		                 STORE_OK;
	return err;
}

static void claim_done(conn_t *conn, void *arg, const struct smtp_commit_result *res)
{
	struct claim_job *cj = arg;
	struct smtp_runner *r = cj->runner;
	(void)conn;
	smtp_metrics_count_store(&r->env->metrics, SMTP_STORE_QUEUE_CLAIM, res->micros);
	r->claiming = false;
	if (cj->stats_read) {
		r->env->metrics.queue_pending = cj->pending;
		r->env->metrics.queue_failed = cj->failed;
		r->env->metrics.queue_oldest_seconds = cj->oldest;
	}
	if (res->status != STORE_OK) {
		log_error(0, "queue_claim_failed", "error=\"%s\"", store_strerror(res->status));
	} else if (cj->count > 0) {
		r->claimed += cj->count;
		r->claimed_ever = true;
		log_debug(0, "queue_claim", "rows=%zu", cj->count);
		if (!r->stopped)
			make_jobs(r, cj->items, cj->count);
	}
	bool full = res->status == STORE_OK && cj->count == cj->max;
	free(cj->items);
	free(cj);
	/* The rows claimed while we were away: released at stop. */
	if (!r->stopped && (r->again || full)) {
		r->again = false;
		claim(r);
	}
}

static void claim(struct smtp_runner *r)
{
	if (r->stopped || server_stopping(r->srv))
		return;
	if (r->claiming) {
		r->again = true;
		return;
	}
	if (r->claimed >= CLAIM_MAX)
		return; /* enough in hand; report_done claims again */
	struct claim_job *cj = calloc(1, sizeof(*cj));
	if (cj == NULL)
		return;
	cj->runner = r;
	cj->max = CLAIM_MAX - r->claimed < CLAIM_BATCH ? CLAIM_MAX - r->claimed : CLAIM_BATCH;
	cj->stats = !store_loop_safe(r->env->lookup_store);
	r->claiming = true;
	if (smtp_commit_run(r->env->committer, claim_op, claim_done, cj) != 0) {
		r->claiming = false;
		free(cj);
	}
}

static int renew_op(store_t *store, void *arg)
{
	struct smtp_runner *r = arg;
	return store_queue_renew(store, r->owner, r->lease_s);
}

static int release_op(store_t *store, void *arg)
{
	struct smtp_runner *r = arg;
	return store_queue_release(store, r->owner);
}

static void lease_done(conn_t *conn, void *arg, const struct smtp_commit_result *res)
{
	(void)conn;
	(void)arg;
	if (res->status != STORE_OK)
		log_error(0, "queue_lease_failed", "error=\"%s\"", store_strerror(res->status));
}

static void scan_cb(uv_timer_t *t)
{
	claim(t->data);
}

/* Another process queued or retried mail (smtp_wakeup.h). */
static void wakeup_cb(void *arg)
{
	claim(arg);
}

static void renew_cb(uv_timer_t *t)
{
	struct smtp_runner *r = t->data;
	if (r->claimed > 0 && !r->stopped)
		smtp_commit_run(r->env->committer, renew_op, lease_done, r);
}

/* ---- life cycle --------------------------------------------------------------- */

/*
 * Test hooks (MAIL_TEST_HOOKS builds): MAILTEST_QUEUE_LEASE=S shortens the
 * claim lease, so a test of a killed runner need not wait ten minutes;
 * MAILTEST_MX_PORT=P sends MX deliveries to port P, so the DNS path can be
 * tested without binding port 25; MAILTEST_QUEUE_RUNNER=off starts no
 * runner at all, so that a test can show another process's runner
 * sending what this one accepted.
 */
static bool runner_disabled(void)
{
#ifdef MAIL_TEST_HOOKS
	const char *v = getenv("MAILTEST_QUEUE_RUNNER");
	return v != NULL && strcmp(v, "off") == 0;
#else
	return false;
#endif
}

static void read_hooks(struct smtp_runner *r)
{
	r->lease_s = LEASE_S;
	r->mx_port = ROUTE_DEFAULT_PORT;
#ifdef MAIL_TEST_HOOKS
	const char *v = getenv("MAILTEST_QUEUE_LEASE");
	if (v != NULL && atoi(v) > 0)
		r->lease_s = atoi(v);
	v = getenv("MAILTEST_MX_PORT");
	if (v != NULL && atoi(v) > 0 && atoi(v) < 65536)
		r->mx_port = (unsigned)atoi(v);
#endif
}

int smtp_runner_new(struct smtp_runner **r_r, struct server *srv, struct smtp_env *env, char *err,
                    size_t errlen)
{
	*r_r = NULL;
	if (runner_disabled()) {
		log_warn(0, "queue_runner_off", "reason=MAILTEST_QUEUE_RUNNER");
		return 0;
	}
	struct smtp_runner *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "runner: out of memory");
		return -1;
	}
	r->srv = srv;
	r->env = env;
	r->cfg = env->cfg;
	read_hooks(r);
	snprintf(r->owner, sizeof(r->owner), "%.100s:%ld:%08x", env->cfg->hostname, (long)getpid(),
	         random32());
	if (env->cfg->relay_auth_password_file[0] != '\0' &&
	    secret_file_read("relay_auth_password_file", env->cfg->relay_auth_password_file, 0,
	                     &r->relay_password, err, errlen) != 0) {
		free(r);
		return -1;
	}
	uv_loop_t *loop = server_loop(srv);
	if (dns_resolver_new(loop, env->cfg->dns_servers, 5000, &r->dns, err, errlen) != 0) {
		secret_free(&r->relay_password);
		free(r);
		return -1;
	}
	uv_timer_init(loop, &r->scan_timer);
	uv_timer_init(loop, &r->renew_timer);
	r->scan_timer.data = r;
	r->renew_timer.data = r;
	uint64_t scan_ms = (uint64_t)env->cfg->queue_scan_interval * 1000;
	/* The first look at once: what an earlier run left in the queue. */
	uv_timer_start(&r->scan_timer, scan_cb, 0, scan_ms);
	uint64_t renew_ms = (uint64_t)r->lease_s * 1000 / 3;
	uv_timer_start(&r->renew_timer, renew_cb, renew_ms, renew_ms);
	/* From here on r is the caller's, whatever happens: smtp_runner_stop
	 * closes the timers. */
	*r_r = r;
	return smtp_wakeup_new(&r->wakeup, loop, env->pool, wakeup_cb, r, err, errlen);
}

void smtp_runner_kick(struct smtp_runner *r)
{
	if (r != NULL)
		claim(r);
}

void smtp_runner_stop(struct smtp_runner *r)
{
	if (r == NULL || r->stopped)
		return;
	r->stopped = true;
	/* Jobs no session took: their rows go back untried. */
	for (struct dest *d = r->dests; d != NULL; d = d->next) {
		struct smtp_job *job = d->head;
		while (job != NULL) {
			struct smtp_job *next = job->next;
			r->claimed -= job->rcpt_count;
			smtp_job_free(job);
			job = next;
		}
		d->head = NULL;
		d->tail = &d->head;
		d->waiting = 0;
	}
	/* A claim still on its way is ahead of the release: the committer runs
	 * operations one at a time, in order (smtp_commit_run). */
	if (r->claimed_ever || r->claiming)
		smtp_commit_run(r->env->committer, release_op, lease_done, r);
	smtp_wakeup_stop(r->wakeup);
	uv_close((uv_handle_t *)&r->scan_timer, NULL);
	uv_close((uv_handle_t *)&r->renew_timer, NULL);
	dns_resolver_close(r->dns);
	r->dns = NULL;
}

void smtp_runner_free(struct smtp_runner **rp)
{
	struct smtp_runner *r = *rp;
	if (r == NULL)
		return;
	while (r->dests != NULL) {
		struct dest *d = r->dests;
		r->dests = d->next;
		free(d);
	}
	smtp_wakeup_free(&r->wakeup);
	secret_free(&r->relay_password);
	free(r);
	*rp = NULL;
}
