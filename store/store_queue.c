/*
 * store_queue.c - the outbound queue: listing, claiming with leases, and
 * the outcomes a queue runner reports back.
 *
 * Claiming is one UPDATE ... RETURNING in a write transaction: rows are
 * marked for the owner and read back in the same statement, so two runners
 * (processes or hosts) can never claim the same row, and a runner that dies
 * loses its rows only until their lease expires. Every outcome call checks
 * the owner, so a runner whose lease expired and was taken over cannot
 * touch the row any more.
 *
 * The runner's calls (claim, report, renew, release) and retry are scoped
 * writes (store-private.h) that name no mailbox, except a report's bounce
 * to a local sender: each statement is safe row by row (the owner and
 * lease conditions are checked again on the newest version of a row that
 * another writer changed), PostgreSQL's claims skip rows another claimer
 * holds, and rows are locked in ascending id order. Deleting rows is the
 * operator's and stays exclusive.
 */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

/* Longest last_error kept, as in struct store_queue_item. */
#define QUEUE_ERROR_MAX (sizeof(((struct store_queue_item *)0)->last_error) - 1)

/* Reads a row of id, message_id, sender, recipient, attempts, created,
 * next_attempt, state, last_error, dsn_notify, dsn_orcpt, dsn_ret, dsn_envid,
 * delay_warned. */
static void read_item(store__stmt_t *stmt, struct store_queue_item *item)
{
	memset(item, 0, sizeof(*item));
	item->id = store__column_int64(stmt, 0);
	item->message_id = store__column_int64(stmt, 1);
	store__column_copy(stmt, 2, item->sender, sizeof(item->sender));
	store__column_copy(stmt, 3, item->recipient, sizeof(item->recipient));
	item->attempts = store__column_int(stmt, 4);
	item->created = store__column_int64(stmt, 5);
	item->next_attempt = store__column_int64(stmt, 6);
	item->state = store__column_int(stmt, 7) == STORE_QUEUE_FAILED ? STORE_QUEUE_FAILED
	                                                                  : STORE_QUEUE_PENDING;
	store__column_copy(stmt, 8, item->last_error, sizeof(item->last_error));
	item->dsn_notify = (unsigned)store__column_int(stmt, 9);
	store__column_copy(stmt, 10, item->dsn_orcpt, sizeof(item->dsn_orcpt));
	item->dsn_ret = store__column_int(stmt, 11);
	store__column_copy(stmt, 12, item->dsn_envid, sizeof(item->dsn_envid));
	item->delay_warned = store__column_int(stmt, 13) != 0;
}

/* Steps a bound statement, gathering its rows into a malloc'ed array. */
static int collect_items(store_t *store, store__stmt_t *stmt, struct store_queue_item **items_r,
                         size_t *count_r, const char *what)
{
	struct store_queue_item *items = NULL;
	size_t count = 0, cap = 0;
	int rc, err = STORE_OK;
	while ((rc = store__step(stmt, what)) == STORE__ROW) {
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_queue_item *grown = realloc(items, ncap * sizeof(*grown));
			if (grown == NULL) {
				err = store__fail(store, STORE_ENOMEM, "out of memory");
				break;
			}
			items = grown;
			cap = ncap;
		}
		read_item(stmt, &items[count++]);
	}
	if (err == STORE_OK && rc < 0)
		err = rc;
	store__reset(stmt);
	if (err != STORE_OK) {
		free(items);
		return err;
	}
	*items_r = items;
	*count_r = count;
	return STORE_OK;
}

int store_queue_stats(store_t *store, uint64_t *pending_r, uint64_t *failed_r,
                      uint64_t *oldest_age_r)
{
	store__stmt_t *stmt;
	*pending_r = *failed_r = *oldest_age_r = 0;
	STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_STATS);
	int rc = store__step(stmt, "queue statistics");
	if (rc != STORE__ROW) {
		store__reset(stmt);
		return rc;
	}
	*pending_r = (uint64_t)store__column_int64(stmt, 0);
	*failed_r = (uint64_t)store__column_int64(stmt, 1);
	if (!store__column_is_null(stmt, 2)) {
		int64_t age = store__column_int64(stmt, 3) - store__column_int64(stmt, 2);
		*oldest_age_r = age > 0 ? (uint64_t)age : 0;
	}
	store__reset(stmt);
	return STORE_OK;
}

