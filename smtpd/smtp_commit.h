/*
 * smtp_commit.h - group commit of accepted messages.
 *
 * RFC 5321 6.1 and our durability contract: the 250 after DATA / BDAT
 * LAST is sent only once the message and all its deliveries are synced.
 * A sync costs about as much for 64 messages as for one, so concurrent
 * sessions' messages share one store transaction:
 *
 * smtp_commit_start() hands a delivery to a worker thread (conn_queue_work).
 * There it joins a process-wide pending list. A thread that finds no
 * commit running becomes the committer: it takes up to
 * SMTP_COMMIT_BATCH_MAX pending deliveries (its own among them unless the
 * list is longer), commits them with one store_deliver_batch() on the
 * process's committer handle (one commit runs at a time) and publishes
 * every result. The others wait on their own condition variable; when a
 * commit ends, its members are woken, and so is the oldest job still
 * pending, which becomes the next committer. Batches therefore grow by
 * themselves while a sync is running, and a lone message is committed at
 * once: no timers, no sleeps.
 *
 * Waiting threads occupy the libuv thread pool, so the pool must be larger
 * than the number of sessions expected to commit at once for batches to
 * grow (server_new sizes it: 32 threads).
 */
#ifndef SMTP_COMMIT_H
#define SMTP_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "store.h"

/* Deliveries per store transaction (bounds the transaction's size and latency). */
#define SMTP_COMMIT_BATCH_MAX 64

struct smtp_commit_result {
	int status;         /* 0: committed and synced; else a negative enum store_err */
	bool cancelled;     /* shutdown came first: the work never ran, nothing was stored */
	size_t batch_size;  /* deliveries in the transaction that carried this one */
	bool batch_first;   /* first of its batch: lets the caller count batches once */
};

/*
 * Called on the loop when the commit is over. conn is NULL when the
 * connection closed meanwhile (the message may still have been stored).
 * The delivery has already been freed.
 */
typedef void smtp_commit_done_fn(conn_t *conn, const struct smtp_commit_result *result);

/*
 * Commits *delivery (taken: *delivery is set to NULL) on a worker thread
 * using the store at db_path, which must stay valid until done runs.
 * Returns 0, or a negative libuv error, in which case the delivery has
 * been freed and done is never called.
 */
int smtp_commit_start(conn_t *conn, const char *db_path, store_delivery_t **delivery,
                      smtp_commit_done_fn *done);

/* Closes the committer's store handle; after the server has stopped. */
void smtp_commit_close(void);

#endif
