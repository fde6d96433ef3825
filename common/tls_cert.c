/* tls_cert.c - a self-signed certificate and its key, made with mbedTLS. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/version.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif

#include "tls_cert.h"

#define CERT_PEM_MAX 4096 /* an EC P-256 certificate's PEM is under 1 KiB */
#define KEY_PEM_MAX 1024
#define SERIAL_LEN 16     /* RFC 5280 4.1.2.2: positive, at most 20 octets */
#define BACKDATE_SECONDS 3600 /* notBefore an hour early, for clients whose clock is behind */

/* The subject alternative name: a host name or an IP literal's bytes. */
struct san {
	unsigned char tag;      /* GeneralName: 2 dNSName, 7 iPAddress (RFC 5280 4.2.1.6) */
	unsigned char data[253];
	size_t len;
};

static void set_err(char *err, size_t errlen, const char *what, int rc)
{
	char text[128];

	mbedtls_strerror(rc, text, sizeof(text));
	snprintf(err, errlen, "%s: %s", what, text);
}

/* Accepts a DNS name (RFC 1123 2.1 letters, digits, hyphens, dots) or an
 * IPv4/IPv6 literal, and fills the SAN for it. */
static int parse_host(const char *host, struct san *san, char *err, size_t errlen)
{
	size_t len = strlen(host);

	if (inet_pton(AF_INET, host, san->data) == 1) {
		san->tag = 7;
		san->len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, san->data) == 1) {
		san->tag = 7;
		san->len = 16;
		return 0;
	}
	if (len == 0 || len > sizeof(san->data) || host[0] == '.' || host[len - 1] == '.' ||
	    strstr(host, "..") != NULL ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != len) {
		snprintf(err, errlen, "invalid host name '%s'", host);
		return -1;
	}
	san->tag = 2;
	memcpy(san->data, host, len);
	san->len = len;
	return 0;
}

/* DER of SubjectAltName ::= SEQUENCE { GeneralName }, written backwards
 * from the end of buf as mbedTLS's ASN.1 writer does. Returns its length
 * (starting at *start_r) or a negative mbedTLS error. */
static int write_san(const struct san *san, unsigned char *buf, size_t size,
                     unsigned char **start_r)
{
	unsigned char *p = buf + size;
	size_t len = 0;
	int ret; /* used by MBEDTLS_ASN1_CHK_ADD */

	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(&p, buf, san->data, san->len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, san->len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
	                                                 MBEDTLS_ASN1_CONTEXT_SPECIFIC | san->tag));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
	                                                 MBEDTLS_ASN1_CONSTRUCTED |
	                                                         MBEDTLS_ASN1_SEQUENCE));
	*start_r = p;
	return (int)len;
}

/* "YYYYMMDDhhmmss" in UTC, the form mbedtls_x509write_crt_set_validity takes. */
static void format_validity(time_t t, char out[16])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

static int set_serial(mbedtls_x509write_cert *crt, mbedtls_ctr_drbg_context *rng)
{
	unsigned char serial[SERIAL_LEN];
	int rc = mbedtls_ctr_drbg_random(rng, serial, sizeof(serial));

	if (rc != 0)
		return rc;
	/* Positive and without a leading zero octet, so DER needs no padding. */
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);
#if MBEDTLS_VERSION_NUMBER >= 0x03040000
	return mbedtls_x509write_crt_set_serial_raw(crt, serial, sizeof(serial));
#else
	mbedtls_mpi mpi;

	mbedtls_mpi_init(&mpi);
	rc = mbedtls_mpi_read_binary(&mpi, serial, sizeof(serial));
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_serial(crt, &mpi);
	mbedtls_mpi_free(&mpi);
	return rc;
#endif
}

/* Fills the certificate's fields and signs it into pem (NUL-terminated). */
static int make_cert(const char *host, const struct san *san, unsigned days,
                     mbedtls_pk_context *key, mbedtls_ctr_drbg_context *rng, unsigned char *pem,
                     size_t pemlen, char *err, size_t errlen)
{
	mbedtls_x509write_cert crt;
	char subject[300], not_before[16], not_after[16];
	unsigned char sanbuf[300], *sanp;
	time_t now = time(NULL);
	int rc;

	snprintf(subject, sizeof(subject), "CN=%s", host);
	format_validity(now - BACKDATE_SECONDS, not_before);
	format_validity(now + (time_t)days * 86400, not_after);

	mbedtls_x509write_crt_init(&crt);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, key);
	mbedtls_x509write_crt_set_issuer_key(&crt, key);
	rc = set_serial(&crt, rng);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_subject_name(&crt, subject);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject);
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after);
	/* Not a CA. No keyUsage: OpenSSL only takes a self-signed certificate
	 * as its own issuer (a trust anchor) when keyUsage is absent or
	 * includes keyCertSign. */
	if (rc == 0)
		rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
	if (rc == 0) {
		rc = write_san(san, sanbuf, sizeof(sanbuf), &sanp);
		if (rc >= 0) {
			rc = mbedtls_x509write_crt_set_extension(
				&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
				MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, sanp, (size_t)rc);
		}
	}
	if (rc != 0) {
		set_err(err, errlen, "building the certificate", rc);
	} else {
		rc = mbedtls_x509write_crt_pem(&crt, pem, pemlen, mbedtls_ctr_drbg_random, rng);
		if (rc != 0)
			set_err(err, errlen, "signing the certificate", rc);
	}
	mbedtls_x509write_crt_free(&crt);
	return rc;
}

