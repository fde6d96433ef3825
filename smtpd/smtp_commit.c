/* smtp_commit.c - committer threads, batches handed back in one wake-up; see smtp_commit.h. */
#include "smtp_commit.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "log.h"
#include "smtp_spool.h"

struct commit_job {
	conn_t *conn; /* held (conn_hold) until the result is back on the loop; may be NULL */
	store_delivery_t *delivery;
	smtp_commit_op_fn *op; /* instead of a delivery: run alone (smtp_commit_run) */
	smtp_commit_done_fn *done;
	void *arg;
	struct commit_job *next;
	struct smtp_commit_result result;
};

struct job_list {
	struct commit_job *head;
	struct commit_job **tail;
};

/* One committer thread and its own store handle. */
struct committer_thread {
	struct smtp_committer *c;
	pthread_t thread;
	store_t *store; /* only this thread touches it while it runs */
};

struct smtp_committer {
	pthread_mutex_t mutex;
	pthread_cond_t work;     /* pending is no longer empty, or stop */
	struct job_list pending; /* deliveries: loop -> committers */
	/* Operations (smtp_commit_run): loop -> the first committer only, so
	 * that they run one at a time and in the order given (the runner's
	 * release must follow its claims and reports). */
	struct job_list ops;
	struct job_list done;    /* committers -> loop */
	bool stop;
	store_pool_t *pool;
	struct committer_thread threads[SMTP_COMMIT_THREADS_MAX];
	unsigned nthreads; /* started */
	/* Only the loop thread touches these. */
	uv_async_t async;
	unsigned outstanding; /* started, done not yet called */
	bool running;
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

/* Opens the committer's handle if it is not open yet; logs why not. */
static bool have_store(struct committer_thread *t, size_t n)
{
	char err[256];

	if (t->store == NULL &&
	    store_pool_open(t->c->pool, STORE_OPEN_BULK, &t->store, err, sizeof(err)) != 0) {
		t->store = NULL; /* tried again with the next batch */
		log_error(0, "commit_failed", "n=%zu error=\"%s\"", n, err);
	}
	return t->store != NULL;
}

/* Commits jobs[0..n) in one store transaction; on a committer thread. */
static void commit_batch(struct committer_thread *t, struct commit_job **jobs, size_t n)
{
	store_delivery_t *deliveries[SMTP_COMMIT_BATCH_MAX];
	int results[SMTP_COMMIT_BATCH_MAX];

	if (n == 1 && jobs[0]->op != NULL) {
		uint64_t started = uv_hrtime();
		jobs[0]->result.status = have_store(t, 1) ? jobs[0]->op(t->store, jobs[0]->arg)
		                                          : STORE_EIO;
		jobs[0]->result.micros = (uv_hrtime() - started) / 1000;
		jobs[0]->result.batch_size = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		deliveries[i] = jobs[i]->delivery;
	uint64_t started = uv_hrtime();
	if (!have_store(t, n)) {
		for (size_t i = 0; i < n; i++)
			results[i] = STORE_EIO;
	} else if (store_deliver_batch(t->store, deliveries, n, results) != STORE_OK) {
		log_error(0, "commit_failed", "n=%zu error=\"%s\"", n, store_errmsg(t->store));
	}
	uint64_t micros = (uv_hrtime() - started) / 1000;
	for (size_t i = 0; i < n; i++) {
		jobs[i]->result.status = results[i];
		jobs[i]->result.micros = micros;
		jobs[i]->result.batch_size = n;
		jobs[i]->result.batch_first = i == 0;
		/* Here, not on the loop: a spilled body's file is closed, which
		 * frees its blocks (smtp_spool.h). */
		store_delivery_free(&jobs[i]->delivery);
	}
}

static void *committer_main(void *arg)
{
	struct committer_thread *t = arg;
	struct smtp_committer *c = t->c;

	bool serves_ops = t == &c->threads[0];
	pthread_mutex_lock(&c->mutex);
	for (;;) {
		while (c->pending.head == NULL && (!serves_ops || c->ops.head == NULL) && !c->stop)
			pthread_cond_wait(&c->work, &c->mutex);
		struct commit_job *batch[SMTP_COMMIT_BATCH_MAX];
		size_t n = 0;
		if (serves_ops && c->ops.head != NULL) {
			/* An operation runs alone, before the deliveries waiting. */
			batch[n++] = c->ops.head;
			c->ops.head = c->ops.head->next;
			if (c->ops.head == NULL)
				list_init(&c->ops);
		} else if (c->pending.head != NULL) {
			/* Oldest first; what arrives during the commit forms the next batch. */
			while (c->pending.head != NULL && n < SMTP_COMMIT_BATCH_MAX) {
				batch[n++] = c->pending.head;
				c->pending.head = c->pending.head->next;
			}
			if (c->pending.head == NULL)
				list_init(&c->pending);
		} else {
			break; /* stop, and nothing left to commit */
		}
		pthread_mutex_unlock(&c->mutex);

		commit_batch(t, batch, n);

		for (size_t i = 0; i + 1 < n; i++)
			batch[i]->next = batch[i + 1];
		batch[n - 1]->next = NULL;
		pthread_mutex_lock(&c->mutex);
		bool was_empty = c->done.head == NULL;
		list_append(&c->done, batch[0], &batch[n - 1]->next);
		pthread_mutex_unlock(&c->mutex);
		/* The loop has not yet taken the previous batch: its wake-up covers this one. */
		if (was_empty)
			uv_async_send(&c->async);
		pthread_mutex_lock(&c->mutex);
	}
	pthread_mutex_unlock(&c->mutex);
	return NULL;
}

/* Lets the committers finish what is pending, and joins them. */
static void join_threads(struct smtp_committer *c)
{
	pthread_mutex_lock(&c->mutex);
	c->stop = true;
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->mutex);
	for (unsigned i = 0; i < c->nthreads; i++)
		pthread_join(c->threads[i].thread, NULL);
	for (unsigned i = 0; i < c->nthreads; i++)
		store_close(&c->threads[i].store);
	c->nthreads = 0;
}

static void finish_job(conn_t *conn, void *arg, int status)
{
	struct commit_job *job = arg;

	(void)status;
	job->done(conn, job->arg, &job->result);
	free(job);
}

/* On the loop: every finished batch, one wake-up for all of them. */
static void deliver_results(struct smtp_committer *c)
{
	pthread_mutex_lock(&c->mutex);
	struct commit_job *job = c->done.head;
	list_init(&c->done);
	pthread_mutex_unlock(&c->mutex);

	while (job != NULL) {
		struct commit_job *next = job->next;
		c->outstanding--;
		if (job->conn != NULL)
			conn_release(job->conn, finish_job, job);
		else
			finish_job(NULL, job, 0);
		job = next;
	}
	/* Nothing outstanding: the async handle must not keep the loop alive. */
	if (c->outstanding == 0 && c->running)
		uv_unref((uv_handle_t *)&c->async);
}

static void async_cb(uv_async_t *handle)
{
	deliver_results(handle->data);
}

int smtp_commit_new(struct smtp_committer **c_r, struct uv_loop_s *loop, store_pool_t *pool,
                    unsigned threads, char *err, size_t errlen)
{
	struct smtp_committer *c = calloc(1, sizeof(*c));

	*c_r = NULL;
	if (c == NULL) {
		snprintf(err, errlen, "commit: out of memory");
		return -1;
	}
	pthread_mutex_init(&c->mutex, NULL);
	pthread_cond_init(&c->work, NULL);
	list_init(&c->pending);
	list_init(&c->ops);
	list_init(&c->done);
	c->pool = pool;
	int rc = uv_async_init(loop, &c->async, async_cb);
	if (rc < 0) {
		snprintf(err, errlen, "commit: %s", uv_strerror(rc));
		smtp_commit_free(&c);
		return -1;
	}
	c->async.data = c;
	uv_unref((uv_handle_t *)&c->async);

	/* Signals are the loop's business (uv_signal); none should interrupt a sync. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (threads < 1)
		threads = 1;
	if (threads > SMTP_COMMIT_THREADS_MAX)
		threads = SMTP_COMMIT_THREADS_MAX;
	rc = 0;
	while (c->nthreads < threads && rc == 0) {
		struct committer_thread *t = &c->threads[c->nthreads];
		t->c = c;
		rc = pthread_create(&t->thread, NULL, committer_main, t);
		if (rc == 0)
			c->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*c_r = c;
	if (rc != 0) {
		snprintf(err, errlen, "commit: cannot start a committer thread: %s", strerror(rc));
		join_threads(c); /* those that did start */
		uv_close((uv_handle_t *)&c->async, NULL); /* freed after the loop has run it */
		return -1;
	}
	c->running = true;
	return 0;
}