int store_queue_list(store_t *store, store_queue_cb *cb, void *ctx)
{
	store__stmt_t *stmt;
	struct store_queue_item *items = NULL;
	size_t count = 0;
	STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_LIST);
	int err = collect_items(store, stmt, &items, &count, "list queue");
	for (size_t i = 0; err == STORE_OK && i < count; i++)
		cb(ctx, &items[i]);
	free(items);
	return err;
}

/* RETURNING gives rows in no defined order; hand them out oldest due first. */
static int item_cmp(const void *a, const void *b)
{
	const struct store_queue_item *x = a, *y = b;
	if (x->next_attempt != y->next_attempt)
		return x->next_attempt < y->next_attempt ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* One attempt at claiming: the rows, or nothing (*items_r NULL) on error. */
static int claim_once(store_t *store, const char *owner, int lease_seconds, size_t max,
                      struct store_queue_item **items_r, size_t *count_r)
{
	store__stmt_t *stmt;
	*items_r = NULL;
	*count_r = 0;
	STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_CLAIM);
	int err = store__begin_scoped(store, NULL);
	if (err != STORE_OK)
		return err;
	store__bind_text(stmt, 1, owner);
	store__bind_int(stmt, 2, lease_seconds);
	store__bind_int64(stmt, 3, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	err = collect_items(store, stmt, items_r, count_r, "claim queue items");
	err = store__finish(store, err);
	if (err != STORE_OK) {
		free(*items_r);
		*items_r = NULL;
		*count_r = 0;
	}
	return err;
}

int store_queue_claim(store_t *store, const char *owner, int lease_seconds, size_t max,
                      struct store_queue_item **items_r, size_t *count_r)
{
	store__stmt_t *stmt;
	*items_r = NULL;
	*count_r = 0;
	if (owner == NULL || *owner == '\0' || lease_seconds < 0)
		return store__fail(store, STORE_EINVAL, "a claim needs an owner and a lease time");
	if (max == 0)
		return STORE_OK;
	STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_DUE);
	int rc = store__step(stmt, "look for due queue items");
	bool due = rc == STORE__ROW && store__column_int(stmt, 0) != 0;
	store__reset(stmt);
	if (rc != STORE__ROW)
		return rc;
	if (!due)
		return STORE_OK;
	struct store_queue_item *items = NULL;
	size_t count = 0;
	int err;
	for (int attempt = 0;; attempt++) {
		err = claim_once(store, owner, lease_seconds, max, &items, &count);
		if (!store__again(err, attempt))
			break;
	}
	if (err != STORE_OK)
		return err;
	if (count == 0) {
		free(items);
		return STORE_OK;
	}
	qsort(items, count, sizeof(*items), item_cmp);
	*items_r = items;
	*count_r = count;
	return STORE_OK;
}

static int check_owner(store_t *store, const char *owner)
{
	if (owner == NULL || *owner == '\0')
		return store__fail(store, STORE_EINVAL, "no lease owner given");
	return STORE_OK;
}

/* Binds an error text cut to what struct store_queue_item can show. */
static void bind_error(store__stmt_t *stmt, int param, const char *error)
{
	if (error == NULL)
		error = "";
	size_t len = strlen(error);
	if (len > QUEUE_ERROR_MAX) {
		len = QUEUE_ERROR_MAX;
		while (len > 0 && ((unsigned char)error[len] & 0xc0) == 0x80)
			len--;
	}
	store__bind_textn(stmt, param, error, len);
}

/* Runs a bound owner-checked statement inside the caller's transaction:
 * STORE_ENOTFOUND when the row is gone or leased by someone else. */
static int exec_owned(store_t *store, store__stmt_t *stmt, int64_t id, const char *what)
{
	int rc = store__step(stmt, what);
	int err = STORE_OK;
	if (rc < 0)
		err = rc;
	else if (store__changes(stmt) == 0)
		err = store__fail(store, STORE_ENOTFOUND,
		                  "queue item %lld does not exist or is not leased to us", (long long)id);
	store__reset(stmt);
	return err;
}

/* One outcome, inside the caller's transaction: STORE_ENOTFOUND when the
 * row is gone or no longer ours (the others still apply), another error
 * when the transaction is lost. Freed bodies are gathered in `bodies`. */
