/*
 * store_lease.c - maildrop leases (RFC 1939 8: a POP3 server must hold an
 * exclusive-access lock on the maildrop for a session's lifetime).
 *
 * A lease rather than a lock: the row carries its owner and expiry from the
 * database clock, so a crashed pop3d on any host stops holding a maildrop
 * once its lease runs out.
 */
#include "store-private.h"

/* One attempt of lease_exec, in a write transaction scoped to the mailbox:
 * the lease changes hands only between, never inside, the mailbox's other
 * scoped writes (store_mailbox_delete checks it and deletes). */
static int lease_once(store_t *store, enum store__stmt_id id, const char *addr,
                      const char *owner, int ttl_seconds, int *changed_r)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id);
	int err = store__begin_mailbox(store, addr);
	if (err != STORE_OK)
		return err;
	store__bind_text(stmt, 1, addr);
	store__bind_text(stmt, 2, owner);
	if (id != STORE__LEASE_RELEASE)
		store__bind_int(stmt, 3, ttl_seconds);
	int rc = store__step(stmt, "lease");
	if (rc < 0)
		err = rc;
	else
		*changed_r = (int)store__changes(stmt);
	store__reset(stmt);
	return store__finish(store, err);
}

/* Runs one lease statement in its own write transaction; *changed_r is
 * the number of rows it changed. */
static int lease_exec(store_t *store, enum store__stmt_id id, const char *mailbox,
                      const char *owner, int ttl_seconds, int *changed_r)
{
	char addr[STORE__ADDRESS_BUF];
	if (store__address_normalize_legacy(mailbox, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	if (owner == NULL || *owner == '\0')
		return store__fail(store, STORE_EINVAL, "a lease needs an owner");
	if (ttl_seconds < 0)
		return store__fail(store, STORE_EINVAL, "negative lease time");
	for (int attempt = 0;; attempt++) {
		int err = lease_once(store, id, addr, owner, ttl_seconds, changed_r);
		if (!store__again(err, attempt))
			return err;
	}
}

int store_lease_acquire(store_t *store, const char *mailbox, const char *owner, int ttl_seconds)
{
	int changed = 0;
	int err = lease_exec(store, STORE__LEASE_ACQUIRE, mailbox, owner, ttl_seconds, &changed);
	if (err == STORE_OK && changed == 0)
		return store__fail(store, STORE_EBUSY, "mailbox %s is in use by another session",
		                   mailbox);
	return err;
}

int store_lease_renew(store_t *store, const char *mailbox, const char *owner, int ttl_seconds)
{
	int changed = 0;
	int err = lease_exec(store, STORE__LEASE_RENEW, mailbox, owner, ttl_seconds, &changed);
	if (err == STORE_OK && changed == 0)
		return store__fail(store, STORE_ENOTFOUND, "lease on %s is no longer held", mailbox);
	return err;
}

int store_lease_release(store_t *store, const char *mailbox, const char *owner)
{
	int changed = 0;
	return lease_exec(store, STORE__LEASE_RELEASE, mailbox, owner, 0, &changed);
}
