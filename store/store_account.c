/*
 * store_account.c - domains and users: the operator's data (aliases are in
 * store_alias.c).
 *
 * Every write is its own IMMEDIATE transaction so that a check and the
 * change it guards (a user's domain exists, no user or alias answers to the
 * address in another case) cannot be separated by another process's write.
 */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

int store__domain_id(store_t *store, const char *domain, int64_t *id_r)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__DOMAIN_ID);
	store__bind_text(stmt, 1, domain);
	int rc = store__step(stmt, "look up domain");
	int err = STORE_OK;
	if (rc == STORE__ROW)
		*id_r = store__column_int64(stmt, 0);
	else if (rc == STORE__DONE)
		err = store__fail(store, STORE_ENOTFOUND, "%s is not a local domain", domain);
	else
		err = rc;
	store__reset(stmt);
	return err;
}

int store__user_find(store_t *store, const char *address, struct store__user_row *row_r)
{
	char key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__USER_ID);
	store__address_key(address, key);
	store__bind_text(stmt, 1, address);
	store__bind_text(stmt, 2, key);
	int rc = store__step(stmt, "look up user");
	int err = STORE_OK;
	if (rc == STORE__ROW) {
		row_r->id = store__column_int64(stmt, 0);
		row_r->disabled = store__column_int(stmt, 1);
		store__column_copy(stmt, 2, row_r->address, sizeof(row_r->address));
	} else if (rc == STORE__DONE) {
		err = store__fail(store, STORE_ENOTFOUND, "no such user: %s", address);
	} else {
		err = rc;
	}
	store__reset(stmt);
	return err;
}

int store__exec_changes(store_t *store, store__stmt_t *stmt, const char *what, const char *missing)
{
	int rc = store__step(stmt, what);
	int err = STORE_OK;
	if (rc < 0)
		err = rc;
	else if (store__changes(stmt) == 0)
		err = store__fail(store, STORE_ENOTFOUND, "%s", missing);
	store__reset(stmt);
	return err;
}

/* Calls cb for every gathered name (after the statement was reset). */
static int list_names(store_t *store, store__stmt_t *stmt, store_name_cb *cb, void *ctx,
                      const char *what)
{
	struct store__strings names = { 0 };
	int err = store__strings_collect(store, stmt, 1, &names, what);
	for (size_t i = 0; err == STORE_OK && i < names.count; i++)
		cb(ctx, names.items[i]);
	store__strings_free(&names);
	return err;
}

/* ---- domains ----------------------------------------------------------- */

int store_domain_add(store_t *store, const char *domain)
{
	char name[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	STORE__STMT_OR_RETURN(stmt, store, STORE__DOMAIN_ADD);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	store__bind_text(stmt, 1, name);
	int rc = store__step(stmt, "add domain");
	if (rc < 0)
		err = rc;
	store__reset(stmt);
	if (err == STORE_EEXIST)
		store__fail(store, err, "domain %s already exists", name);
	return store__finish(store, err);
}

int store_domain_del(store_t *store, const char *domain)
{
	char name[STORE__ADDRESS_BUF];
	store__stmt_t *in_use, *del, *dkim_del;
	int64_t id = 0;
	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	STORE__STMT_OR_RETURN(in_use, store, STORE__DOMAIN_IN_USE);
	STORE__STMT_OR_RETURN(del, store, STORE__DOMAIN_DEL);
	STORE__STMT_OR_RETURN(dkim_del, store, STORE__DKIM_DEL);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__domain_id(store, name, &id);
	if (err == STORE_OK) {
		store__bind_int64(in_use, 1, id);
		int rc = store__step(in_use, "check domain use");
		if (rc != STORE__ROW)
			err = rc;
		else if (store__column_int(in_use, 0) != 0)
			err = store__fail(store, STORE_EBUSY, "domain %s still has users or aliases", name);
		store__reset(in_use);
	}
	if (err == STORE_OK) {
		store__bind_int64(del, 1, id);
		err = store__exec_changes(store, del, "delete domain", "no such domain");
	}
	if (err == STORE_OK) {
		/* Its DKIM key goes with it (schema v4, store_dkim.c). */
		store__bind_text(dkim_del, 1, name);
		int rc = store__step(dkim_del, "delete the domain's DKIM key");
		if (rc < 0)
			err = rc;
		store__reset(dkim_del);
	}
	return store__finish(store, err);
}

int store_domain_list(store_t *store, store_name_cb *cb, void *ctx)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__DOMAIN_LIST);
	return list_names(store, stmt, cb, ctx, "list domains");
}

