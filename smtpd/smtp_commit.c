/* smtp_commit.c - leader/follower group commit on the thread pool; see smtp_commit.h. */
#include "smtp_commit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "log.h"

struct commit_job {
	store_delivery_t *delivery;
	const char *db_path;
	smtp_commit_done_fn *done;
	struct commit_job *next;  /* in the pending list */
	bool finished;            /* result is published (under commit_mutex) */
	pthread_cond_t wake;      /* signalled when finished, or when it should lead */
	struct smtp_commit_result result;
};

/* The process-wide batch: pending jobs in arrival order, and whether a commit runs. */
static pthread_mutex_t commit_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct commit_job *pending_head;
static struct commit_job **pending_tail = &pending_head;
static bool committing;
/*
 * The committer's connection, whichever thread leads: one commit runs at a
 * time (committing), so one thread at a time uses it, as store.h requires.
 * A single writing connection keeps its page cache valid between commits;
 * per-thread connections would each re-read every page the others changed.
 */
static store_t *commit_store;

/* Runs one store transaction for jobs[0..n); called without the mutex held. */
static void commit__run(struct commit_job **jobs, size_t n)
{
	store_delivery_t *deliveries[SMTP_COMMIT_BATCH_MAX];
	int results[SMTP_COMMIT_BATCH_MAX];
	char err[256];

	if (n == 0)
		return; /* cannot happen: the caller's own job is pending */
	for (size_t i = 0; i < n; i++)
		deliveries[i] = jobs[i]->delivery;
	if (commit_store == NULL && store_open(jobs[0]->db_path, 0, &commit_store, err, sizeof(err)) != 0)
		commit_store = NULL;
	store_t *store = commit_store;
	if (store == NULL) {
		log_error(0, "commit_failed", "n=%zu error=\"%s\"", n, err);
		for (size_t i = 0; i < n; i++)
			results[i] = STORE_EIO;
	} else {
		int rc = store_deliver_batch(store, deliveries, n, results);

		if (rc != STORE_OK)
			log_error(0, "commit_failed", "n=%zu error=\"%s\"", n, store_errmsg(store));
		else
			log_debug(0, "commit", "n=%zu", n);
	}
	for (size_t i = 0; i < n; i++) {
		jobs[i]->result.status = results[i];
		jobs[i]->result.batch_size = n;
		jobs[i]->result.batch_first = i == 0;
	}
}

static void commit__work(void *arg)
{
	struct commit_job *job = arg;

	pthread_mutex_lock(&commit_mutex);
	job->next = NULL;
	*pending_tail = job;
	pending_tail = &job->next;
	while (!job->finished) {
		if (committing) {
			pthread_cond_wait(&job->wake, &commit_mutex);
			continue;
		}
		/* Nobody commits: lead the next batch, oldest pending first. */
		struct commit_job *batch[SMTP_COMMIT_BATCH_MAX];
		size_t n = 0;

		while (pending_head != NULL && n < SMTP_COMMIT_BATCH_MAX) {
			batch[n++] = pending_head;
			pending_head = pending_head->next;
		}
		if (pending_head == NULL)
			pending_tail = &pending_head;
		committing = true;
		pthread_mutex_unlock(&commit_mutex);

		commit__run(batch, n);

		/*
		 * Wake only who has something to do: the batch's members, and the
		 * oldest pending job to lead the next batch. (A broadcast would
		 * wake every waiter, most of them to sleep again: context switches
		 * are the main CPU cost at 20 senders.) Each is signalled under
		 * the mutex, so none can return and free its job before we are done.
		 */
		pthread_mutex_lock(&commit_mutex);
		for (size_t i = 0; i < n; i++) {
			batch[i]->finished = true;
			pthread_cond_signal(&batch[i]->wake);
		}
		committing = false;
		if (pending_head != NULL)
			pthread_cond_signal(&pending_head->wake);
	}
	pthread_mutex_unlock(&commit_mutex);
}

static void commit__done(conn_t *conn, void *arg, int status)
{
	struct commit_job *job = arg;

	if (status != 0) {
		/* Cancelled at shutdown before it ran: it never joined a batch. */
		job->result.status = STORE_EIO;
		job->result.cancelled = true;
	}
	store_delivery_free(&job->delivery);
	job->done(conn, &job->result);
	pthread_cond_destroy(&job->wake);
	free(job);
}

int smtp_commit_start(conn_t *conn, const char *db_path, store_delivery_t **delivery,
                      smtp_commit_done_fn *done)
{
	struct commit_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		store_delivery_free(delivery);
		return -ENOMEM; /* libuv errors are negative errno values */
	}
	if (pthread_cond_init(&job->wake, NULL) != 0) {
		free(job);
		store_delivery_free(delivery);
		return -ENOMEM;
	}
	job->delivery = *delivery;
	*delivery = NULL;
	job->db_path = db_path;
	job->done = done;
	int rc = conn_queue_work(conn, commit__work, commit__done, job);
	if (rc != 0) {
		store_delivery_free(&job->delivery);
		pthread_cond_destroy(&job->wake);
		free(job);
	}
	return rc;
}

void smtp_commit_close(void)
{
	pthread_mutex_lock(&commit_mutex);
	store_close(&commit_store);
	pthread_mutex_unlock(&commit_mutex);
}
