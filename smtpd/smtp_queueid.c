/* smtp_queueid.c - the pool of reserved message ids; see smtp_queueid.h. */
#include "smtp_queueid.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static struct {
	uv_loop_t *loop;
	const char *db_path;
	unsigned block;
	/* Ids [next, end) are ours; [spare, spare_end) is the block after. */
	int64_t next, end;
	int64_t spare, spare_end;
	struct refill refill;
	bool refilling;
	struct waiter *waiters;
	struct waiter **waiters_tail;
} pool;

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

int smtp_queueid_init(uv_loop_t *loop, const char *db_path, char *err, size_t errlen)
{
	store_t *store = NULL;
	char msg[256];

	pool.loop = loop;
	pool.db_path = db_path;
	pool.block = block_size();
	pool.waiters_tail = &pool.waiters;
	if (store_open(db_path, 0, &store, msg, sizeof(msg)) != STORE_OK) {
		snprintf(err, errlen, "%s: %s", db_path, msg);
		return -1;
	}
	int rc = store_message_ids_reserve(store, pool.block, &pool.next);
	if (rc != STORE_OK)
		snprintf(err, errlen, "%s: reserving message ids: %s", db_path, store_errmsg(store));
	else
		pool.end = pool.next + pool.block;
	store_close(&store);
	return rc == STORE_OK ? 0 : -1;
}

static int64_t available(void)
{
	return (pool.end - pool.next) + (pool.spare_end - pool.spare);
}

static void refill__work(uv_work_t *req)
{
	struct refill *r = req->data;
	store_t *store = store_thread_handle(pool.db_path, 0, r->err, sizeof(r->err));

	if (store == NULL) {
		r->rc = STORE_EIO;
		return;
	}
	r->rc = store_message_ids_reserve(store, pool.block, &r->first);
	if (r->rc != STORE_OK)
		snprintf(r->err, sizeof(r->err), "%s", store_errmsg(store));
}

static void refill__start(void);

static void waiter__done_cb(conn_t *conn, void *arg, int status)
{
	struct waiter *w = arg;

	(void)status;
	if (conn != NULL)
		w->cb(conn, w->id);
	free(w);
}

/* Answers waiters in order: with an id while there are some, with 0 after a failure. */
static void waiters__answer(bool failed)
{
	while (pool.waiters != NULL) {
		struct waiter *w = pool.waiters;
		w->id = failed ? 0 : smtp_queueid_take();
		if (!failed && w->id == 0)
			break;
		pool.waiters = w->next;
		if (pool.waiters == NULL)
			pool.waiters_tail = &pool.waiters;
		conn_release(w->conn, waiter__done_cb, w);
	}
	if (pool.waiters != NULL)
		refill__start();
}

static void refill__done(uv_work_t *req, int status)
{
	struct refill *r = req->data;

	pool.refilling = false;
	if (status != 0 || r->rc != STORE_OK) {
		log_error(0, "queueid_refill_failed", "error=\"%s\" detail=\"%s\"",
		          status != 0 ? uv_strerror(status) : store_strerror(r->rc), r->err);
		waiters__answer(true);
		return;
	}
	if (pool.next == pool.end) {
		pool.next = r->first;
		pool.end = r->first + pool.block;
	} else {
		pool.spare = r->first;
		pool.spare_end = r->first + pool.block;
	}
	waiters__answer(false);
}

static void refill__start(void)
{
	if (pool.refilling)
		return;
	memset(&pool.refill, 0, sizeof(pool.refill));
	pool.refill.req.data = &pool.refill;
	int rc = uv_queue_work(pool.loop, &pool.refill.req, refill__work, refill__done);
	if (rc != 0) {
		log_error(0, "queueid_refill_failed", "error=\"%s\"", uv_strerror(rc));
		return;
	}
	pool.refilling = true;
}

int64_t smtp_queueid_take(void)
{
	if (pool.next == pool.end && pool.spare != pool.spare_end) {
		pool.next = pool.spare;
		pool.end = pool.spare_end;
		pool.spare = pool.spare_end = 0;
	}
	if (pool.next == pool.end) {
		refill__start();
		return 0;
	}
	int64_t id = pool.next++;
	/* With a spare block there is plenty; without, refill a quarter early. */
	if (available() < (int64_t)(pool.block + 3) / 4)
		refill__start();
	return id;
}

int smtp_queueid_wait(conn_t *conn, smtp_queueid_cb *cb)
{
	refill__start();
	if (!pool.refilling)
		return STORE_EIO; /* logged by refill__start */
	struct waiter *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return STORE_ENOMEM;
	w->conn = conn;
	w->cb = cb;
	conn_hold(conn);
	*pool.waiters_tail = w;
	pool.waiters_tail = &w->next;
	return 0;
}
