#include "tls.h"

#include <assert.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#include <sys/mman.h>
#include <unistd.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif

/* Credentials are shared by the connections started while they were current. */
struct tls_creds {
	unsigned refs;
	mbedtls_x509_crt chain;
	mbedtls_pk_context key;
	mbedtls_ssl_config conf;
};

#define TLS_MAX_SUITES 16

/* Debian's ca-certificates bundle: the roots outbound connections check peers against. */
#define TLS_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct tls_server {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	struct tls_creds *creds;  /* the server side; NULL in a client-only context */
	struct tls_creds *client; /* the client side, made with the first outbound connection */
	unsigned live_conns;
	int suites[TLS_MAX_SUITES + 1]; /* 0-terminated; the configs point here */
};

struct tls_conn {
	mbedtls_ssl_context ssl;
	struct tls_server *ts;
	struct tls_creds *creds;
	tls_send_fn *send;
	void *send_ctx;
	const unsigned char *in; /* fed ciphertext not yet taken by mbedTLS */
	size_t in_len;
	bool handshake_done;
	bool busy;    /* a TLS call since the last tls_conn_trim() */
	bool trimmed; /* the record buffers' pages are released */
};

/* mbedTLS 3.x hides the context's fields behind this macro; 2.28 has none. */
#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(member) member
#endif

/*
 * AEAD suites with forward secrecy only, in the order RFC 9325 (BCP 195)
 * 4.2 recommends: AES-128-GCM first. It is as safe as AES-256 for this
 * use and needs 10 AES rounds instead of 14, which shows in bulk
 * transfers (RETR, large DATA). The server's order decides (mbedTLS does
 * not follow the client's by default). TLS 1.3 suites must be in the same
 * list with mbedTLS 3.x, or TLS 1.3 would have none. Suites the library
 * was built without are dropped at run time.
 */
static const int wanted_suites[] = {
#ifdef MBEDTLS_TLS1_3_AES_256_GCM_SHA384
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
};

/* Key exchange groups, most preferred first, limited to what is compiled in. */
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
static const uint16_t groups[] = {
#ifdef MBEDTLS_ECP_DP_CURVE25519_ENABLED
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
#endif
#ifdef MBEDTLS_ECP_DP_SECP256R1_ENABLED
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
#endif
#ifdef MBEDTLS_ECP_DP_SECP384R1_ENABLED
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
#endif
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};
#else
static const mbedtls_ecp_group_id curves[] = {
#ifdef MBEDTLS_ECP_DP_CURVE25519_ENABLED
	MBEDTLS_ECP_DP_CURVE25519,
#endif
#ifdef MBEDTLS_ECP_DP_SECP256R1_ENABLED
	MBEDTLS_ECP_DP_SECP256R1,
#endif
#ifdef MBEDTLS_ECP_DP_SECP384R1_ENABLED
	MBEDTLS_ECP_DP_SECP384R1,
#endif
	MBEDTLS_ECP_DP_NONE,
};
#endif

const char *tls_strerror(int err, char *buf, size_t len)
{
	mbedtls_strerror(err, buf, len);
	return buf;
}

enum tls_error_kind tls_error_kind(int err)
{
	switch (err) {
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
		return TLS_ERROR_CLOSED;
	case -1: /* our send function could not queue (out of memory) */
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
	case MBEDTLS_ERR_SSL_INTERNAL_ERROR:
	case MBEDTLS_ERR_SSL_BAD_INPUT_DATA:
	case MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED:
		return TLS_ERROR_LOCAL;
	default:
		/* Everything else is about what the peer sent: a record or
		 * message that does not parse, no version or cipher suite in
		 * common, a key share that does not verify, an alert. */
		return TLS_ERROR_PROTOCOL;
	}
}

static void creds_unref(struct tls_creds *c)
{
	if (c == NULL || --c->refs > 0)
		return;
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_pk_free(&c->key);
	mbedtls_x509_crt_free(&c->chain);
	free(c);
}

static int creds_fail(struct tls_creds *c, int rc, const char *what, const char *file,
                      char *err, size_t errlen)
{
	char msg[128];
	tls_strerror(rc, msg, sizeof(msg));
	snprintf(err, errlen, "%s %s: %s", what, file, msg);
	creds_unref(c);
	return -1;
}

