/* authlimit.c - the per-address failed-login table; see authlimit.h. */
#include "authlimit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "peerkey.h"

/* An address's key (peerkey.h): IPv4 as is, IPv6 by its /64. */
#define KEY_LEN PEERKEY_LEN

#define NONE UINT32_MAX

struct entry {
	unsigned char key[KEY_LEN];
	uint32_t failures;
	uint64_t since;        /* decay of `failures` is counted from here */
	uint64_t locked_until; /* logins refused before this time; 0 = never locked */
	uint32_t chain;        /* next entry in the same bucket */
	uint32_t prev, next;   /* LRU list, most recent failure first; `next` also links the free list */
};

struct authlimit {
	struct authlimit_params p;
	struct entry *entries;
	uint32_t *buckets;     /* nbuckets heads of entry chains */
	uint32_t nbuckets;     /* a power of two >= capacity */
	uint32_t lru_head, lru_tail, free_head;
	size_t count;
	uint64_t seed;
};

static uint64_t monotonic_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void authlimit_params_from_config(struct authlimit_params *p, const struct mail_config *cfg)
{
	*p = (struct authlimit_params){
		.base_delay_ms = cfg->auth_failure_delay_ms,
		.free_failures = AUTHLIMIT_FREE_FAILURES,
		.max_delay_ms = AUTHLIMIT_MAX_DELAY_MS,
		.budget = cfg->auth_failure_budget,
		.decay_ms = cfg->auth_failure_decay * 1000,
		.lockout_ms = cfg->auth_lockout * 1000,
		.capacity = AUTHLIMIT_CAPACITY,
	};
}

int authlimit_new(struct authlimit **al_r, const struct authlimit_params *p)
{
	*al_r = NULL;
	if (p->budget == 0 || p->capacity == 0 || p->capacity > AUTHLIMIT_CAPACITY_MAX)
		return -1;
	struct authlimit *al = calloc(1, sizeof(*al));
	if (al == NULL)
		return -1;
	al->p = *p;
	if (al->p.clock == NULL)
		al->p.clock = monotonic_ms;
	al->nbuckets = 1;
	while (al->nbuckets < p->capacity)
		al->nbuckets *= 2;
	al->entries = calloc(p->capacity, sizeof(*al->entries));
	al->buckets = malloc(al->nbuckets * sizeof(*al->buckets));
	if (al->entries == NULL || al->buckets == NULL) {
		authlimit_free(&al);
		return -1;
	}
	for (uint32_t i = 0; i < al->nbuckets; i++)
		al->buckets[i] = NONE;
	for (size_t i = 0; i < p->capacity; i++)
		al->entries[i].next = i + 1 < p->capacity ? (uint32_t)(i + 1) : NONE;
	al->free_head = 0;
	al->lru_head = al->lru_tail = NONE;
	/* A secret seed keeps a client from choosing addresses that share a
	 * bucket; the fixed capacity bounds the damage if it could anyway. */
	if (getrandom(&al->seed, sizeof(al->seed), GRND_NONBLOCK) != sizeof(al->seed))
		al->seed = monotonic_ms(NULL) ^ (uint64_t)(uintptr_t)al;
	*al_r = al;
	return 0;
}

void authlimit_free(struct authlimit **al)
{
	if (*al == NULL)
		return;
	free((*al)->entries);
	free((*al)->buckets);
	free(*al);
	*al = NULL;
}

size_t authlimit_count(const struct authlimit *al)
{
	return al->count;
}

