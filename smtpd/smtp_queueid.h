/*
 * smtp_queueid.h - queue ids: the one name of an accepted message in the
 * 250 reply ("queued as 1234"), the log lines (id=1234), its Received:
 * header ("id 1234") and `mailctl queue list` (msg=1234).
 *
 * The id is the message's row id in the store (messages.id). The Received:
 * header carries it, and is written before the body, so the id must be
 * known long before the commit that stores the message: ids are reserved
 * in blocks (store_message_ids_reserve), each a synced write, and handed
 * out one per message from this process's pool. That makes them unique
 * across restarts and across every process that shares the database, and
 * never reused; an id whose message is refused, or that is left in the
 * pool at exit, is a gap nobody sees.
 *
 * An id is taken when a transaction's body starts (DATA, first BDAT), not
 * at MAIL: a client looping MAIL/RSET costs no reservations (Postfix
 * delays its queue file for the same reason).
 *
 * Loop thread only. The first block is reserved at start-up; the pool
 * refills on a worker thread when it runs low, so taking an id is a
 * counter increment. Should a burst empty it before the refill is back,
 * the session waits (input paused) for it.
 */
#ifndef SMTP_QUEUEID_H
#define SMTP_QUEUEID_H

#include <stdint.h>

#include "conn.h"
#include "store.h"

struct uv_loop_s;
struct smtp_queueid;

/* Ids reserved per store transaction; refilled when fewer than a quarter are left. */
#define SMTP_QUEUEID_BLOCK 1024

/* The id in text: a decimal int64 and its NUL. */
#define SMTP_QUEUEID_LEN 21

/*
 * Reserves the first block (blocking: call it at start-up, as the service
 * user, after the schema is up to date), on a handle of `pool` (store.h),
 * which must outlive the id pool; the refills take theirs there too.
 * The test hook MAILTEST_QUEUEID_BLOCK=N (1-1024; MAIL_TEST_HOOKS builds
 * only) reserves N ids at a time instead, so tests can empty the pool.
 * Returns 0 or -1 with a message in err; either way *q_r (possibly NULL)
 * is for smtp_queueid_free.
 */
int smtp_queueid_new(struct smtp_queueid **q_r, struct uv_loop_s *loop, store_pool_t *pool,
                     char *err, size_t errlen);

/* Frees the pool once the loop has ended (a refill keeps it alive). Safe on NULL. */
void smtp_queueid_free(struct smtp_queueid **q);

/* The next id (> 0), or 0 when the pool is empty: then smtp_queueid_wait(). */
int64_t smtp_queueid_take(struct smtp_queueid *q);

/*
 * Called on the loop with an id once the pool has one again, or with 0
 * when the refill failed (a temporary local error). Not called when the
 * connection closed meanwhile.
 */
typedef void smtp_queueid_cb(conn_t *conn, int64_t id);

/*
 * Queues conn for the next id (first come, first served) and makes sure a
 * refill is under way. The caller pauses input until cb. Returns 0, or a
 * negative enum store_err when no refill could be started or memory ran
 * out (cb is then never called).
 */
int smtp_queueid_wait(struct smtp_queueid *q, conn_t *conn, smtp_queueid_cb *cb);

#endif