static int apply_outcome(store_t *store, const char *owner, const struct store_queue_outcome *o,
                         struct store__ids *bodies)
{
	store__stmt_t *stmt;
	switch (o->verdict) {
	case STORE_QUEUE_REMOVE: {
		STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_DELIVERED);
		store__bind_int64(stmt, 1, o->id);
		store__bind_text(stmt, 2, owner);
		size_t before = bodies->count;
		int err = store__ids_collect(store, stmt, bodies, "remove queue item");
		if (err == STORE_OK && bodies->count == before)
			err = store__fail(store, STORE_ENOTFOUND,
			                  "queue item %lld does not exist or is not leased to us",
			                  (long long)o->id);
		return err;
	}
	case STORE_QUEUE_DEFER:
		if (o->delay_seconds < 0)
			return store__fail(store, STORE_EINVAL, "negative retry delay");
		STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_DEFER);
		store__bind_int64(stmt, 1, o->id);
		store__bind_text(stmt, 2, owner);
		store__bind_int(stmt, 3, o->delay_seconds);
		bind_error(stmt, 4, o->error);
		store__bind_int(stmt, 5, o->warned ? 1 : 0);
		return exec_owned(store, stmt, o->id, "defer queue item");
	case STORE_QUEUE_FAIL:
		STORE__STMT_OR_RETURN(stmt, store, STORE__QUEUE_FAIL);
		store__bind_int64(stmt, 1, o->id);
		store__bind_text(stmt, 2, owner);
		bind_error(stmt, 3, o->error);
		return exec_owned(store, stmt, o->id, "fail queue item");
	}
	return store__fail(store, STORE_EINVAL, "unknown queue verdict");
}

/* Begins a report's transaction, scoped to the bounce's local mailboxes
 * (a report to a local sender checks that mailbox's quota). */
static int begin_report(store_t *store, const store_delivery_t *bounce)
{
	struct store__scope scope = { 0 };
	int err = bounce != NULL ? store__scope_add_delivery(store, &scope, bounce) : STORE_OK;
	if (err == STORE_OK)
		err = store__begin_scoped(store, &scope);
	store__scope_free(&scope);
	return err;
}

/* The outcome not done yet with the smallest id (n when none is left):
 * they are applied in ascending id order. Reports are short (a job's
 * recipients), so a plain scan does. */
static size_t next_by_id(const struct store_queue_outcome *outcomes, const bool *done, size_t n)
{
	size_t best = n;
	for (size_t i = 0; i < n; i++)
		if (!done[i] && (best == n || outcomes[i].id < outcomes[best].id))
			best = i;
	return best;
}

/* One attempt of store_queue_report. The rows are touched in ascending id
 * order, as renewals and retries lock them (pg_sql.c), so that writers of
 * overlapping rows never wait for each other in a cycle. */
static int report_once(store_t *store, const char *owner, struct store_queue_outcome *outcomes,
                       size_t n, store_delivery_t *bounce)
{
	struct store__ids bodies = { 0 };
	bool small[64] = { false }; /* a job's recipients (smtpd: at most 50) */
	bool *done = n <= 64 ? small : calloc(n, sizeof(*done));
	if (done == NULL)
		return store__fail(store, STORE_ENOMEM, "out of memory");
	int err = begin_report(store, bounce);
	if (err != STORE_OK) {
		if (done != small)
			free(done);
		return err;
	}
	if (bounce != NULL)
		err = store__deliver_in_txn(store, bounce);
	for (size_t k = 0; err == STORE_OK && k < n; k++) {
		size_t i = next_by_id(outcomes, done, n);
		done[i] = true;
		outcomes[i].status = apply_outcome(store, owner, &outcomes[i], &bodies);
		if (outcomes[i].status != STORE_ENOTFOUND)
			err = outcomes[i].status;
	}
	if (done != small)
		free(done);
	if (err == STORE_OK)
		err = store__ids_release_all(store, &bodies);
	store__ids_free(&bodies);
	return store__finish(store, err);
}

int store_queue_report(store_t *store, const char *owner, struct store_queue_outcome *outcomes,
                       size_t n, store_delivery_t *bounce)
{
	int err = check_owner(store, owner);
	if (err != STORE_OK)
		return err;
	for (int attempt = 0;; attempt++) {
		err = report_once(store, owner, outcomes, n, bounce);
		if (!store__again(err, attempt))
			return err;
	}
}

/* One outcome alone: its status is the result. */
static int report_one(store_t *store, const char *owner, struct store_queue_outcome o)
{
	int err = store_queue_report(store, owner, &o, 1, NULL);
	if (err == STORE_OK && o.status != STORE_OK) {
		store__fail(store, o.status, "queue item %lld does not exist or is not leased to us",
		            (long long)o.id);
		return o.status;
	}
	return err;
}

