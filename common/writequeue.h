/*
 * writequeue.h - a FIFO of bytes in chunks, for output waiting for the
 * socket.
 *
 * Appends copy into the free tail of the last chunk or into new chunks;
 * bytes already queued never move, so spans handed to an in-flight
 * uv_write stay valid while more is appended behind them. Consuming from
 * the front frees whole chunks. An empty queue holds no memory, so an idle
 * connection costs nothing here.
 *
 * Chunk sizes: a write into an empty queue gets a small chunk (a reply is
 * usually a few dozen octets); once output backs up, chunks are
 * WRITEQUEUE_CHUNK octets so bulk output (RETR) costs few allocations.
 */
#ifndef MAIL_WRITEQUEUE_H
#define MAIL_WRITEQUEUE_H

#include <stddef.h>

#define WRITEQUEUE_CHUNK (16 * 1024)
#define WRITEQUEUE_SMALL_CHUNK 1024

struct writequeue_chunk;

struct writequeue {
	struct writequeue_chunk *head, *tail;
	size_t len; /* octets queued */
};

struct writequeue_span {
	const char *base;
	size_t len;
};

void writequeue_init(struct writequeue *wq);

/* Copies len bytes to the end. Returns 0, or -1 when out of memory (nothing queued). */
int writequeue_append(struct writequeue *wq, const void *data, size_t len);

/*
 * Fills up to `max` spans with the queued bytes from the front, in order.
 * Returns the number of spans; they stay valid until consumed.
 */
size_t writequeue_peek(const struct writequeue *wq, struct writequeue_span *spans, size_t max);

/* Drops n (<= len) bytes from the front, freeing emptied chunks. */
void writequeue_consume(struct writequeue *wq, size_t n);

/* Drops everything. */
void writequeue_clear(struct writequeue *wq);

#endif