/* What both sides share: randomness, TLS 1.2 at least, our groups and AEAD suites. */
static void conf_common(struct tls_server *ts, mbedtls_ssl_config *conf)
{
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &ts->drbg);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_groups(conf, groups);
#else
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_curves(conf, curves);
#endif
	mbedtls_ssl_conf_ciphersuites(conf, ts->suites);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	/* Renegotiation only helps attackers here (CVE-2009-3555 class, DoS). */
	mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
}

static int creds_load(struct tls_server *ts, const char *cert_file, const char *key_file,
                      struct tls_creds **creds_r, char *err, size_t errlen)
{
	struct tls_creds *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory loading TLS credentials");
		return -1;
	}
	c->refs = 1;
	mbedtls_x509_crt_init(&c->chain);
	mbedtls_pk_init(&c->key);
	mbedtls_ssl_config_init(&c->conf);

	/* > 0 means some certificates in the file did not parse: refuse a
	 * half-loaded chain rather than serve an incomplete one. */
	rc = mbedtls_x509_crt_parse_file(&c->chain, cert_file);
	if (rc > 0)
		rc = MBEDTLS_ERR_X509_INVALID_FORMAT;
	if (rc != 0)
		return creds_fail(c, rc, "tls_cert", cert_file, err, errlen);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	rc = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL, mbedtls_ctr_drbg_random, &ts->drbg);
#else
	rc = mbedtls_pk_parse_keyfile(&c->key, key_file, NULL);
#endif
	if (rc != 0)
		return creds_fail(c, rc, "tls_key", key_file, err, errlen);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	rc = mbedtls_pk_check_pair(&c->chain.pk, &c->key, mbedtls_ctr_drbg_random, &ts->drbg);
#else
	rc = mbedtls_pk_check_pair(&c->chain.pk, &c->key);
#endif
	if (rc != 0) {
		snprintf(err, errlen, "tls_key %s does not match tls_cert %s", key_file, cert_file);
		creds_unref(c);
		return -1;
	}

	rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                 MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0)
		return creds_fail(c, rc, "TLS configuration for", cert_file, err, errlen);
	conf_common(ts, &c->conf);
	rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->chain, &c->key);
	if (rc != 0)
		return creds_fail(c, rc, "tls_cert", cert_file, err, errlen);
	*creds_r = c;
	return 0;
}

int tls_server_new(struct tls_server **ts_r, const char *cert_file, const char *key_file,
                   char *err, size_t errlen)
{
	static const char pers[] = "mail-tls-server";
	struct tls_server *ts;
	size_t n = 0;
	int rc;

	*ts_r = NULL;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(err, errlen, "TLS: psa_crypto_init failed");
		return -1;
	}
#endif
	ts = calloc(1, sizeof(*ts));
	if (ts == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	mbedtls_entropy_init(&ts->entropy);
	mbedtls_ctr_drbg_init(&ts->drbg);
	for (size_t i = 0; i < sizeof(wanted_suites) / sizeof(wanted_suites[0]); i++) {
		if (mbedtls_ssl_ciphersuite_from_id(wanted_suites[i]) != NULL && n < TLS_MAX_SUITES)
			ts->suites[n++] = wanted_suites[i];
	}
	ts->suites[n] = 0;

	rc = mbedtls_ctr_drbg_seed(&ts->drbg, mbedtls_entropy_func, &ts->entropy,
	                           (const unsigned char *)pers, sizeof(pers) - 1);
	if (rc != 0) {
		char msg[128];
		snprintf(err, errlen, "TLS: seeding the random generator: %s",
		         tls_strerror(rc, msg, sizeof(msg)));
		tls_server_free(&ts);
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "TLS: mbedTLS has none of the AEAD ECDHE cipher suites");
		tls_server_free(&ts);
		return -1;
	}
	if (cert_file != NULL && creds_load(ts, cert_file, key_file, &ts->creds, err, errlen) < 0) {
		tls_server_free(&ts);
		return -1;
	}
	*ts_r = ts;
	return 0;
}

int tls_server_reload(struct tls_server *ts, const char *cert_file, const char *key_file,
                      char *err, size_t errlen)
{
	struct tls_creds *c;
	if (creds_load(ts, cert_file, key_file, &c, err, errlen) < 0)
		return -1;
	creds_unref(ts->creds);
	ts->creds = c;
	return 0;
}

