/* smtp_commit.c - one committer thread, batches handed back in one wake-up; see smtp_commit.h. */
#include "smtp_commit.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "smtp_spool.h"

struct commit_job {
	conn_t *conn; /* held (conn_hold) until the result is back on the loop */
	store_delivery_t *delivery;
	smtp_commit_done_fn *done;
	void *arg;
	struct commit_job *next;
	struct smtp_commit_result result;
};

struct job_list {
	struct commit_job *head;
	struct commit_job **tail;
};

static struct {
	pthread_mutex_t mutex;
	pthread_cond_t work;     /* pending is no longer empty, or stop */
	struct job_list pending; /* loop -> committer */
	struct job_list done;    /* committer -> loop */
	bool stop;
	/* Only the committer thread touches these after init. */
	pthread_t thread;
	const char *db_path;
	store_t *store;
	/* Only the loop thread touches these. */
	uv_async_t async;
	unsigned outstanding; /* started, done not yet called */
	bool running;
} committer = {
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
};

static void list_init(struct job_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void list_append(struct job_list *l, struct commit_job *first, struct commit_job **last_next)
{
	*l->tail = first;
	l->tail = last_next;
}

/* Commits jobs[0..n) in one store transaction; on the committer thread. */
static void commit_batch(struct commit_job **jobs, size_t n)
{
	store_delivery_t *deliveries[SMTP_COMMIT_BATCH_MAX];
	int results[SMTP_COMMIT_BATCH_MAX];
	char err[256];

	for (size_t i = 0; i < n; i++)
		deliveries[i] = jobs[i]->delivery;
	if (committer.store == NULL &&
	    store_open(committer.db_path, STORE_OPEN_BULK, &committer.store, err, sizeof(err)) != 0)
		committer.store = NULL; /* tried again with the next batch */
	if (committer.store == NULL) {
		log_error(0, "commit_failed", "n=%zu error=\"%s\"", n, err);
		for (size_t i = 0; i < n; i++)
			results[i] = STORE_EIO;
	} else if (store_deliver_batch(committer.store, deliveries, n, results) != STORE_OK) {
		log_error(0, "commit_failed", "n=%zu error=\"%s\"", n, store_errmsg(committer.store));
	}
	for (size_t i = 0; i < n; i++) {
		jobs[i]->result.status = results[i];
		jobs[i]->result.batch_size = n;
		jobs[i]->result.batch_first = i == 0;
		/* Here, not on the loop: a spilled body's file is closed, which
		 * frees its blocks (smtp_spool.h). */
		store_delivery_free(&jobs[i]->delivery);
	}
}

static void *committer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&committer.mutex);
	for (;;) {
		while (committer.pending.head == NULL && !committer.stop)
			pthread_cond_wait(&committer.work, &committer.mutex);
		if (committer.pending.head == NULL)
			break; /* stop, and nothing left to commit */

		/* Oldest first; what arrives during the commit forms the next batch. */
		struct commit_job *batch[SMTP_COMMIT_BATCH_MAX];
		size_t n = 0;
		while (committer.pending.head != NULL && n < SMTP_COMMIT_BATCH_MAX) {
			batch[n++] = committer.pending.head;
			committer.pending.head = committer.pending.head->next;
		}
		if (committer.pending.head == NULL)
			list_init(&committer.pending);
		pthread_mutex_unlock(&committer.mutex);

		commit_batch(batch, n);

		for (size_t i = 0; i + 1 < n; i++)
			batch[i]->next = batch[i + 1];
		batch[n - 1]->next = NULL;
		pthread_mutex_lock(&committer.mutex);
		bool was_empty = committer.done.head == NULL;
		list_append(&committer.done, batch[0], &batch[n - 1]->next);
		pthread_mutex_unlock(&committer.mutex);
		/* The loop has not yet taken the previous batch: its wake-up covers this one. */
		if (was_empty)
			uv_async_send(&committer.async);
		pthread_mutex_lock(&committer.mutex);
	}
	pthread_mutex_unlock(&committer.mutex);
	return NULL;
}

static void finish_job(conn_t *conn, void *arg, int status)
{
	struct commit_job *job = arg;

	(void)status;
	job->done(conn, job->arg, &job->result);
	free(job);
}

/* On the loop: every finished batch, one wake-up for all of them. */
static void deliver_results(void)
{
	pthread_mutex_lock(&committer.mutex);
	struct commit_job *job = committer.done.head;
	list_init(&committer.done);
	pthread_mutex_unlock(&committer.mutex);

	while (job != NULL) {
		struct commit_job *next = job->next;
		committer.outstanding--;
		conn_release(job->conn, finish_job, job);
		job = next;
	}
	/* Nothing outstanding: the async handle must not keep the loop alive. */
	if (committer.outstanding == 0 && committer.running)
		uv_unref((uv_handle_t *)&committer.async);
}

static void async_cb(uv_async_t *handle)
{
	(void)handle;
	deliver_results();
}

int smtp_commit_init(uv_loop_t *loop, const char *db_path, char *err, size_t errlen)
{
	list_init(&committer.pending);
	list_init(&committer.done);
	committer.db_path = db_path;
	int rc = uv_async_init(loop, &committer.async, async_cb);
	if (rc < 0) {
		snprintf(err, errlen, "commit: %s", uv_strerror(rc));
		return -1;
	}
	uv_unref((uv_handle_t *)&committer.async);

	/* Signals are the loop's business (uv_signal); none should interrupt a sync. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&committer.thread, NULL, committer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "commit: cannot start the committer thread: %s", strerror(rc));
		uv_close((uv_handle_t *)&committer.async, NULL);
		return -1;
	}
	committer.running = true;
	return 0;
}

int smtp_commit_start(conn_t *conn, store_delivery_t **delivery, smtp_commit_done_fn *done,
                      void *arg)
{
	struct commit_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		smtp_spool_free(delivery);
		return STORE_ENOMEM;
	}
	job->conn = conn;
	job->delivery = *delivery;
	*delivery = NULL;
	job->done = done;
	job->arg = arg;
	conn_hold(conn);
	if (committer.outstanding++ == 0)
		uv_ref((uv_handle_t *)&committer.async);

	pthread_mutex_lock(&committer.mutex);
	list_append(&committer.pending, job, &job->next);
	pthread_cond_signal(&committer.work);
	pthread_mutex_unlock(&committer.mutex);
	return 0;
}

void smtp_commit_stop(void)
{
	if (!committer.running)
		return;
	pthread_mutex_lock(&committer.mutex);
	committer.stop = true;
	pthread_cond_signal(&committer.work);
	pthread_mutex_unlock(&committer.mutex);
	pthread_join(committer.thread, NULL);
	committer.running = false;
	deliver_results();
	store_close(&committer.store);
	uv_close((uv_handle_t *)&committer.async, NULL);
}
