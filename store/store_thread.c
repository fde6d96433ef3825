/* store_thread.c - one database connection per worker thread. */
#include "store.h"

#include <pthread.h>
#include <stdio.h>

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void thread_handle_free(void *handle)
{
	store_t *store = handle;
	store_close(&store);
}

static void thread_key_create(void)
{
	/* Failure leaves the key unusable; store_thread_handle then opens per call site. */
	if (pthread_key_create(&thread_key, thread_handle_free) != 0)
		thread_key = (pthread_key_t)-1;
}

store_t *store_thread_handle(const char *path, int flags, char *err, size_t errlen)
{
	pthread_once(&thread_key_once, thread_key_create);
	if (thread_key == (pthread_key_t)-1) {
		snprintf(err, errlen, "cannot create a thread-local key");
		return NULL;
	}
	store_t *store = pthread_getspecific(thread_key);
	if (store != NULL)
		return store;
	if (store_open(path, flags, &store, err, errlen) != STORE_OK)
		return NULL;
	if (pthread_setspecific(thread_key, store) != 0) {
		store_close(&store);
		snprintf(err, errlen, "cannot set the thread's store handle");
		return NULL;
	}
	return store;
}
