/*
 * smtp_txn.h - one mail transaction (RFC 5321 3.3): from an accepted MAIL
 * to the end of its DATA / BDAT LAST, or RSET.
 *
 * It owns the store delivery being built: the envelope sender, the
 * resolved destinations of every accepted RCPT, and the body as it
 * streams in. When the body is complete the delivery is taken out
 * (smtp_txn_take_delivery) and handed to the group commit; whatever
 * happens next, smtp_txn_free() releases what is left. A large body is
 * spilled to disk on the way (smtp_spool.h): the delivery is then lent
 * to the spill job and the body paused. Loop thread only.
 */
#ifndef SMTP_TXN_H
#define SMTP_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_address.h"
#include "smtp_data.h"
#include "smtp_header.h"
#include "smtp_queueid.h"
#include "smtp_received.h"
#include "store.h"

/* How the body arrives; a transaction uses one or the other (RFC 3030 2). */
enum smtp_txn_body {
	SMTP_TXN_BODY_NONE,
	SMTP_TXN_BODY_DATA,
	SMTP_TXN_BODY_BDAT,
};

struct smtp_txn {
	char id[SMTP_QUEUEID_LEN];           /* the queue id (smtp_queueid.h): logs, Received,
	                                      * 250 reply; "" until the body starts */
	enum smtp_txn_body starting;         /* DATA / BDAT waiting for the id (smtp_body.c) */
	char sender[SMTP_MAILBOX_MAX + 1];   /* "" for the null reverse-path */
	bool smtputf8;                       /* MAIL ... SMTPUTF8 (RFC 6531) */
	uint64_t declared_size;              /* MAIL ... SIZE= (RFC 1870), 0 if none: what
	                                      * the RCPT quota checks hold the mailboxes to */
	unsigned rcpts;                      /* accepted RCPT commands */
	unsigned rcpt_attempts;              /* RCPT commands that got past the syntax check */
	char first_rcpt[SMTP_MAILBOX_MAX + 1]; /* for "Received: ... for <rcpt>" when rcpts == 1 */
	unsigned remote_rcpts;               /* destinations queued for relay */

	enum smtp_txn_body body;
	struct smtp_data data;               /* the body receiver, once body != NONE; data.size
	                                      * counts client octets (the trace fields and the
	                                      * Date / Message-ID the filter adds excluded) */
	struct smtp_header header;           /* the header filter behind it (smtp_header.h) */
	bool header_done;                    /* smtp_header_finish has been called */
	char date_field[SMTP_FIELD_MAX];     /* what the filter adds when missing (submission) */
	char message_id_field[SMTP_FIELD_MAX];
	int write_err;                       /* first store_delivery_write error, 0 if none */

	store_delivery_t *delivery;          /* NULL once taken for the commit, and while
	                                      * lent to a spill job (smtp_spool.h) */
	/* RFC 3461: local recipients whose RCPT asked NOTIFY=SUCCESS (reported
	 * "delivered" once the message is stored), and the MAIL's ENVID. */
	struct smtp_txn_notice *notices;
	size_t notice_count;
	char envid[128];
};

struct smtp_txn_notice {
	char rcpt[SMTP_MAILBOX_MAX + 1];     /* as the RCPT gave it */
	char orcpt[512];                     /* ORCPT as given, or "" */
};

/* Notes a local recipient for a "delivered" report. Returns 0 or STORE_ENOMEM. */
int smtp_txn_add_notice(struct smtp_txn *txn, const char *rcpt, const char *orcpt);

/*
 * Starts a transaction for `sender` ("" for <>), with body spill files in
 * tmpdir. Returns 0 or a negative enum store_err (out of memory).
 */
int smtp_txn_new(const char *sender, bool smtputf8, const char *tmpdir, struct smtp_txn **txn_r);

/* Gives the transaction its queue id (smtp_queueid_take), before the body starts. */
void smtp_txn_set_id(struct smtp_txn *txn, int64_t id);

/*
 * Frees the transaction and its delivery if not taken (a spilled one on
 * conn's thread pool, smtp_spool_free); sets *txn to NULL. Safe on NULL.
 */
void smtp_txn_free(conn_t *conn, struct smtp_txn **txn);

/* Records an accepted RCPT (its canonical address, for logs and the Received header). */
void smtp_txn_add_rcpt(struct smtp_txn *txn, const char *rcpt);

/* Adds one resolved destination; returns 0 or a negative enum store_err. */
int smtp_txn_add_local(struct smtp_txn *txn, const char *mailbox);
/* A remote recipient, with its RFC 3461 NOTIFY (0: none) and ORCPT ("" or NULL: none). */
int smtp_txn_add_remote(struct smtp_txn *txn, const char *address, unsigned notify,
                        const char *orcpt);

/*
 * Starts the body: writes the trace header fields (not counted against
 * max_size) and sets up the receiver (smtp_data.h) for DATA or BDAT, and
 * behind it the header filter (smtp_header.h) with header_flags; with
 * SMTP_HEADER_ADD_MISSING, date_field and message_id_field must be filled
 * first. Write errors are kept in write_err.
 */
void smtp_txn_begin_body(struct smtp_txn *txn, enum smtp_txn_body body, uint64_t max_size,
                         const char *trace, size_t trace_len, unsigned header_flags);

/*
 * Feeds wire octets to the receiver, whose stored form goes through the
 * header filter into the delivery (until it is too big or a write fails;
 * see smtp_data.h). Returns the octets consumed, fewer than len when a
 * DATA terminator was among them (data.ended is then set, and the header
 * filter finished) or when the delivery's buffer must be spilled first
 * (smtp_txn_spill_wanted). Not while the delivery is lent or taken.
 */
size_t smtp_txn_feed(struct smtp_txn *txn, const char *buf, size_t len);

/* True when the body's buffer is full and must go to disk (smtp_spool_start)
 * before more is fed; never after a write error or once the body is too big. */
bool smtp_txn_spill_wanted(const struct smtp_txn *txn);

/* BDAT LAST has been read: finishes the receiver and the header filter. */
void smtp_txn_finish(struct smtp_txn *txn);

/* Hands the delivery over (for the commit, or lent to a spill job); the
 * transaction no longer owns it. */
store_delivery_t *smtp_txn_take_delivery(struct smtp_txn *txn);

/* Gives a lent delivery back, with the spill's result: an error becomes
 * the transaction's write_err unless it has one. */
void smtp_txn_return_delivery(struct smtp_txn *txn, store_delivery_t *delivery, int err);

#endif
