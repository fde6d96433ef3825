/*
 * store_alias.c - aliases: adding, removing and listing them, and the
 * checks that keep the alias graph one that resolution can follow.
 *
 * An alias is a source address with one or more targets (one row each).
 * Sources and targets match without regard to case (their keys); see
 * sqlite/sqlite_schema.c for the case_conflict groups of a schema 1
 * database.
 *
 * store_alias_add refuses what resolution could never deliver through: a
 * target that leads back to the source (a loop), a chain deeper than
 * STORE__ALIAS_DEPTH, and (unless forced) a local target that names
 * nobody. Resolution still guards against loops and depth itself
 * (store_resolve.c), for databases written before these checks.
 */
#include <string.h>

#include "smtp_address.h"
#include "store-private.h"

int store__alias_targets(store_t *store, const char *address, struct store__strings *targets)
{
	char key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_TARGETS);
	store__address_key(address, key);
	store__bind_text(stmt, 1, address);
	store__bind_text(stmt, 2, key);
	return store__strings_collect(store, stmt, 1, targets, "look up alias");
}

/* ---- the graph checks ---------------------------------------------------- */

/* One level of a walk through the alias graph: addresses and their keys. */
struct level {
	struct store__strings addrs;
	struct store__strings keys;
};

static void level_free(struct level *l)
{
	store__strings_free(&l->addrs);
	store__strings_free(&l->keys);
}

/* Adds an address to a level unless its key is there already. */
static int level_add(store_t *store, struct level *l, const char *addr)
{
	char key[STORE__ADDRESS_BUF];
	store__address_key(addr, key);
	if (store__strings_contains(&l->keys, key))
		return STORE_OK;
	if (store__strings_push(&l->keys, key) != STORE_OK ||
	    store__strings_push(&l->addrs, addr) != STORE_OK)
		return store__fail(store, STORE_ENOMEM, "out of memory");
	return STORE_OK;
}

/*
 * The next level down from `addr` as resolution would take it: nothing
 * for a user, an alias's targets, and for an address that is neither,
 * the targets of its base address without the recipient extension. Sets
 * *hit when addr (or that base) has the key `stop_key`.
 */
static int step_down(store_t *store, const struct store_resolve_config *cfg, const char *addr,
                     const char *stop_key, struct level *next, int *hit)
{
	char norm[STORE__ADDRESS_BUF], base[STORE__ADDRESS_BUF], key[STORE__ADDRESS_BUF];
	struct store__strings targets = { 0 };
	struct store__user_row row;
	const char *delims = cfg != NULL ? cfg->recipient_delimiter : NULL;
	if (store__address_normalize(addr, norm) != STORE_OK)
		return STORE_OK; /* a stored target the rules refuse leads nowhere */
	for (int pass = 0; pass < 2; pass++) {
		store__address_key(norm, key);
		if (strcmp(key, stop_key) == 0)
			*hit = 1;
		int err = store__user_find(store, norm, &row);
		if (err != STORE_ENOTFOUND)
			return err == STORE_OK ? STORE_OK : err;
		err = store__alias_targets(store, norm, &targets);
		for (size_t i = 0; err == STORE_OK && i < targets.count; i++)
			err = level_add(store, next, targets.items[i]);
		size_t found = targets.count;
		store__strings_free(&targets);
		if (err != STORE_OK || found > 0)
			return err;
		if (pass > 0 || !smtp_address_strip_extension(norm, delims, base, sizeof(base)))
			return STORE_OK;
		memcpy(norm, base, sizeof(norm));
	}
	return STORE_OK;
}

/* The next level up from `addr`: the aliases that have it as a target. */
static int step_up(store_t *store, const char *addr, struct level *next)
{
	char key[STORE__ADDRESS_BUF];
	struct store__strings sources = { 0 };
	store__stmt_t *stmt;
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_SOURCES);
	store__address_key(addr, key);
	store__bind_text(stmt, 1, key);
	int err = store__strings_collect(store, stmt, 1, &sources, "look up aliases");
	for (size_t i = 0; err == STORE_OK && i < sources.count; i++)
		err = level_add(store, next, sources.items[i]);
	store__strings_free(&sources);
	return err;
}

/*
 * Walks from `start` down (dir > 0: through targets) or up (dir < 0:
 * through sources), level by level, each level holding every address at
 * that distance by some path. *depth_r is the longest path found in alias
 * edges, at most STORE__ALIAS_DEPTH + 1 (the walk stops there, so an old
 * loop in the graph ends it too). Going down, *hit tells whether an
 * address with the key `stop_key` was met.
 */