int store_domain_exists(store_t *store, const char *domain)
{
	char name[STORE__ADDRESS_BUF];
	int64_t id;
	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	return store__domain_id(store, name, &id);
}

/* ---- users ------------------------------------------------------------- */

static int valid_hash(const char *hash)
{
	return hash != NULL && *hash != '\0' && strlen(hash) < sizeof(((struct store_user *)0)->hash);
}

/* STORE_EEXIST when `address` (normalised) is the source of an alias, in any case. */
static int check_not_alias(store_t *store, const char *address)
{
	char key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_EXISTS);
	store__address_key(address, key);
	store__bind_text(stmt, 1, key);
	int rc = store__step(stmt, "look up alias");
	int err = STORE_OK;
	if (rc != STORE__ROW)
		err = rc;
	else if (store__column_int(stmt, 0) != 0)
		err = store__fail(store, STORE_EEXIST, "%s is an alias", address);
	store__reset(stmt);
	return err;
}

int store__check_not_user(store_t *store, const char *address)
{
	struct store__user_row row;
	int err = store__user_find(store, address, &row);
	if (err == STORE_ENOTFOUND)
		return STORE_OK;
	if (err != STORE_OK)
		return err;
	if (strcmp(row.address, address) == 0)
		return store__fail(store, STORE_EEXIST, "user %s already exists", address);
	return store__fail(store, STORE_EEXIST, "%s differs from user %s only by case", address,
	                   row.address);
}

