/*
 * smtp_spool.h - a large message body's way to its temporary file, off
 * the event loop.
 *
 * A body bigger than STORE_DELIVERY_MEMORY_MAX is spilled to an unlinked
 * temporary file in `tmpdir` as it arrives (store.h). Every step of that
 * is disk work: creating the file, each write(2) of about 256 KiB, and
 * the final close, which frees the file's blocks. Under dirty-page
 * throttling one such write can block for a long time, and on the loop
 * thread it would stall every session of the process. So the file work
 * runs on libuv's thread pool:
 *
 * - When a transaction's buffer wants spilling (smtp_txn_spill_wanted),
 *   smtp_spool_start lends its delivery to a pool job and pauses the
 *   session's input; the client's octets wait in the socket buffers, and
 *   TCP flow control holds the client (backpressure). When the write is
 *   done, the delivery goes back to the transaction and input resumes.
 *   So each session has at most one buffer in flight, and a body that
 *   stays in memory never comes here.
 * - A failed write (ENOSPC, EIO) is kept as the transaction's write error:
 *   the rest of the body is read and dropped, and the end of the body is
 *   answered 451 4.3.0 (smtp_body.c), as for any spool failure.
 * - The committer frees every delivery it was handed on its own thread,
 *   committed or not (a quota refusal, a failed commit); every other
 *   spilled delivery (an abandoned or refused transaction) is freed
 *   through smtp_spool_free, on the pool.
 *
 * Teardown: the job owns the delivery while it runs. If the session
 * closes meanwhile, the job's result finds no session (conn_queue_work)
 * and hands the delivery to smtp_spool_free, so its file is closed once,
 * off the loop, and nothing touches the freed session. Until then the
 * closed connection still counts against max_connections (conn.h), so
 * abandoned spills cannot pile up buffers beyond that bound.
 */
#ifndef SMTP_SPOOL_H
#define SMTP_SPOOL_H

#include "conn.h"
#include "store.h"

struct smtp_session;

/*
 * Spills the session's transaction buffer on the thread pool, with input
 * paused until it is done (session_busy). Call it from the body's
 * input handler when smtp_txn_spill_wanted(s->txn) is true. If the job
 * cannot be queued, the transaction gets a write error instead.
 */
void smtp_spool_start(struct smtp_session *s);

/*
 * Frees a delivery and sets *delivery to NULL: at once when it has no
 * temporary file, else on the thread pool through conn (store_delivery_free;
 * also from the close callback). Loop thread only. Safe on NULL.
 */
void smtp_spool_free(conn_t *conn, store_delivery_t **delivery);

#endif
