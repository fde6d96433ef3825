/* util.c - mailctl's messages, argument checks and store error reporting. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailctl.h"

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

int mailctl_store_fail(struct mailctl *ctx, int rc, const char *what)
{
	const char *text = ctx->store != NULL ? store_errmsg(ctx->store) : "";

	if (text[0] == '\0')
		text = store_strerror(rc);
	return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %s", what, text);
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

/* Printable ASCII other than space: what an address part may hold here.
 * Stricter RFC 5321 syntax is the daemons' business; this only keeps
 * typos, spaces and control bytes out of the database. */
static bool is_addr_char(unsigned char c)
{
	return c > ' ' && c < 0x7f;
}

int mailctl_check_domain(const char *domain, char *err, size_t errlen)
{
	size_t len = strlen(domain);

	/* RFC 1035 2.3.4: a name is at most 255 octets, 253 as text. */
	if (len == 0 || len > 253) {
		snprintf(err, errlen, "a domain is 1 to 253 characters long");
		return -1;
	}
	if (domain[0] == '.' || domain[len - 1] == '.' || strstr(domain, "..") != NULL) {
		snprintf(err, errlen, "empty label in domain '%s'", domain);
		return -1;
	}
	for (const char *p = domain; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.')) {
			snprintf(err, errlen, "invalid character in domain '%s'", domain);
			return -1;
		}
	}
	return 0;
}

int mailctl_check_address(const char *address, char *err, size_t errlen)
{
	const char *at = strchr(address, '@');
	char derr[256];

	if (strlen(address) >= sizeof(((struct store_user *)0)->address)) {
		snprintf(err, errlen, "address is too long");
		return -1;
	}
	if (at == NULL || at == address || at[1] == '\0') {
		snprintf(err, errlen, "invalid address '%s' (expected local@domain)", address);
		return -1;
	}
	for (const char *p = address; p < at; p++) {
		if (!is_addr_char((unsigned char)*p)) {
			snprintf(err, errlen, "invalid local part in address '%s'", address);
			return -1;
		}
	}
	if (mailctl_check_domain(at + 1, derr, sizeof(derr)) != 0) {
		snprintf(err, errlen, "address '%s': %s", address, derr);
		return -1;
	}
	return 0;
}

const char *mailctl_address_domain(const char *address)
{
	const char *at = strchr(address, '@');

	return at != NULL ? at + 1 : address;
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