int store_user_add(store_t *store, const char *address, const char *hash)
{
	char addr[STORE__ADDRESS_BUF], key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	int64_t domain_id = 0;
	if (store__address_normalize(address, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	if (!valid_hash(hash))
		return store__fail(store, STORE_EINVAL, "password hash missing or too long");
	store__address_key(addr, key);
	STORE__STMT_OR_RETURN(stmt, store, STORE__USER_ADD);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__domain_id(store, store__address_domain(addr), &domain_id);
	if (err == STORE_ENOTFOUND)
		err = STORE_EINVAL; /* the message already names the domain */
	if (err == STORE_OK)
		err = store__check_not_user(store, addr);
	if (err == STORE_OK)
		err = check_not_alias(store, addr);
	if (err == STORE_OK) {
		store__bind_int64(stmt, 1, domain_id);
		store__bind_text(stmt, 2, addr);
		store__bind_text(stmt, 3, hash);
		store__bind_text(stmt, 4, key);
		int rc = store__step(stmt, "add user");
		if (rc < 0)
			err = rc;
		store__reset(stmt);
		if (err == STORE_EEXIST)
			store__fail(store, err, "user %s already exists", addr);
	}
	return store__finish(store, err);
}

int store_user_del(store_t *store, const char *address)
{
	char addr[STORE__ADDRESS_BUF];
	store__stmt_t *entries, *user, *lease;
	struct store__ids bodies = { 0 };
	struct store__user_row row;
	if (store__address_normalize_legacy(address, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	STORE__STMT_OR_RETURN(entries, store, STORE__USER_ENTRIES_DEL);
	STORE__STMT_OR_RETURN(user, store, STORE__USER_DEL);
	STORE__STMT_OR_RETURN(lease, store, STORE__USER_LEASE_DEL);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__user_find(store, addr, &row);
	if (err == STORE_OK) {
		store__bind_int64(entries, 1, row.id);
		err = store__ids_collect(store, entries, &bodies, "delete mailbox");
	}
	if (err == STORE_OK) {
		store__bind_int64(user, 1, row.id);
		err = store__exec_changes(store, user, "delete user", "no such user");
	}
	if (err == STORE_OK) {
		/* Leases are taken under the stored spelling (store.h). */
		store__bind_text(lease, 1, row.address);
		int rc = store__step(lease, "delete lease");
		if (rc < 0)
			err = rc;
		store__reset(lease);
	}
	if (err == STORE_OK)
		err = store__ids_release_all(store, &bodies);
	store__ids_free(&bodies);
	return store__finish(store, err);
}

/* One UPDATE of a user's column: ?2 is `text` when given, else `value`. */
static int user_update(store_t *store, enum store__stmt_id id, const char *address,
                       const char *text, int value, const char *what)
{
	char addr[STORE__ADDRESS_BUF];
	struct store__user_row row;
	store__stmt_t *stmt;
	if (store__address_normalize_legacy(address, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	STORE__STMT_OR_RETURN(stmt, store, id);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__user_find(store, addr, &row);
	if (err == STORE_OK) {
		store__bind_int64(stmt, 1, row.id);
		if (text != NULL)
			store__bind_text(stmt, 2, text);
		else
			store__bind_int(stmt, 2, value);
		err = store__exec_changes(store, stmt, what, "no such user");
	}
	return store__finish(store, err);
}

int store_user_set_hash(store_t *store, const char *address, const char *hash)
{
	if (!valid_hash(hash))
		return store__fail(store, STORE_EINVAL, "password hash missing or too long");
	return user_update(store, STORE__USER_SET_HASH, address, hash, 0, "set password");
}

int store_user_set_disabled(store_t *store, const char *address, int disabled)
{
	return user_update(store, STORE__USER_SET_DISABLED, address, NULL, disabled != 0,
	                   "set disabled");
}

int store_user_get(store_t *store, const char *address, struct store_user *user_r)
{
	char addr[STORE__ADDRESS_BUF], key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	if (store__address_normalize_legacy(address, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	store__address_key(addr, key);
	STORE__STMT_OR_RETURN(stmt, store, STORE__USER_GET);
	store__bind_text(stmt, 1, addr);
	store__bind_text(stmt, 2, key);
	int rc = store__step(stmt, "get user");
	int err = STORE_OK;
	if (rc == STORE__ROW) {
		memset(user_r, 0, sizeof(*user_r));
		user_r->id = store__column_int64(stmt, 0);
		store__column_copy(stmt, 1, user_r->address, sizeof(user_r->address));
		store__column_copy(stmt, 2, user_r->hash, sizeof(user_r->hash));
		user_r->disabled = store__column_int(stmt, 3) != 0;
		user_r->quota = (uint64_t)store__column_int64(stmt, 4);
	} else if (rc == STORE__DONE) {
		err = store__fail(store, STORE_ENOTFOUND, "no such user: %s", addr);
	} else {
		err = rc;
	}
	store__reset(stmt);
	return err;
}

int store__bind_domain_filter(store_t *store, store__stmt_t *stmt, const char *domain)
{
	char name[STORE__ADDRESS_BUF];
	int64_t id = 0;
	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	int err = store__domain_id(store, name, &id);
	if (err == STORE_OK)
		store__bind_int64(stmt, 1, id);
	return err;
}

int store_user_list(store_t *store, const char *domain, store_name_cb *cb, void *ctx)
{
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, domain != NULL ? STORE__USER_LIST_DOMAIN : STORE__USER_LIST_ALL);
	if (domain != NULL) {
		int err = store__bind_domain_filter(store, stmt, domain);
		if (err != STORE_OK)
			return err;
	}
	return list_names(store, stmt, cb, ctx, "list users");
}
