/* cmd_user.c - mailctl user add|del|list|show|passwd|disable|enable|quota. */
#include <stdlib.h>
#include <string.h>

#include "mailctl.h"
#include "password.h"
#include "prompt.h"

/* 0 when `address` is a user; otherwise prints why not and returns the status. */
static int require_user(struct mailctl *ctx, const char *address, struct store_user *user_r)
{
	int rc = store_user_get(ctx->store, address, user_r);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	return 0;
}

/* Asks for a password (see prompt.h) and hashes it into hash_r. */
static int new_password_hash(struct mailctl *ctx, const struct mailctl_args *args,
                             const char *address, char *hash_r, size_t hashlen)
{
	char password[PROMPT_PASSWORD_MAX + 2];
	char err[256];
	int rc = prompt_password(mailctl_opt(args, "password-stdin") != NULL, address, password,
	                         sizeof(password), err, sizeof(err));

	if (rc != 0)
		return mailctl_fail(ctx, rc, "%s", err);
	rc = password_hash(password, hash_r, hashlen);
	explicit_bzero(password, sizeof(password));
	if (rc != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "hashing the password failed");
	return 0;
}

int cmd_user_add(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *address = args->argv[0];
	const char *domain = mailctl_address_domain(address);
	char hash[PASSWORD_HASH_MAX];
	struct store_user user;
	int rc;

	/* Everything that can be checked is checked before the prompt, so the
	 * operator never types a password for nothing. */
	rc = store_domain_exists(ctx->store, domain);
	/* EINVAL: an address literal, valid in an address but never local. */
	if (rc == STORE_ENOTFOUND || rc == STORE_EINVAL)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' is not a local domain", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	rc = store_user_get(ctx->store, address, &user);
	if (rc == 0 && strcmp(user.address, address) == 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "user '%s' already exists", address);
	if (rc == 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "user '%s' already exists as '%s' "
		                    "(addresses match without regard to case)", address, user.address);
	if (rc != STORE_ENOTFOUND)
		return mailctl_store_fail(ctx, rc, address);

	rc = new_password_hash(ctx, args, address, hash, sizeof(hash));
	if (rc != 0)
		return rc;
	rc = store_user_add(ctx->store, address, hash);
	if (rc == STORE_EEXIST) {
		/* The store names the spelling that exists, in whichever case. */
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "'%s' already exists as a user or an "
		                    "alias: %s", address, store_errmsg(ctx->store));
	}
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	return MAILCTL_EXIT_OK;
}

int cmd_user_del(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *address = args->argv[0];
	int rc = store_user_del(ctx->store, address);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	return MAILCTL_EXIT_OK;
}

int cmd_user_passwd(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *address = args->argv[0];
	char hash[PASSWORD_HASH_MAX];
	struct store_user user;
	int rc = require_user(ctx, address, &user);

	if (rc == 0)
		rc = new_password_hash(ctx, args, address, hash, sizeof(hash));
	if (rc != 0)
		return rc;
	rc = store_user_set_hash(ctx->store, address, hash);
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	return MAILCTL_EXIT_OK;
}

static int set_disabled(struct mailctl *ctx, const char *address, int disabled)
{
	int rc = store_user_set_disabled(ctx->store, address, disabled);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	return MAILCTL_EXIT_OK;
}

int cmd_user_disable(struct mailctl *ctx, const struct mailctl_args *args)
{
	return set_disabled(ctx, args->argv[0], 1);
}

int cmd_user_enable(struct mailctl *ctx, const struct mailctl_args *args)
{
	return set_disabled(ctx, args->argv[0], 0);
}

int cmd_user_show(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *address = args->argv[0];
	struct store_user user;
	struct store_usage usage;
	uint64_t quota;
	int rc = require_user(ctx, address, &user);

	if (rc != 0)
		return rc;
	rc = store_user_usage(ctx->store, address, &quota, &usage);
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	fprintf(ctx->out, "address: %s\nhash: %s\ndisabled: %s\n", user.address, user.hash,
	        user.disabled ? "yes" : "no");
	/* The quota read with the usage: one snapshot, in case it changed since. */
	if (quota == 0)
		fprintf(ctx->out, "quota: unlimited\n");
	else
		fprintf(ctx->out, "quota: %llu\n", (unsigned long long)quota);
	fprintf(ctx->out, "used: %llu\nmessages: %llu\n", (unsigned long long)usage.bytes,
	        (unsigned long long)usage.messages);
	return MAILCTL_EXIT_OK;
}

int cmd_user_quota(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *address = args->argv[0];
	uint64_t quota = 0;
	int rc;

	if (mailctl_parse_quota(args->argv[1], &quota) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "invalid quota '%s'", args->argv[1]);
	rc = store_user_set_quota(ctx->store, address, quota);
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	return MAILCTL_EXIT_OK;
}

/* The names store_user_list reports, collected so each user can be looked
 * up afterwards rather than from inside the store's iteration. */
struct name_list {
	char **names;
	size_t count, cap;
	bool failed;
};

static void collect_name_cb(void *ctx, const char *name)
{
	struct name_list *list = ctx;

	if (list->failed)
		return;
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		char **names = realloc(list->names, cap * sizeof(*names));

		if (names == NULL) {
			list->failed = true;
			return;
		}
		list->names = names;
		list->cap = cap;
	}
	list->names[list->count] = strdup(name);
	if (list->names[list->count] == NULL)
		list->failed = true;
	else
		list->count++;
}

static void name_list_free(struct name_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->names[i]);
	free(list->names);
}

int cmd_user_list(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *domain = args->argc > 0 ? args->argv[0] : NULL;
	struct name_list list = {0};
	int rc = store_user_list(ctx->store, domain, collect_name_cb, &list);

	if (rc == 0 && list.failed)
		rc = STORE_ENOMEM;
	for (size_t i = 0; rc == 0 && i < list.count; i++) {
		struct store_user user;

		rc = store_user_get(ctx->store, list.names[i], &user);
		if (rc == STORE_ENOTFOUND) {
			rc = 0; /* deleted meanwhile */
		} else if (rc == 0) {
			fprintf(ctx->out, "%s%s\n", user.address, user.disabled ? " disabled" : "");
		}
	}
	name_list_free(&list);
	if (rc == STORE_ENOTFOUND && domain != NULL)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' is not a local domain", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, "listing users");
	return MAILCTL_EXIT_OK;
}
