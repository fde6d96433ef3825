/*
 * smtp_retry.h - when outbound delivery tries again, and when it gives up:
 * the policy, apart from the queue runner that applies it.
 *
 * RFC 5321 4.5.4.1: retry at intervals of at least 30 minutes is the
 * classic advice; like Postfix (minimal_backoff_time 300 s, maximal 4000
 * s) we start sooner and back off: 5 minutes, doubling, up to about an
 * hour, each less a random eighth so messages that failed together do not
 * all come back together. A 4xx reply, a lost connection or a failed TLS
 * handshake is temporary; a 5xx reply fails that recipient at once
 * (RFC 5321 4.2.1). A message still undelivered after the queue lifetime
 * (RFC 5321 4.5.4.1: at least 4-5 days) fails for good.
 */
#ifndef SMTP_RETRY_H
#define SMTP_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define SMTP_RETRY_MIN_S 300
#define SMTP_RETRY_MAX_S 4000

enum smtp_outcome {
	SMTP_OUTCOME_DELIVERED, /* 2xx */
	SMTP_OUTCOME_TEMPORARY, /* 4xx, or no proper reply at all: try again later */
	SMTP_OUTCOME_PERMANENT, /* 5xx: report the failure to the sender now */
};

/* What a remote reply code means for the recipient or message it answered. */
enum smtp_outcome smtp_outcome_of(int code);

/*
 * Seconds from the `attempts`-th failed attempt (1 for the first) to the
 * next: SMTP_RETRY_MIN_S doubling per attempt up to SMTP_RETRY_MAX_S,
 * less up to an eighth taken from `random` (any 32 bits).
 */
unsigned smtp_retry_delay(unsigned attempts, uint32_t random);

/* True when a message queued at `created` (seconds) is past `lifetime` seconds at `now`. */
bool smtp_retry_expired(int64_t created, int64_t now, unsigned lifetime);

#endif
