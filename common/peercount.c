#include "peercount.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peerkey.h"

struct peercount_entry {
	struct peercount_entry *next;
	unsigned count;
	unsigned char key[PEERKEY_LEN];
};

#define PEERCOUNT_MIN_BUCKETS 64

void peercount_init(struct peercount *pc)
{
	pc->buckets = NULL;
	pc->nbuckets = 0;
	pc->nentries = 0;
}

/* FNV-1a: keys are short and not attacker-chosen in bulk beyond what
 * the connection limits already allow, so a simple hash is enough. */
static size_t hash(const unsigned char key[PEERKEY_LEN])
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < PEERKEY_LEN; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static struct peercount_entry **find(const struct peercount *pc,
                                     const unsigned char key[PEERKEY_LEN])
{
	if (pc->nbuckets == 0)
		return NULL;
	struct peercount_entry **pp = &pc->buckets[hash(key) & (pc->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		if (memcmp((*pp)->key, key, PEERKEY_LEN) == 0)
			return pp;
	}
	return pp;
}

unsigned peercount_get(const struct peercount *pc, const char *addr)
{
	unsigned char key[PEERKEY_LEN];
	peerkey_make(addr, key);
	struct peercount_entry **pp = find(pc, key);
	return pp != NULL && *pp != NULL ? (*pp)->count : 0;
}

static int grow(struct peercount *pc)
{
	size_t n = pc->nbuckets == 0 ? PEERCOUNT_MIN_BUCKETS : pc->nbuckets * 2;
	struct peercount_entry **b = calloc(n, sizeof(*b));
	if (b == NULL)
		return -1;
	for (size_t i = 0; i < pc->nbuckets; i++) {
		struct peercount_entry *e = pc->buckets[i];
		while (e != NULL) {
			struct peercount_entry *next = e->next;
			size_t j = hash(e->key) & (n - 1);
			e->next = b[j];
			b[j] = e;
			e = next;
		}
	}
	free(pc->buckets);
	pc->buckets = b;
	pc->nbuckets = n;
	return 0;
}

int peercount_add(struct peercount *pc, const char *addr)
{
	unsigned char key[PEERKEY_LEN];
	peerkey_make(addr, key);
	struct peercount_entry **pp = find(pc, key);
	if (pp != NULL && *pp != NULL) {
		(*pp)->count++;
		return 0;
	}
	if (pc->nentries >= pc->nbuckets) {
		if (grow(pc) < 0)
			return -1;
		pp = find(pc, key);
	}
	struct peercount_entry *e = malloc(sizeof(*e));
	if (e == NULL)
		return -1;
	memcpy(e->key, key, PEERKEY_LEN);
	e->count = 1;
	e->next = NULL;
	*pp = e;
	pc->nentries++;
	return 0;
}

void peercount_remove(struct peercount *pc, const char *addr)
{
	unsigned char key[PEERKEY_LEN];
	peerkey_make(addr, key);
	struct peercount_entry **pp = find(pc, key);
	assert(pp != NULL && *pp != NULL);
	if (pp == NULL || *pp == NULL)
		return;
	struct peercount_entry *e = *pp;
	if (--e->count > 0)
		return;
	*pp = e->next;
	free(e);
	pc->nentries--;
}

void peercount_free(struct peercount *pc)
{
	for (size_t i = 0; i < pc->nbuckets; i++) {
		struct peercount_entry *e = pc->buckets[i];
		while (e != NULL) {
			struct peercount_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(pc->buckets);
	peercount_init(pc);
}
