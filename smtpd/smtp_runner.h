/*
 * smtp_runner.h - the outbound queue runner, inside smtpd on its loop.
 *
 * It claims due queue rows with a lease (store_queue_claim: the database's
 * clock, so several smtpd processes on one store share the queue and a
 * crashed one's rows come back when its lease runs out), groups them into
 * jobs (one message, one destination, at most SMTP_JOB_RCPT_MAX
 * recipients), and hands the jobs of each destination to SMTP client
 * sessions (smtp_client.h): at most outbound_connections_per_destination
 * at once, outbound_connections in all, each session taking the next job
 * of its destination when one is done, so a connection carries many
 * messages. The destination of a recipient domain is, in this order, its
 * `routes` entry, `relay_host`, or its MX hosts (dns.h).
 *
 * It looks at the queue when this process queued mail (smtp_runner_kick),
 * every queue_scan_interval, and, where the store has them, when another
 * process queued or retried some (smtp_wakeup.h).
 *
 * Every store write (claim, outcomes with their bounce, lease renewal,
 * the release at shutdown) goes through the committer thread
 * (smtp_commit_run), so the loop never waits for the database and the
 * process keeps one SQLite writer.
 *
 * Outcomes: a 2xx to the final dot removes the row; a 4xx, a lost
 * connection or a failed TLS requirement defers it (smtp_retry.h); a 5xx,
 * a null MX or a message past queue_lifetime fails it, and the failed
 * recipients of a job are reported to the sender in one delivery status
 * notification (smtp_dsn.h), committed with the outcomes. Nothing is
 * reported to the null sender.
 */
#ifndef SMTP_RUNNER_H
#define SMTP_RUNNER_H

#include <stddef.h>

struct server;
struct smtp_env;
struct smtp_runner;

/* Starts the runner (after privileges are dropped: it reads relay_auth_password_file).
 * In MAIL_TEST_HOOKS builds, MAILTEST_QUEUE_RUNNER=off starts none: 0 with *r_r NULL. */
int smtp_runner_new(struct smtp_runner **r_r, struct server *srv, struct smtp_env *env, char *err,
                    size_t errlen);
/* New mail was queued: look at the queue now rather than at the next scan. Safe on NULL. */
void smtp_runner_kick(struct smtp_runner *r);
/*
 * From the server's stop callback (every connection closed): hands the
 * rows still claimed back to the queue, through the committer, and closes
 * the runner's loop handles. Call before smtp_commit_stop. Safe on NULL.
 */
void smtp_runner_stop(struct smtp_runner *r);
/* After the loop has ended. Safe on NULL. */
void smtp_runner_free(struct smtp_runner **r);

#endif
