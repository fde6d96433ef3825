/*
 * pop3_body.h - turns a stored message, fed in chunks of any size, into
 * the octets of a RETR or TOP response body: byte-stuffing (RFC 1939 3: a
 * line starting with '.' gets another '.'), the TOP cut after the header,
 * the blank line and N body lines (RFC 1939 7), and the terminating
 * ".\r\n". Line starts are tracked across chunk boundaries, so the result
 * does not depend on how the store split the body.
 *
 * Pure: no allocation, no I/O. Output goes to a callback in spans that
 * point into the input (or into static strings), so the caller decides
 * where it goes (conn_write) and nothing is copied here.
 */
#ifndef MAIL_POP3_BODY_H
#define MAIL_POP3_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives output; `data` is valid only during the call. */
typedef void pop3_body_out_fn(void *ctx, const char *data, size_t len);

struct pop3_body {
	bool top;             /* TOP: stop after the header and body_lines lines */
	uint64_t body_lines;  /* TOP: body lines still to send */
	bool at_line_start;   /* the next input octet begins a line */
	bool in_body;         /* the blank line after the header has been passed */
	bool line_blank;      /* the current line so far is "" or "\r" */
	bool done;            /* TOP: the requested part has been sent */
};

/* Starts a RETR body: the whole message. */
void pop3_body_init_retr(struct pop3_body *body);
/* Starts a TOP body: header, blank line and `lines` body lines (UINT64_MAX: all). */
void pop3_body_init_top(struct pop3_body *body, uint64_t lines);

/*
 * Feeds `len` octets of the message. Returns true while more input is
 * wanted, false once TOP has sent its part (further input is ignored).
 */
bool pop3_body_feed(struct pop3_body *body, const char *data, size_t len, pop3_body_out_fn *out,
                    void *ctx);

/*
 * Ends the response: a CRLF if the message did not end with a line break
 * (our store always stores CRLF lines; this keeps the terminator on a line
 * of its own regardless), then ".\r\n".
 */
void pop3_body_finish(struct pop3_body *body, pop3_body_out_fn *out, void *ctx);

#endif
