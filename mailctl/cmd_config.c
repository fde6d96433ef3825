/* cmd_config.c - mailctl config check|reference. */
#include "mailctl.h"

/* The configuration was loaded and validated before any command runs, so
 * reaching this handler means it is valid. */
int cmd_config_check(struct mailctl *ctx, const struct mailctl_args *args)
{
	fprintf(ctx->out, "%s: ok\n", ctx->config_path != NULL ? ctx->config_path : "defaults");
	return MAILCTL_EXIT_OK;
}

int cmd_config_reference(struct mailctl *ctx, const struct mailctl_args *args)
{
	config_print_reference(ctx->out);
	return MAILCTL_EXIT_OK;
}
