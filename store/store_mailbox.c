/*
 * store_mailbox.c - what POP3 does to a mailbox: take its snapshot at
 * login, delete the marked entries at QUIT (RFC 1939 6, UPDATE state).
 */
#include <stdlib.h>

#include "store-private.h"

int store_mailbox_snapshot(store_t *store, const char *mailbox, struct store_entry **entries_r,
                           size_t *count_r)
{
	char addr[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	struct store_entry *entries = NULL;
	size_t count = 0, cap = 0;
	int found_user = 0, rc, err = STORE_OK;
	struct store__user_row row;
	*entries_r = NULL;
	*count_r = 0;
	if (store__address_normalize_legacy(mailbox, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	STORE__STMT_OR_RETURN(stmt, store, STORE__SNAPSHOT);
	/* The stored spelling, whatever case the caller used (store.h). */
	err = store__user_find(store, addr, &row);
	if (err != STORE_OK)
		return err;
	store__bind_text(stmt, 1, row.address);
	/* One statement: the user's existence and the entries come from the
	 * same read snapshot. An empty mailbox is one row of NULLs. */
	while ((rc = store__step(stmt, "read mailbox")) == STORE__ROW) {
		found_user = 1;
		if (store__column_is_null(stmt, 0))
			continue;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct store_entry *grown = realloc(entries, ncap * sizeof(*grown));
			if (grown == NULL) {
				err = store__fail(store, STORE_ENOMEM, "out of memory");
				break;
			}
			entries = grown;
			cap = ncap;
		}
		entries[count].id = store__column_int64(stmt, 0);
		entries[count].message_id = store__column_int64(stmt, 1);
		entries[count].size = (uint64_t)store__column_int64(stmt, 2);
		count++;
	}
	if (err == STORE_OK && rc < 0)
		err = rc;
	store__reset(stmt);
	if (err == STORE_OK && !found_user)
		err = store__fail(store, STORE_ENOTFOUND, "no such user: %s", addr);
	if (err != STORE_OK) {
		free(entries);
		return err;
	}
	*entries_r = entries;
	*count_r = count;
	return STORE_OK;
}

/* Inside the write transaction: STORE_ENOTFOUND unless `owner` holds the lease on addr. */
static int lease_held(store_t *store, const char *addr, const char *owner)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__LEASE_HELD);
	store__bind_text(stmt, 1, addr);
	store__bind_text(stmt, 2, owner);
	int rc = store__step(stmt, "check lease");
	int held = rc == STORE__ROW && store__column_int(stmt, 0) != 0;
	int err = STORE_OK;
	if (rc != STORE__ROW)
		err = rc;
	store__reset(stmt);
	if (err == STORE_OK && !held)
		err = store__fail(store, STORE_ENOTFOUND, "lease on %s is no longer held", addr);
	return err;
}

/* One attempt of store_mailbox_delete, scoped to the mailbox: its lease
 * cannot change hands between the check and the deletes (store_lease.c
 * takes the same scope). */
static int delete_once(store_t *store, const char *addr, const char *owner,
                       const int64_t *entry_ids, size_t n)
{
	store__stmt_t *stmt;
	struct store__ids bodies = { 0 };
	STORE__STMT_OR_RETURN(stmt, store, STORE__ENTRY_DEL);
	int err = store__begin_mailbox(store, addr);
	if (err != STORE_OK)
		return err;
	err = lease_held(store, addr, owner);
	for (size_t i = 0; err == STORE_OK && i < n; i++) {
		store__bind_int64(stmt, 1, entry_ids[i]);
		store__bind_text(stmt, 2, addr);
		err = store__ids_collect(store, stmt, &bodies, "delete mailbox entry");
	}
	if (err == STORE_OK)
		err = store__ids_release_all(store, &bodies);
	store__ids_free(&bodies);
	return store__finish(store, err);
}

int store_mailbox_delete(store_t *store, const char *mailbox, const char *owner,
                         const int64_t *entry_ids, size_t n)
{
	char addr[STORE__ADDRESS_BUF];
	if (store__address_normalize_legacy(mailbox, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	if (owner == NULL || *owner == '\0')
		return store__fail(store, STORE_EINVAL, "a lease needs an owner");
	for (int attempt = 0;; attempt++) {
		int err = delete_once(store, addr, owner, entry_ids, n);
		if (!store__again(err, attempt))
			return err;
	}
}
