/* smtp_spool.c - spilling large bodies on the thread pool; see smtp_spool.h. */
#include "smtp_spool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "smtp_session_private.h"

struct spool_job {
	store_delivery_t *delivery; /* lent by the transaction while the job runs */
	uint64_t sid;               /* the session, for the log */
	unsigned txn_seq;           /* which of the session's transactions lent it */
	int rc;
	char err[256];
};

/* ---- freeing --------------------------------------------------------- */

static void free_work_cb(void *arg)
{
	store_delivery_t *delivery = arg;

	store_delivery_free(&delivery);
}

static void free_done_cb(conn_t *conn, void *arg, int status)
{
	store_delivery_t *delivery = arg;

	(void)conn;
	if (status != 0)
		store_delivery_free(&delivery); /* cancelled at shutdown: the job never ran */
}

void smtp_spool_free(conn_t *conn, store_delivery_t **delivery)
{
	if (*delivery == NULL)
		return;
	if (conn == NULL || !store_delivery_spilled(*delivery)) {
		/*
		 * Without a connection (a spill that finished after its client
		 * left) the file is closed here, on the loop: rare enough, and
		 * nothing else may still own it.
		 */
		store_delivery_free(delivery);
		return;
	}
	if (conn_queue_work(conn, free_work_cb, free_done_cb, *delivery) == 0) {
		*delivery = NULL;
		return;
	}
	/* Out of memory: closing on the loop is the lesser evil. */
	store_delivery_free(delivery);
}

/* ---- spilling -------------------------------------------------------- */

static void spool_work_cb(void *arg)
{
	struct spool_job *job = arg;

	job->rc = store_delivery_spill(job->delivery, job->err, sizeof(job->err));
}

static void spool_done_cb(conn_t *conn, void *arg, int status)
{
	struct spool_job *job = arg;
	struct smtp_session *s = conn != NULL ? conn_data(conn) : NULL;

	if (s == NULL || s->txn == NULL || s->txn_seq != job->txn_seq || s->txn->delivery != NULL) {
		/* The session was torn down while the file was written (input
		 * was paused, so nothing else can have ended the transaction). */
		log_debug(job->sid, "spill_dropped", "size=%llu",
		          (unsigned long long)store_delivery_size(job->delivery));
		smtp_spool_free(conn, &job->delivery);
		free(job);
		return;
	}
	if (status != 0 && job->rc == STORE_OK) {
		job->rc = STORE_EIO;
		snprintf(job->err, sizeof(job->err), "spill not run: %s", conn_strerror(status));
	}
	if (job->rc != STORE_OK)
		log_error(s->core.id, "spill_failed", "id=%s size=%llu error=\"%s\"", s->txn->id,
		          (unsigned long long)store_delivery_size(job->delivery), job->err);
	smtp_txn_return_delivery(s->txn, job->delivery, job->rc);
	free(job);
	/* The body goes on: a SIGTERM's 421 waits for its end (the session's may_stop). */
	session_done(&s->core);
}

void smtp_spool_start(struct smtp_session *s)
{
	struct spool_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		log_error(s->core.id, "spill_failed", "id=%s error=\"out of memory\"", s->txn->id);
		s->txn->write_err = STORE_ENOMEM;
		return;
	}
	job->sid = s->core.id;
	job->txn_seq = s->txn_seq;
	job->delivery = smtp_txn_take_delivery(s->txn);
	if (session_queue_work(&s->core, spool_work_cb, spool_done_cb, job) != 0) {
		smtp_txn_return_delivery(s->txn, job->delivery, STORE_ENOMEM);
		free(job);
	}
}
