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

struct spool_free {
	uv_work_t req;
	store_delivery_t *delivery;
};

static uv_loop_t *spool_loop;

void smtp_spool_init(uv_loop_t *loop)
{
	spool_loop = loop;
}

/* ---- freeing --------------------------------------------------------- */

static void free_work_cb(uv_work_t *req)
{
	struct spool_free *f = req->data;

	store_delivery_free(&f->delivery);
}

static void free_done_cb(uv_work_t *req, int status)
{
	struct spool_free *f = req->data;

	(void)status;
	store_delivery_free(&f->delivery); /* only if the job never ran */
	free(f);
}

void smtp_spool_free(store_delivery_t **delivery)
{
	if (*delivery == NULL)
		return;
	if (spool_loop == NULL || !store_delivery_spilled(*delivery)) {
		store_delivery_free(delivery);
		return;
	}
	struct spool_free *f = malloc(sizeof(*f));
	if (f != NULL) {
		f->req.data = f;
		f->delivery = *delivery;
		if (uv_queue_work(spool_loop, &f->req, free_work_cb, free_done_cb) == 0) {
			*delivery = NULL;
			return;
		}
		free(f);
	}
	/* Out of memory: closing on the loop is the lesser evil. */
	store_delivery_free(delivery);
}

/* ---- spilling -------------------------------------------------------- */

static void spool__work_cb(void *arg)
{
	struct spool_job *job = arg;

	job->rc = store_delivery_spill(job->delivery, job->err, sizeof(job->err));
}

static void spool__done_cb(conn_t *conn, void *arg, int status)
{
	struct spool_job *job = arg;
	struct smtp_session *s = conn != NULL ? conn_data(conn) : NULL;

	if (s == NULL || s->txn == NULL || s->txn_seq != job->txn_seq || s->txn->delivery != NULL) {
		/* The session was torn down while the file was written (input
		 * was paused, so nothing else can have ended the transaction). */
		log_debug(job->sid, "spill_dropped", "size=%llu",
		          (unsigned long long)store_delivery_size(job->delivery));
		smtp_spool_free(&job->delivery);
		free(job);
		return;
	}
	if (status != 0 && job->rc == STORE_OK) {
		job->rc = STORE_EIO;
		snprintf(job->err, sizeof(job->err), "spill not run: %s", uv_strerror(status));
	}
	if (job->rc != STORE_OK)
		log_error(s->id, "spill_failed", "id=%s size=%llu error=\"%s\"", s->txn->id,
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
		log_error(s->id, "spill_failed", "id=%s error=\"out of memory\"", s->txn->id);
		s->txn->write_err = STORE_ENOMEM;
		return;
	}
	job->sid = s->id;
	job->txn_seq = s->txn_seq;
	job->delivery = smtp_txn_take_delivery(s->txn);
	if (session_queue_work(&s->core, spool__work_cb, spool__done_cb, job) != 0) {
		smtp_txn_return_delivery(s->txn, job->delivery, STORE_ENOMEM);
		free(job);
	}
}
