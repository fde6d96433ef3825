/*
 * store_deliver.c - committing deliveries: one body, its chunks, one
 * mailbox entry per local mailbox and one queue row per remote recipient,
 * in one transaction; and the group commit of many deliveries, each under
 * its own savepoint, with one COMMIT (one sync) for all.
 */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

/* Reasons a delivery cannot even be tried, checked before any write. */
static int precheck(const store_delivery_t *d)
{
	if (d == NULL || d->local.count + d->remote.count == 0)
		return STORE_EINVAL;
	if (d->spill_failed)
		return STORE_EIO;
	return STORE_OK;
}

static int precheck_fail(store_t *store, int err)
{
	if (err == STORE_EINVAL)
		return store__fail(store, err, "a delivery needs at least one recipient");
	return store__fail(store, err, "writing the message body to its temporary file failed");
}

/* Inserts the body in chunks: straight from memory, or read back from the
 * spill file one chunk at a time into the handle's scratch buffer. The
 * octets written since the last spill are still in memory and are read
 * from there, never written to the file first. */
static int insert_chunks(store_t *store, store_delivery_t *d, int64_t message_id)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__CHUNK_ADD);
	uint64_t in_file = d->size - d->buf_len;
	if (in_file > 0 && store->chunk_buf == NULL &&
	    (store->chunk_buf = malloc(STORE__CHUNK_SIZE)) == NULL)
		return store__fail(store, STORE_ENOMEM, "out of memory");
	uint64_t offset = 0;
	for (int64_t seq = 0; offset < d->size; seq++) {
		size_t len = d->size - offset < STORE__CHUNK_SIZE ? (size_t)(d->size - offset)
		                                                  : STORE__CHUNK_SIZE;
		const void *data;
		if (offset >= in_file) {
			data = d->buf + (offset - in_file);
		} else {
			/* A chunk may straddle the end of the file and the buffer. */
			size_t from_file = in_file - offset < len ? (size_t)(in_file - offset) : len;
			ssize_t n = store__delivery_pread(d, store->chunk_buf, from_file, offset);
			if (n != (ssize_t)from_file)
				return store__fail(store, STORE_EIO,
				                   "reading the message body back from its temporary file failed");
			if (from_file < len)
				memcpy(store->chunk_buf + from_file, d->buf, len - from_file);
			data = store->chunk_buf;
		}
		store__bind_int64(stmt, 1, message_id);
		store__bind_int64(stmt, 2, seq);
		/* Not copied: the buffer outlives the step; store__reset drops it. */
		store__bind_blob(stmt, 3, data, len);
		int rc = store__step(stmt, "store body chunk");
		store__reset(stmt);
		if (rc < 0)
			return rc;
		offset += len;
	}
	return STORE_OK;
}

static int insert_entries(store_t *store, const store_delivery_t *d, int64_t message_id)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__ENTRY_ADD);
	for (size_t i = 0; i < d->local.count; i++) {
		store__bind_text(stmt, 1, d->local.items[i]);
		store__bind_int64(stmt, 2, message_id);
		store__bind_int64(stmt, 3, (int64_t)d->size);
		int rc = store__step(stmt, "add mailbox entry");
		store__reset(stmt);
		if (rc < 0)
			return rc;
		if (store__changes(stmt) == 0)
			return store__fail(store, STORE_ENOTFOUND, "mailbox %s no longer exists",
			                   d->local.items[i]);
	}
	return STORE_OK;
}

static int insert_queue(store_t *store, const store_delivery_t *d, int64_t message_id)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_ADD);
	for (size_t i = 0; i < d->remote.count; i++) {
		store__bind_int64(stmt, 1, message_id);
		store__bind_text(stmt, 2, d->sender);
		store__bind_text(stmt, 3, d->remote.items[i]);
		store__bind_int(stmt, 4, (int)d->remote_notify[i]);
		store__bind_text(stmt, 5, d->remote_orcpt.items[i]);
		store__bind_int(stmt, 6, d->dsn_ret);
		store__bind_text(stmt, 7, d->dsn_envid);
		int rc = store__step(stmt, "queue remote recipient");
		store__reset(stmt);
		if (rc < 0)
			return rc;
	}
	return STORE_OK;
}

