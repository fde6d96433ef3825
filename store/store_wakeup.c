/*
 * store_wakeup.c - the queue's wake-ups (store.h) over the backend's
 * listen functions (store_driver.h): a handle of its own, used for
 * nothing but listening.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store-private.h"

struct store_wakeup {
	store_t *store;
};

bool store_wakeup_supported(const store_pool_t *pool)
{
	return store__pool_driver(pool)->listen != NULL;
}

int store_wakeup_open(store_pool_t *pool, store_wakeup_t **w_r, char *err, size_t errlen)
{
	const struct store__driver *drv = store__pool_driver(pool);
	*w_r = NULL;
	if (drv->listen == NULL) {
		snprintf(err, errlen, "the %s backend has no queue wake-ups", drv->name);
		return STORE_ENOTSUP;
	}
	store_wakeup_t *w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return STORE_ENOMEM;
	}
	int rc = store_pool_open(pool, 0, &w->store, err, errlen);
	if (rc == STORE_OK) {
		rc = drv->listen(w->store);
		if (rc != STORE_OK)
			snprintf(err, errlen, "%s", store_errmsg(w->store));
	}
	if (rc != STORE_OK) {
		store_wakeup_close(&w);
		return rc;
	}
	*w_r = w;
	return STORE_OK;
}

int store_wakeup_fd(const store_wakeup_t *w)
{
	return w->store->drv->listen_fd(w->store);
}

int store_wakeup_drain(store_wakeup_t *w, char *err, size_t errlen)
{
	int rc = w->store->drv->listen_drain(w->store);
	if (rc < 0)
		snprintf(err, errlen, "%s", store_errmsg(w->store));
	return rc;
}

void store_wakeup_close(store_wakeup_t **w)
{
	if (*w == NULL)
		return;
	store_close(&(*w)->store);
	free(*w);
	*w = NULL;
}
