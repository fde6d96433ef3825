/*
 * smtp_wakeup.h - the queue runner woken by other processes.
 *
 * Several smtpd processes, on several hosts, share one queue in the
 * database. One that accepts mail for a remote recipient kicks its own
 * runner (smtp_runner_kick), and where the store has wake-ups
 * (store_wakeup: PostgreSQL's LISTEN/NOTIFY), every other runner hears of
 * it too, and of a `mailctl queue retry`, at once instead of at its next
 * scan (queue_scan_interval).
 *
 * This keeps the wake-ups' connection: made on the thread pool (it
 * blocks), then watched on the loop (uv_poll, reading without waiting).
 * When it is lost, it is made again after a pause that doubles from one
 * second up to a minute, and the callback runs once it is back, since
 * wake-ups were missed meanwhile. Where the store has none (SQLite: one
 * host), nothing is started and the runner's own kicks and scans are all.
 */
#ifndef SMTP_WAKEUP_H
#define SMTP_WAKEUP_H

#include <stddef.h>

#include "store.h"

struct uv_loop_s;
struct smtp_wakeup;

/* On the loop: look at the queue now. */
typedef void smtp_wakeup_fn(void *arg);

/*
 * Starts listening on the pool's database: fn(arg) runs for each wake-up
 * (several may come as one) and once whenever the connection is made,
 * the first time included. Returns 0 with *w_r NULL when the store has no
 * wake-ups; 0 with the connection on its way; or -1 with a message in err.
 * The pool must outlive smtp_wakeup_free.
 */
int smtp_wakeup_new(struct smtp_wakeup **w_r, struct uv_loop_s *loop, store_pool_t *pool,
                    smtp_wakeup_fn *fn, void *arg, char *err, size_t errlen);

/* Stops: closes the loop handles and the connection (one still being made
 * is closed when it arrives); fn is not called again. Safe on NULL. */
void smtp_wakeup_stop(struct smtp_wakeup *w);

/* After the loop has ended. Safe on NULL. */
void smtp_wakeup_free(struct smtp_wakeup **w);

#endif
