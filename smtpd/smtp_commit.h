/*
 * smtp_commit.h - group commit of accepted messages.
 *
 * RFC 5321 6.1 and our durability contract: the 250 after DATA / BDAT
 * LAST is sent only once the message and all its deliveries are synced.
 * A sync costs about as much for 64 messages as for one, so concurrent
 * sessions' messages share one store transaction.
 *
 * Committer threads do all the writing: one on SQLite, several on
 * PostgreSQL (store_writers_wanted). smtp_commit_start() appends a
 * delivery to the pending list (and wakes a committer if one sleeps). A
 * committer takes up to SMTP_COMMIT_BATCH_MAX pending deliveries, commits
 * them with one store_deliver_batch() and hands the whole batch back to
 * the loop with a single wake-up (uv_async), where each session gets its
 * result. While a sync runs, the next batch gathers by itself, and a lone
 * message is committed at once: no timers, no sleeps. On SQLite, one
 * writer also keeps the page cache valid between commits, and costs two
 * thread switches per batch instead of a parked pool thread and a wake-up
 * per message. On PostgreSQL a commit is mostly round trips to the server,
 * which syncs concurrent commits together, so batches in flight at once
 * pay (docs/SCALING.md has the figures).
 */
#ifndef SMTP_COMMIT_H
#define SMTP_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "store.h"

struct uv_loop_s;
struct smtp_committer;

/* Deliveries per store transaction (bounds the transaction's size and latency). */
#define SMTP_COMMIT_BATCH_MAX 64
/* Committer threads at most, whatever the backend asks for. */
#define SMTP_COMMIT_THREADS_MAX 16

struct smtp_commit_result {
	int status;         /* 0: committed and synced; else a negative enum store_err */
	size_t batch_size;  /* deliveries in the transaction that carried this one */
	bool batch_first;   /* first of its batch: lets the caller count batches once */
	uint64_t micros;    /* how long the batch's transaction (or the op) took, sync included */
};

/*
 * Called on the loop when the commit is over, with the caller's arg. conn
 * is NULL when the connection closed meanwhile: the message was stored all
 * the same if result->status is 0, so whatever counts or logs stored
 * messages must not depend on the session (arg carries what it needs).
 * The delivery has already been freed, on the committer thread.
 */
typedef void smtp_commit_done_fn(conn_t *conn, void *arg, const struct smtp_commit_result *result);

/*
 * Starts `threads` committer threads (1 to SMTP_COMMIT_THREADS_MAX), each
 * of which opens a handle of its own through `pool` when it first commits
 * (store_pool_open: outside the pool's count, since a committer holds it
 * for good; the pool must outlive smtp_commit_stop). Call it on the loop
 * thread, after dropping privileges. Returns 0, or -1 with a message in
 * err; either way *c_r (possibly NULL) is for smtp_commit_free.
 */
int smtp_commit_new(struct smtp_committer **c_r, struct uv_loop_s *loop, store_pool_t *pool,
                    unsigned threads, char *err, size_t errlen);

/*
 * Queues *delivery (taken: *delivery is set to NULL) for the next batch
 * (conn may be NULL: a delivery of our own, such as a bounce);
 * done(conn, arg, result) follows on the loop, exactly once. The loop keeps
 * running while any commit is outstanding, so a graceful shutdown waits
 * for them. Returns 0, or STORE_ENOMEM, in which case the delivery has
 * been freed and done is never called (arg stays the caller's).
 */
int smtp_commit_start(struct smtp_committer *c, conn_t *conn, store_delivery_t **delivery,
                      smtp_commit_done_fn *done, void *arg);

/*
 * A store operation of the queue runner (claim, outcomes, lease renewal):
 * runs on the first committer thread with its handle, alone in its
 * transaction (not batched with deliveries), one at a time and in the
 * order given: the runner's release must come after its claims and
 * reports. On SQLite this process still has one writer. Returns 0 or a
 * negative enum store_err, which done receives as result->status (done
 * gets conn NULL). The op owns its transaction; keep it short.
 */
typedef int smtp_commit_op_fn(store_t *store, void *arg);
int smtp_commit_run(struct smtp_committer *c, smtp_commit_op_fn *op, smtp_commit_done_fn *done,
                    void *arg);

/*
 * Commits what is still pending, stops the thread, calls every
 * outstanding done, closes the store handle and starts closing the loop
 * handle: from the server's stop callback (every session has closed).
 * Safe on NULL.
 */
void smtp_commit_stop(struct smtp_committer *c);

/* Frees it once the loop has ended (server_run returned). Safe on NULL. */
void smtp_commit_free(struct smtp_committer **c);

#endif