/*
 * Every local mailbox must have room for the whole message (store.h
 * "quotas"), checked in the commit's own write transaction: two
 * deliveries to a nearly full mailbox, in one batch or from two
 * processes, are serialised by the mailbox's lock (the transaction's
 * scope, taken before this reads anything), and the second sees the
 * first's entry. Checked before any write, so a refusal costs nothing.
 * A mailbox whose whole quota is smaller than the message makes the
 * refusal permanent (STORE_ETOOBIG) whichever place it has among the
 * recipients: another mailbox being merely full now must not turn it
 * into a temporary one that the sender retries in vain.
 */
static int check_quotas(store_t *store, const store_delivery_t *d)
{
	int full = STORE_OK;
	char msg[sizeof(store->errmsg)];
	for (size_t i = 0; i < d->local.count; i++) {
		int err = store__quota_admits(store, d->local.items[i], d->size);
		if (err == STORE_EQUOTA && full == STORE_OK) {
			full = err;
			memcpy(msg, store->errmsg, sizeof(msg));
		} else if (err != STORE_OK && err != STORE_EQUOTA) {
			return err;
		}
	}
	if (full != STORE_OK)
		memcpy(store->errmsg, msg, sizeof(msg));
	return full;
}

/* All writes of one delivery, inside the caller's transaction. */
static int write_delivery(store_t *store, store_delivery_t *d)
{
	store__stmt_t *stmt;
	int err = check_quotas(store, d);
	if (err != STORE_OK)
		return err;
	/* smtpd's messages come with a reserved id (the hot path: a plain
	 * INSERT); the others take the next one and read it back. */
	STORE__STMT_OR_RETURN(stmt, store, d->id > 0 ? STORE__MESSAGE_ADD_AS : STORE__MESSAGE_ADD);
	store__bind_int64(stmt, 1, (int64_t)d->size);
	if (d->id > 0)
		store__bind_int64(stmt, 2, d->id);
	int rc = store__step(stmt, "add message");
	int64_t message_id = d->id;
	if (d->id <= 0 && rc == STORE__ROW)
		message_id = store__column_int64(stmt, 0);
	store__reset(stmt);
	if (rc < 0)
		return rc;
	if (message_id <= 0)
		return store__fail(store, STORE_EIO, "add message: no id returned");
	err = insert_chunks(store, d, message_id);
	if (err == STORE_OK)
		err = insert_entries(store, d, message_id);
	if (err == STORE_OK)
		err = insert_queue(store, d, message_id);
	return err;
}

/* A whole delivery inside the caller's transaction (a bounce queued with
 * the outcome that caused it, store_queue_report), whose scope holds the
 * delivery's local mailboxes. */
int store__deliver_in_txn(store_t *store, store_delivery_t *d)
{
	int err = precheck(d);
	if (err != STORE_OK)
		return precheck_fail(store, err);
	return write_delivery(store, d);
}

/* Inside the write transaction: the last id taken, then the new mark. */
static int reserve_ids(store_t *store, unsigned count, int64_t *first_r)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__MESSAGE_ID_LAST);
	int rc = store__step(stmt, "read the last message id");
	int64_t last = rc == STORE__ROW ? store__column_int64(stmt, 0) : 0;
	store__reset(stmt);
	if (rc != STORE__ROW)
		return rc;
	if (last > INT64_MAX - (int64_t)count)
		return store__fail(store, STORE_ELIMIT, "message ids exhausted");

	STORE__STMT_OR_RETURN(stmt, store, STORE__MESSAGE_ID_SET);
	store__bind_int64(stmt, 1, last + count);
	rc = store__step(stmt, "reserve message ids");
	store__reset(stmt);
	if (rc < 0)
		return rc;
	if (store__changes(stmt) == 0) {
		STORE__STMT_OR_RETURN(stmt, store, STORE__MESSAGE_ID_INIT);
		store__bind_int64(stmt, 1, last + count);
		rc = store__step(stmt, "reserve message ids");
		store__reset(stmt);
		if (rc < 0)
			return rc;
	}
	*first_r = last + 1;
	return STORE_OK;
}

