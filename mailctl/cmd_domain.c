/* cmd_domain.c - mailctl domain add|del|list. */
#include "mailctl.h"
#include "smtp_address.h"

int cmd_domain_add(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *domain = args->argv[0];
	int rc = store_domain_add(ctx->store, domain);

	if (rc == STORE_EEXIST)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' already exists", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	/* RFC 5321 4.5.1: postmaster@ must reach someone; say who, or how. */
	char name[256];
	smtp_address_key(domain, name, sizeof(name));
	domain = name;
	if (ctx->cfg.postmaster_address[0] != '\0')
		fprintf(ctx->out, "postmaster@%s goes to postmaster_address %s; to send it elsewhere:\n"
		        "  mailctl alias add postmaster@%s ADDRESS\n", domain,
		        ctx->cfg.postmaster_address, domain);
	else
		fprintf(ctx->out, "mail to postmaster@%s is refused until you add an alias (or set "
		        "postmaster_address):\n  mailctl alias add postmaster@%s ADDRESS\n", domain,
		        domain);
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
