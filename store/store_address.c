/*
 * store_address.c - the minimal address checks and the one normal form the
 * store keeps addresses in.
 *
 * The protocol layer owns RFC 5321 syntax; the store only refuses what would
 * make lookups ambiguous or break the fixed-size fields of store.h, and
 * lower-cases the domain (RFC 5321 2.4: domains are case-insensitive, local
 * parts may not be).
 */
#include <string.h>
#include <strings.h>

#include "store-private.h"

static int bad_byte(unsigned char c)
{
	return c <= 0x20 || c == 0x7f;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Checks and lower-cases a domain of len octets into out. */
static int domain_copy(const char *in, size_t len, char *out)
{
	if (len == 0 || len > STORE__DOMAIN_MAX)
		return STORE_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (bad_byte((unsigned char)in[i]) || in[i] == '@')
			return STORE_EINVAL;
		out[i] = ascii_lower(in[i]);
	}
	out[len] = '\0';
	return STORE_OK;
}

int store__domain_normalize(const char *in, char out[STORE__ADDRESS_BUF])
{
	if (in == NULL)
		return STORE_EINVAL;
	return domain_copy(in, strlen(in), out);
}

int store__address_normalize(const char *in, char out[STORE__ADDRESS_BUF])
{
	if (in == NULL)
		return STORE_EINVAL;
	size_t len = strlen(in);
	const char *at = strchr(in, '@');
	if (len > STORE__ADDRESS_MAX || at == NULL || at == in || strchr(at + 1, '@') != NULL)
		return STORE_EINVAL;
	size_t local_len = (size_t)(at - in);
	for (size_t i = 0; i < local_len; i++) {
		if (bad_byte((unsigned char)in[i]))
			return STORE_EINVAL;
		out[i] = in[i];
	}
	out[local_len] = '@';
	return domain_copy(at + 1, len - local_len - 1, out + local_len + 1);
}

const char *store__address_domain(const char *address)
{
	const char *at = strchr(address, '@');
	return at != NULL ? at + 1 : address + strlen(address);
}

int store__address_is_postmaster(const char *address)
{
	const char *at = strchr(address, '@');
	size_t len = at != NULL ? (size_t)(at - address) : strlen(address);
	return len == 10 && strncasecmp(address, "postmaster", 10) == 0;
}
