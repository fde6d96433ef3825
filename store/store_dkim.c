/*
 * store_dkim.c - the DKIM signing key of each local domain (schema v4).
 *
 * The PEM text is only stored and returned; parsing it is common/dkim.c's
 * job, so the store needs no crypto library.
 */
#include <stdlib.h>
#include <string.h>

#include "store-private.h"

int store_dkim_key_set(store_t *store, const char *domain, const char *selector,
                       const char *pem)
{
	char name[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;
	int64_t id;

	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	if (selector == NULL || selector[0] == '\0' || strlen(selector) > STORE_DKIM_SELECTOR_MAX)
		return store__fail(store, STORE_EINVAL, "a selector of 1 to %d characters is needed",
		                   STORE_DKIM_SELECTOR_MAX);
	if (pem == NULL || pem[0] == '\0')
		return store__fail(store, STORE_EINVAL, "empty private key");
	STORE__STMT_OR_RETURN(stmt, store, STORE__DKIM_SET);
	/* The domain check and the write in one transaction: a concurrent
	 * `domain del` cannot leave a key without its domain. */
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__domain_id(store, name, &id);
	if (err == STORE_OK) {
		store__bind_text(stmt, 1, name);
		store__bind_text(stmt, 2, selector);
		store__bind_text(stmt, 3, pem);
		int rc = store__step(stmt, "store DKIM key");
		if (rc < 0)
			err = rc;
		store__reset(stmt);
	}
	return store__finish(store, err);
}

int store_dkim_key_get(store_t *store, const char *domain, char *selector,
                       size_t selector_len, char **pem_r)
{
	char name[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;

	*pem_r = NULL;
	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	STORE__STMT_OR_RETURN(stmt, store, STORE__DKIM_GET);
	store__bind_text(stmt, 1, name);
	int rc = store__step(stmt, "read DKIM key");
	int err = STORE_OK;
	if (rc == STORE__ROW) {
		const char *pem = store__column_str(stmt, 1);
		store__column_copy(stmt, 0, selector, selector_len);
		*pem_r = strdup(pem != NULL ? pem : "");
		if (*pem_r == NULL)
			err = store__fail(store, STORE_ENOMEM, "out of memory");
	} else if (rc == STORE__DONE) {
		err = store__fail(store, STORE_ENOTFOUND, "no DKIM key for %s", name);
	} else {
		err = rc;
	}
	store__reset(stmt);
	return err;
}

int store_dkim_key_del(store_t *store, const char *domain)
{
	char name[STORE__ADDRESS_BUF];
	store__stmt_t *stmt;

	if (store__domain_normalize(domain, name) != STORE_OK)
		return store__fail(store, STORE_EINVAL, "malformed domain name");
	STORE__STMT_OR_RETURN(stmt, store, STORE__DKIM_DEL);
	int err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	store__bind_text(stmt, 1, name);
	err = store__exec_changes(store, stmt, "delete DKIM key", "no DKIM key for that domain");
	return store__finish(store, err);
}
