/* password.c - crypt(3) hashing and verification through libxcrypt; see password.h. */
#include "password.h"

#include <assert.h>
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/* yescrypt with libxcrypt's default cost ("$y$j9T$" in libxcrypt 4.4). */
#define PASSWORD_PREFIX "$y$"

/*
 * Fixed salt bytes for the dummy setting used when there is no hash to
 * check. Deriving the setting through crypt_gensalt_rn() at run time gives
 * it the same cost as the hashes password_hash() makes, even after a
 * libxcrypt update changes the default.
 */
static const char password_dummy_rbytes[16] = "mail-dummy-salt!";

/* crypt_r() into a heap crypt_data: 32 KiB is too much for a worker's stack. */
static struct crypt_data *password_data_new(void)
{
	return calloc(1, sizeof(struct crypt_data));
}

static void password_data_free(struct crypt_data *data)
{
	/* The buffer held the password and intermediate state. */
	explicit_bzero(data, sizeof(*data));
	free(data);
}

/* crypt_r() signals failure with NULL or a string starting with '*'. */
static int password_failed(const char *result)
{
	return result == NULL || result[0] == '*';
}

int password_hash(const char *password, char *hash_r, size_t hashlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	int ret = -1;

	if (crypt_gensalt_rn(PASSWORD_PREFIX, 0, NULL, 0, setting, sizeof(setting)) == NULL)
		return -1;
	struct crypt_data *data = password_data_new();
	if (data == NULL)
		return -1;
	const char *result = crypt_r(password, setting, data);
	if (!password_failed(result)) {
		size_t len = strlen(result);
		if (len < hashlen) {
			memcpy(hash_r, result, len + 1);
			ret = 0;
		}
	}
	password_data_free(data);
	return ret;
}

/* Spends one default-cost yescrypt computation on nothing. */
static void password_dummy(const char *password, struct crypt_data *data)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];

	if (crypt_gensalt_rn(PASSWORD_PREFIX, 0, password_dummy_rbytes,
	                     sizeof(password_dummy_rbytes), setting, sizeof(setting)) != NULL)
		(void)crypt_r(password, setting, data);
}

/* Compares two strings in time that depends only on their lengths. */
static int password_equal(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);
	if (alen != blen)
		return 0;
	unsigned char diff = 0;
	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/*
 * Work factors a stored hash may ask for. A hash is attacker-influenced data
 * (an import, a tampered database): "$2b$31$" would hold a worker thread for
 * hours on every login attempt. The caps are well above what the methods'
 * own defaults and common installations use.
 */
#define PASSWORD_BCRYPT_COST_MAX 13          /* libxcrypt's default is 5, Dovecot's 5-12 */
#define PASSWORD_SHA_CRYPT_ROUNDS_MAX 1000000 /* default 5000; passlib uses 656000 */
/* yescrypt parameters as crypt_gensalt writes them for costs 1-8: "j" flags,
 * one character of N (log2), one of r. Cost 5 (the default, "j9T") takes ~60 ms;
 * each step doubles it, so cost 8 ("jCT") is about half a second. */
#define PASSWORD_YESCRYPT_N_CHARS "789ABC"
#define PASSWORD_YESCRYPT_R_CHARS "5T"

/* Returns 1 when the hash's work factor is within the caps (or it has none we know). */
static int password_cost_ok(const char *hash)
{
	if (strncmp(hash, "$y$", 3) == 0) {
		const char *p = hash + 3;
		return p[0] == 'j' && p[1] != '\0' && strchr(PASSWORD_YESCRYPT_N_CHARS, p[1]) != NULL &&
		       p[2] != '\0' && strchr(PASSWORD_YESCRYPT_R_CHARS, p[2]) != NULL && p[3] == '$';
	}
	if (strncmp(hash, "$2", 2) == 0 && hash[2] != '\0' && hash[3] == '$') {
		const char *p = hash + 4;
		if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
			return 0;
		return (p[0] - '0') * 10 + (p[1] - '0') <= PASSWORD_BCRYPT_COST_MAX;
	}
	if ((strncmp(hash, "$5$", 3) == 0 || strncmp(hash, "$6$", 3) == 0) &&
	    strncmp(hash + 3, "rounds=", 7) == 0) {
		const char *p = hash + 10;
		unsigned long rounds = 0;
		for (; *p >= '0' && *p <= '9'; p++) {
			rounds = rounds * 10 + (unsigned long)(*p - '0');
			if (rounds > PASSWORD_SHA_CRYPT_ROUNDS_MAX)
				return 0;
		}
	}
	return 1;
}

