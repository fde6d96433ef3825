/*
 * store_scope.c - the mailboxes a scoped write names (store-private.h
 * "Scoped writes"): their lock keys, gathered, sorted and handed to the
 * driver right after the transaction begins.
 *
 * A key is a 32-bit hash of the mailbox's lookup key (the lower-cased
 * address), so the same mailbox is one key whichever spelling a caller
 * has. Two mailboxes may share a key: that only serialises their writers
 * as if they were one. Keys are locked in ascending numeric order, never
 * in the order of the addresses, whose order two colliding pairs could
 * invert.
 *
 * A transaction naming more than STORE__SCOPE_KEYS_MAX mailboxes (a large
 * group commit, a message to a big alias) takes the writers' lock
 * exclusively instead: PostgreSQL keeps advisory locks in its shared lock
 * table, sized for about max_locks_per_transaction (64) per connection, and
 * a transaction that filled it would make every session's locks fail.
 */
#include <stdlib.h>

#include "store-private.h"

/* FNV-1a, 32 bits: cheap, and spreads addresses that differ in one byte. */
static uint32_t key_of(const char *mailbox)
{
	char key[STORE__ADDRESS_BUF];
	uint32_t h = 2166136261u;
	store__address_key(mailbox, key);
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

int store__scope_add(store_t *store, struct store__scope *scope, const char *mailbox)
{
	if (!store__scopes_parallel(store))
		return STORE_OK;
	if (scope->count == scope->cap) {
		size_t cap = scope->cap ? scope->cap * 2 : 8;
		uint32_t *keys = realloc(scope->keys, cap * sizeof(*keys));
		if (keys == NULL)
			return store__fail(store, STORE_ENOMEM, "out of memory");
		scope->keys = keys;
		scope->cap = cap;
	}
	scope->keys[scope->count++] = key_of(mailbox);
	return STORE_OK;
}

int store__scope_add_delivery(store_t *store, struct store__scope *scope,
                              const store_delivery_t *d)
{
	int err = STORE_OK;
	for (size_t i = 0; err == STORE_OK && i < d->local.count; i++)
		err = store__scope_add(store, scope, d->local.items[i]);
	return err;
}

static int key_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorts the keys and drops repeats (a mailbox named twice, or a collision). */
static void normalise(struct store__scope *scope)
{
	if (scope->count < 2)
		return;
	qsort(scope->keys, scope->count, sizeof(*scope->keys), key_cmp);
	size_t n = 1;
	for (size_t i = 1; i < scope->count; i++)
		if (scope->keys[i] != scope->keys[n - 1])
			scope->keys[n++] = scope->keys[i];
	scope->count = n;
}

/* Begins the scoped transaction and locks keys[0..n), already in order. */
static int begin_locked(store_t *store, const uint32_t *keys, size_t n)
{
	int err = store->drv->begin(store, STORE__TXN_SCOPED);
	if (err != STORE_OK || n == 0 || store->drv->lock_keys == NULL)
		return err;
	err = store->drv->lock_keys(store, keys, n);
	if (err != STORE_OK)
		store__rollback(store);
	return err;
}

#define STORE__SCOPE_KEYS_MAX 32

int store__begin_scoped(store_t *store, struct store__scope *scope)
{
	if (scope == NULL)
		return begin_locked(store, NULL, 0);
	normalise(scope);
	if (scope->count > STORE__SCOPE_KEYS_MAX)
		return store->drv->begin(store, STORE__TXN_WRITE);
	return begin_locked(store, scope->keys, scope->count);
}

int store__begin_mailbox(store_t *store, const char *mailbox)
{
	if (!store__scopes_parallel(store))
		return begin_locked(store, NULL, 0);
	uint32_t key = key_of(mailbox);
	return begin_locked(store, &key, 1);
}

void store__scope_free(struct store__scope *scope)
{
	free(scope->keys);
	scope->keys = NULL;
	scope->count = scope->cap = 0;
}
