/* smtp_msgread.c - reading a queued message off the loop; see smtp_msgread.h. */
#include "smtp_msgread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkim.h"

/* The original header section kept for a bounce (RFC 3464 sends it back). */
#define HEADERS_KEPT_MAX (64 * 1024)

bool smtp_msgread_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * Pool thread, after the preparing pass: signs the message (RFC 6376) when
 * its From domain has a key in the store, which only local domains have.
 * A second pass over the body, since the signature covers all of it and
 * must go on top. A message that cannot be signed goes out unsigned, with
 * the reason logged: a lost signature costs less than a message kept back.
 */
static void sign_message(struct smtp_msgread *r, store_t *store)
{
	char domain[256], selector[STORE_DKIM_SELECTOR_MAX + 1], err[256];
	char *pem = NULL;
	struct dkim_key *key = NULL;
	struct dkim_signer *signer = NULL;
	store_reader_t *reader = NULL;

	if (r->headers == NULL ||
	    dkim_from_domain(r->headers, r->headers_len, domain, sizeof(domain)) != 0 ||
	    store_dkim_key_get(store, domain, selector, sizeof(selector), &pem) != STORE_OK)
		return;
	if (dkim_key_parse(pem, strlen(pem), &key, err, sizeof(err)) != 0) {
		snprintf(r->dkim_note, sizeof(r->dkim_note), "%.100s: bad key: %.120s", domain, err);
		goto out;
	}
	signer = dkim_signer_new(key, domain, selector);
	int rc = signer != NULL ? store_reader_open(store, r->message_id, &reader) : STORE_ENOMEM;
	while (rc == STORE_OK) {
		const void *data;
		size_t len;
		rc = store_reader_next(store, reader, &data, &len);
		if (rc != STORE_OK || len == 0)
			break;
		if (dkim_signer_feed(signer, data, len) != 0)
			rc = STORE_EINVAL;
	}
	if (rc != STORE_OK || dkim_signer_finish(signer, time(NULL), &r->dkim, &r->dkim_len) != 0)
		snprintf(r->dkim_note, sizeof(r->dkim_note), "%.200s: signing failed", domain);
out:
	store_reader_close(&reader);
	dkim_signer_free(&signer);
	dkim_key_free(&key);
	if (pem != NULL) {
		memset(pem, 0, strlen(pem));
		free(pem);
	}
}

/* What smtp_msgread_work does, on its handle. */
static void msgread_run(struct smtp_msgread *r, store_t *store)
{
	if (r->reader == NULL) {
		r->status = store_reader_open(store, r->message_id, &r->reader);
		if (r->status != STORE_OK) {
			snprintf(r->error, sizeof(r->error), "%s", store_errmsg(store));
			return;
		}
	}
	do {
		const void *data;
		size_t len;
		r->status = store_reader_next(store, r->reader, &data, &len);
		if (r->status != STORE_OK) {
			snprintf(r->error, sizeof(r->error), "%s", store_errmsg(store));
			return;
		}
		if (!r->prepare) {
			r->len = len;
			r->data = len > 0 ? malloc(len) : NULL;
			if (len > 0 && r->data == NULL) {
				r->status = STORE_ENOMEM;
				snprintf(r->error, sizeof(r->error), "out of memory");
				return;
			}
			if (len > 0)
				memcpy(r->data, data, len);
			return;
		}
		if (len == 0) {
			sign_message(r, store);
			return;
		}
		const char *p = data;
		if (!r->headers_done) {
			size_t keep = len;
			if (r->headers_len + keep > HEADERS_KEPT_MAX)
				keep = HEADERS_KEPT_MAX - r->headers_len;
			char *grown = realloc(r->headers, r->headers_len + keep + 1);
			if (grown != NULL) {
				r->headers = grown;
				memcpy(r->headers + r->headers_len, p, keep);
				r->headers_len += keep;
				r->headers[r->headers_len] = '\0';
				char *end = strstr(r->headers, "\r\n\r\n");
				if (end != NULL) {
					r->headers_len = (size_t)(end - r->headers) + 2;
					r->headers[r->headers_len] = '\0';
					r->headers_done = true;
				}
			}
			if (r->headers_len >= HEADERS_KEPT_MAX)
				r->headers_done = true;
			if (!smtp_msgread_ascii(r->headers, r->headers_len))
				r->header_utf8 = true;
		}
		if (!r->eightbit && !smtp_msgread_ascii(p, len))
			r->eightbit = true;
		r->size += len;
	} while (1);
}

void smtp_msgread_work(void *arg)
{
	struct smtp_msgread *r = arg;
	store_t *store = store_pool_acquire(r->pool, r->error, sizeof(r->error));
	if (store == NULL) {
		r->status = STORE_EIO;
		return;
	}
	msgread_run(r, store);
	store_pool_release(r->pool, &store);
}

