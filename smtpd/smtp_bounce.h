/*
 * smtp_bounce.h - the delivery that tells a sender which recipients of a
 * job failed: an RFC 3464 report (smtp_dsn.h) from the null sender to the
 * envelope sender, to a local mailbox or queued like any mail. Built on
 * the committer thread, where the sender is resolved with the store, and
 * committed with the outcomes it reports (store_queue_report).
 */
#ifndef SMTP_BOUNCE_H
#define SMTP_BOUNCE_H

#include <stdbool.h>
#include <time.h>

#include "store.h"

struct mail_config;
struct smtp_job;

/*
 * Builds the report of the job's recipients marked `report` (failed ones,
 * delayed ones past delay_warning_time, and delivered ones whose sender
 * asked for success reports: "relayed")
 * into *delivery_r. Never for the null sender (RFC 5321 4.5.5: no bounce of
 * a bounce) or when no recipient is marked: then *delivery_r is NULL and 0
 * is returned. *remote_r tells whether the report goes to the queue. Returns
 * 0, or a store error (STORE_ENOTFOUND: the sender is a local address
 * that leads nowhere) with *delivery_r NULL.
 */
int smtp_bounce_delivery(store_t *store, const struct mail_config *cfg, const struct smtp_job *job,
                         time_t now, store_delivery_t **delivery_r, bool *remote_r);

/*
 * RFC 3461 5.2.2: after txn's message is stored, reports "delivered" to
 * its sender for the local recipients that asked (NOTIFY=SUCCESS), with
 * the message's header section, through the committer (its own
 * transaction: a crash in between loses the report, never the message).
 * Takes txn's notices. Nothing for the null sender.
 */
struct smtp_env;
struct smtp_txn;
void smtp_bounce_delivered(struct smtp_env *env, struct smtp_txn *txn);

#endif
