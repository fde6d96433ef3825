/* cmd_db.c - mailctl db migrate|check. */
#include "mailctl.h"

static void print_conflict_cb(void *ctx, const char *problem)
{
	fprintf(ctx, "conflict: %s\n", problem);
}

/* Opening the store for a write command already created and migrated it;
 * this reports where it stands, and what an older database brought along
 * that the operator must resolve (store_address_problems). Running it
 * again changes nothing. */
int cmd_db_migrate(struct mailctl *ctx, const struct mailctl_args *args)
{
	int version;
	int rc = store_file_version(ctx->store, &version);

	if (rc != 0)
		return mailctl_store_fail(ctx, rc, "reading the schema version");
	fprintf(ctx->out, "%s: schema version %d\n", mailctl_db_shown(ctx), version);
	rc = store_address_problems(ctx->store, print_conflict_cb, ctx->out);
	if (rc < 0)
		return mailctl_store_fail(ctx, rc, "checking addresses");
	if (rc > 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%d address conflict%s to resolve (see "
		                    "`mailctl db --help`)", rc, rc == 1 ? "" : "s");
	return MAILCTL_EXIT_OK;
}

struct check {
	FILE *out;
	unsigned long problems;
};

static void print_problem_cb(void *ctx, const char *problem)
{
	struct check *check = ctx;

	check->problems++;
	fprintf(check->out, "problem: %s\n", problem);
}

int cmd_db_check(struct mailctl *ctx, const struct mailctl_args *args)
{
	struct check check = {.out = ctx->out};
	int rc = store_check(ctx->store, print_problem_cb, &check);

	if (rc == 0) {
		fprintf(ctx->out, "%s: ok\n", mailctl_db_shown(ctx));
		return MAILCTL_EXIT_OK;
	}
	if (rc == STORE_ECORRUPT && check.problems > 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %lu problem%s found", mailctl_db_shown(ctx),
		                    check.problems, check.problems == 1 ? "" : "s");
	}
	return mailctl_store_fail(ctx, rc, "checking the database");
}
