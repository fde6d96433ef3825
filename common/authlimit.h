/*
 * authlimit.h - a failed-login budget per client address, across
 * connections.
 *
 * max_auth_failures bounds the guesses of one connection; this bounds the
 * guesses of one address over time, however many connections it opens.
 * Each address (IPv4 as is, IPv6 by its /64 prefix: one host or network
 * usually owns a whole /64) has a failure count that forgets one failure
 * every decay_ms:
 *
 *   - every failed login is answered after base_delay_ms (the
 *     auth_failure_delay_ms key); beyond free_failures the delay doubles
 *     with each further failure, up to max_delay_ms;
 *   - the failure that reaches `budget` locks the address out for
 *     lockout_ms: its logins are refused with a temporary error before
 *     any password is checked, so a locked-out guesser costs no hashing.
 *     After the lockout, each failure while the count is still at the
 *     budget locks it again, so a persistent guesser gets about one try
 *     per lockout or decay period, whichever is longer.
 *
 * A successful login does not reset the count: an attacker who owns one
 * account must not be able to wipe the record of guesses at others. A
 * well-behaved user behind the same address only sees the delays or the
 * lockout if their address as a whole keeps failing.
 *
 * The table has a fixed capacity, allocated at creation; when it is full
 * the address whose last failure is oldest is forgotten (LRU). Addresses
 * whose failures have all decayed and that are not locked are dropped as
 * they are met. Loop thread only: not thread-safe.
 */
#ifndef MAIL_AUTHLIMIT_H
#define MAIL_AUTHLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Failures per address answered after the base delay only: a few typos, or
 * two clients with an old saved password, never pay more. This and the cap
 * below are quoted in the help of auth_failure_delay_ms (config.c). */
#define AUTHLIMIT_FREE_FAILURES 5
/* The longest delay the doubling reaches; failures wait at least base_delay_ms. */
#define AUTHLIMIT_MAX_DELAY_MS 30000
/* Addresses remembered at once (about 64 octets each). */
#define AUTHLIMIT_CAPACITY 4096
/* The largest capacity authlimit_new accepts. */
#define AUTHLIMIT_CAPACITY_MAX (1u << 20)

struct authlimit;

/* Milliseconds from an arbitrary origin that never goes backwards. */
typedef uint64_t authlimit_clock_fn(void *ctx);

struct authlimit_params {
	unsigned base_delay_ms;  /* every failure is answered after at least this long */
	unsigned free_failures;  /* beyond this many the delay doubles per failure */
	unsigned max_delay_ms;   /* cap of the doubling */
	unsigned budget;         /* the failure that reaches it starts a lockout; at least 1 */
	unsigned decay_ms;       /* one failure forgotten per decay_ms; 0 = never */
	unsigned lockout_ms;     /* how long logins are refused once the budget is used up */
	size_t capacity;         /* addresses tracked at once, 1 to AUTHLIMIT_CAPACITY_MAX */
	authlimit_clock_fn *clock; /* NULL: CLOCK_MONOTONIC; tests inject their own */
	void *clock_ctx;
};

/* What one failure costs the client. */
struct authlimit_result {
	unsigned delay_ms; /* answer the failure after this long */
	unsigned failures; /* the address's failures now, this one included, after decay */
	bool locked;       /* this failure used up the budget: a lockout starts now */
};

/*
 * The daemons' parameters: auth_failure_delay_ms, auth_failure_budget,
 * auth_failure_decay and auth_lockout from cfg, the AUTHLIMIT_* constants
 * and the monotonic clock.
 */
void authlimit_params_from_config(struct authlimit_params *p, const struct mail_config *cfg);

/*
 * Allocates the whole table (capacity entries; nothing is allocated
 * later). The params are copied. Returns 0, or -1 when out of memory or
 * the params are out of range; *al_r is then NULL.
 */
int authlimit_new(struct authlimit **al_r, const struct authlimit_params *p);

/* Frees the table and sets *al to NULL. Safe on NULL. */
void authlimit_free(struct authlimit **al);

/*
 * Before a login attempt from `ip` (the text of conn_peer_ip): 0 when it
 * may go ahead, else the milliseconds left in the address's lockout (the
 * attempt should be refused without checking the password).
 */
uint64_t authlimit_locked_ms(struct authlimit *al, const char *ip);

/* Records a failed login from `ip` and fills *r. */
void authlimit_fail(struct authlimit *al, const char *ip, struct authlimit_result *r);

/* Addresses tracked now (for tests and logs). */
size_t authlimit_count(const struct authlimit *al);

#endif
