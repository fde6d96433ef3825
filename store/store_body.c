/*
 * store_body.c - freeing message bodies once nothing refers to them.
 *
 * A body is stored once however many mailboxes and queue rows point at it.
 * Whoever removes a reference (POP3 delete, user removal, queue completion
 * or deletion) calls store__body_release in the same transaction, so a
 * crash can never leave a body without references behind, nor can two
 * writers that remove its last two references at once (where they run
 * together, store__body_release locks the body's row first).
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
	if (store__scopes_parallel(store)) {
		int err = step_done(store, STORE__BODY_LOCK, message_id, "lock body");
		if (err != STORE_OK)
			return err;
	}
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

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Ascending, so that two transactions lock shared message rows in one
 * order (store-private.h "Scoped writes"); once each, as a body shared by
 * two deleted entries needs one look. */
int store__ids_release_all(store_t *store, struct store__ids *list)
{
	int err = STORE_OK;
	if (list->count > 1)
		qsort(list->ids, list->count, sizeof(*list->ids), id_cmp);
	for (size_t i = 0; i < list->count && err == STORE_OK; i++)
		if (i == 0 || list->ids[i] != list->ids[i - 1])
			err = store__body_release(store, list->ids[i]);
	return err;
}

void store__ids_free(struct store__ids *list)
{
	free(list->ids);
	list->ids = NULL;
	list->count = list->cap = 0;
}
