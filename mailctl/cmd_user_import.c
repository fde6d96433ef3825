/* cmd_user_import.c - mailctl user import FILE: users from a Dovecot passwd-file. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "mailctl.h"
#include "passwd_file.h"

struct import {
	struct mailctl *ctx;
	const char *name; /* the file as the operator named it, for messages */
	unsigned long lineno;
	size_t imported, skipped, failed;
	int store_err; /* the store failure that stopped the import */
};

/* Reports a bad line as "FILE:LINE: reason", the form editors jump to. */
static void line_error(struct import *imp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void line_error(struct import *imp, const char *fmt, ...)
{
	va_list ap;

	fprintf(imp->ctx->err, "%s:%lu: ", imp->name, imp->lineno);
	va_start(ap, fmt);
	vfprintf(imp->ctx->err, fmt, ap);
	va_end(ap);
	fputc('\n', imp->ctx->err);
	imp->failed++;
}

/* Adds one parsed user. Returns -1 only for a store failure that makes
 * going on pointless (I/O, corruption); line problems are counted. */
static int import_entry(struct import *imp, const struct passwd_entry *e)
{
	store_t *store = imp->ctx->store;
	char err[512];
	int rc;

	if (mailctl_check_address(e->user, err, sizeof(err)) != 0) {
		line_error(imp, "%s", err);
		return 0;
	}
	rc = store_domain_exists(store, mailctl_address_domain(e->user));
	if (rc == STORE_ENOTFOUND || rc == STORE_EINVAL) { /* EINVAL: an address literal */
		line_error(imp, "domain '%s' is not a local domain", mailctl_address_domain(e->user));
		return 0;
	}
	if (rc == 0)
		rc = store_user_add(store, e->user, e->hash);
	switch (rc) {
	case 0:
		imp->imported++;
		return 0;
	case STORE_EEXIST: {
		/* Addresses match without regard to case: say which one is there. */
		struct store_user user;
		if (store_user_get(store, e->user, &user) == 0 && strcmp(user.address, e->user) != 0)
			fprintf(imp->ctx->out, "%s:%lu: '%s' already exists as '%s', left unchanged\n",
			        imp->name, imp->lineno, e->user, user.address);
		else
			fprintf(imp->ctx->out, "%s:%lu: '%s' already exists, left unchanged\n",
			        imp->name, imp->lineno, e->user);
		imp->skipped++;
		return 0;
	}
	case STORE_EINVAL:
		line_error(imp, "%s", store_errmsg(store));
		return 0;
	default:
		imp->store_err = rc;
		return -1;
	}
}

int cmd_user_import(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *path = args->argv[0];
	struct import imp = {.ctx = ctx, .name = path};
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (strcmp(path, "-") == 0) {
		imp.name = "(stdin)";
	} else {
		in = fopen(path, "r");
		if (in == NULL)
			return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %s", path, strerror(errno));
	}
	while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
		struct passwd_entry entry;
		char err[512];

		imp.lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strlen(line) != (size_t)n) {
			line_error(&imp, "NUL byte in the line");
			continue;
		}
		switch (passwd_file_parse_line(line, &entry, err, sizeof(err))) {
		case PASSWD_LINE_SKIP:
			break;
		case PASSWD_LINE_ERROR:
			line_error(&imp, "%s", err);
			break;
		case PASSWD_LINE_USER:
			rc = import_entry(&imp, &entry);
			break;
		}
	}
	int read_failed = ferror(in);
	int read_errno = errno;
	free(line);
	if (in != stdin)
		fclose(in);

	fprintf(ctx->out, "imported %zu, skipped %zu (already exist), failed %zu\n", imp.imported,
	        imp.skipped, imp.failed);
	if (rc != 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s:%lu: %s; import stopped%s", imp.name,
		                    imp.lineno, store_errmsg(ctx->store),
		                    mailctl_store_hint(imp.store_err));
	}
	if (read_failed) {
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "reading %s: %s", imp.name,
		                    strerror(read_errno));
	}
	if (imp.failed > 0) {
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%zu line%s of %s failed", imp.failed,
		                    imp.failed == 1 ? "" : "s", imp.name);
	}
	return MAILCTL_EXIT_OK;
}