/* Hands a job to the committer thread. */
static void enqueue(struct smtp_committer *c, struct commit_job *job)
{
	if (job->conn != NULL)
		conn_hold(job->conn);
	if (c->outstanding++ == 0)
		uv_ref((uv_handle_t *)&c->async);

	pthread_mutex_lock(&c->mutex);
	if (job->op != NULL) {
		list_append(&c->ops, job, &job->next);
		/* Only the first committer takes it: a signal could wake another. */
		pthread_cond_broadcast(&c->work);
	} else {
		list_append(&c->pending, job, &job->next);
		pthread_cond_signal(&c->work);
	}
	pthread_mutex_unlock(&c->mutex);
}

int smtp_commit_start(struct smtp_committer *c, conn_t *conn, store_delivery_t **delivery,
                      smtp_commit_done_fn *done, void *arg)
{
	struct commit_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		if (conn != NULL)
			smtp_spool_free(conn, delivery);
		else
			store_delivery_free(delivery);
		return STORE_ENOMEM;
	}
	job->conn = conn;
	job->delivery = *delivery;
	*delivery = NULL;
	job->done = done;
	job->arg = arg;
	enqueue(c, job);
	return 0;
}

int smtp_commit_run(struct smtp_committer *c, smtp_commit_op_fn *op, smtp_commit_done_fn *done,
                    void *arg)
{
	struct commit_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return STORE_ENOMEM;
	job->op = op;
	job->done = done;
	job->arg = arg;
	enqueue(c, job);
	return 0;
}

void smtp_commit_stop(struct smtp_committer *c)
{
	if (c == NULL || !c->running)
		return;
	join_threads(c);
	c->running = false;
	deliver_results(c);
	uv_close((uv_handle_t *)&c->async, NULL);
}

void smtp_commit_free(struct smtp_committer **c)
{
	if (*c == NULL)
		return;
	/* Never stopped (a start-up that failed after the committers did):
	 * their mutex and condition variable must outlive them. */
	join_threads(*c);
	pthread_mutex_destroy(&(*c)->mutex);
	pthread_cond_destroy(&(*c)->work);
	free(*c);
	*c = NULL;
}
