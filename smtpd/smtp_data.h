/*
 * smtp_data.h - the message receiver behind DATA (RFC 5321 4.1.1.4, 4.5.2)
 * and BDAT (RFC 3030): a byte-at-a-time state machine fed arbitrary slices
 * as they arrive, turning the wire form into the stored form.
 *
 * Pure: no I/O, no allocation. The caller owns the struct (usually inside
 * its transaction) and receives the stored form through an emit callback.
 *
 * The stored form is what the store keeps and POP3 serves: lines ending in
 * CRLF, no lone CR, no lone LF, no dot-stuffing.
 *
 * Line endings. RFC 5321 2.3.8 allows CR and LF only together as CRLF.
 * Real clients still send bare LFs, and rejecting every such message loses
 * mail, so the receiver normalises instead: a bare LF, and a bare CR (one
 * not followed by LF), each end a line and are stored as CRLF. They are
 * counted (bare_lf, bare_cr) so the session can log or refuse them.
 *
 * End of data (DATA only). Only <CRLF>.<CRLF> ends the data, the CRLF before
 * the dot being either a real CRLF that ended the previous line or the start
 * of the data (a "." line right after the 354 reply). A line ending that
 * was a bare LF or a bare CR can never be part of the terminator, nor can
 * the dot line end with one: "\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n",
 * "\r\n.\r\r\n" never end the data; each is stored with its "." line. This
 * is what stops SMTP smuggling: a receiver that ends the data where some
 * other server would not, lets a sender slip a second message past that
 * server (the 2023 "SMTP smuggling" attacks). Bytes after the terminator
 * belong to the next (pipelined) command and are not consumed.
 *
 * Dot-stuffing (DATA only, RFC 5321 4.5.2): a line that starts with "." and
 * has more on it loses that first "."; a line that is just "." and is not
 * the terminator is stored as ".". A line start after a bare LF or bare CR
 * is a line start for this purpose too, since that is where the sender
 * stuffed it.
 *
 * BDAT: chunk data is taken verbatim (RFC 3030 2: no dot-stuffing, no
 * terminator). The same line-ending normalisation applies across chunk
 * boundaries (a CR at the end of one chunk and an LF at the start of the
 * next are one CRLF). smtp_data_finish() after the LAST chunk stores a
 * pending CR as CRLF and ends an unfinished last line with CRLF, so the
 * stored form always ends in CRLF (POP3 needs it before its final ".").
 *
 * Size limit: once the stored form would pass max_size, too_big is set and
 * nothing more is emitted (the emitted total never exceeds max_size), but
 * input keeps being consumed and counted up to the end, so the session can
 * reply 552 after the terminator (RFC 5321 4.5.3.1.10) and stay in sync.
 *
 * Lines: RFC 5321 4.5.3.1.6 limits a line to 1000 octets with its CRLF.
 * Longer lines are accepted and max_line reports the longest, so the
 * session can decide. The header section ends at the first empty line
 * (RFC 5322 2.1); in_headers and header_size tell where that was.
 */
#ifndef MAIL_SMTP_DATA_H
#define MAIL_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define SMTP_DATA_LINE_MAX 1000

enum smtp_data_mode {
	SMTP_DATA_DOT,   /* DATA: dot-stuffed, ends at <CRLF>.<CRLF> */
	SMTP_DATA_BDAT,  /* BDAT: verbatim chunks, ends at smtp_data_finish() */
};

/*
 * Receives stored-form bytes. `buf` points into the caller's input or at
 * static data and is valid only during the call; len > 0.
 */
typedef void smtp_data_emit_cb(void *ctx, const char *buf, size_t len);

struct smtp_data {
	/* Results: read them, never write them. */
	uint64_t size;        /* octets of the stored form so far, counted past max_size */
	uint64_t header_size; /* octets before the empty line that ends the headers;
	                       * meaningful once in_headers is false */
	uint64_t max_line;    /* longest stored line in octets, CRLF included, the
	                       * stuffing dot not (RFC 5321 4.5.3.1.6) */
	uint64_t bare_lf;     /* line endings that were a bare LF */
	uint64_t bare_cr;     /* line endings that were a bare CR */
	bool in_headers;      /* no empty line seen yet */
	bool too_big;         /* size passed max_size: nothing more is emitted */
	bool ended;           /* DATA: terminator seen; BDAT: finished */

	/* Private to smtp_data.c. */
	struct {
		enum smtp_data_mode mode;
		int state;
		bool crlf_bol;    /* the current line started after a real CRLF */
		bool dot_line;    /* a "." is held back before a pending CR */
		uint64_t line_len;
		uint64_t max_size;
		smtp_data_emit_cb *emit;
		void *ctx;
	} priv;
};

/*
 * Starts a receiver. max_size is the largest stored form emitted (octets;
 * UINT64_MAX for none). emit(ctx, ...) receives the stored form.
 */
void smtp_data_init(struct smtp_data *data, enum smtp_data_mode mode, uint64_t max_size,
                    smtp_data_emit_cb *emit, void *ctx);

/*
 * Feeds len input octets. Returns how many were consumed: all of them,
 * except in DATA mode when the terminator is among them; then the count
 * stops just after its final LF, ended is set, and buf[returned..len) is
 * the start of the next command. Once ended, consumes nothing.
 */
size_t smtp_data_feed(struct smtp_data *data, const char *buf, size_t len);

/*
 * BDAT only: the LAST chunk has been fed. Flushes a pending CR, ends an
 * unfinished last line with CRLF, and sets ended.
 */
void smtp_data_finish(struct smtp_data *data);

#endif
