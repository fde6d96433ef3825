/* smtp_queueid.c - the pool of reserved message ids; see smtp_queueid.h. */
#include "smtp_queueid.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "log.h"
#include "store.h"

/* A session waiting for an id; its conn is held (conn_hold) meanwhile. */
struct waiter {
	conn_t *conn;
	smtp_queueid_cb *cb;
	int64_t id;
	struct waiter *next;
};

/* A refill on the thread pool: its outcome, read back on the loop. */
struct refill {
	uv_work_t req;
	int rc;
	int64_t first;
	char err[256];
};

struct smtp_queueid {
	uv_loop_t *loop;
	store_pool_t *pool;
	unsigned block;
	/* Ids [next, end) are ours; [spare, spare_end) is the block after. */
	int64_t next, end;
	int64_t spare, spare_end;
	struct refill refill;
	bool refilling;
	struct waiter *waiters;
	struct waiter **waiters_tail;
};

static unsigned block_size(void)
{
#ifdef MAIL_TEST_HOOKS
	const char *env = getenv("MAILTEST_QUEUEID_BLOCK");

	if (env != NULL && *env != '\0') {
		char *end;
		unsigned long n = strtoul(env, &end, 10);
		if (*end == '\0' && n >= 1 && n <= SMTP_QUEUEID_BLOCK)
			return (unsigned)n;
	}
#endif
	return SMTP_QUEUEID_BLOCK;
}

int smtp_queueid_new(struct smtp_queueid **q_r, struct uv_loop_s *loop, store_pool_t *pool,
                     char *err, size_t errlen)
{
	store_t *store = NULL;
	char msg[256];
	struct smtp_queueid *q = calloc(1, sizeof(*q));

	*q_r = q;
	if (q == NULL) {
		snprintf(err, errlen, "queue ids: out of memory");
		return -1;
	}
	q->loop = loop;
	q->pool = pool;
	q->block = block_size();
	q->waiters_tail = &q->waiters;
	/* A handle for this once, on the loop thread before any session: not
	 * the pool's, which would keep an SQLite handle on this thread. */
	if (store_pool_open(pool, 0, &store, msg, sizeof(msg)) != STORE_OK) {
		snprintf(err, errlen, "queue ids: %s", msg);
		return -1;
	}
	int rc = store_message_ids_reserve(store, q->block, &q->next);
	if (rc != STORE_OK)
		snprintf(err, errlen, "reserving message ids: %s", store_errmsg(store));
	else
		q->end = q->next + q->block;
	store_close(&store);
	return rc == STORE_OK ? 0 : -1;
}

static int64_t available(const struct smtp_queueid *q)
{
	return (q->end - q->next) + (q->spare_end - q->spare);
}

static void refill_work(uv_work_t *req)
{
	struct smtp_queueid *q = req->data;
	struct refill *r = &q->refill;
	store_t *store = store_pool_acquire(q->pool, r->err, sizeof(r->err));

	if (store == NULL) {
		r->rc = STORE_EIO;
		return;
	}
	r->rc = store_message_ids_reserve(store, q->block, &r->first);
	if (r->rc != STORE_OK)
		snprintf(r->err, sizeof(r->err), "%s", store_errmsg(store));
	store_pool_release(q->pool, &store);
}

static void refill_start(struct smtp_queueid *q);

static void waiter_done_cb(conn_t *conn, void *arg, int status)
{
	struct waiter *w = arg;

	(void)status;
	if (conn != NULL)
		w->cb(conn, w->id);
	free(w);
}

/* Answers waiters in order: with an id while there are some, with 0 after a failure. */
static void waiters_answer(struct smtp_queueid *q, bool failed)
{
	while (q->waiters != NULL) {
		struct waiter *w = q->waiters;
		w->id = failed ? 0 : smtp_queueid_take(q);
		if (!failed && w->id == 0)
			break;
		q->waiters = w->next;
		if (q->waiters == NULL)
			q->waiters_tail = &q->waiters;
		conn_release(w->conn, waiter_done_cb, w);
	}
	if (q->waiters != NULL)
		refill_start(q);
}

static void refill_done(uv_work_t *req, int status)
{
	struct smtp_queueid *q = req->data;
	struct refill *r = &q->refill;

	q->refilling = false;
	if (status != 0 || r->rc != STORE_OK) {
		log_error(0, "queueid_refill_failed", "error=\"%s\" detail=\"%s\"",
		          status != 0 ? uv_strerror(status) : store_strerror(r->rc), r->err);
		waiters_answer(q, true);
		return;
	}
	if (q->next == q->end) {
		q->next = r->first;
		q->end = r->first + q->block;
	} else {
		q->spare = r->first;
		q->spare_end = r->first + q->block;
	}
	waiters_answer(q, false);
}

static void refill_start(struct smtp_queueid *q)
{
	if (q->refilling)
		return;
	memset(&q->refill, 0, sizeof(q->refill));
	q->refill.req.data = q;
	int rc = uv_queue_work(q->loop, &q->refill.req, refill_work, refill_done);
	if (rc != 0) {
		log_error(0, "queueid_refill_failed", "error=\"%s\"", uv_strerror(rc));
		return;
	}
	q->refilling = true;
}

int64_t smtp_queueid_take(struct smtp_queueid *q)
{
	if (q->next == q->end && q->spare != q->spare_end) {
		q->next = q->spare;
		q->end = q->spare_end;
		q->spare = q->spare_end = 0;
	}
	if (q->next == q->end) {
		refill_start(q);
		return 0;
	}
	int64_t id = q->next++;
	/* With a spare block there is plenty; without, refill a quarter early. */
	if (available(q) < (int64_t)(q->block + 3) / 4)
		refill_start(q);
	return id;
}

int smtp_queueid_wait(struct smtp_queueid *q, conn_t *conn, smtp_queueid_cb *cb)
{
	refill_start(q);
	if (!q->refilling)
		return STORE_EIO; /* logged by refill_start */
	struct waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return STORE_ENOMEM;
	w->conn = conn;
	w->cb = cb;
	conn_hold(conn);
	*q->waiters_tail = w;
	q->waiters_tail = &w->next;
	return 0;
}

void smtp_queueid_free(struct smtp_queueid **q)
{
	free(*q);
	*q = NULL;
}
