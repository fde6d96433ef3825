/*
 * store_pool.c - a process's handles on one database (store.h "the
 * pool"): a bounded set of shared handles for a backend whose handles
 * are server connections, one handle per worker thread for the others.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store-private.h"

struct store_pool {
	const struct store__driver *drv;
	char *db;
	char *password; /* NULL: none */
	unsigned max_open;
	unsigned wait_ms;

	/* Pooled backends: handles open, the idle ones on a stack (the last
	 * given back is the next taken, its caches warmest). */
	pthread_mutex_t lock;
	pthread_cond_t freed; /* an idle handle, or room to open one */
	store_t **idle;
	unsigned idle_count;
	unsigned open;
	unsigned in_use;
	unsigned waiting;
	uint64_t wait_timeouts;
	/* After a failed connect, none is tried again before reconnect_at
	 * (monotonic ms): while the server is down or unreachable, jobs fail
	 * at once with a temporary error instead of each waiting out its own
	 * connect attempt (connect_timeout). The pause doubles from
	 * POOL_BACKOFF_MIN_MS to POOL_BACKOFF_MAX_MS and ends with a success,
	 * so service resumes at most POOL_BACKOFF_MAX_MS after the server. */
	uint64_t reconnect_at;
	unsigned backoff_ms;

	/* Per-thread backends: each worker thread's handle on this pool's
	 * database, also on a list (under lock) so that freeing the pool
	 * closes the handles of threads that are still alive. */
	pthread_key_t thread_key;
	bool thread_key_made;
	struct thread_handle *threads;
};

#define POOL_BACKOFF_MIN_MS 250
#define POOL_BACKOFF_MAX_MS 4000

/* A worker thread's handle, closed when the thread exits or the pool is freed. */
struct thread_handle {
	store_pool_t *pool;
	store_t *store;
	struct thread_handle *prev, *next;
};

/* The key's destructor: the thread exits. */
static void thread_handle_free(void *arg)
{
	struct thread_handle *th = arg;
	store_pool_t *pool = th->pool;
	pthread_mutex_lock(&pool->lock);
	if (th->prev != NULL)
		th->prev->next = th->next;
	else
		pool->threads = th->next;
	if (th->next != NULL)
		th->next->prev = th->prev;
	pthread_mutex_unlock(&pool->lock);
	store_close(&th->store);
	free(th);
}

const struct store__driver *store__pool_driver(const store_pool_t *pool)
{
	return pool->drv;
}

int store_pool_new(const struct store_pool_config *cfg, store_pool_t **pool_r)
{
	*pool_r = NULL;
	if (cfg->db == NULL || *cfg->db == '\0' || cfg->max_open == 0)
		return STORE_EINVAL;
	store_pool_t *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return STORE_ENOMEM;
	pool->drv = store__driver_for(cfg->db);
	pool->max_open = cfg->max_open;
	pool->wait_ms = cfg->wait_ms;
	pool->db = strdup(cfg->db);
	pool->password = cfg->password != NULL ? strdup(cfg->password) : NULL;
	pool->idle = calloc(cfg->max_open, sizeof(*pool->idle));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	/* Waits are measured on the monotonic clock: a clock step is no timeout. */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pool->freed, &attr);
	pthread_condattr_destroy(&attr);
	if (!pool->drv->pooled)
		pool->thread_key_made = pthread_key_create(&pool->thread_key, thread_handle_free) == 0;
	if (pool->db == NULL || pool->idle == NULL ||
	    (cfg->password != NULL && pool->password == NULL) ||
	    (!pool->drv->pooled && !pool->thread_key_made)) {
		store_pool_free(&pool);
		return STORE_ENOMEM;
	}
	*pool_r = pool;
	return STORE_OK;
}

void store_pool_free(store_pool_t **poolp)
{
	store_pool_t *pool = *poolp;
	if (pool == NULL)
		return;
	/* Deleting the key runs no destructor and makes the threads' values
	 * unreachable: their handles are closed here (no job runs now). */
	if (pool->thread_key_made)
		pthread_key_delete(pool->thread_key);
	while (pool->threads != NULL) {
		struct thread_handle *th = pool->threads;
		pool->threads = th->next;
		store_close(&th->store);
		free(th);
	}
	for (unsigned i = 0; i < pool->idle_count; i++)
		store_close(&pool->idle[i]);
	free(pool->idle);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	if (pool->password != NULL) {
		explicit_bzero(pool->password, strlen(pool->password));
		free(pool->password);
	}
	free(pool->db);
	free(pool);
	*poolp = NULL;
}

int store_pool_open(store_pool_t *pool, int flags, store_t **store_r, char *err, size_t errlen)
{
	return store_open_auth(pool->db, pool->password, flags, store_r, err, errlen);
}

int store_pool_open_loop(store_pool_t *pool, store_t **store_r, char *err, size_t errlen)
{
	*store_r = NULL;
	if (!pool->drv->nowait_loop_safe)
		return STORE_OK;
	return store_pool_open(pool, STORE_OPEN_NOWAIT, store_r, err, errlen);
}

