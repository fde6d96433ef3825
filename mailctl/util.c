/* util.c - mailctl's messages, argument checks and store error reporting. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailctl.h"
#include "smtp_address.h"

int mailctl_fail(struct mailctl *ctx, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->cmd != NULL)
		fprintf(ctx->err, "mailctl: %s %s: %s\n", ctx->cmd->group, ctx->cmd->verb, msg);
	else
		fprintf(ctx->err, "mailctl: %s\n", msg);
	return status;
}

const char *mailctl_store_hint(int rc)
{
	return rc == STORE_ERETRY ? " (temporary: nothing was changed; run the command again)" : "";
}

const char *mailctl_db_shown(struct mailctl *ctx)
{
	return store_db_redacted(ctx->cfg.db, ctx->db_shown, sizeof(ctx->db_shown));
}

int mailctl_store_fail(struct mailctl *ctx, int rc, const char *what)
{
	const char *text = ctx->store != NULL ? store_errmsg(ctx->store) : "";

	if (text[0] == '\0')
		text = store_strerror(rc);
	return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %s%s", what, text, mailctl_store_hint(rc));
}

const char *mailctl_opt(const struct mailctl_args *args, const char *name)
{
	size_t len = strlen(name);

	for (int i = 0; i < MAILCTL_MAX_OPTS && args->cmd->opts[i] != NULL; i++) {
		const char *o = args->cmd->opts[i];

		if (strncmp(o, name, len) == 0 && (o[len] == '\0' || o[len] == '='))
			return args->opt[i];
	}
	return NULL;
}

int mailctl_check_domain(const char *domain, char *err, size_t errlen)
{
	struct smtp_domain d;
	enum smtp_address_error e = smtp_address_parse_domain(domain, strlen(domain), 0, &d);

	if (e == SMTP_ADDRESS_UTF8_NOT_ALLOWED) {
		snprintf(err, errlen, "invalid domain '%s': use the A-label (xn--) form of a "
		         "non-ASCII name", domain);
		return -1;
	}
	if (e != SMTP_ADDRESS_OK) {
		snprintf(err, errlen, "invalid domain '%s': %s (RFC 5321 4.1.2: labels of letters, "
		         "digits and inner hyphens, at most %d characters each, %d in all)", domain,
		         e == SMTP_ADDRESS_DOMAIN_TOO_LONG ? "too long" : "not a domain name",
		         SMTP_LABEL_MAX, SMTP_DOMAIN_MAX);
		return -1;
	}
	if (d.kind != SMTP_DOMAIN_NAME) {
		snprintf(err, errlen, "invalid domain '%s': an address literal cannot be a local domain",
		         domain);
		return -1;
	}
	return 0;
}

int mailctl_check_address(const char *address, char *err, size_t errlen)
{
	char canon[SMTP_MAILBOX_MAX + 1];
	enum smtp_address_error e = smtp_address_normalize(address, canon, sizeof(canon));

	if (e != SMTP_ADDRESS_OK) {
		snprintf(err, errlen, "invalid address '%s': %s (expected local@domain as RFC 5321 "
		         "4.1.2 allows it: no empty or doubled dots, quotes around anything else, "
		         "local part at most %d octets)", address, smtp_address_strerror(e),
		         SMTP_LOCAL_PART_MAX);
		return -1;
	}
	return 0;
}

int mailctl_check_stored_address(const char *address, char *err, size_t errlen)
{
	const char *at = strrchr(address, '@');

	if (mailctl_check_address(address, err, errlen) == 0)
		return 0;
	/* What the store took before the rules were shared (store.h): such
	 * a user or alias can still be named, to remove it. */
	if (at == NULL || at == address || at[1] == '\0' || strlen(address) > SMTP_MAILBOX_MAX)
		return -1;
	for (const char *p = address; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return -1;
	return 0;
}

const char *mailctl_address_domain(const char *address)
{
	/* The last '@': a quoted local part may hold others. */
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : address;
}

struct store_resolve_config mailctl_resolve_config(const struct mailctl *ctx)
{
	return (struct store_resolve_config){
		.recipient_delimiter = ctx->cfg.recipient_delimiter,
		.postmaster_address = ctx->cfg.postmaster_address,
		.default_domain = ctx->cfg.hostname,
	};
}

int mailctl_parse_int(const char *s, int64_t min, int64_t max, int64_t *value_r)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*value_r = v;
	return 0;
}

void mailctl_format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}
