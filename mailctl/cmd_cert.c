/* cmd_cert.c - mailctl cert selfsigned. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "mailctl.h"
#include "tls_cert.h"

/* An option's value, else the config key's; NULL when both are empty. */
static const char *opt_or_config(const struct mailctl_args *args, const char *name,
                                 const char *config_value)
{
	const char *v = mailctl_opt(args, name);

	if (v == NULL)
		v = config_value;
	return v[0] != '\0' ? v : NULL;
}

/* A DNS name or an IP literal: what tls_cert_selfsigned accepts. */
static bool host_ok(const char *host, char *err, size_t errlen)
{
	unsigned char ip[16];

	return inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1 ||
	       mailctl_check_domain(host, err, errlen) == 0;
}

/* Without --force, an existing file is kept: replacing a certificate
 * clients have pinned, or a key from a CA, by accident is costly. */
static int refuse_existing(struct mailctl *ctx, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s exists (use --force to replace it)",
		                    path);
	}
	if (errno != ENOENT)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %s", path, strerror(errno));
	return 0;
}

int cmd_cert_selfsigned(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *host = opt_or_config(args, "host", ctx->cfg.hostname);
	const char *cert = opt_or_config(args, "cert", ctx->cfg.tls_cert);
	const char *key = opt_or_config(args, "key", ctx->cfg.tls_key);
	const char *days_arg = mailctl_opt(args, "days");
	int64_t days = TLS_CERT_DAYS_DEFAULT;
	char err[512];
	int rc;

	if (host == NULL)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "no --host and no hostname in the config");
	if (cert == NULL)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "no --cert and no tls_cert in the config");
	if (key == NULL)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "no --key and no tls_key in the config");
	if (!host_ok(host, err, sizeof(err)))
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "--host: %s", err);
	if (strcmp(cert, key) == 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "--cert and --key name the same file");
	if (days_arg != NULL && mailctl_parse_int(days_arg, 1, TLS_CERT_DAYS_MAX, &days) != 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "--days must be a number from 1 to %d",
		                    TLS_CERT_DAYS_MAX);
	}
	if (mailctl_opt(args, "force") == NULL) {
		rc = refuse_existing(ctx, cert);
		if (rc == 0)
			rc = refuse_existing(ctx, key);
		if (rc != 0)
			return rc;
	}
	if (tls_cert_selfsigned(host, (unsigned)days, cert, key, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s", err);
	fprintf(ctx->out, "wrote %s and %s for %s, valid %lld days\n", cert, key, host,
	        (long long)days);
	return MAILCTL_EXIT_OK;
}
