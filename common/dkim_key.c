/*
 * dkim_key.c - DKIM keys: parsing, generation and the TXT record
 * (RFC 6376 3.6.1), with mbedTLS 2.28 or 3.x.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/version.h>

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

#include "base64.h"
#include "dkim-private.h"

/* A 4096-bit key's PKCS#1 PEM is about 3.3 KiB, its public DER 550 octets. */
#define KEY_PEM_MAX 8192
#define PUBKEY_DER_MAX 1024
#define RSA_EXPONENT 65537

static const char txt_prefix[] = "v=DKIM1; k=rsa; p=";

static void set_err(char *err, size_t errlen, const char *what, int rc)
{
	char text[128];

	mbedtls_strerror(rc, text, sizeof(text));
	snprintf(err, errlen, "%s: %s", what, text);
}

int dkim__rng_init(struct dkim__rng *rng)
{
	static const char personalization[] = "mail dkim";

	mbedtls_entropy_init(&rng->entropy);
	mbedtls_ctr_drbg_init(&rng->drbg);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
	/* mbedTLS 3 may route hashing and signing through PSA. */
	if (psa_crypto_init() != PSA_SUCCESS)
		return -EIO;
#endif
	if (mbedtls_ctr_drbg_seed(&rng->drbg, mbedtls_entropy_func, &rng->entropy,
	                          (const unsigned char *)personalization,
	                          sizeof(personalization) - 1) != 0)
		return -EIO;
	return 0;
}

void dkim__rng_free(struct dkim__rng *rng)
{
	mbedtls_ctr_drbg_free(&rng->drbg);
	mbedtls_entropy_free(&rng->entropy);
}

int dkim_key_parse(const char *pem, size_t len, struct dkim_key **key_r, char *err,
                   size_t errlen)
{
	struct dkim__rng rng;
	struct dkim_key *key;
	char *copy;
	int rc;

	*key_r = NULL;
	if (len == 0 || len > KEY_PEM_MAX) {
		snprintf(err, errlen, "not a PEM private key (%zu octets)", len);
		return -EINVAL;
	}
	/* mbedtls_pk_parse_key takes PEM only NUL-terminated, the NUL counted. */
	copy = malloc(len + 1);
	key = calloc(1, sizeof(*key));
	if (copy == NULL || key == NULL) {
		free(copy);
		free(key);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, pem, len);
	copy[len] = '\0';
	mbedtls_pk_init(&key->pk);
	rc = dkim__rng_init(&rng);
	if (rc != 0) {
		snprintf(err, errlen, "seeding the random generator failed");
		goto out;
	}
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	rc = mbedtls_pk_parse_key(&key->pk, (const unsigned char *)copy, len + 1, NULL, 0,
	                          mbedtls_ctr_drbg_random, &rng.drbg);
#else
	rc = mbedtls_pk_parse_key(&key->pk, (const unsigned char *)copy, len + 1, NULL, 0);
#endif
	if (rc != 0) {
		set_err(err, errlen, "parsing the private key", rc);
		rc = -EINVAL;
	} else if (mbedtls_pk_get_type(&key->pk) != MBEDTLS_PK_RSA) {
		snprintf(err, errlen, "not an RSA key (DKIM rsa-sha256 needs one)");
		rc = -EINVAL;
	} else if (mbedtls_pk_get_bitlen(&key->pk) < DKIM_KEY_BITS_MIN ||
	           mbedtls_pk_get_bitlen(&key->pk) > DKIM_KEY_BITS_MAX) {
		/* RFC 8301 3.2: verifiers refuse keys under 1024 bits. */
		snprintf(err, errlen, "an RSA key of %zu bits (%d to %d are usable)",
		         (size_t)mbedtls_pk_get_bitlen(&key->pk), DKIM_KEY_BITS_MIN,
		         DKIM_KEY_BITS_MAX);
		rc = -EINVAL;
	}
out:
	dkim__rng_free(&rng);
	mbedtls_platform_zeroize(copy, len + 1);
	free(copy);
	if (rc != 0) {
		dkim_key_free(&key);
		return rc;
	}
	*key_r = key;
	return 0;
}

void dkim_key_free(struct dkim_key **key)
{
	if (*key == NULL)
		return;
	mbedtls_pk_free(&(*key)->pk); /* wipes the key material */
	free(*key);
	*key = NULL;
}

/* The TXT value of pk; mbedTLS 2 takes the context as non-const. */
static int pk_txt(mbedtls_pk_context *pk, char **txt_r)
{
	unsigned char der[PUBKEY_DER_MAX];
	int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof(der));
	if (n <= 0)
		return -EINVAL;
	/* The DER is written at the end of the buffer. */
	const unsigned char *p = der + sizeof(der) - (size_t)n;
	size_t b64 = base64_encoded_len((size_t)n);
	char *txt = malloc(sizeof(txt_prefix) + b64);
	if (txt == NULL)
		return -ENOMEM;
	memcpy(txt, txt_prefix, sizeof(txt_prefix) - 1);
	if (base64_encode(p, (size_t)n, txt + sizeof(txt_prefix) - 1, b64 + 1) != 0) {
		free(txt);
		return -EINVAL;
	}
	*txt_r = txt;
	return 0;
}

int dkim_key_txt(const struct dkim_key *key, char **txt_r)
{
	*txt_r = NULL;
	return pk_txt((mbedtls_pk_context *)&key->pk, txt_r);
}

int dkim_key_generate(unsigned bits, char **pem_r, char **txt_r, char *err, size_t errlen)
{
	struct dkim__rng rng;
	mbedtls_pk_context pk;
	unsigned char *pem = NULL;
	int rc;

	*pem_r = *txt_r = NULL;
	if (bits < DKIM_KEY_BITS_MIN || bits > DKIM_KEY_BITS_MAX) {
		snprintf(err, errlen, "key size %u is not %d to %d bits", bits, DKIM_KEY_BITS_MIN,
		         DKIM_KEY_BITS_MAX);
		return -EINVAL;
	}
	mbedtls_pk_init(&pk);
	rc = dkim__rng_init(&rng);
	if (rc != 0) {
		snprintf(err, errlen, "seeding the random generator failed");
		goto out;
	}
	pem = calloc(1, KEY_PEM_MAX);
	if (pem == NULL) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA));
	if (rc == 0)
		rc = mbedtls_rsa_gen_key(mbedtls_pk_rsa(pk), mbedtls_ctr_drbg_random, &rng.drbg, bits,
		                         RSA_EXPONENT);
	if (rc == 0)
		rc = mbedtls_pk_write_key_pem(&pk, pem, KEY_PEM_MAX);
	if (rc != 0) {
		set_err(err, errlen, "generating the key", rc);
		rc = -EIO;
		goto out;
	}
	rc = pk_txt(&pk, txt_r);
	if (rc != 0) {
		snprintf(err, errlen, "writing the public key failed");
		goto out;
	}
	*pem_r = strdup((const char *)pem);
	if (*pem_r == NULL) {
		snprintf(err, errlen, "out of memory");
		free(*txt_r);
		*txt_r = NULL;
		rc = -ENOMEM;
	}
out:
	if (pem != NULL) {
		mbedtls_platform_zeroize(pem, KEY_PEM_MAX);
		free(pem);
	}
	mbedtls_pk_free(&pk);
	dkim__rng_free(&rng);
	return rc;
}
