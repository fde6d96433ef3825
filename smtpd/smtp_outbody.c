/* smtp_outbody.c - the DATA form of a stored message; see smtp_outbody.h. */
#include "smtp_outbody.h"

#include <ctype.h>
#include <string.h>

static const char return_path[] = "return-path:";
#define RETURN_PATH_LEN (sizeof(return_path) - 1)

void smtp_outbody_init(struct smtp_outbody *o)
{
	memset(o, 0, sizeof(*o));
	o->line_start = true;
	o->in_header = true;
}

size_t smtp_outbody_max(size_t len)
{
	/* Every octet may start a line that gains a dot, and a header name
	 * held back from the previous feed may come out with this one. */
	return 2 * len + RETURN_PATH_LEN;
}

/* Copies n octets, remembering how the output ends. */
static size_t put(struct smtp_outbody *o, char *out, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	memcpy(out, p, n);
	o->any = true;
	o->ended_crlf = n >= 2 ? (p[n - 2] == '\r' && p[n - 1] == '\n')
	                       : (o->ended_crlf_half && p[0] == '\n');
	o->ended_crlf_half = p[n - 1] == '\r';
	return n;
}

/* Starts a line that is kept: its leading dot doubled. */
static size_t start_line(struct smtp_outbody *o, char *out, char first)
{
	o->line_start = false;
	return first == '.' ? put(o, out, ".", 1) : 0;
}

size_t smtp_outbody_feed(struct smtp_outbody *o, const char *in, size_t len, char *out)
{
	size_t w = 0, i = 0;

	while (i < len) {
		if (o->in_header && o->name_len > 0) {
			/* Deciding whether this header line is a Return-Path: field. */
			char c = in[i];
			if (tolower((unsigned char)c) == return_path[o->name_len]) {
				o->name[o->name_len++] = c;
				i++;
				if (o->name_len == RETURN_PATH_LEN) {
					o->name_len = 0;
					o->dropping = true;
				}
				continue;
			}
			w += start_line(o, out + w, o->name[0]);
			w += put(o, out + w, o->name, o->name_len);
			o->name_len = 0;
			continue;
		}
		if (o->line_start && o->in_header) {
			char c = in[i];
			if (c == '\r' || c == '\n') {
				o->in_header = false; /* the empty line: the body follows */
				o->dropping = false;
			} else if (c == ' ' || c == '\t') {
				/* A continuation line belongs to the field before it. */
				if (!o->dropping)
					w += start_line(o, out + w, c);
				o->line_start = false;
			} else {
				o->dropping = false;
				if (tolower((unsigned char)c) == return_path[0]) {
					o->name[0] = c;
					o->name_len = 1;
					o->line_start = false;
					i++;
					continue;
				}
				w += start_line(o, out + w, c);
			}
		}
		if (o->line_start)
			w += start_line(o, out + w, in[i]);
		/* The rest of the line, up to and including its LF. */
		const char *lf = memchr(in + i, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - (in + i)) + 1 : len - i;
		if (!o->dropping)
			w += put(o, out + w, in + i, n);
		i += n;
		o->line_start = lf != NULL;
	}
	return w;
}

size_t smtp_outbody_end(struct smtp_outbody *o, char *out)
{
	size_t w = 0;

	if (o->name_len > 0) { /* the message ended inside a header name */
		w += start_line(o, out + w, o->name[0]);
		w += put(o, out + w, o->name, o->name_len);
		o->name_len = 0;
	}
	if (o->any && !o->ended_crlf)
		w += put(o, out + w, "\r\n", 2);
	memcpy(out + w, ".\r\n", 3);
	return w + 3;
}
