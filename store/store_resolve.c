/*
 * store_resolve.c - recipient resolution through aliases, recipient
 * extensions and the postmaster rules, and the reverse question (which
 * addresses may a user send as).
 *
 * Resolution gathers every destination first and calls back only when the
 * whole expansion succeeded, deduplicated, so a caller never acts on half a
 * result. Within an alias with several targets, a target that leads nowhere
 * (no such local user, disabled user) is skipped; the alias fails with
 * STORE_ENOTFOUND only when no target is left. A loop or an over-deep chain
 * is a configuration error and fails the whole resolution (STORE_ELOOP).
 * Every lookup matches without regard to case (store.h "Addresses").
 */
#include <stdio.h>
#include <string.h>

#include "smtp_address.h"
#include "store-private.h"

struct resolution {
	store_t *store;
	const char *delimiter;          /* recipient_delimiter, "" for none */
	const char *postmaster_address; /* "" for none */
	struct store__strings local;
	struct store__strings remote;
	/* Keys of the addresses being expanded, outermost first, for loop detection. */
	char path[STORE__ALIAS_DEPTH + 1][STORE__ADDRESS_BUF];
};

static int resolve_address(struct resolution *res, const char *addr, int depth, int fallback);

/* A config string, "" when not set. */
static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static int add_dest(struct resolution *res, struct store__strings *list, const char *addr)
{
	if (store__strings_contains(list, addr))
		return STORE_OK;
	if (store__strings_push(list, addr) != STORE_OK)
		return store__fail(res->store, STORE_ENOMEM, "out of memory");
	return STORE_OK;
}

/*
 * A postmaster address of a local domain that names no user or alias:
 * postmaster_address if configured, else nobody. Never another user
 * (RFC 5321 4.5.1 asks that postmaster work; who reads it is the
 * operator's choice, not the first row of a table).
 */
static int postmaster_fallback(struct resolution *res, const char *addr, int depth, int err)
{
	char pm[STORE__ADDRESS_BUF];
	const char *configured = res->postmaster_address;
	if (configured[0] == '\0') {
		if (err == STORE_ENOTFOUND)
			return store__fail(res->store, err,
			                   "no postmaster for %s: add an alias, or set postmaster_address",
			                   addr);
		return err;
	}
	if (store__address_normalize(configured, pm) != STORE_OK)
		return store__fail(res->store, STORE_EINVAL, "postmaster_address is malformed");
	/* No fallback from there: postmaster_address itself must resolve. */
	return resolve_address(res, pm, depth, 0);
}

