/*
 * password.h - crypt(3) password hashes through libxcrypt.
 *
 * New hashes are yescrypt ($y$). Verification accepts every method
 * libxcrypt calls current, including $2b$ (bcrypt) and $6$ (sha512-crypt),
 * and $5$ (sha256-crypt), which Debian's libxcrypt calls legacy but still
 * computes, so imported hashes keep working. Both calls are slow on purpose (tens of
 * milliseconds): run them on a worker thread, never on the event loop.
 */
#ifndef MAIL_PASSWORD_H
#define MAIL_PASSWORD_H

#include <stddef.h>

#define PASSWORD_HASH_MAX 256 /* CRYPT_OUTPUT_SIZE is 384 but every method we use fits */

/* Hashes `password` with a fresh yescrypt salt into hash_r. Returns 0 or -1. */
int password_hash(const char *password, char *hash_r, size_t hashlen);

/*
 * Returns 1 when `password` (never NULL) matches `hash`, 0 when not. When
 * hash is NULL (unknown or disabled user), a fixed dummy yescrypt hash is
 * checked instead, so the call costs the same and always returns 0; so is
 * a hash that password_hash_valid() would refuse.
 */
int password_verify(const char *password, const char *hash);

/*
 * Returns 0 when `hash` is a crypt(3) string libxcrypt accepts for
 * verification (as password_verify does), -1 otherwise. Used by imports.
 * Legacy methods (DES, MD5; not $5$) and incomplete strings (a bare "$6$salt" or a
 * cut-off checksum) are refused, and so are work factors above caps that
 * keep one login attempt under a second or so (bcrypt cost 13, yescrypt
 * cost 8, 1,000,000 sha-crypt rounds): password_verify() treats those as
 * unusable too. Fast for $y$, $6$, $5$ and $2b$ (a shape
 * check); other methods cost one hash computation.
 */
int password_hash_valid(const char *hash);

#endif
