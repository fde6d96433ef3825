/* store_strings.c - a small owned string list for rows and recipients. */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

int store__strings_push(struct store__strings *list, const char *s)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 8;
		char **items = realloc(list->items, cap * sizeof(*items));
		if (items == NULL)
			return STORE_ENOMEM;
		list->items = items;
		list->cap = cap;
	}
	char *copy = strdup(s);
	if (copy == NULL)
		return STORE_ENOMEM;
	list->items[list->count++] = copy;
	return STORE_OK;
}

int store__strings_contains(const struct store__strings *list, const char *s)
{
	for (size_t i = 0; i < list->count; i++)
		if (strcmp(list->items[i], s) == 0)
			return 1;
	return 0;
}

void store__strings_truncate(struct store__strings *list, size_t count)
{
	while (list->count > count)
		free(list->items[--list->count]);
}

void store__strings_free(struct store__strings *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = list->cap = 0;
}

int store__strings_collect(store_t *store, store__stmt_t *stmt, int ncols,
                           struct store__strings *list, const char *what)
{
	int rc = STORE__DONE, err = STORE_OK;
	while (err == STORE_OK && (rc = store__step(stmt, what)) == STORE__ROW) {
		for (int i = 0; i < ncols && err == STORE_OK; i++) {
			const char *s = store__column_str(stmt, i);
			if (store__strings_push(list, s != NULL ? s : "") != STORE_OK)
				err = store__fail(store, STORE_ENOMEM, "%s: out of memory", what);
		}
	}
	if (err == STORE_OK && rc < 0)
		err = rc;
	store__reset(stmt);
	return err;
}