/* Expands the alias `addr` (with targets) one level down. */
static int expand_alias(struct resolution *res, const char *addr, struct store__strings *targets,
                        int depth)
{
	char target[STORE__ADDRESS_BUF];
	int any = 0;
	for (size_t i = 0; i < targets->count; i++) {
		int err = store__address_normalize(targets->items[i], target);
		if (err == STORE_OK)
			err = resolve_address(res, target, depth + 1, 1);
		else /* stored by schema 1, refused by the rules now: leads nowhere */
			err = STORE_ENOTFOUND;
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

/* The user or alias named `addr`, or STORE_ENOTFOUND; *named_r tells
 * whether one exists (it may still lead nowhere: disabled, dead targets). */
static int resolve_name(struct resolution *res, const char *addr, int depth, int *named_r)
{
	store_t *store = res->store;
	struct store__user_row row;
	int err = store__user_find(store, addr, &row);
	*named_r = err == STORE_OK;
	if (err == STORE_OK && row.disabled)
		return store__fail(store, STORE_ENOTFOUND, "user %s is disabled", row.address);
	if (err == STORE_OK)
		return add_dest(res, &res->local, row.address);
	if (err != STORE_ENOTFOUND)
		return err;

	/* Read every target before recursing: the statement is shared. */
	struct store__strings targets = { 0 };
	err = store__alias_targets(store, addr, &targets);
	if (err == STORE_OK && targets.count > 0) {
		*named_r = 1;
		size_t nlocal = res->local.count, nremote = res->remote.count;
		err = expand_alias(res, addr, &targets, depth);
		if (err != STORE_OK) {
			/* Drop what a failed expansion added before any fallback. */
			store__strings_truncate(&res->local, nlocal);
			store__strings_truncate(&res->remote, nremote);
		}
	} else if (err == STORE_OK) {
		err = store__fail(store, STORE_ENOTFOUND, "no such user: %s", addr);
	}
	store__strings_free(&targets);
	return err;
}

static int resolve_address(struct resolution *res, const char *addr, int depth, int fallback)
{
	store_t *store = res->store;
	char key[STORE__ADDRESS_BUF], base[STORE__ADDRESS_BUF];
	int64_t id;
	if (depth > STORE__ALIAS_DEPTH)
		return store__fail(store, STORE_ELOOP, "alias chain deeper than %d at %s",
		                   STORE__ALIAS_DEPTH, addr);
	store__address_key(addr, key);
	for (int i = 0; i < depth; i++)
		if (strcmp(res->path[i], key) == 0)
			return store__fail(store, STORE_ELOOP, "alias loop through %s", addr);
	memcpy(res->path[depth], key, sizeof(key));

	int err = store__domain_id(store, store__address_domain(addr), &id);
	if (err == STORE_ENOTFOUND)
		return add_dest(res, &res->remote, addr);
	if (err != STORE_OK)
		return err;

	int named = 0;
	err = resolve_name(res, addr, depth, &named);
	/* alice+tag@ reaches alice@ when alice+tag@ is nobody itself. */
	if (err == STORE_ENOTFOUND && !named &&
	    smtp_address_strip_extension(addr, res->delimiter, base, sizeof(base)))
		err = resolve_name(res, base, depth, &named);
	if (fallback && (err == STORE_ENOTFOUND || err == STORE_ELOOP) &&
	    store__address_is_postmaster(addr))
		return postmaster_fallback(res, addr, depth, err);
	return err;
}

/*
 * A domain-less "postmaster" (RFC 5321 4.5.1): postmaster@ of the default
 * domain (smtpd's hostname) or of its nearest parent that is a local
 * domain (mx.example.test serves example.test; Postfix's $mydomain is the
 * same guess), else postmaster_address, else nobody.
 */
static int resolve_bare_postmaster(struct resolution *res, const char *dflt)
{
	char addr[STORE__ADDRESS_BUF + 16], domain[STORE__ADDRESS_BUF];
	int64_t id;
	if (dflt[0] != '\0' && store__domain_normalize(dflt, domain) == STORE_OK) {
		/* Every suffix that still has a dot: never a top-level domain alone. */
		for (const char *d = domain; strchr(d, '.') != NULL; d = strchr(d, '.') + 1) {
			int err = store__domain_id(res->store, d, &id);
			if (err == STORE_OK) {
				snprintf(addr, sizeof(addr), "postmaster@%s", d);
				return resolve_address(res, addr, 0, 1);
			}
			if (err != STORE_ENOTFOUND)
				return err;
		}
	}
	return postmaster_fallback(res, "postmaster", 0, STORE_ENOTFOUND);
}

int store_resolve(store_t *store, const char *address, const struct store_resolve_config *cfg,
                  store_rcpt_cb *cb, void *ctx)
{
	char addr[STORE__ADDRESS_BUF];
	struct resolution res = {
		.store = store,
		.delimiter = or_empty(cfg != NULL ? cfg->recipient_delimiter : NULL),
		.postmaster_address = or_empty(cfg != NULL ? cfg->postmaster_address : NULL),
	};
	/* One snapshot for every lookup below: consistent, and one read lock instead of one per statement. */
	int err = store__begin_read(store);
	if (err != STORE_OK)
		return err;
	if (address != NULL && strchr(address, '@') == NULL && store__address_is_postmaster(address))
		err = resolve_bare_postmaster(&res, or_empty(cfg != NULL ? cfg->default_domain : NULL));
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
	char addr[STORE__ADDRESS_BUF], key[STORE__ADDRESS_BUF];
	struct store__strings found = { 0 }, keys = { 0 }, sources = { 0 };
	struct store__user_row row;
	store__stmt_t *stmt;
	if (store__address_normalize_legacy(user, addr) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_SOURCES);
	int err = store__user_find(store, addr, &row);
	if (err == STORE_OK) {
		store__address_key(row.address, key);
		if (store__strings_push(&found, row.address) != STORE_OK ||
		    store__strings_push(&keys, key) != STORE_OK)
			err = store__fail(store, STORE_ENOMEM, "out of memory");
	}
	/* Walk the alias graph backwards one level at a time, as deep as
	 * resolution would walk it forwards. */
	size_t level_start = 0;
	for (int level = 0; err == STORE_OK && level < STORE__ALIAS_DEPTH; level++) {
		size_t level_end = found.count;
		for (size_t i = level_start; err == STORE_OK && i < level_end; i++) {
			store__bind_text(stmt, 1, keys.items[i]);
			err = store__strings_collect(store, stmt, 1, &sources, "look up aliases");
			for (size_t j = 0; err == STORE_OK && j < sources.count; j++) {
				store__address_key(sources.items[j], key);
				if (store__strings_contains(&keys, key))
					continue;
				if (store__strings_push(&found, sources.items[j]) != STORE_OK ||
				    store__strings_push(&keys, key) != STORE_OK)
					err = store__fail(store, STORE_ENOMEM, "out of memory");
			}
			store__strings_free(&sources);
		}
		if (found.count == level_end)
			break;
		level_start = level_end;
	}
	for (size_t i = 0; err == STORE_OK && i < found.count; i++)
		cb(ctx, found.items[i]);
	store__strings_free(&found);
	store__strings_free(&keys);
	return err;
}
