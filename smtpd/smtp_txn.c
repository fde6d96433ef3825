/* smtp_txn.c - the mail transaction object; see smtp_txn.h. */
#include "smtp_txn.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_spool.h"

/*
 * Input fed to the receiver at a time. The receiver emits at most about
 * twice as many octets (a bare LF is stored as CRLF), plus what the
 * header filter held back or adds at the end of the header section
 * (smtp_header.h), so a delivery's buffer never holds much more than
 * STORE_DELIVERY_MEMORY_MAX + 2 * this before the feed stops for a spill.
 */
#define SMTP_TXN_FEED_STEP (16 * 1024)

int smtp_txn_new(const char *sender, bool smtputf8, const char *tmpdir, struct smtp_txn **txn_r)
{
	struct smtp_txn *txn = calloc(1, sizeof(*txn));

	*txn_r = NULL;
	if (txn == NULL)
		return STORE_ENOMEM;
	int rc = store_delivery_new(sender, tmpdir, &txn->delivery);
	if (rc != STORE_OK) {
		free(txn);
		return rc;
	}
	snprintf(txn->sender, sizeof(txn->sender), "%s", sender);
	txn->smtputf8 = smtputf8;
	*txn_r = txn;
	return 0;
}

void smtp_txn_set_id(struct smtp_txn *txn, int64_t id)
{
	snprintf(txn->id, sizeof(txn->id), "%" PRId64, id);
	store_delivery_set_id(txn->delivery, id);
}

void smtp_txn_free(conn_t *conn, struct smtp_txn **txn)
{
	if (*txn == NULL)
		return;
	smtp_spool_free(conn, &(*txn)->delivery);
	free((*txn)->notices);
	free(*txn);
	*txn = NULL;
}

void smtp_txn_add_rcpt(struct smtp_txn *txn, const char *rcpt)
{
	if (txn->rcpts == 0)
		snprintf(txn->first_rcpt, sizeof(txn->first_rcpt), "%s", rcpt);
	txn->rcpts++;
}

int smtp_txn_add_notice(struct smtp_txn *txn, const char *rcpt, const char *orcpt)
{
	for (size_t i = 0; i < txn->notice_count; i++)
		if (strcmp(txn->notices[i].rcpt, rcpt) == 0)
			return 0;
	struct smtp_txn_notice *grown =
	    realloc(txn->notices, (txn->notice_count + 1) * sizeof(*grown));
	if (grown == NULL)
		return STORE_ENOMEM;
	txn->notices = grown;
	struct smtp_txn_notice *n = &grown[txn->notice_count++];
	snprintf(n->rcpt, sizeof(n->rcpt), "%s", rcpt);
	snprintf(n->orcpt, sizeof(n->orcpt), "%s", orcpt != NULL ? orcpt : "");
	return 0;
}

int smtp_txn_add_local(struct smtp_txn *txn, const char *mailbox)
{
	return store_delivery_add_local(txn->delivery, mailbox);
}

int smtp_txn_add_remote(struct smtp_txn *txn, const char *address, unsigned notify,
                        const char *orcpt)
{
	int rc = store_delivery_add_remote_dsn(txn->delivery, address, notify, orcpt);

	if (rc == STORE_OK)
		txn->remote_rcpts++;
	return rc;
}

static void txn_emit_cb(void *ctx, const char *buf, size_t len)
{
	struct smtp_txn *txn = ctx;

	if (txn->write_err != 0 || txn->delivery == NULL)
		return;
	txn->write_err = store_delivery_write(txn->delivery, buf, len);
}

/* The receiver's stored form goes through the header filter. */
static void txn_data_cb(void *ctx, const char *buf, size_t len)
{
	struct smtp_txn *txn = ctx;

	smtp_header_feed(&txn->header, buf, len);
}

static void txn_header_finish(struct smtp_txn *txn)
{
	if (!txn->header_done) {
		txn->header_done = true;
		smtp_header_finish(&txn->header);
	}
}

void smtp_txn_begin_body(struct smtp_txn *txn, enum smtp_txn_body body, uint64_t max_size,
                         const char *trace, size_t trace_len, unsigned header_flags)
{
	txn->body = body;
	smtp_data_init(&txn->data, body == SMTP_TXN_BODY_DATA ? SMTP_DATA_DOT : SMTP_DATA_BDAT,
	               max_size, txn_data_cb, txn);
	smtp_header_init(&txn->header, header_flags, txn->date_field, txn->message_id_field,
	                 txn_emit_cb, txn);
	txn_emit_cb(txn, trace, trace_len);
}

bool smtp_txn_spill_wanted(const struct smtp_txn *txn)
{
	/* Nothing is written after a write error or past the size limit. */
	return txn->delivery != NULL && txn->write_err == 0 && !txn->data.too_big &&
	       store_delivery_spill_wanted(txn->delivery);
}

size_t smtp_txn_feed(struct smtp_txn *txn, const char *buf, size_t len)
{
	size_t used = 0;

	assert(txn->delivery != NULL); /* never while a spill has it, nor after the commit */
	while (used < len && !txn->data.ended && !smtp_txn_spill_wanted(txn)) {
		size_t n = len - used < SMTP_TXN_FEED_STEP ? len - used : SMTP_TXN_FEED_STEP;

		used += smtp_data_feed(&txn->data, buf + used, n);
	}
	if (txn->data.ended)
		txn_header_finish(txn);
	return used;
}

void smtp_txn_finish(struct smtp_txn *txn)
{
	smtp_data_finish(&txn->data);
	txn_header_finish(txn);
}

store_delivery_t *smtp_txn_take_delivery(struct smtp_txn *txn)
{
	store_delivery_t *d = txn->delivery;

	txn->delivery = NULL;
	return d;
}

void smtp_txn_return_delivery(struct smtp_txn *txn, store_delivery_t *delivery, int err)
{
	txn->delivery = delivery;
	if (err != 0 && txn->write_err == 0)
		txn->write_err = err;
}