/*
 * Writes data to a new temporary file next to `path` with `mode`, synced.
 * Its name goes to tmp_r (PATH_MAX bytes) for the rename.
 */
static int write_temp(const char *path, const unsigned char *data, size_t len, mode_t mode,
                      char *tmp_r, char *err, size_t errlen)
{
	int n = snprintf(tmp_r, PATH_MAX, "%s.XXXXXX", path);
	int fd;

	if (n < 0 || n >= PATH_MAX) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkstemp(tmp_r); /* mode 0600 from the start: the key is never readable by others */
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		data += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp_r);
	return -1;
}

/* Writes both files: temporaries first, then the renames, so a failure
 * before the renames leaves the old pair as it was. */
static int write_pair(const char *cert_path, const unsigned char *cert_pem,
                      const char *key_path, const unsigned char *key_pem, char *err,
                      size_t errlen)
{
	char cert_tmp[PATH_MAX], key_tmp[PATH_MAX];

	if (write_temp(key_path, key_pem, strlen((const char *)key_pem), 0600, key_tmp, err,
	               errlen) != 0)
		return -1;
	if (write_temp(cert_path, cert_pem, strlen((const char *)cert_pem), 0644, cert_tmp, err,
	               errlen) != 0) {
		unlink(key_tmp);
		return -1;
	}
	if (rename(key_tmp, key_path) != 0) {
		snprintf(err, errlen, "%s: %s", key_path, strerror(errno));
		unlink(key_tmp);
		unlink(cert_tmp);
		return -1;
	}
	if (rename(cert_tmp, cert_path) != 0) {
		snprintf(err, errlen, "%s: %s", cert_path, strerror(errno));
		unlink(cert_tmp);
		return -1;
	}
	return 0;
}

int tls_cert_selfsigned(const char *host, unsigned days, const char *cert_path,
                        const char *key_path, char *err, size_t errlen)
{
	static const char personalization[] = "mail tls_cert_selfsigned";
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context rng;
	mbedtls_pk_context key;
	unsigned char cert_pem[CERT_PEM_MAX], key_pem[KEY_PEM_MAX];
	struct san san;
	int rc;

	if (days < 1 || days > TLS_CERT_DAYS_MAX) {
		snprintf(err, errlen, "validity must be 1 to %d days", TLS_CERT_DAYS_MAX);
		return -1;
	}
	if (parse_host(host, &san, err, errlen) != 0)
		return -1;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000 && defined(MBEDTLS_PSA_CRYPTO_C)
	/* mbedTLS 3 may route hashing and signing through PSA. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(err, errlen, "psa_crypto_init failed");
		return -1;
	}
#endif

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&rng);
	mbedtls_pk_init(&key);
	rc = mbedtls_ctr_drbg_seed(&rng, mbedtls_entropy_func, &entropy,
	                           (const unsigned char *)personalization, sizeof(personalization) - 1);
	if (rc != 0) {
		set_err(err, errlen, "seeding the random generator", rc);
		goto out;
	}
	rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (rc == 0) {
		rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
		                         mbedtls_ctr_drbg_random, &rng);
	}
	if (rc == 0)
		rc = mbedtls_pk_write_key_pem(&key, key_pem, sizeof(key_pem));
	if (rc != 0) {
		set_err(err, errlen, "generating the key", rc);
		goto out;
	}
	rc = make_cert(host, &san, days, &key, &rng, cert_pem, sizeof(cert_pem), err, errlen);
	if (rc == 0)
		rc = write_pair(cert_path, cert_pem, key_path, key_pem, err, errlen);
out:
	mbedtls_platform_zeroize(key_pem, sizeof(key_pem));
	mbedtls_pk_free(&key);
	mbedtls_ctr_drbg_free(&rng);
	mbedtls_entropy_free(&entropy);
	return rc == 0 ? 0 : -1;
}
