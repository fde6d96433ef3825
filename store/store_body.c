/*
 * store_body.c - freeing message bodies once nothing refers to them.
 *
 * A body is stored once however many mailboxes and queue rows point at it.
 * Whoever removes a reference (POP3 delete, user removal, queue completion
 * or deletion) calls store__body_release in the same transaction, so a
 * crash can never leave a body without references behind.
 */
#include <stdlib.h>

#include "store-private.h"

static int step_done(store_t *store, enum store__stmt_id id, int64_t message_id, const char *what)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id);
	store__bind_int64(stmt, 1, message_id);
	int rc = store__step(stmt, what);
	int err = rc < 0 ? rc : STORE_OK;
	store__reset(stmt);
	return err;
}

int store__body_release(store_t *store, int64_t message_id)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__BODY_REFERENCED);
	store__bind_int64(stmt, 1, message_id);
	int rc = store__step(stmt, "check body references");
	int referenced = rc == STORE__ROW && store__column_int(stmt, 0) != 0;
	int err = rc < 0 ? rc : STORE_OK;
	store__reset(stmt);
	if (err != STORE_OK || referenced)
		return err;
	/* Chunks first: they reference the message row. */
	err = step_done(store, STORE__BODY_CHUNKS_DEL, message_id, "delete body chunks");
	if (err == STORE_OK)
		err = step_done(store, STORE__BODY_MESSAGE_DEL, message_id, "delete body");
	return err;
}

int store__ids_push(store_t *store, struct store__ids *list, int64_t id)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		int64_t *ids = realloc(list->ids, cap * sizeof(*ids));
		if (ids == NULL)
			return store__fail(store, STORE_ENOMEM, "out of memory");
		list->ids = ids;
		list->cap = cap;
	}
	list->ids[list->count++] = id;
	return STORE_OK;
}

int store__ids_collect(store_t *store, store__stmt_t *stmt, struct store__ids *list,
                       const char *what)
{
	int rc, err = STORE_OK;
	while ((rc = store__step(stmt, what)) == STORE__ROW && err == STORE_OK)
		err = store__ids_push(store, list, store__column_int64(stmt, 0));
	if (err == STORE_OK && rc < 0)
		err = rc;
	store__reset(stmt);
	return err;
}

int store__ids_release_all(store_t *store, struct store__ids *list)
{
	int err = STORE_OK;
	for (size_t i = 0; i < list->count && err == STORE_OK; i++)
		err = store__body_release(store, list->ids[i]);
	return err;
}

void store__ids_free(struct store__ids *list)
{
	free(list->ids);
	list->ids = NULL;
	list->count = list->cap = 0;
}
