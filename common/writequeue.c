#include "writequeue.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct writequeue_chunk {
	struct writequeue_chunk *next;
	size_t start, end, cap; /* queued bytes are data[start..end) */
	char data[];
};

void writequeue_init(struct writequeue *wq)
{
	wq->head = wq->tail = NULL;
	wq->len = 0;
}

static struct writequeue_chunk *chunk_new(size_t cap)
{
	struct writequeue_chunk *c = malloc(sizeof(*c) + cap);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->start = c->end = 0;
	c->cap = cap;
	return c;
}

int writequeue_append(struct writequeue *wq, const void *data, size_t len)
{
	const char *p = data;
	struct writequeue_chunk *first_new = NULL, *last_new = NULL;
	size_t room = 0;

	if (len == 0)
		return 0;
	if (wq->tail != NULL)
		room = wq->tail->cap - wq->tail->end;

	/* Allocate everything the tail cannot hold first, so a failure leaves
	 * the queue untouched. */
	size_t rest = len > room ? len - room : 0;
	while (rest > 0) {
		size_t cap;
		if (wq->len == 0 && first_new == NULL && rest <= WRITEQUEUE_SMALL_CHUNK)
			cap = WRITEQUEUE_SMALL_CHUNK;
		else
			cap = rest > WRITEQUEUE_CHUNK ? rest : WRITEQUEUE_CHUNK;
		struct writequeue_chunk *c = chunk_new(cap);
		if (c == NULL) {
			while (first_new != NULL) {
				struct writequeue_chunk *next = first_new->next;
				free(first_new);
				first_new = next;
			}
			return -1;
		}
		if (last_new == NULL)
			first_new = c;
		else
			last_new->next = c;
		last_new = c;
		rest -= cap < rest ? cap : rest;
	}

	if (room > 0) {
		size_t n = len < room ? len : room;
		memcpy(wq->tail->data + wq->tail->end, p, n);
		wq->tail->end += n;
		p += n;
		len -= n;
		wq->len += n;
	}
	for (struct writequeue_chunk *c = first_new; c != NULL; c = c->next) {
		size_t n = len < c->cap ? len : c->cap;
		memcpy(c->data, p, n);
		c->end = n;
		p += n;
		len -= n;
		wq->len += n;
	}
	assert(len == 0);
	if (first_new != NULL) {
		if (wq->tail == NULL)
			wq->head = first_new;
		else
			wq->tail->next = first_new;
		wq->tail = last_new;
	}
	return 0;
}

size_t writequeue_peek(const struct writequeue *wq, struct writequeue_span *spans, size_t max)
{
	size_t n = 0;
	for (const struct writequeue_chunk *c = wq->head; c != NULL && n < max; c = c->next) {
		if (c->end == c->start)
			continue;
		spans[n].base = c->data + c->start;
		spans[n].len = c->end - c->start;
		n++;
	}
	return n;
}

void writequeue_consume(struct writequeue *wq, size_t n)
{
	assert(n <= wq->len);
	wq->len -= n;
	while (n > 0) {
		struct writequeue_chunk *c = wq->head;
		size_t avail = c->end - c->start;
		if (n < avail) {
			c->start += n;
			return;
		}
		n -= avail;
		wq->head = c->next;
		if (wq->head == NULL)
			wq->tail = NULL;
		free(c);
	}
}

void writequeue_clear(struct writequeue *wq)
{
	struct writequeue_chunk *c = wq->head;
	while (c != NULL) {
		struct writequeue_chunk *next = c->next;
		free(c);
		c = next;
	}
	writequeue_init(wq);
}