void tls_server_free(struct tls_server **tsp)
{
	struct tls_server *ts = *tsp;
	if (ts == NULL)
		return;
	/* Connections point at the DRBG and at credentials freed here. */
	assert(ts->live_conns == 0);
	creds_unref(ts->creds);
	creds_unref(ts->client);
	mbedtls_ctr_drbg_free(&ts->drbg);
	mbedtls_entropy_free(&ts->entropy);
	free(ts);
	*tsp = NULL;
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *tc = ctx;
	if (tc->send(tc->send_ctx, buf, len) < 0)
		return MBEDTLS_ERR_SSL_ALLOC_FAILED;
	return (int)len;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn *tc = ctx;
	if (tc->in_len == 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	size_t n = len < tc->in_len ? len : tc->in_len;
	memcpy(buf, tc->in, n);
	tc->in += n;
	tc->in_len -= n;
	return (int)n;
}

static struct tls_conn *conn_new(struct tls_server *ts, struct tls_creds *creds,
                                 const char *host, tls_send_fn *send, void *ctx)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return NULL;
	mbedtls_ssl_init(&tc->ssl);
	if (mbedtls_ssl_setup(&tc->ssl, &creds->conf) != 0 ||
	    (host != NULL && mbedtls_ssl_set_hostname(&tc->ssl, host) != 0)) {
		mbedtls_ssl_free(&tc->ssl);
		free(tc);
		return NULL;
	}
	mbedtls_ssl_set_bio(&tc->ssl, tc, bio_send, bio_recv, NULL);
	tc->ts = ts;
	tc->creds = creds;
	tc->creds->refs++;
	tc->send = send;
	tc->send_ctx = ctx;
	ts->live_conns++;
	return tc;
}

struct tls_conn *tls_conn_new(struct tls_server *ts, tls_send_fn *send, void *ctx)
{
	return conn_new(ts, ts->creds, NULL, send, ctx);
}

/*
 * The client side: the same suites, groups and minimum version as the
 * server side, the system's CA bundle (Debian's ca-certificates) for
 * checking peers, and an optional check: the handshake completes whatever
 * the certificate, and tls_conn_peer_verified() tells the caller, whose
 * policy decides (RFC 7672 2.1: opportunistic TLS for MX delivery does not
 * authenticate; a smarthost with relay_tls = verify must).
 */
static int client_creds_load(struct tls_server *ts)
{
	struct tls_creds *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	c->refs = 1;
	mbedtls_x509_crt_init(&c->chain);
	mbedtls_pk_init(&c->key);
	mbedtls_ssl_config_init(&c->conf);
	/* A bundle that is missing or partly unreadable leaves fewer roots: fewer peers verify. */
	(void)mbedtls_x509_crt_parse_file(&c->chain, TLS_CA_BUNDLE);
	if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		creds_unref(c);
		return -1;
	}
	conf_common(ts, &c->conf);
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->chain, NULL);
	ts->client = c;
	return 0;
}

/* SNI carries host names only (RFC 6066 3): an address literal is not sent. */
static bool is_address(const char *host)
{
	return strchr(host, ':') != NULL || strspn(host, "0123456789.") == strlen(host);
}

struct tls_conn *tls_conn_new_client(struct tls_server *ts, const char *host, tls_send_fn *send,
                                     void *ctx)
{
	if (ts->client == NULL && client_creds_load(ts) != 0)
		return NULL;
	return conn_new(ts, ts->client, is_address(host) ? NULL : host, send, ctx);
}

bool tls_conn_peer_verified(const struct tls_conn *tc)
{
	return tc->handshake_done && mbedtls_ssl_get_verify_result(&tc->ssl) == 0;
}

void tls_conn_feed(struct tls_conn *tc, const void *buf, size_t len)
{
	tc->in = buf;
	tc->in_len = len;
}

size_t tls_conn_pending(const struct tls_conn *tc)
{
	return tc->in_len;
}

int tls_conn_handshake(struct tls_conn *tc)
{
	tc->busy = true;
	int rc = mbedtls_ssl_handshake(&tc->ssl);
	if (rc == 0) {
		tc->handshake_done = true;
		return 0;
	}
	if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TLS_WANT_READ;
	return rc;
}

bool tls_conn_handshake_done(const struct tls_conn *tc)
{
	return tc->handshake_done;
}

