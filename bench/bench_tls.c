#include "bench_tls.h"

#include <stdio.h>
#include <stdlib.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <psa/crypto.h>
#endif

struct bench_tls {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
};

int bench_tls_init(struct bench_tls **tls_r, char *err, size_t errlen)
{
	static const char pers[] = "mailbench";
	struct bench_tls *t;

	*tls_r = NULL;
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(err, errlen, "TLS: psa_crypto_init failed");
		return -1;
	}
#endif
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	mbedtls_entropy_init(&t->entropy);
	mbedtls_ctr_drbg_init(&t->drbg);
	mbedtls_ssl_config_init(&t->conf);
	if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
	                          (const unsigned char *)pers, sizeof(pers) - 1) != 0 ||
	    mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		snprintf(err, errlen, "TLS: cannot set up the client configuration");
		bench_tls_free(&t);
		return -1;
	}
	/* Self-signed throw-away certificates: see the header. */
	mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
	*tls_r = t;
	return 0;
}

void bench_tls_free(struct bench_tls **tls)
{
	struct bench_tls *t = *tls;

	if (t == NULL)
		return;
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_ctr_drbg_free(&t->drbg);
	mbedtls_entropy_free(&t->entropy);
	free(t);
	*tls = NULL;
}

mbedtls_ssl_context *bench_tls_session_new(struct bench_tls *tls)
{
	mbedtls_ssl_context *ssl = malloc(sizeof(*ssl));

	if (ssl == NULL)
		return NULL;
	mbedtls_ssl_init(ssl);
	if (mbedtls_ssl_setup(ssl, &tls->conf) != 0 || mbedtls_ssl_set_hostname(ssl, "localhost") != 0) {
		bench_tls_session_free(&ssl);
		return NULL;
	}
	return ssl;
}

void bench_tls_session_free(mbedtls_ssl_context **ssl)
{
	if (*ssl == NULL)
		return;
	mbedtls_ssl_free(*ssl);
	free(*ssl);
	*ssl = NULL;
}
