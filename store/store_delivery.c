/*
 * store_delivery.c - the delivery object: envelope and body of one accepted
 * message before it is committed, built without a store handle.
 *
 * Writing the body never touches a file, so the event loop may feed it as
 * it arrives. The body collects in `buf`; once that holds more than
 * STORE_DELIVERY_MEMORY_MAX octets, the caller spills it with
 * store_delivery_spill on a worker thread. The first spill creates a
 * temporary file without a name (O_TMPFILE, else mkstemp and an unlink at
 * once), so it vanishes with the process however that ends; every spill
 * empties `buf` into it, and `buf` fills again: one write(2) per 256 KiB
 * or so rather than one per protocol line. The octets still in `buf` at
 * commit are read from memory (store_deliver.c), never written out.
 */
#define _GNU_SOURCE /* O_TMPFILE, mkostemp */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store-private.h"

/* Beyond STORE_DELIVERY_MEMORY_MAX the buffer grows in steps of this size:
 * by what the caller wrote before it noticed a spill was wanted. */
#define DELIVERY__GROW_STEP (16 * 1024)

#ifdef MAIL_TEST_HOOKS
/* MAILTEST_STORE_SPILL_GATE (store.h): the longest a spill waits for the gate. */
#define DELIVERY__GATE_POLLS 6000 /* of 10 ms: one minute */
#endif

int store_delivery_new(const char *sender, const char *tmpdir, store_delivery_t **delivery_r)
{
	char norm[STORE__ADDRESS_BUF] = "";
	*delivery_r = NULL;
	if (sender == NULL || (*sender != '\0' && store__address_normalize(sender, norm) != STORE_OK))
		return STORE_EINVAL;
	store_delivery_t *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return STORE_ENOMEM;
	d->fd = -1;
	memcpy(d->sender, norm, sizeof(d->sender));
	if (tmpdir != NULL && (d->tmpdir = strdup(tmpdir)) == NULL) {
		free(d);
		return STORE_ENOMEM;
	}
	*delivery_r = d;
	return STORE_OK;
}

void store_delivery_set_id(store_delivery_t *delivery, int64_t id)
{
	delivery->id = id;
}

static int add_rcpt(struct store__strings *list, const char *address)
{
	char norm[STORE__ADDRESS_BUF];
	if (store__address_normalize(address, norm) != STORE_OK)
		return STORE_EINVAL;
	if (store__strings_contains(list, norm))
		return STORE_OK;
	return store__strings_push(list, norm);
}

int store_delivery_add_local(store_delivery_t *delivery, const char *mailbox)
{
	return add_rcpt(&delivery->local, mailbox);
}

int store_delivery_add_remote_dsn(store_delivery_t *d, const char *recipient, unsigned notify,
                                  const char *orcpt)
{
	size_t before = d->remote.count;
	if (orcpt == NULL)
		orcpt = "";
	if (strlen(orcpt) >= sizeof(((struct store_queue_item *)0)->dsn_orcpt))
		return STORE_EINVAL;
	int err = add_rcpt(&d->remote, recipient);
	if (err != STORE_OK || d->remote.count == before)
		return err; /* a duplicate keeps its first parameters */
	unsigned *grown = realloc(d->remote_notify, d->remote.count * sizeof(*grown));
	if (grown == NULL) {
		store__strings_truncate(&d->remote, before);
		return STORE_ENOMEM;
	}
	d->remote_notify = grown;
	grown[before] = notify;
	err = store__strings_push(&d->remote_orcpt, orcpt);
	if (err != STORE_OK)
		store__strings_truncate(&d->remote, before);
	return err;
}

int store_delivery_add_remote(store_delivery_t *delivery, const char *recipient)
{
	return store_delivery_add_remote_dsn(delivery, recipient, 0, NULL);
}

int store_delivery_set_dsn(store_delivery_t *d, int ret, const char *envid)
{
	if (envid == NULL)
		envid = "";
	if (ret < 0 || ret > 2 || strlen(envid) >= sizeof(d->dsn_envid))
		return STORE_EINVAL;
	d->dsn_ret = ret;
	memcpy(d->dsn_envid, envid, strlen(envid) + 1);
	return STORE_OK;
}

/* Grows the memory buffer to hold `need` octets: doubling up to the
 * in-memory limit (which is where a small body stops), then by steps. */
