/*
 * checks.c - argument checks that run before the store is opened, so a
 * typo is a usage error (exit 2) that leaves no database behind.
 */
#include <string.h>

#include "mailctl.h"

static int domain_ok(struct mailctl *ctx, const char *domain)
{
	char err[512];

	if (mailctl_check_domain(domain, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "%s", err);
	return 0;
}

static int address_ok(struct mailctl *ctx, const char *address)
{
	char err[512];

	if (mailctl_check_address(address, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "%s", err);
	return 0;
}

static int stored_address_ok(struct mailctl *ctx, const char *address)
{
	char err[512];

	if (mailctl_check_stored_address(address, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "%s", err);
	return 0;
}

int check_arg_stored_address(struct mailctl *ctx, const struct mailctl_args *args)
{
	return stored_address_ok(ctx, args->argv[0]);
}

int check_arg_stored_addresses(struct mailctl *ctx, const struct mailctl_args *args)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < args->argc; i++)
		rc = stored_address_ok(ctx, args->argv[i]);
	return rc;
}

int check_arg_domain(struct mailctl *ctx, const struct mailctl_args *args)
{
	return args->argc > 0 ? domain_ok(ctx, args->argv[0]) : 0;
}

int check_arg_address(struct mailctl *ctx, const struct mailctl_args *args)
{
	return address_ok(ctx, args->argv[0]);
}

int check_arg_addresses(struct mailctl *ctx, const struct mailctl_args *args)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < args->argc; i++)
		rc = address_ok(ctx, args->argv[i]);
	return rc;
}

int mailctl_parse_queue_id(const char *arg, int64_t *id_r)
{
	if (strcmp(arg, "all") == 0) {
		*id_r = 0;
		return 0;
	}
	return mailctl_parse_int(arg, 1, INT64_MAX, id_r);
}

int mailctl_parse_quota(const char *arg, uint64_t *quota_r)
{
	if (strcmp(arg, "unlimited") == 0) {
		*quota_r = 0;
		return 0;
	}
	/* The store keeps a quota in a signed 64-bit column. */
	if (config_parse_size(arg, quota_r) != 0 || *quota_r > INT64_MAX)
		return -1;
	return 0;
}

int check_arg_quota(struct mailctl *ctx, const struct mailctl_args *args)
{
	uint64_t quota;
	int rc = stored_address_ok(ctx, args->argv[0]);

	if (rc == 0 && mailctl_parse_quota(args->argv[1], &quota) != 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE,
		                    "invalid quota '%s' (octets, with an optional K, M or G suffix, "
		                    "or 'unlimited')",
		                    args->argv[1]);
	}
	return rc;
}

int check_arg_queue_id(struct mailctl *ctx, const struct mailctl_args *args)
{
	int64_t id;

	if (mailctl_parse_queue_id(args->argv[0], &id) != 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "invalid queue id '%s' (a number or 'all')",
		                    args->argv[0]);
	}
	return 0;
}
