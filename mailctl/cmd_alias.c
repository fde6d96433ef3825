/* cmd_alias.c - mailctl alias add|del|list. */
#include <string.h>

#include "mailctl.h"

int cmd_alias_add(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *from = args->argv[0], *to = args->argv[1];
	const char *domain = mailctl_address_domain(from);
	struct store_resolve_config rules = mailctl_resolve_config(ctx);
	unsigned flags = mailctl_opt(args, "force") != NULL ? STORE_ALIAS_FORCE : 0;
	struct store_user user;
	int rc = store_domain_exists(ctx->store, domain);

	/* EINVAL: an address literal, valid in an address but never local. */
	if (rc == STORE_ENOTFOUND || rc == STORE_EINVAL)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' is not a local domain", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	/* A user's address cannot also be an alias: mail to it would have two
	 * meanings. Checked here so the message can say which it is. */
	rc = store_user_get(ctx->store, from, &user);
	if (rc == 0 && strcmp(user.address, from) == 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "'%s' is a user, not an alias", from);
	if (rc == 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "'%s' is a user, not an alias: it is "
		                    "'%s' (addresses match without regard to case)", from, user.address);
	if (rc != STORE_ENOTFOUND)
		return mailctl_store_fail(ctx, rc, from);

	rc = store_alias_add(ctx->store, from, to, &rules, flags);
	if (rc == STORE_EEXIST || rc == STORE_ELOOP)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s", store_errmsg(ctx->store));
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: add it first, or use --force",
		                    store_errmsg(ctx->store));
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, from);
	return MAILCTL_EXIT_OK;
}

int cmd_alias_del(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *from = args->argv[0], *to = args->argv[1];
	int rc = store_alias_del(ctx->store, from, to);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no alias %s -> %s", from, to);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, from);
	return MAILCTL_EXIT_OK;
}

static void print_alias_cb(void *ctx, const char *from, const char *to)
{
	fprintf(ctx, "%s -> %s\n", from, to);
}

int cmd_alias_list(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *domain = args->argc > 0 ? args->argv[0] : NULL;
	int rc = store_alias_list(ctx->store, domain, print_alias_cb, ctx->out);

	if (rc == STORE_ENOTFOUND && domain != NULL)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' is not a local domain", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, "listing aliases");
	return MAILCTL_EXIT_OK;
}
