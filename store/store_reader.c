/*
 * store_reader.c - reading a body back chunk by chunk.
 *
 * Each chunk is its own short query and the statement is reset before the
 * chunk is handed out (the data is copied first), so a POP3 client that
 * takes minutes over a RETR holds no read snapshot and never stops the WAL
 * from being checkpointed.
 */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

struct store_reader {
	int64_t message_id;
	uint64_t size;   /* from the message row */
	uint64_t offset; /* octets returned so far */
	int64_t seq;     /* next chunk */
	unsigned char *buf;
	size_t buf_cap;
};

int store_reader_open(store_t *store, int64_t message_id, store_reader_t **reader_r)
{
	store__stmt_t *stmt;
	*reader_r = NULL;
	STORE__STMT_OR_RETURN(stmt, store, STORE__MESSAGE_SIZE);
	store__bind_int64(stmt, 1, message_id);
	int rc = store__step(stmt, "open message");
	int64_t size = rc == STORE__ROW ? store__column_int64(stmt, 0) : 0;
	store__reset(stmt);
	if (rc == STORE__DONE)
		return store__fail(store, STORE_ENOTFOUND, "no such message: %lld",
		                   (long long)message_id);
	if (rc != STORE__ROW)
		return rc;
	store_reader_t *reader = calloc(1, sizeof(*reader));
	if (reader == NULL)
		return store__fail(store, STORE_ENOMEM, "out of memory");
	reader->message_id = message_id;
	reader->size = (uint64_t)size;
	*reader_r = reader;
	return STORE_OK;
}

/* Copies the current row's chunk into the reader's buffer. */
static int take_chunk(store_t *store, store_reader_t *reader, store__stmt_t *stmt, size_t *len_r)
{
	size_t len = 0;
	const void *data = store__column_blob(stmt, 0, &len);
	if (len > reader->buf_cap) {
		unsigned char *buf = realloc(reader->buf, len);
		if (buf == NULL)
			return store__fail(store, STORE_ENOMEM, "out of memory");
		reader->buf = buf;
		reader->buf_cap = len;
	}
	if (len > 0)
		memcpy(reader->buf, data, len);
	*len_r = len;
	return STORE_OK;
}

int store_reader_next(store_t *store, store_reader_t *reader, const void **data_r, size_t *len_r)
{
	store__stmt_t *stmt;
	size_t len = 0;
	*data_r = NULL;
	*len_r = 0;
	if (reader->offset >= reader->size)
		return STORE_OK;
	STORE__STMT_OR_RETURN(stmt, store, STORE__CHUNK_GET);
	store__bind_int64(stmt, 1, reader->message_id);
	store__bind_int64(stmt, 2, reader->seq);
	int rc = store__step(stmt, "read message chunk");
	int err = STORE_OK;
	if (rc == STORE__ROW)
		err = take_chunk(store, reader, stmt, &len);
	else if (rc == STORE__DONE)
		/* The body was freed under us (the user was deleted). */
		err = store__fail(store, STORE_ENOTFOUND, "message %lld vanished while being read",
		                  (long long)reader->message_id);
	else
		err = rc;
	store__reset(stmt);
	if (err != STORE_OK)
		return err;
	if (len == 0 || len > reader->size - reader->offset)
		return store__fail(store, STORE_ECORRUPT, "message %lld: chunk %lld has a bad size",
		                   (long long)reader->message_id, (long long)reader->seq);
	reader->offset += len;
	reader->seq++;
	*data_r = reader->buf;
	*len_r = len;
	return STORE_OK;
}

void store_reader_close(store_reader_t **readerp)
{
	store_reader_t *reader = *readerp;
	if (reader == NULL)
		return;
	free(reader->buf);
	free(reader);
	*readerp = NULL;
}