/* FNV-1a over the seed and the key. */
static uint32_t bucket_of(const struct authlimit *al, const unsigned char key[KEY_LEN])
{
	uint64_t h = 1469598103934665603ULL ^ al->seed;
	for (size_t i = 0; i < KEY_LEN; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	return (uint32_t)(h ^ (h >> 32)) & (al->nbuckets - 1);
}

static uint32_t find(const struct authlimit *al, const unsigned char key[KEY_LEN])
{
	uint32_t i = al->buckets[bucket_of(al, key)];
	while (i != NONE && memcmp(al->entries[i].key, key, KEY_LEN) != 0)
		i = al->entries[i].chain;
	return i;
}

static void lru_unlink(struct authlimit *al, uint32_t i)
{
	struct entry *e = &al->entries[i];
	if (e->prev != NONE)
		al->entries[e->prev].next = e->next;
	else
		al->lru_head = e->next;
	if (e->next != NONE)
		al->entries[e->next].prev = e->prev;
	else
		al->lru_tail = e->prev;
}

static void lru_push_head(struct authlimit *al, uint32_t i)
{
	struct entry *e = &al->entries[i];
	e->prev = NONE;
	e->next = al->lru_head;
	if (al->lru_head != NONE)
		al->entries[al->lru_head].prev = i;
	else
		al->lru_tail = i;
	al->lru_head = i;
}

/* Unlinks entry i from its bucket and the LRU list and returns it to the free list. */
static void release(struct authlimit *al, uint32_t i)
{
	struct entry *e = &al->entries[i];
	uint32_t *pp = &al->buckets[bucket_of(al, e->key)];
	while (*pp != i) {
		assert(*pp != NONE);
		pp = &al->entries[*pp].chain;
	}
	*pp = e->chain;
	lru_unlink(al, i);
	memset(e, 0, sizeof(*e));
	e->next = al->free_head;
	al->free_head = i;
	al->count--;
}

/* A new entry for key: a free one, else the least recently failed address's. */
static uint32_t insert(struct authlimit *al, const unsigned char key[KEY_LEN], uint64_t now)
{
	if (al->free_head == NONE)
		release(al, al->lru_tail);
	uint32_t i = al->free_head;
	struct entry *e = &al->entries[i];
	al->free_head = e->next;
	memcpy(e->key, key, KEY_LEN);
	e->failures = 0;
	e->since = now;
	e->locked_until = 0;
	uint32_t b = bucket_of(al, key);
	e->chain = al->buckets[b];
	al->buckets[b] = i;
	lru_push_head(al, i);
	al->count++;
	return i;
}

/* Forgets one failure per decay_ms elapsed since e->since. */
static void decay(const struct authlimit *al, struct entry *e, uint64_t now)
{
	if (e->failures == 0 || al->p.decay_ms == 0 || now <= e->since) {
		if (e->failures == 0)
			e->since = now;
		return;
	}
	uint64_t n = (now - e->since) / al->p.decay_ms;
	if (n >= e->failures) {
		e->failures = 0;
		e->since = now;
	} else {
		e->failures -= (uint32_t)n;
		e->since += n * al->p.decay_ms; /* keep the part of a period already served */
	}
}

uint64_t authlimit_locked_ms(struct authlimit *al, const char *ip)
{
	unsigned char key[KEY_LEN];

	peerkey_make(ip, key);
	uint32_t i = find(al, key);
	if (i == NONE)
		return 0;
	uint64_t now = al->p.clock(al->p.clock_ctx);
	struct entry *e = &al->entries[i];
	if (e->locked_until > now)
		return e->locked_until - now;
	decay(al, e, now);
	if (e->failures == 0)
		release(al, i); /* nothing left to remember */
	return 0;
}

static unsigned delay_for(const struct authlimit_params *p, uint32_t failures)
{
	uint64_t d = p->base_delay_ms;
	if (failures > p->free_failures) {
		uint32_t shift = failures - p->free_failures;
		/* base_delay_ms < 2^32, so a shift below 32 fits in 64 bits. */
		d = shift >= 32 ? UINT64_MAX : d << shift;
		if (d > p->max_delay_ms)
			d = p->max_delay_ms;
		if (d < p->base_delay_ms)
			d = p->base_delay_ms;
	}
	return (unsigned)d;
}

void authlimit_fail(struct authlimit *al, const char *ip, struct authlimit_result *r)
{
	unsigned char key[KEY_LEN];
	uint64_t now = al->p.clock(al->p.clock_ctx);

	peerkey_make(ip, key);
	uint32_t i = find(al, key);
	if (i == NONE) {
		i = insert(al, key, now);
	} else {
		lru_unlink(al, i);
		lru_push_head(al, i);
	}
	struct entry *e = &al->entries[i];
	decay(al, e, now);
	if (e->failures < UINT32_MAX)
		e->failures++;
	r->failures = e->failures;
	r->delay_ms = delay_for(&al->p, e->failures);
	r->locked = false;
	if (e->failures >= al->p.budget && e->locked_until <= now) {
		e->locked_until = now + al->p.lockout_ms;
		r->locked = true;
	}
}
