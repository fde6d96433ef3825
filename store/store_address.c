/*
 * store_address.c - the forms the store keeps addresses in.
 *
 * The syntax is not the store's own: an address is accepted exactly when
 * the SMTP parser accepts it (common/address/smtp_address.h), and kept in
 * that parser's canonical form (domain lower-case, minimal quoting, the
 * local part's case as given). Every row also carries a lookup key, the
 * canonical form in lower case, so that local parts match without regard
 * to case through an indexed equality and the stored spelling is kept for
 * display.
 */
#include <string.h>

#include "smtp_address.h"
#include "store-private.h"

int store__address_normalize(const char *in, char out[STORE__ADDRESS_BUF])
{
	if (smtp_address_normalize(in, out, STORE__ADDRESS_BUF) != SMTP_ADDRESS_OK)
		return STORE_EINVAL;
	return STORE_OK;
}

int store__address_normalize_legacy(const char *in, char out[STORE__ADDRESS_BUF])
{
	if (store__address_normalize(in, out) == STORE_OK)
		return STORE_OK;
	/* Schema 1 stored anything of the form local@domain without spaces or
	 * control bytes, with the domain in lower case: so can a deletion name it. */
	size_t len = in != NULL ? strlen(in) : 0;
	const char *at = in != NULL ? strrchr(in, '@') : NULL;
	if (len == 0 || len > STORE__ADDRESS_MAX || at == NULL || at == in || at[1] == '\0')
		return STORE_EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f)
			return STORE_EINVAL;
	size_t local_len = (size_t)(at - in);
	memcpy(out, in, local_len);
	smtp_address_key(at, out + local_len, STORE__ADDRESS_BUF - local_len);
	return STORE_OK;
}

int store__domain_normalize(const char *in, char out[STORE__ADDRESS_BUF])
{
	struct smtp_domain d;
	if (in == NULL)
		return STORE_EINVAL;
	/* A local domain is an ASCII name: U-labels would never match the
	 * A-label (xn--) form other servers use without SMTPUTF8, and mail is
	 * not accepted for address literals. */
	if (smtp_address_parse_domain(in, strlen(in), 0, &d) != SMTP_ADDRESS_OK ||
	    d.kind != SMTP_DOMAIN_NAME || strlen(d.name) >= STORE__ADDRESS_BUF)
		return STORE_EINVAL;
	memcpy(out, d.name, strlen(d.name) + 1);
	return STORE_OK;
}

void store__address_key(const char *address, char out[STORE__ADDRESS_BUF])
{
	smtp_address_key(address, out, STORE__ADDRESS_BUF);
}

const char *store__address_domain(const char *address)
{
	/* The last '@': a quoted local part may hold others ("a@b"@c.test). */
	const char *at = strrchr(address, '@');
	return at != NULL ? at + 1 : address + strlen(address);
}

int store__address_is_postmaster(const char *address)
{
	const char *at = strrchr(address, '@');
	size_t len = at != NULL ? (size_t)(at - address) : strlen(address);
	char local[11];
	if (len != 10)
		return 0;
	smtp_address_key(address, local, sizeof(local));
	return memcmp(local, "postmaster", 10) == 0;
}