int store_queue_delivered(store_t *store, int64_t id, const char *owner)
{
	return report_one(store, owner,
	                  (struct store_queue_outcome){ .id = id, .verdict = STORE_QUEUE_REMOVE });
}

int store_queue_defer(store_t *store, int64_t id, const char *owner, int delay_seconds,
                      const char *error)
{
	return report_one(store, owner,
	                  (struct store_queue_outcome){ .id = id, .verdict = STORE_QUEUE_DEFER,
	                                                .delay_seconds = delay_seconds,
	                                                .error = error });
}

int store_queue_fail(store_t *store, int64_t id, const char *owner, const char *error)
{
	return report_one(store, owner,
	                  (struct store_queue_outcome){ .id = id, .verdict = STORE_QUEUE_FAIL,
	                                                .error = error });
}

/* RENEW or RELEASE of every row `owner` holds. */
static int owner_update(store_t *store, enum store__stmt_id which, const char *owner,
                        int lease_seconds, const char *what)
{
	store__stmt_t *stmt;
	int err = check_owner(store, owner);
	if (err != STORE_OK)
		return err;
	STORE__STMT_OR_RETURN(stmt, store, which);
	for (int attempt = 0;; attempt++) {
		err = store__begin_scoped(store, NULL);
		if (err == STORE_OK) {
			store__bind_text(stmt, 1, owner);
			if (which == STORE__QUEUE_RENEW)
				store__bind_int(stmt, 2, lease_seconds);
			int rc = store__step(stmt, what);
			store__reset(stmt);
			err = store__finish(store, rc < 0 ? rc : STORE_OK);
		}
		if (!store__again(err, attempt))
			return err;
	}
}

int store_queue_renew(store_t *store, const char *owner, int lease_seconds)
{
	if (lease_seconds < 0)
		return store__fail(store, STORE_EINVAL, "negative lease time");
	return owner_update(store, STORE__QUEUE_RENEW, owner, lease_seconds, "renew queue leases");
}

int store_queue_release(store_t *store, const char *owner)
{
	return owner_update(store, STORE__QUEUE_RELEASE, owner, 0, "release queue leases");
}

/* One attempt of store_queue_retry: row by row, so scoped. */
static int retry_once(store_t *store, int64_t id)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id == 0 ? STORE__QUEUE_RETRY_ALL : STORE__QUEUE_RETRY_ONE);
	int err = store__begin_scoped(store, NULL);
	if (err != STORE_OK)
		return err;
	if (id != 0)
		store__bind_int64(stmt, 1, id);
	int rc = store__step(stmt, "retry queue item");
	if (rc < 0)
		err = rc;
	else if (id != 0 && store__changes(stmt) == 0)
		err = store__fail(store, STORE_ENOTFOUND, "no such queue item: %lld", (long long)id);
	store__reset(stmt);
	return store__finish(store, err);
}

int store_queue_retry(store_t *store, int64_t id)
{
	for (int attempt = 0;; attempt++) {
		int err = retry_once(store, id);
		if (!store__again(err, attempt))
			return err;
	}
}

/* Whether a runner holds row id now (inside the caller's transaction). */
static bool leased(store_t *store, int64_t id)
{
	store__stmt_t *stmt = store__stmt(store, STORE__QUEUE_LEASED);
	if (stmt == NULL)
		return false;
	store__bind_int64(stmt, 1, id);
	bool held = store__step(stmt, "check queue lease") == STORE__ROW &&
	            store__column_int(stmt, 0) != 0;
	store__reset(stmt);
	return held;
}

int store_queue_delete(store_t *store, int64_t id)
{
	store__stmt_t *stmt;
	struct store__ids bodies = { 0 };
	STORE__STMT_OR_RETURN(stmt, store, id == 0 ? STORE__QUEUE_DELETE_ALL : STORE__QUEUE_DELETE_ONE);
	/* Exclusive: the operator's, rare, and its "is it leased?" follow-up
	 * then sees the queue as the delete left it. */
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	if (id != 0)
		store__bind_int64(stmt, 1, id);
	err = store__ids_collect(store, stmt, &bodies, "delete queue item");
	if (err == STORE_OK && id != 0 && bodies.count == 0)
		err = leased(store, id)
		              ? store__fail(store, STORE_EBUSY,
		                            "queue item %lld is being delivered; try again later",
		                            (long long)id)
		              : store__fail(store, STORE_ENOTFOUND, "no such queue item: %lld",
		                            (long long)id);
	if (err == STORE_OK)
		err = store__ids_release_all(store, &bodies);
	store__ids_free(&bodies);
	return store__finish(store, err);
}