static int reserve(store_delivery_t *d, size_t need)
{
	if (need <= d->buf_cap)
		return STORE_OK;
	size_t cap = d->buf_cap ? d->buf_cap : 8192;
	while (cap < need && cap < STORE_DELIVERY_MEMORY_MAX)
		cap *= 2;
	if (cap < need) {
		if (need > SIZE_MAX - DELIVERY__GROW_STEP)
			return STORE_ENOMEM;
		cap = (need + DELIVERY__GROW_STEP - 1) / DELIVERY__GROW_STEP * DELIVERY__GROW_STEP;
	}
	unsigned char *buf = realloc(d->buf, cap);
	if (buf == NULL)
		return STORE_ENOMEM;
	d->buf = buf;
	d->buf_cap = cap;
	return STORE_OK;
}

int store_delivery_write(store_delivery_t *d, const void *data, size_t len)
{
	if (d->spill_failed)
		return STORE_EIO;
	if (len == 0)
		return STORE_OK;
	if (len > SIZE_MAX - d->buf_len)
		return STORE_ENOMEM;
	int err = reserve(d, d->buf_len + len);
	if (err != STORE_OK)
		return err;
	memcpy(d->buf + d->buf_len, data, len);
	d->buf_len += len;
	d->size += len;
	return STORE_OK;
}

int store_delivery_spill_wanted(const store_delivery_t *d)
{
	return !d->spill_failed && d->buf_len > STORE_DELIVERY_MEMORY_MAX;
}

int store_delivery_spilled(const store_delivery_t *d)
{
	return d->fd >= 0;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char *spill_dir(const store_delivery_t *d)
{
	if (d->tmpdir != NULL)
		return d->tmpdir;
	const char *env = getenv("TMPDIR");
	return env != NULL && *env != '\0' ? env : "/tmp";
}

static int spill_fail(store_delivery_t *d, char *err, size_t errlen, const char *what, int e)
{
	d->spill_failed = 1;
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s %s: %s", what, spill_dir(d), strerror(e));
	return STORE_EIO;
}

/* A new temporary file in dir that has no name, or -1 with errno set. */
static int open_spill_file(const char *dir)
{
	int fd;
#ifdef O_TMPFILE
	fd = open(dir, O_RDWR | O_TMPFILE | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* Filesystems without O_TMPFILE refuse it with EOPNOTSUPP (older
	 * kernels with EISDIR): fall back to a name removed at once. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -1;
#endif
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/mail-body.XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (unlink(path) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

#ifdef MAIL_TEST_HOOKS
/* The MAILTEST_STORE_SPILL_GATE test hook (store.h). */
static void spill_gate(void)
{
	const char *gate = getenv("MAILTEST_STORE_SPILL_GATE");
	if (gate == NULL || *gate == '\0')
		return;
	struct timespec poll = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
	for (int i = 0; i < DELIVERY__GATE_POLLS && access(gate, F_OK) != 0; i++)
		nanosleep(&poll, NULL);
}
#endif

int store_delivery_spill(store_delivery_t *d, char *err, size_t errlen)
{
	if (d->spill_failed) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "an earlier spill failed");
		return STORE_EIO;
	}
	if (d->fd < 0) {
		int fd = open_spill_file(spill_dir(d));
		if (fd < 0)
			return spill_fail(d, err, errlen, "creating a temporary file in", errno);
		d->fd = fd;
	}
#ifdef MAIL_TEST_HOOKS
	spill_gate();
#endif
	if (write_all(d->fd, d->buf, d->buf_len) != 0)
		return spill_fail(d, err, errlen, "writing a temporary file in", errno);
	d->buf_len = 0;
	return STORE_OK;
}

ssize_t store__delivery_pread(store_delivery_t *d, void *buf, size_t len, uint64_t offset)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(d->fd, (unsigned char *)buf + done, len - done,
		                  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

uint64_t store_delivery_size(const store_delivery_t *delivery)
{
	return delivery->size;
}

void store_delivery_free(store_delivery_t **deliveryp)
{
	store_delivery_t *d = *deliveryp;
	if (d == NULL)
		return;
	if (d->fd >= 0)
		close(d->fd);
	free(d->buf);
	free(d->tmpdir);
	store__strings_free(&d->local);
	store__strings_free(&d->remote);
	store__strings_free(&d->remote_orcpt);
	free(d->remote_notify);
	free(d);
	*deliveryp = NULL;
}