/*
 * The methods we verify: what crypt_checksalt() calls current, and
 * sha256-crypt ($5$), which Debian's libxcrypt counts among the "legacy"
 * methods (not recommended for new hashes) yet still computes. It is
 * sha512-crypt's design (5,000 rounds by default) on SHA-256, and
 * Dovecot installations hold many SHA256-CRYPT passwords that must keep
 * working after an import. The truly weak legacy methods (DES, MD5-crypt,
 * NT, ...) stay refused, and a method libxcrypt disables is refused too.
 */
static int password_method_ok(const char *hash)
{
	int r = crypt_checksalt(hash);

	return r == CRYPT_SALT_OK || (r == CRYPT_SALT_METHOD_LEGACY && strncmp(hash, "$5$", 3) == 0);
}

int password_verify(const char *password, const char *hash)
{
	assert(password != NULL);
	struct crypt_data *data = password_data_new();
	if (data == NULL)
		return 0;

	int match = 0;
	const char *result = NULL;
	if (hash != NULL && password_method_ok(hash) && password_cost_ok(hash))
		result = crypt_r(password, hash, data);
	if (password_failed(result))
		/* Unknown user, disabled user or unusable hash: cost the same as a wrong password. */
		password_dummy(password, data);
	else
		match = password_equal(result, hash);
	password_data_free(data);
	return match;
}

/* The characters of crypt(3)'s base64 alphabet. */
static int password_crypt64(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '/';
}

/* Returns 1 when s has exactly len crypt64 characters up to a '$' or the end. */
static int password_run(const char *s, size_t len, char end)
{
	size_t n = 0;
	while (password_crypt64(s[n]))
		n++;
	return n == len && s[n] == end;
}

/*
 * Checks the shape of a complete hash of the methods DESIGN.md names,
 * without computing it (an import checks many lines):
 *   $y$PARAMS$SALT$CHECKSUM43     yescrypt
 *   $6$[rounds=N$]SALT$CHECKSUM86 sha512-crypt ($5$: CHECKSUM43, sha256-crypt)
 *   $2b$NN$SALT22CHECKSUM31       bcrypt (also $2a$, $2y$)
 * Returns 1 for a good shape, 0 for a bad one, -1 for another method.
 */
static int password_shape(const char *hash)
{
	const char *p;

	if (strncmp(hash, "$y$", 3) == 0) {
		p = hash + 3;
		for (int field = 0; field < 2; field++) { /* PARAMS, SALT */
			size_t n = strspn(p, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
			if (n == 0 || p[n] != '$')
				return 0;
			p += n + 1;
		}
		return password_run(p, 43, '\0');
	}
	if (strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$5$", 3) == 0) {
		size_t checksum = hash[1] == '6' ? 86 : 43;
		p = hash + 3;
		if (strncmp(p, "rounds=", 7) == 0) {
			size_t digits = strspn(p + 7, "0123456789");
			if (digits == 0 || p[7 + digits] != '$')
				return 0;
			p += 7 + digits + 1;
		}
		const char *sep = strchr(p, '$'); /* the salt is up to 16 bytes, any but '$' and ':' */
		if (sep == NULL || sep - p > 16 || memchr(p, ':', (size_t)(sep - p)) != NULL)
			return 0;
		return password_run(sep + 1, checksum, '\0');
	}
	if (strncmp(hash, "$2b$", 4) == 0 || strncmp(hash, "$2a$", 4) == 0 ||
	    strncmp(hash, "$2y$", 4) == 0) {
		p = hash + 4;
		if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] == '$'))
			return 0;
		return password_run(p + 3, 22 + 31, '\0');
	}
	return -1;
}

/*
 * For other methods: a complete hash is one whose recomputation has the
 * same length and the same setting, and whose checksum is in crypt's
 * alphabet. Costs one hash.
 */
static int password_recompute_ok(const char *hash)
{
	struct crypt_data *data = password_data_new();
	if (data == NULL)
		return 0;

	int ok = 0;
	const char *result = crypt_r("", hash, data);
	if (!password_failed(result) && strlen(result) == strlen(hash)) {
		const char *sep = strrchr(result, '$');
		size_t setting_len = sep != NULL ? (size_t)(sep - result) + 1 : 0;
		ok = memcmp(result, hash, setting_len) == 0 &&
		     password_run(hash + setting_len, strlen(hash) - setting_len, '\0');
	}
	password_data_free(data);
	return ok;
}

int password_hash_valid(const char *hash)
{
	/*
	 * crypt_checksalt() looks at the method prefix only and accepts a bare
	 * setting ("$6$salt") or a cut-off hash; the shape check refuses those.
	 * Legacy methods (DES, MD5) are refused, as password_verify() refuses
	 * them.
	 */
	if (hash == NULL || !password_method_ok(hash) || !password_cost_ok(hash))
		return -1;
	int shape = password_shape(hash);
	if (shape < 0)
		shape = password_recompute_ok(hash);
	return shape == 1 ? 0 : -1;
}
