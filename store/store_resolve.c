/*
 * store_resolve.c - recipient resolution through aliases, the postmaster
 * rules, and the reverse question (which addresses may a user send as).
 *
 * Resolution gathers every destination first and calls back only when the
 * whole expansion succeeded, deduplicated, so a caller never acts on half a
 * result. Within an alias with several targets, a target that leads nowhere
 * (no such local user, disabled user) is skipped; the alias fails with
 * STORE_ENOTFOUND only when no target is left. A loop or an over-deep chain
 * is a configuration error and fails the whole resolution (STORE_EINVAL),
 * except for postmaster, which RFC 5321 4.5.1 requires to always work.
 */
#include <stdio.h>
#include <string.h>

#include "store-private.h"

struct resolution {
	store_t *store;
	struct store__strings local;
	struct store__strings remote;
	/* Addresses being expanded, outermost first, for loop detection. */
	const char *path[STORE__ALIAS_DEPTH + 1];
};

static int resolve_address(struct resolution *res, const char *addr, int depth, int fallback);

static int add_dest(struct resolution *res, struct store__strings *list, const char *addr)
{
	if (store__strings_contains(list, addr))
		return STORE_OK;
	if (store__strings_push(list, addr) != STORE_OK)
		return store__fail(res->store, STORE_ENOMEM, "out of memory");
	return STORE_OK;
}

/* Runs a one-column lookup with an optional text parameter; copies the
 * value into out, or returns STORE_ENOTFOUND when there is no row. */
static int lookup_text(store_t *store, enum store__stmt_id id, const char *param, char *out,
                       size_t outlen)
{
	sqlite3_stmt *stmt;
	STORE__STMT_OR_RETURN(stmt, store, id);
	if (param != NULL)
		store__bind_text(stmt, 1, param);
	int rc = sqlite3_step(stmt);
	int err = STORE_OK;
	if (rc == SQLITE_ROW)
		store__column_text(stmt, 0, out, outlen);
	else if (rc == SQLITE_DONE)
		err = store__fail(store, STORE_ENOTFOUND, "nothing found");
	else
		err = store__sqlite_fail(store, rc, "resolve");
	store__reset(stmt);
	return err;
}

/* The configured postmaster of the first other domain that has one. */
static int other_postmaster(struct resolution *res, const char *domain, int depth)
{
	char name[STORE__ADDRESS_BUF], addr[STORE__ADDRESS_BUF + 16];
	int err = lookup_text(res->store, STORE__POSTMASTER_DOMAIN, domain, name, sizeof(name));
	if (err != STORE_OK)
		return err;
	snprintf(addr, sizeof(addr), "postmaster@%s", name);
	return resolve_address(res, addr, depth, 0);
}

/*
 * The postmaster of `domain` ("" for a domain-less postmaster) when its
 * own address did not resolve: postmaster@domain in canonical case, the
 * first user of the domain, another domain's postmaster, the first user of
 * all. Only failures of the database itself stop the search.
 */
static int postmaster_fallback(struct resolution *res, const char *addr, const char *domain,
                               int depth)
{
	char canon[STORE__ADDRESS_BUF + 16], first[STORE__ADDRESS_BUF];
	int err;
	if (*domain != '\0') {
		snprintf(canon, sizeof(canon), "postmaster@%s", domain);
		if (strcmp(canon, addr) != 0) {
			err = resolve_address(res, canon, depth, 0);
			if (err != STORE_ENOTFOUND && err != STORE_EINVAL)
				return err;
		}
		err = lookup_text(res->store, STORE__USER_FIRST_OF_DOMAIN, domain, first,
		                  sizeof(first));
		if (err == STORE_OK)
			return add_dest(res, &res->local, first);
		if (err != STORE_ENOTFOUND)
			return err;
	}
	err = other_postmaster(res, domain, depth);
	if (err != STORE_ENOTFOUND && err != STORE_EINVAL)
		return err;
	err = lookup_text(res->store, STORE__USER_FIRST, NULL, first, sizeof(first));
	if (err == STORE_OK)
		return add_dest(res, &res->local, first);
	if (err == STORE_ENOTFOUND)
		return store__fail(res->store, err, "no mailbox exists for postmaster");
	return err;
}

/* Expands the alias `addr` (with targets) one level down. */
static int expand_alias(struct resolution *res, const char *addr, struct store__strings *targets,
                        int depth)
{
	int any = 0;
	res->path[depth] = addr;
	for (size_t i = 0; i < targets->count; i++) {
		int err = resolve_address(res, targets->items[i], depth + 1, 1);
		if (err == STORE_OK)
			any = 1;
		else if (err != STORE_ENOTFOUND)
			return err;
	}
	if (!any)
		return store__fail(res->store, STORE_ENOTFOUND, "alias %s has no deliverable target",
		                   addr);
	return STORE_OK;
}

