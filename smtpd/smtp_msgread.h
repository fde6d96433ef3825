/*
 * smtp_msgread.h - reading a queued message for the SMTP client, off the
 * loop (conn_work_fn, on the thread pool with a handle from the store's
 * pool): the preparing pass over the whole body, then one chunk at a
 * time while the body is sent.
 *
 * The preparing pass learns what the client must know before MAIL FROM:
 * the size (SIZE=), whether the body has 8-bit octets (BODY=8BITMIME),
 * whether the header section needs SMTPUTF8, the header section itself
 * (kept, up to 64 KiB, for a bounce), and, when the From domain has a
 * DKIM key in the store, the DKIM-Signature field (RFC 6376) that goes on
 * top: a second pass, since the signature covers the whole body.
 */
#ifndef SMTP_MSGREAD_H
#define SMTP_MSGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct smtp_msgread {
	/* In. */
	store_pool_t *pool;
	int64_t message_id;
	bool prepare;        /* the preparing pass; else the next chunk */
	store_reader_t *reader; /* in and out: NULL opens one (the first chunk) */
	/* Out. */
	int status;          /* 0 or a store error, with error */
	char error[256];
	char *data;          /* the chunk (malloc'd); len 0 at the end */
	size_t len;
	/* Out, preparing. */
	uint64_t size;
	bool eightbit;
	bool header_utf8;
	char *headers;       /* the header section (malloc'd), without its empty line */
	size_t headers_len;
	bool headers_done;
	char *dkim;          /* the DKIM-Signature field to put on top (malloc'd), or NULL */
	size_t dkim_len;
	char dkim_note[256]; /* why a message from a domain with a key went unsigned */
};

/* conn_work_fn: does what r asks, on a pool thread. */
void smtp_msgread_work(void *arg);

/* True when s[0..len) is all ASCII. */
bool smtp_msgread_ascii(const char *s, size_t len);

#endif
