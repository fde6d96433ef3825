/*
 * cmd_dkim.c - mailctl dkim generate|show|del: each local domain's DKIM
 * signing key (RFC 6376), kept in the store, and the DNS record that
 * publishes its public half.
 */
#include <stdlib.h>
#include <string.h>

#include "dkim.h"
#include "mailctl.h"
#include "smtp_address.h"

#define DKIM_SELECTOR_DEFAULT "mail"
/* RFC 1035 3.3.14: a TXT record is a list of <character-string>s of at
 * most 255 octets each; a DKIM verifier joins them (RFC 6376 3.6.2.2). */
#define TXT_STRING_MAX 255

/* The record in zone-file form, the key's TXT value cut into strings:
 *   S._domainkey.DOMAIN. IN TXT ( "v=DKIM1; k=rsa; "
 *           "p=..." ) */
static void print_record(FILE *out, const char *domain, const char *selector, const char *txt)
{
	const char *p = strstr(txt, "p=");
	size_t head = p != NULL ? (size_t)(p - txt) : 0;

	fprintf(out, "%s._domainkey.%s. IN TXT ( \"%.*s\"", selector, domain, (int)head, txt);
	for (const char *s = txt + head; *s != '\0';) {
		size_t n = strlen(s) < TXT_STRING_MAX ? strlen(s) : TXT_STRING_MAX;
		fprintf(out, "\n\t\"%.*s\"", (int)n, s);
		s += n;
	}
	fprintf(out, " )\n");
}

static void wipe_free(char *secret)
{
	if (secret == NULL)
		return;
	/* volatile: the stores must not be optimized away before free. */
	for (volatile char *p = secret; *p != '\0'; p++)
		*p = '\0';
	free(secret);
}

int check_arg_dkim(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *selector = mailctl_opt(args, "selector");
	int rc = check_arg_domain(ctx, args);

	if (rc != 0)
		return rc;
	if (selector != NULL && !dkim_selector_valid(selector))
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE,
		                    "invalid selector '%s' (DNS labels of letters, digits and "
		                    "hyphens, at most %d characters)", selector, DKIM_SELECTOR_MAX);
	return 0;
}

int cmd_dkim_generate(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *selector = mailctl_opt(args, "selector");
	char domain[SMTP_DOMAIN_MAX + 1], old_selector[STORE_DKIM_SELECTOR_MAX + 1], err[256];
	char *old = NULL, *pem = NULL, *txt = NULL;
	int rc;

	if (selector == NULL)
		selector = DKIM_SELECTOR_DEFAULT;
	smtp_address_key(args->argv[0], domain, sizeof(domain));
	/* Cheap checks first: making the key takes a moment. */
	rc = store_domain_exists(ctx->store, domain);
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' is not a local domain",
		                    domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	rc = store_dkim_key_get(ctx->store, domain, old_selector, sizeof(old_selector), &old);
	wipe_free(old);
	if (rc == 0 && mailctl_opt(args, "force") == NULL)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL,
		                    "domain '%s' already has a key (selector %s); --force replaces "
		                    "it, and mail signed with it stops verifying once its record "
		                    "is gone", domain, old_selector);
	if (rc != 0 && rc != STORE_ENOTFOUND)
		return mailctl_store_fail(ctx, rc, domain);

	if (dkim_key_generate(DKIM_KEY_BITS_DEFAULT, &pem, &txt, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s", err);
	rc = store_dkim_key_set(ctx->store, domain, selector, pem);
	wipe_free(pem);
	if (rc != 0) {
		free(txt);
		return mailctl_store_fail(ctx, rc, domain);
	}
	print_record(ctx->out, domain, selector, txt);
	free(txt);
	return MAILCTL_EXIT_OK;
}

int cmd_dkim_show(struct mailctl *ctx, const struct mailctl_args *args)
{
	char domain[SMTP_DOMAIN_MAX + 1], selector[STORE_DKIM_SELECTOR_MAX + 1], err[256];
	struct dkim_key *key = NULL;
	char *pem = NULL, *txt = NULL;

	smtp_address_key(args->argv[0], domain, sizeof(domain));
	int rc = store_dkim_key_get(ctx->store, domain, selector, sizeof(selector), &pem);
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL,
		                    "domain '%s' has no DKIM key (mailctl dkim generate %s)", domain,
		                    domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	rc = dkim_key_parse(pem, strlen(pem), &key, err, sizeof(err));
	wipe_free(pem);
	if (rc != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "the stored key of %s: %s", domain, err);
	rc = dkim_key_txt(key, &txt);
	dkim_key_free(&key);
	if (rc != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "the stored key of %s: no public key",
		                    domain);
	print_record(ctx->out, domain, selector, txt);
	free(txt);
	return MAILCTL_EXIT_OK;
}

int cmd_dkim_del(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *domain = args->argv[0];
	int rc = store_dkim_key_del(ctx->store, domain);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "domain '%s' has no DKIM key", domain);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, domain);
	return MAILCTL_EXIT_OK;
}