static int resolve_address(struct resolution *res, const char *addr, int depth, int fallback)
{
	store_t *store = res->store;
	const char *domain = store__address_domain(addr);
	int64_t id;
	int disabled = 0;
	if (depth > STORE__ALIAS_DEPTH)
		return store__fail(store, STORE_EINVAL, "alias chain deeper than %d at %s",
		                   STORE__ALIAS_DEPTH, addr);
	for (int i = 0; i < depth; i++)
		if (strcmp(res->path[i], addr) == 0)
			return store__fail(store, STORE_EINVAL, "alias loop through %s", addr);

	int err = store__domain_id(store, domain, &id);
	if (err == STORE_ENOTFOUND)
		return add_dest(res, &res->remote, addr);
	if (err != STORE_OK)
		return err;

	err = store__user_lookup(store, addr, &id, &disabled);
	if (err == STORE_OK && !disabled)
		return add_dest(res, &res->local, addr);
	if (err == STORE_OK)
		err = store__fail(store, STORE_ENOTFOUND, "user %s is disabled", addr);
	if (err != STORE_ENOTFOUND)
		return err;

	/* Read every target before recursing: the statement is shared. */
	struct store__strings targets = { 0 };
	sqlite3_stmt *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_TARGETS);
	store__bind_text(stmt, 1, addr);
	err = store__strings_collect(store, stmt, 1, &targets, "look up alias");
	if (err == STORE_OK && targets.count > 0) {
		size_t nlocal = res->local.count, nremote = res->remote.count;
		err = expand_alias(res, addr, &targets, depth);
		if (err != STORE_OK) {
			/* Drop what a failed expansion added before falling back. */
			store__strings_truncate(&res->local, nlocal);
			store__strings_truncate(&res->remote, nremote);
		}
	} else if (err == STORE_OK) {
		err = store__fail(store, STORE_ENOTFOUND, "no such user: %s", addr);
	}
	store__strings_free(&targets);

	if (fallback && store__address_is_postmaster(addr) &&
	    (err == STORE_ENOTFOUND || err == STORE_EINVAL))
		return postmaster_fallback(res, addr, domain, depth);
	return err;
}

int store_resolve(store_t *store, const char *address, store_rcpt_cb *cb, void *ctx)
{
	char addr[STORE__ADDRESS_BUF];
	struct resolution res = { .store = store };
	/* One snapshot for every lookup below: consistent, and one read lock instead of one per statement. */
	int err = store__begin_read(store);
	if (err != STORE_OK)
		return err;
	if (address != NULL && strchr(address, '@') == NULL && store__address_is_postmaster(address))
		err = postmaster_fallback(&res, address, "", 0);
	else if (store__address_normalize(address, addr) != STORE_OK)
		err = store__fail(store, STORE_EINVAL, "malformed address");
	else
		err = resolve_address(&res, addr, 0, 1);
	store__end_read(store);
	for (size_t i = 0; err == STORE_OK && i < res.local.count; i++)
		cb(ctx, STORE_RCPT_LOCAL, res.local.items[i]);
	for (size_t i = 0; err == STORE_OK && i < res.remote.count; i++)
		cb(ctx, STORE_RCPT_REMOTE, res.remote.items[i]);
	store__strings_free(&res.local);
	store__strings_free(&res.remote);
	return err;
}

int store_user_sender_addresses(store_t *store, const char *user, store_name_cb *cb, void *ctx)
{
	char addr[STORE__ADDRESS_BUF];
	struct store__strings found = { 0 }, sources = { 0 };
	sqlite3_stmt *stmt;
	int64_t id;
	int disabled;
	if (store__address_normalize(user, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_SOURCES);
	int err = store__user_lookup(store, addr, &id, &disabled);
	if (err == STORE_OK && store__strings_push(&found, addr) != STORE_OK)
		err = store__fail(store, STORE_ENOMEM, "out of memory");
	/* Walk the alias graph backwards one level at a time, as deep as
	 * resolution would walk it forwards. */
	size_t level_start = 0;
	for (int level = 0; err == STORE_OK && level < STORE__ALIAS_DEPTH; level++) {
		size_t level_end = found.count;
		for (size_t i = level_start; err == STORE_OK && i < level_end; i++) {
			store__bind_text(stmt, 1, found.items[i]);
			err = store__strings_collect(store, stmt, 1, &sources, "look up aliases");
			for (size_t j = 0; err == STORE_OK && j < sources.count; j++)
				if (!store__strings_contains(&found, sources.items[j]) &&
				    store__strings_push(&found, sources.items[j]) != STORE_OK)
					err = store__fail(store, STORE_ENOMEM, "out of memory");
			store__strings_free(&sources);
		}
		if (found.count == level_end)
			break;
		level_start = level_end;
	}
	for (size_t i = 0; err == STORE_OK && i < found.count; i++)
		cb(ctx, found.items[i]);
	store__strings_free(&found);
	return err;
}