/* The calling thread's own handle (per-thread backends). */
static store_t *thread_handle(store_pool_t *pool, char *err, size_t errlen)
{
	struct thread_handle *th = pthread_getspecific(pool->thread_key);
	if (th != NULL)
		return th->store;
	th = calloc(1, sizeof(*th));
	if (th == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	th->pool = pool;
	if (store_pool_open(pool, 0, &th->store, err, errlen) != STORE_OK) {
		free(th);
		return NULL;
	}
	if (pthread_setspecific(pool->thread_key, th) != 0) {
		store_close(&th->store);
		free(th);
		snprintf(err, errlen, "cannot keep the thread's store handle");
		return NULL;
	}
	pthread_mutex_lock(&pool->lock);
	th->next = pool->threads;
	if (th->next != NULL)
		th->next->prev = th;
	pool->threads = th;
	pthread_mutex_unlock(&pool->lock);
	return th->store;
}

/* The moment wait_ms from now, on the pool's clock. */
static struct timespec deadline_after(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Opens a new pooled connection unless the last attempt failed less than
 * the backoff ago; keeps the backoff (see struct store_pool). */
static store_t *pool_connect(store_pool_t *pool, char *err, size_t errlen)
{
	pthread_mutex_lock(&pool->lock);
	uint64_t now = now_ms();
	uint64_t at = pool->reconnect_at;
	pthread_mutex_unlock(&pool->lock);
	if (now < at) {
		snprintf(err, errlen, "the database could not be reached; next attempt in %llu ms",
		         (unsigned long long)(at - now));
		return NULL;
	}
	store_t *store = NULL;
	int rc = store_pool_open(pool, 0, &store, err, errlen);
	pthread_mutex_lock(&pool->lock);
	if (rc == STORE_OK) {
		pool->backoff_ms = 0;
	} else {
		pool->backoff_ms = pool->backoff_ms == 0 ? POOL_BACKOFF_MIN_MS
		                   : pool->backoff_ms >= POOL_BACKOFF_MAX_MS / 2 ? POOL_BACKOFF_MAX_MS
		                                                              : pool->backoff_ms * 2;
		pool->reconnect_at = now_ms() + pool->backoff_ms;
	}
	pthread_mutex_unlock(&pool->lock);
	return store;
}

/* A pooled handle, waiting up to wait_ms for one to be free; NULL with a
 * message in err after that (*busy_r true), or when the handle cannot be
 * opened (*busy_r false). */
static store_t *acquire(store_pool_t *pool, unsigned wait_ms, bool *busy_r, char *err,
                        size_t errlen)
{
	*busy_r = false;
	struct timespec deadline = deadline_after(wait_ms);
	bool timed_out = wait_ms == 0;
	store_t *store = NULL;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		if (pool->idle_count > 0) {
			store = pool->idle[--pool->idle_count];
			break;
		}
		if (pool->open < pool->max_open) {
			pool->open++; /* counted now, connected without the lock */
			break;
		}
		if (timed_out) {
			if (wait_ms > 0)
				pool->wait_timeouts++;
			pthread_mutex_unlock(&pool->lock);
			*busy_r = true;
			snprintf(err, errlen, "all %u database connections (db_connections) stayed busy "
			         "for %u ms", pool->max_open, pool->wait_ms);
			return NULL;
		}
		pool->waiting++;
		timed_out = pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT;
		pool->waiting--;
	}
	pool->in_use++;
	pthread_mutex_unlock(&pool->lock);

	/* An idle connection the server closed meanwhile (a restart) would
	 * fail the job's first statement: a fresh one takes its place. */
	if (store != NULL && pool->drv->reusable(store))
		return store;
	store_close(&store);
	store = pool_connect(pool, err, errlen);
	if (store != NULL)
		return store;
	pthread_mutex_lock(&pool->lock);
	pool->open--;
	pool->in_use--;
	pthread_cond_signal(&pool->freed); /* a waiter may try to open it */
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

store_t *store_pool_acquire(store_pool_t *pool, char *err, size_t errlen)
{
	if (!pool->drv->pooled)
		return thread_handle(pool, err, errlen);
	bool busy;
	return acquire(pool, pool->wait_ms, &busy, err, errlen);
}

void store_pool_release(store_pool_t *pool, store_t **storep)
{
	store_t *store = *storep;
	if (store == NULL)
		return;
	*storep = NULL;
	if (!pool->drv->pooled)
		return; /* the thread's own, kept until it exits */

	/* A broken one is closed, so the next acquire opens a fresh one. */
	bool keep = pool->drv->reusable(store);
	if (!keep)
		store_close(&store);
	pthread_mutex_lock(&pool->lock);
	pool->in_use--;
	if (keep)
		pool->idle[pool->idle_count++] = store;
	else
		pool->open--;
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}

int store_pool_probe(store_pool_t *pool, char *err, size_t errlen)
{
	store_t *store = NULL;
	int version = 0;
	/* SQLite: the file afresh. PostgreSQL: an idle pooled connection,
	 * checked (acquire) and used, rather than a connection per probe; when
	 * all are busy, one of its own for this probe, since waiting for the
	 * sessions' work would make a busy database look down. */
	bool pooled = false, busy = false;
	int rc;
	if (!pool->drv->pooled) {
		rc = store_pool_open(pool, 0, &store, err, errlen);
	} else if ((store = acquire(pool, 0, &busy, err, errlen)) != NULL) {
		pooled = true;
		rc = STORE_OK;
	} else if (busy && (store = pool_connect(pool, err, errlen)) != NULL) {
		rc = STORE_OK;
	} else {
		rc = STORE_EIO;
	}
	if (rc == STORE_OK) {
		rc = store_file_version(store, &version);
		if (rc != STORE_OK)
			snprintf(err, errlen, "%s", store_errmsg(store));
	}
	if (pooled)
		store_pool_release(pool, &store);
	else
		store_close(&store);
	return rc;
}

void store_pool_stats(store_pool_t *pool, struct store_pool_stats *stats_r)
{
	memset(stats_r, 0, sizeof(*stats_r));
	stats_r->pooled = pool->drv->pooled;
	stats_r->max_open = pool->max_open;
	pthread_mutex_lock(&pool->lock);
	stats_r->open = pool->open;
	stats_r->in_use = pool->in_use;
	stats_r->waiting = pool->waiting;
	stats_r->wait_timeouts = pool->wait_timeouts;
	pthread_mutex_unlock(&pool->lock);
}
