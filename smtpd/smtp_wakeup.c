/*
 * smtp_wakeup.c - the queue's wake-ups on the loop; see smtp_wakeup.h.
 *
 * Like smtp_runner.c it includes uv.h: its handles belong to no
 * connection.
 */
#include "smtp_wakeup.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "log.h"

/* The pause before making a lost connection again: doubled after each
 * failure, from the first to the last. */
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

struct smtp_wakeup {
	uv_loop_t *loop;
	store_pool_t *pool;
	smtp_wakeup_fn *fn;
	void *arg;
	uv_timer_t timer;          /* the pause before connecting again */
	uv_poll_t poll;            /* the connection's descriptor, while listening */
	store_wakeup_t *listener;  /* the loop's, from connect_done until poll is closed */
	bool polling;              /* poll is initialised and not closing */
	unsigned backoff_ms;
	bool stopped;
	/* The connection being made on the thread pool, and its outcome. */
	uv_work_t work;
	bool connecting;
	store_wakeup_t *opened;
	int open_rc;
	char open_err[256];
};

static void connect_start(struct smtp_wakeup *w);

static void timer_cb(uv_timer_t *t)
{
	connect_start(t->data);
}

static void retry_later(struct smtp_wakeup *w, const char *event, const char *error)
{
	log_warn(0, event, "error=\"%s\" retry_in_ms=%u", error, w->backoff_ms);
	uv_timer_start(&w->timer, timer_cb, w->backoff_ms, 0);
	w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/* The descriptor is no longer watched: now the connection may close. */
static void poll_closed_cb(uv_handle_t *h)
{
	struct smtp_wakeup *w = h->data;
	store_wakeup_close(&w->listener);
}

static void lost(struct smtp_wakeup *w, const char *error)
{
	w->polling = false;
	uv_close((uv_handle_t *)&w->poll, poll_closed_cb);
	retry_later(w, "queue_wakeup_lost", error);
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	struct smtp_wakeup *w = p->data;
	char err[256];

	(void)events;
	if (status < 0) {
		lost(w, uv_strerror(status));
		return;
	}
	int rc = store_wakeup_drain(w->listener, err, sizeof(err));
	if (rc < 0) {
		lost(w, err);
		return;
	}
	if (rc > 0) {
		log_debug(0, "queue_wakeup", "%s", "");
		w->fn(w->arg);
	}
}

/* Pool thread: the connection, which blocks while it is made. */
static void connect_work(uv_work_t *req)
{
	struct smtp_wakeup *w = req->data;
	w->open_rc = store_wakeup_open(w->pool, &w->opened, w->open_err, sizeof(w->open_err));
}

static void connect_done(uv_work_t *req, int status)
{
	struct smtp_wakeup *w = req->data;

	w->connecting = false;
	if (w->stopped || status != 0) {
		store_wakeup_close(&w->opened);
		return;
	}
	if (w->open_rc != STORE_OK) {
		retry_later(w, "queue_wakeup_failed", w->open_err);
		return;
	}
	w->listener = w->opened;
	w->opened = NULL;
	int rc = uv_poll_init(w->loop, &w->poll, store_wakeup_fd(w->listener));
	if (rc != 0) {
		store_wakeup_close(&w->listener);
		retry_later(w, "queue_wakeup_failed", uv_strerror(rc));
		return;
	}
	w->poll.data = w;
	w->polling = true;
	rc = uv_poll_start(&w->poll, UV_READABLE, poll_cb);
	if (rc != 0) {
		lost(w, uv_strerror(rc));
		return;
	}
	w->backoff_ms = BACKOFF_FIRST_MS;
	log_info(0, "queue_wakeup_listening", "%s", "");
	/* Whatever became due while nobody listened. */
	w->fn(w->arg);
}

static void connect_start(struct smtp_wakeup *w)
{
	if (w->stopped)
		return;
	w->work.data = w;
	int rc = uv_queue_work(w->loop, &w->work, connect_work, connect_done);
	if (rc != 0) {
		retry_later(w, "queue_wakeup_failed", uv_strerror(rc));
		return;
	}
	w->connecting = true;
}

int smtp_wakeup_new(struct smtp_wakeup **w_r, struct uv_loop_s *loop, store_pool_t *pool,
                    smtp_wakeup_fn *fn, void *arg, char *err, size_t errlen)
{
	*w_r = NULL;
	if (!store_wakeup_supported(pool))
		return 0;
	struct smtp_wakeup *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "queue wake-ups: out of memory");
		return -1;
	}
	w->loop = loop;
	w->pool = pool;
	w->fn = fn;
	w->arg = arg;
	w->backoff_ms = BACKOFF_FIRST_MS;
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	connect_start(w);
	*w_r = w;
	return 0;
}

void smtp_wakeup_stop(struct smtp_wakeup *w)
{
	if (w == NULL || w->stopped)
		return;
	w->stopped = true;
	uv_close((uv_handle_t *)&w->timer, NULL);
	if (w->polling) {
		w->polling = false;
		uv_close((uv_handle_t *)&w->poll, poll_closed_cb);
	}
	/* A connection not yet begun is dropped; one being made is closed
	 * by connect_done when it arrives. */
	if (w->connecting)
		uv_cancel((uv_req_t *)&w->work);
}

void smtp_wakeup_free(struct smtp_wakeup **w)
{
	if (*w == NULL)
		return;
	store_wakeup_close(&(*w)->listener);
	store_wakeup_close(&(*w)->opened);
	free(*w);
	*w = NULL;
}
