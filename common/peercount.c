#include "peercount.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct peercount_entry {
	struct peercount_entry *next;
	unsigned count;
	char addr[PEERCOUNT_ADDR_MAX];
};

#define PEERCOUNT_MIN_BUCKETS 64

void peercount_init(struct peercount *pc)
{
	pc->buckets = NULL;
	pc->nbuckets = 0;
	pc->nentries = 0;
}

/* FNV-1a: addresses are short and not attacker-chosen in bulk beyond what
 * the connection limits already allow, so a simple hash is enough. */
static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

static struct peercount_entry **find(const struct peercount *pc, const char *addr)
{
	if (pc->nbuckets == 0)
		return NULL;
	struct peercount_entry **pp = &pc->buckets[hash(addr) & (pc->nbuckets - 1)];
	for (; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->addr, addr) == 0)
			return pp;
	}
	return pp;
}

unsigned peercount_get(const struct peercount *pc, const char *addr)
{
	struct peercount_entry **pp = find(pc, addr);
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
			size_t j = hash(e->addr) & (n - 1);
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
	struct peercount_entry **pp = find(pc, addr);
	if (pp != NULL && *pp != NULL) {
		(*pp)->count++;
		return 0;
	}
	if (pc->nentries >= pc->nbuckets) {
		if (grow(pc) < 0)
			return -1;
		pp = find(pc, addr);
	}
	struct peercount_entry *e = malloc(sizeof(*e));
	if (e == NULL)
		return -1;
	size_t len = strnlen(addr, sizeof(e->addr) - 1);
	memcpy(e->addr, addr, len);
	e->addr[len] = '\0';
	e->count = 1;
	e->next = NULL;
	*pp = e;
	pc->nentries++;
	return 0;
}

void peercount_remove(struct peercount *pc, const char *addr)
{
	struct peercount_entry **pp = find(pc, addr);
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