int tls_conn_read(struct tls_conn *tc, void *buf, size_t len, size_t *n_r)
{
	tc->busy = true;
	*n_r = 0;
	for (;;) {
		int rc = mbedtls_ssl_read(&tc->ssl, buf, len);
		if (rc > 0) {
			*n_r = (size_t)rc;
			return 0;
		}
		if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			return TLS_EOF;
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			return TLS_WANT_READ;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
		/* A client-side condition in TLS 1.3; harmless to retry. */
		if (rc == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
#endif
		return rc;
	}
}

int tls_conn_write(struct tls_conn *tc, const void *data, size_t len)
{
	tc->busy = true;
	const unsigned char *p = data;
	while (len > 0) {
		int rc = mbedtls_ssl_write(&tc->ssl, p, len);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
		p += rc;
		len -= (size_t)rc;
	}
	return 0;
}

int tls_conn_close_notify(struct tls_conn *tc)
{
	tc->busy = true;
	int rc = mbedtls_ssl_close_notify(&tc->ssl);
	return rc == MBEDTLS_ERR_SSL_WANT_WRITE ? 0 : rc;
}

/*
 * Bytes at the start of a record buffer that keep state between records:
 * mbedTLS stores the 8-octet record counter there (in_ctr / out_ctr), then
 * the record header and the explicit nonce. Never released.
 */
#define TLS_TRIM_KEEP 64

/*
 * Releases the whole pages inside a malloc'ed buffer past TLS_TRIM_KEEP.
 * Only the buffer's own usable bytes are touched, never malloc's header
 * before it or the next chunk's after it; MADV_DONTNEED makes the pages
 * read back as zeroes, which mbedTLS overwrites before it reads them.
 */
static bool trim_range(unsigned char *buf, uintptr_t *start_r, uintptr_t *end_r)
{
	if (buf == NULL)
		return false;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	*start_r = ((uintptr_t)buf + TLS_TRIM_KEEP + page - 1) & ~(page - 1);
	*end_r = ((uintptr_t)buf + malloc_usable_size(buf)) & ~(page - 1);
	return *end_r > *start_r;
}

static size_t trim_buffer(unsigned char *buf)
{
	uintptr_t start, end;
	if (!trim_range(buf, &start, &end) || madvise((void *)start, end - start, MADV_DONTNEED) != 0)
		return 0;
	return end - start;
}

/* Resident bytes of the pages trim_buffer would release. */
static size_t resident_bytes(unsigned char *buf)
{
	uintptr_t start, end;
	if (!trim_range(buf, &start, &end))
		return 0;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), resident = 0;
	unsigned char vec[64];
	for (uintptr_t p = start; p < end; p += sizeof(vec) * page) {
		size_t len = end - p < sizeof(vec) * page ? end - p : sizeof(vec) * page;
		if (mincore((void *)p, len, vec) != 0)
			return 0;
		for (size_t i = 0; i < len / page; i++)
			resident += (vec[i] & 1) ? page : 0;
	}
	return resident;
}

size_t tls_conn_trim(struct tls_conn *tc)
{
	mbedtls_ssl_context *ssl = &tc->ssl;

	if (tc->busy) {
		tc->busy = false;
		tc->trimmed = false;
		return 0;
	}
	/* Between records only: nothing half-read, buffered or half-sent. */
	if (tc->trimmed || !tc->handshake_done || tc->in_len > 0 ||
	    mbedtls_ssl_check_pending(ssl) != 0 || mbedtls_ssl_get_bytes_avail(ssl) != 0 ||
	    ssl->MBEDTLS_PRIVATE(in_left) != 0 || ssl->MBEDTLS_PRIVATE(out_left) != 0)
		return 0;
	tc->trimmed = true;
	return trim_buffer(ssl->MBEDTLS_PRIVATE(in_buf)) + trim_buffer(ssl->MBEDTLS_PRIVATE(out_buf));
}

size_t tls_conn_resident(const struct tls_conn *tc)
{
	const mbedtls_ssl_context *ssl = &tc->ssl;
	return resident_bytes(ssl->MBEDTLS_PRIVATE(in_buf)) +
	       resident_bytes(ssl->MBEDTLS_PRIVATE(out_buf));
}

const char *tls_conn_version(const struct tls_conn *tc)
{
	return tc->handshake_done ? mbedtls_ssl_get_version(&tc->ssl) : NULL;
}

const char *tls_conn_cipher(const struct tls_conn *tc)
{
	return tc->handshake_done ? mbedtls_ssl_get_ciphersuite(&tc->ssl) : NULL;
}

void tls_conn_free(struct tls_conn **tcp)
{
	struct tls_conn *tc = *tcp;
	if (tc == NULL)
		return;
	mbedtls_ssl_free(&tc->ssl);
	creds_unref(tc->creds);
	tc->ts->live_conns--;
	free(tc);
	*tcp = NULL;
}
