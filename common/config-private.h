/*
 * config-private.h - the value parsers behind config.c's key table, in
 * config_value.c. Each returns 0, or -1 (with the reason in why where it
 * takes one; the caller adds "file:line: key: " or "MAIL_KEY: " around it).
 * Not for use outside config*.c.
 */
#ifndef MAIL_CONFIG_PRIVATE_H
#define MAIL_CONFIG_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Room for the reason a value was refused. */
#define CONFIG_WHY_MAX 256

/* Space or tab: the only whitespace trimmed around keys, values and list items. */
int config__is_space(char c);

/* len decimal digits, no sign or spaces, into *v_r; -1 when not that or over UINT64_MAX. */
int config__parse_decimal(const char *s, size_t len, uint64_t *v_r);

/* Digits with an optional K, M or G suffix (powers of 1024, either case). */
int config__parse_size(const char *s, uint64_t *v_r);

/* Writes v as the file would spell it: "25M", "1K", "1000". */
void config__format_size(uint64_t v, char *out, size_t outlen);

/* yes/no, true/false, on/off, 1/0, in any case, into *v_r (1 or 0). */
int config__parse_bool(const char *s, int *v_r);

/* Returns 1 for a host name of letters, digits, dots and hyphens, or a dotted IPv4 address. */
int config__valid_host(const char *host);

/*
 * Fills *l from a comma-separated list of host:port (IPv6 as [addr]:port);
 * an empty value leaves it empty. Refuses empty items, more than
 * CONFIG_MAX_LISTEN, and an address listed twice.
 */
int config__parse_listen(const char *value, struct config_listen *l, char *why, size_t whylen);

#endif
