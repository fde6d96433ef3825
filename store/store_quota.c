/*
 * store_quota.c - mailbox quotas: setting them, reading a mailbox's usage,
 * and the checks at RCPT and inside a delivery's commit.
 *
 * Usage comes from mailbox_usage, which triggers keep in step with
 * mailbox_entries (sqlite/sqlite_schema.c, version 3): every check is two
 * indexed lookups, however large the mailbox. Users are found as everywhere
 * else: by key, preferring the row spelled exactly as asked
 * (store_address.c).
 */
#include <inttypes.h>

#include "store-private.h"

/*
 * Reads the quota and usage of a normalised address, inside the caller's
 * transaction. One statement: it runs inside every delivery's commit.
 */
static int address_state(store_t *store, const char *addr, uint64_t *quota_r,
                         struct store_usage *usage_r)
{
	char key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__QUOTA_STATE);
	store__address_key(addr, key);
	store__bind_text(stmt, 1, addr);
	store__bind_text(stmt, 2, key);
	int rc = store__step(stmt, "read quota");
	int err = STORE_OK;
	if (rc == STORE__ROW) {
		/* Counters never go negative while the triggers hold; clamp all the same. */
		int64_t quota = store__column_int64(stmt, 0);
		int64_t bytes = store__column_int64(stmt, 1);
		int64_t messages = store__column_int64(stmt, 2);
		*quota_r = quota > 0 ? (uint64_t)quota : 0;
		usage_r->bytes = bytes > 0 ? (uint64_t)bytes : 0;
		usage_r->messages = messages > 0 ? (uint64_t)messages : 0;
	} else if (rc == STORE__DONE) {
		err = store__fail(store, STORE_ENOTFOUND, "no such user: %s", addr);
	} else {
		err = rc;
	}
	store__reset(stmt);
	return err;
}

int store_user_set_quota(store_t *store, const char *address, uint64_t quota)
{
	char addr[STORE__ADDRESS_BUF];
	struct store__user_row row;
	store__stmt_t *stmt;
	if (store__address_normalize_legacy(address, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	if (quota > INT64_MAX)
		return store__fail(store, STORE_EINVAL, "quota too large");
	STORE__STMT_OR_RETURN(stmt, store, STORE__USER_SET_QUOTA);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__user_find(store, addr, &row);
	if (err == STORE_OK) {
		store__bind_int64(stmt, 1, row.id);
		store__bind_int64(stmt, 2, (int64_t)quota);
		err = store__exec_changes(store, stmt, "set quota", "no such user");
	}
	return store__finish(store, err);
}

/* Reads the state of `address` in a read transaction of its own. */
static int read_state(store_t *store, const char *address, uint64_t *quota_r,
                      struct store_usage *usage_r)
{
	char addr[STORE__ADDRESS_BUF];
	if (store__address_normalize_legacy(address, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	int err = store__begin_read(store);
	if (err != STORE_OK)
		return err;
	err = address_state(store, addr, quota_r, usage_r);
	store__end_read(store);
	return err;
}

int store_user_usage(store_t *store, const char *address, uint64_t *quota_r,
                     struct store_usage *usage_r)
{
	return read_state(store, address, quota_r, usage_r);
}

/*
 * Whether `size` more octets fit a mailbox with this quota and usage: a
 * message larger than the whole quota never will (STORE_ETOOBIG, checked
 * first, so it wins over a mailbox that is merely full now).
 */
static int verdict(store_t *store, const char *mailbox, uint64_t quota,
                   const struct store_usage *usage, uint64_t size)
{
	if (quota == 0)
		return STORE_OK;
	if (size > quota)
		return store__fail(store, STORE_ETOOBIG,
		                   "mailbox %s: a message of %" PRIu64 " octets is larger than its "
		                   "quota of %" PRIu64 " octets", mailbox, size, quota);
	if (usage->bytes >= quota)
		return store__fail(store, STORE_EQUOTA,
		                   "mailbox %s is full: %" PRIu64 " of %" PRIu64 " octets used", mailbox,
		                   usage->bytes, quota);
	if (size > quota - usage->bytes)
		return store__fail(store, STORE_EQUOTA,
		                   "mailbox %s: a message of %" PRIu64 " octets does not fit its quota "
		                   "(%" PRIu64 " of %" PRIu64 " octets used)",
		                   mailbox, size, usage->bytes, quota);
	return STORE_OK;
}

int store_quota_check(store_t *store, const char *mailbox, uint64_t size)
{
	uint64_t quota = 0;
	struct store_usage usage = { 0 };
	int err = read_state(store, mailbox, &quota, &usage);
	if (err != STORE_OK)
		return err;
	return verdict(store, mailbox, quota, &usage, size);
}

int store__quota_admits(store_t *store, const char *mailbox, uint64_t size)
{
	uint64_t quota = 0;
	struct store_usage usage = { 0 };
	int err = address_state(store, mailbox, &quota, &usage);
	if (err == STORE_ENOTFOUND)
		return STORE_OK;
	if (err != STORE_OK)
		return err;
	return verdict(store, mailbox, quota, &usage, size);
}
