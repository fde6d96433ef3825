/*
 * store_delivery.c - the delivery object: envelope and body of one accepted
 * message before it is committed, built without a store handle.
 *
 * The body lives in `buf` until it would pass STORE__SPILL_THRESHOLD; then
 * it moves to a temporary file that is unlinked at once (so it vanishes
 * with the process however that ends) and `buf` becomes a write-behind
 * buffer of the same size, so spilling costs one write(2) per 256 KiB
 * rather than one per protocol line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store-private.h"

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

int store_delivery_add_remote(store_delivery_t *delivery, const char *recipient)
{
	return add_rcpt(&delivery->remote, recipient);
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
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

/* Moves the in-memory body to a fresh unlinked temporary file. */
static int spill(store_delivery_t *d)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/mail-body.XXXXXX", spill_dir(d));
	if (n < 0 || (size_t)n >= sizeof(path))
		return STORE_EIO;
	int fd = mkstemp(path);
	if (fd < 0)
		return STORE_EIO;
	unlink(path);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (write_all(fd, d->buf, d->buf_len) != 0) {
		close(fd);
		return STORE_EIO;
	}
	d->fd = fd;
	d->buf_len = 0;
	return STORE_OK;
}

/* Grows the memory buffer to hold `need` octets (at most the threshold). */
static int reserve(store_delivery_t *d, size_t need)
{
	if (need <= d->buf_cap)
		return STORE_OK;
	size_t cap = d->buf_cap ? d->buf_cap : 8192;
	while (cap < need)
		cap *= 2;
	if (cap > STORE__SPILL_THRESHOLD)
		cap = STORE__SPILL_THRESHOLD;
	unsigned char *buf = realloc(d->buf, cap);
	if (buf == NULL)
		return STORE_ENOMEM;
	d->buf = buf;
	d->buf_cap = cap;
	return STORE_OK;
}

int store_delivery_write(store_delivery_t *d, const void *data, size_t len)
{
	const unsigned char *p = data;
	if (d->spill_failed)
		return STORE_EIO;
	while (len > 0) {
		if (d->fd < 0 && d->buf_len + len > STORE__SPILL_THRESHOLD) {
			/* Move the body out before it passes the threshold; the
			 * buffer, grown to the threshold, stays as write-behind. */
			int err = reserve(d, STORE__SPILL_THRESHOLD);
			if (err == STORE_OK)
				err = spill(d);
			if (err != STORE_OK) {
				d->spill_failed = 1;
				return err;
			}
		}
		size_t room;
		if (d->fd < 0) {
			int err = reserve(d, d->buf_len + len);
			if (err != STORE_OK)
				return err;
		}
		room = d->buf_cap - d->buf_len;
		size_t take = len < room ? len : room;
		memcpy(d->buf + d->buf_len, p, take);
		d->buf_len += take;
		d->size += take;
		p += take;
		len -= take;
		if (d->fd >= 0 && d->buf_len == d->buf_cap && store__delivery_flush(d) != STORE_OK)
			return STORE_EIO;
	}
	return STORE_OK;
}

int store__delivery_flush(store_delivery_t *d)
{
	if (d->spill_failed)
		return STORE_EIO;
	if (d->fd < 0 || d->buf_len == 0)
		return STORE_OK;
	if (write_all(d->fd, d->buf, d->buf_len) != 0) {
		d->spill_failed = 1;
		return STORE_EIO;
	}
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
	free(d);
	*deliveryp = NULL;
}