int store_message_ids_reserve(store_t *store, unsigned count, int64_t *first_r)
{
	int64_t first = 0;

	if (count == 0 || count > 1000000)
		return store__fail(store, STORE_EINVAL, "cannot reserve %u message ids", count);
	/* Exclusive: it reads the last id and then moves the mark, and a
	 * scoped delivery taking the next id in between (MESSAGE_ADD) would
	 * take one of the block. smtpd reserves in blocks, so this is rare. */
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	/* A plain COMMIT, not store__commit(): the fault injection hooks
	 * (store.h) count the commits of messages and mailboxes, which tests
	 * name by number; a reservation between them must not shift those. */
	err = reserve_ids(store, count, &first);
	if (err == STORE_OK)
		err = store__commit_uncounted(store, "commit message id reservation");
	else
		store__rollback(store);
	if (err != STORE_OK)
		return err;
	*first_r = first;
	return STORE_OK;
}

/* One attempt of store_deliver: scoped to the delivery's local mailboxes. */
static int deliver_once(store_t *store, store_delivery_t *delivery)
{
	struct store__scope scope = { 0 };
	int err = store__scope_add_delivery(store, &scope, delivery);
	if (err == STORE_OK)
		err = store__begin_scoped(store, &scope);
	store__scope_free(&scope);
	if (err != STORE_OK)
		return err;
	err = write_delivery(store, delivery);
	return store__finish(store, err);
}

int store_deliver(store_t *store, store_delivery_t *delivery)
{
	int err = precheck(delivery);
	if (err != STORE_OK)
		return precheck_fail(store, err);
	for (int attempt = 0;; attempt++) {
		err = deliver_once(store, delivery);
		if (!store__again(err, attempt))
			return err;
	}
}

/* One member of a group commit under its savepoint. Returns the member's
 * outcome in *result_r, and an error only when the whole transaction is
 * lost (SQLite rolled it back, or a savepoint statement failed). */
static int deliver_member(store_t *store, store_delivery_t *d, int *result_r)
{
	int err = store__exec(store, STORE__SAVEPOINT, "savepoint");
	if (err != STORE_OK)
		return err;
	*result_r = write_delivery(store, d);
	if (*result_r == STORE_OK)
		return store__exec(store, STORE__RELEASE, "release savepoint");
	if (!store__in_transaction(store))
		return *result_r;
	/* Keep the member's message: the savepoint statements overwrite it. */
	char msg[sizeof(store->errmsg)];
	memcpy(msg, store->errmsg, sizeof(msg));
	err = store__exec(store, STORE__ROLLBACK_TO, "rollback to savepoint");
	if (err == STORE_OK)
		err = store__exec(store, STORE__RELEASE, "release savepoint");
	if (err == STORE_OK)
		memcpy(store->errmsg, msg, sizeof(msg));
	return err;
}

/* Begins the batch's transaction, scoped to every local mailbox of the
 * members that passed their precheck (all locked before the first read). */
static int begin_batch(store_t *store, store_delivery_t *const *deliveries, size_t n,
                       const int *results)
{
	struct store__scope scope = { 0 };
	int err = STORE_OK;
	for (size_t i = 0; err == STORE_OK && i < n; i++)
		if (results[i] == STORE_OK)
			err = store__scope_add_delivery(store, &scope, deliveries[i]);
	if (err == STORE_OK)
		err = store__begin_scoped(store, &scope);
	store__scope_free(&scope);
	return err;
}

/* One attempt of store_deliver_batch. */
static int deliver_batch_once(store_t *store, store_delivery_t *const *deliveries, size_t n,
                              int *results_r)
{
	size_t todo = 0;
	for (size_t i = 0; i < n; i++) {
		results_r[i] = precheck(deliveries[i]);
		if (results_r[i] == STORE_OK)
			todo++;
		else
			precheck_fail(store, results_r[i]);
	}
	if (todo == 0)
		return STORE_OK;
	int err = begin_batch(store, deliveries, n, results_r);
	for (size_t i = 0; err == STORE_OK && i < n; i++)
		if (results_r[i] == STORE_OK)
			err = deliver_member(store, deliveries[i], &results_r[i]);
	err = store__finish(store, err);
	if (err != STORE_OK)
		for (size_t i = 0; i < n; i++)
			results_r[i] = err;
	return err;
}

int store_deliver_batch(store_t *store, store_delivery_t *const *deliveries, size_t n,
                        int *results_r)
{
	for (int attempt = 0;; attempt++) {
		int err = deliver_batch_once(store, deliveries, n, results_r);
		if (!store__again(err, attempt))
			return err;
	}
}