static int walk(store_t *store, const struct store_resolve_config *cfg, const char *start,
                int dir, const char *stop_key, int *depth_r, int *hit)
{
	struct level cur = { 0 }, next = { 0 };
	int err = level_add(store, &cur, start);
	*depth_r = 0;
	while (err == STORE_OK && cur.addrs.count > 0 && *depth_r <= STORE__ALIAS_DEPTH) {
		for (size_t i = 0; err == STORE_OK && i < cur.addrs.count; i++)
			err = dir > 0 ? step_down(store, cfg, cur.addrs.items[i], stop_key, &next, hit)
			              : step_up(store, cur.addrs.items[i], &next);
		if (err == STORE_OK && next.addrs.count > 0)
			(*depth_r)++;
		level_free(&cur);
		cur = next;
		next = (struct level){ 0 };
	}
	level_free(&cur);
	level_free(&next);
	return err;
}

/*
 * Refuses the edge src -> dst when dst leads back to src, or when some
 * chain through it would be deeper than resolution follows.
 */
static int check_graph(store_t *store, const struct store_resolve_config *cfg, const char *src,
                       const char *dst)
{
	char src_key[STORE__ADDRESS_BUF];
	int down = 0, up = 0, hit = 0;
	store__address_key(src, src_key);
	int err = walk(store, cfg, dst, 1, src_key, &down, &hit);
	if (err == STORE_OK && hit)
		return store__fail(store, STORE_ELOOP, "alias loop: %s leads back to %s", dst, src);
	if (err == STORE_OK)
		err = walk(store, cfg, src, -1, "", &up, &hit);
	if (err == STORE_OK && up + 1 + down > STORE__ALIAS_DEPTH)
		return store__fail(store, STORE_ELOOP,
		                   "alias chain too deep: %s -> %s would make a chain of %d aliases "
		                   "(at most %d)", src, dst, up + 1 + down, STORE__ALIAS_DEPTH);
	return err;
}

/* STORE_ENOTFOUND unless the local address `dst` is a user or an alias,
 * itself or without its recipient extension. */
static int check_target_exists(store_t *store, const struct store_resolve_config *cfg,
                               const char *dst)
{
	char addr[STORE__ADDRESS_BUF], base[STORE__ADDRESS_BUF], key[STORE__ADDRESS_BUF];
	struct store__user_row row;
	store__stmt_t *stmt;
	const char *delims = cfg != NULL ? cfg->recipient_delimiter : NULL;
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_EXISTS);
	memcpy(addr, dst, sizeof(addr));
	for (int pass = 0; pass < 2; pass++) {
		int err = store__user_find(store, addr, &row);
		if (err != STORE_ENOTFOUND)
			return err;
		store__address_key(addr, key);
		store__bind_text(stmt, 1, key);
		int rc = store__step(stmt, "look up alias");
		int exists = rc == STORE__ROW && store__column_int(stmt, 0) != 0;
		store__reset(stmt);
		if (rc != STORE__ROW)
			return rc;
		if (exists)
			return STORE_OK;
		if (pass > 0 || !smtp_address_strip_extension(addr, delims, base, sizeof(base)))
			break;
		memcpy(addr, base, sizeof(addr));
	}
	return store__fail(store, STORE_ENOTFOUND, "%s is neither a user nor an alias", dst);
}

/* ---- the operator's calls ------------------------------------------------ */

