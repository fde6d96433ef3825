/* cmd_domain.c - mailctl domain add|del|list. */
#include "mailctl.h"

int cmd_domain_add(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *domain = args->argv[0];
	int rc = store_domain_add(ctx->store, domain);

	if (rc == STORE_EEXIST)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' already exists", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	return MAILCTL_EXIT_OK;
}

int cmd_domain_del(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *domain = args->argv[0];
	int rc = store_domain_del(ctx->store, domain);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' is not a local domain", domain);
	if (rc == STORE_EBUSY) {
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL,
		                    "domain '%s' still has users or aliases; delete them first", domain);
	}
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	return MAILCTL_EXIT_OK;
}

static void print_name_cb(void *ctx, const char *name)
{
	fprintf(ctx, "%s\n", name);
}

int cmd_domain_list(struct mailctl *ctx, const struct mailctl_args *args)
{
	int rc = store_domain_list(ctx->store, print_name_cb, ctx->out);

	if (rc != 0)
		return mailctl_store_fail(ctx, rc, "listing domains");
	return MAILCTL_EXIT_OK;
}
