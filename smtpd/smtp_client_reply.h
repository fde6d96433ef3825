/*
 * smtp_client_reply.h - reading a remote server's replies, for outbound
 * delivery (the SMTP client side): lines in, one reply out, and what an
 * EHLO reply offers. Pure: no I/O, no allocation.
 *
 * RFC 5321 4.2: a reply is one or more lines "CODE-text" ending with one
 * "CODE text" (or a bare "CODE"), every line with the same three-digit
 * code, the first digit 2-5 and the second 0-5. Anything else is a
 * protocol error: the client gives up on that server (and tries later or
 * elsewhere) rather than guess. Remote text is kept with its control
 * characters replaced, so a reply quoted in a log or a bounce is always
 * one line.
 */
#ifndef SMTP_CLIENT_REPLY_H
#define SMTP_CLIENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with its CRLF. */
#define SMTP_CLIENT_LINE_MAX 510
/* More lines than any real server sends (an EHLO lists a dozen): a server that floods us is wrong. */
#define SMTP_CLIENT_REPLY_LINES_MAX 64
/* The texts kept, lines separated by '\n'; longer replies keep their first lines whole. */
#define SMTP_CLIENT_REPLY_TEXT_MAX 4096

struct smtp_client_reply {
	int code;       /* 0 until the first line */
	size_t lines;
	bool done;      /* the last line has been read */
	size_t text_len;
	bool text_full; /* a line did not fit: it and the lines after it are not kept */
	char text[SMTP_CLIENT_REPLY_TEXT_MAX]; /* each line's text, '\n' between, NUL-terminated */
};

enum smtp_client_reply_status {
	SMTP_CLIENT_REPLY_MORE, /* a continuation line: more follow */
	SMTP_CLIENT_REPLY_DONE, /* the reply is complete */
	SMTP_CLIENT_REPLY_BAD,  /* not a reply line, a code that changed, too many lines */
};

void smtp_client_reply_init(struct smtp_client_reply *r);

/* Takes one line without its CRLF (any bytes). After DONE or BAD, init again. */
enum smtp_client_reply_status smtp_client_reply_feed(struct smtp_client_reply *r,
                                                     const char *line, size_t len);

/* The first line's text (up to its '\n'), for logs and diagnostics, into out. */
void smtp_client_reply_first(const struct smtp_client_reply *r, char *out, size_t outlen);

/* What an EHLO reply offers (RFC 5321 4.1.1.1: one keyword per line after the first). */
struct smtp_ehlo {
	bool pipelining;   /* RFC 2920 */
	bool size;         /* RFC 1870 */
	uint64_t size_max; /* 0: no limit announced */
	bool eightbitmime; /* RFC 6152 */
	bool smtputf8;     /* RFC 6531 */
	bool starttls;     /* RFC 3207 */
	bool chunking;     /* RFC 3030 */
	bool dsn;          /* RFC 3461 */
	bool auth_plain;   /* RFC 4954 with RFC 4616 */
	bool auth_login;
};

/* Reads the keywords of a complete 250 EHLO reply; unknown ones are ignored. */
void smtp_ehlo_parse(const struct smtp_client_reply *r, struct smtp_ehlo *ehlo);

#endif