int store_alias_add(store_t *store, const char *from, const char *to,
                    const struct store_resolve_config *cfg, unsigned flags)
{
	char src[STORE__ADDRESS_BUF], dst[STORE__ADDRESS_BUF];
	char src_key[STORE__ADDRESS_BUF], dst_key[STORE__ADDRESS_BUF];
	store__stmt_t *stmt, *group;
	int64_t domain_id = 0, conflict = 0;
	int64_t dst_domain;
	if (store__address_normalize(from, src) != STORE_OK ||
	    store__address_normalize(to, dst) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	store__address_key(src, src_key);
	store__address_key(dst, dst_key);
	if (strcmp(src_key, dst_key) == 0)
		return store__fail(store, STORE_ELOOP, "an alias cannot point at itself");
	STORE__STMT_OR_RETURN(stmt, store, STORE__ALIAS_ADD);
	STORE__STMT_OR_RETURN(group, store, STORE__ALIAS_GROUP);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__domain_id(store, store__address_domain(src), &domain_id);
	if (err == STORE_ENOTFOUND)
		err = STORE_EINVAL;
	if (err == STORE_OK) {
		/* A user and an alias of one address would make delivery ambiguous. */
		struct store__user_row row;
		err = store__user_find(store, src, &row);
		if (err == STORE_OK)
			err = store__fail(store, STORE_EEXIST, "%s is a user", row.address);
		else if (err == STORE_ENOTFOUND)
			err = STORE_OK;
	}
	if (err == STORE_OK) {
		/* The group of rows this target joins, and whether it is there. */
		store__bind_text(group, 1, src);
		store__bind_text(group, 2, src_key);
		store__bind_text(group, 3, dst_key);
		int rc = store__step(group, "look up alias");
		if (rc == STORE__ROW && store__column_int(group, 2) != 0) {
			char existing[STORE__ADDRESS_BUF];
			store__column_copy(group, 1, existing, sizeof(existing));
			err = store__fail(store, STORE_EEXIST, "alias %s -> %s already exists", existing,
			                  dst);
		} else if (rc == STORE__ROW) {
			conflict = store__column_int64(group, 0);
		} else if (rc != STORE__DONE) {
			err = rc;
		}
		store__reset(group);
	}
	if (err == STORE_OK && !(flags & STORE_ALIAS_FORCE)) {
		int local = store__domain_id(store, store__address_domain(dst), &dst_domain);
		if (local == STORE_OK)
			err = check_target_exists(store, cfg, dst);
		else if (local != STORE_ENOTFOUND)
			err = local;
	}
	if (err == STORE_OK)
		err = check_graph(store, cfg, src, dst);
	if (err == STORE_OK) {
		store__bind_int64(stmt, 1, domain_id);
		store__bind_text(stmt, 2, src);
		store__bind_text(stmt, 3, dst);
		store__bind_text(stmt, 4, src_key);
		store__bind_text(stmt, 5, dst_key);
		store__bind_int64(stmt, 6, conflict);
		int rc = store__step(stmt, "add alias");
		if (rc < 0)
			err = rc;
		store__reset(stmt);
		if (err == STORE_EEXIST)
			store__fail(store, err, "alias %s -> %s already exists", src, dst);
	}
	return store__finish(store, err);
}

int store_alias_del(store_t *store, const char *from, const char *to)
{
	char src[STORE__ADDRESS_BUF], dst[STORE__ADDRESS_BUF];
	char src_key[STORE__ADDRESS_BUF], dst_key[STORE__ADDRESS_BUF];
	store__stmt_t *group, *exact, *by_key;
	int64_t conflict = 0;
	if (store__address_normalize_legacy(from, src) != STORE_OK ||
	    store__address_normalize_legacy(to, dst) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed address");
	store__address_key(src, src_key);
	store__address_key(dst, dst_key);
	STORE__STMT_OR_RETURN(group, store, STORE__ALIAS_GROUP);
	STORE__STMT_OR_RETURN(exact, store, STORE__ALIAS_DEL_EXACT);
	STORE__STMT_OR_RETURN(by_key, store, STORE__ALIAS_DEL_KEY);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	store__bind_text(group, 1, src);
	store__bind_text(group, 2, src_key);
	store__bind_text(group, 3, dst_key);
	int rc = store__step(group, "look up alias");
	if (rc == STORE__ROW)
		conflict = store__column_int64(group, 0);
	else if (rc == STORE__DONE)
		err = store__fail(store, STORE_ENOTFOUND, "no such alias");
	else
		err = rc;
	store__reset(group);
	if (err == STORE_OK) {
		/* The target as spelled, else every target that differs only by case. */
		store__bind_text(exact, 1, dst);
		store__bind_text(exact, 2, src_key);
		store__bind_int64(exact, 3, conflict);
		err = store__exec_changes(store, exact, "delete alias", "no such alias");
	}
	if (err == STORE_ENOTFOUND) {
		store__bind_text(by_key, 1, dst_key);
		store__bind_text(by_key, 2, src_key);
		store__bind_int64(by_key, 3, conflict);
		err = store__exec_changes(store, by_key, "delete alias", "no such alias");
	}
	return store__finish(store, err);
}

int store_alias_list(store_t *store, const char *domain, store_alias_cb *cb, void *ctx)
{
	store__stmt_t *stmt;
	struct store__strings pairs = { 0 };
	STORE__STMT_OR_RETURN(stmt, store, domain != NULL ? STORE__ALIAS_LIST_DOMAIN : STORE__ALIAS_LIST_ALL);
	if (domain != NULL) {
		int err = store__bind_domain_filter(store, stmt, domain);
		if (err != STORE_OK)
			return err;
	}
	int err = store__strings_collect(store, stmt, 2, &pairs, "list aliases");
	for (size_t i = 0; err == STORE_OK && i + 1 < pairs.count; i += 2)
		cb(ctx, pairs.items[i], pairs.items[i + 1]);
	store__strings_free(&pairs);
	return err;
}
