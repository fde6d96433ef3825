/* pop3_body.c - byte-stuffing and the TOP cut over a chunked body; see pop3_body.h. */
#include "pop3_body.h"

#include <string.h>

void pop3_body_init_retr(struct pop3_body *body)
{
	memset(body, 0, sizeof(*body));
	body->at_line_start = true;
}

void pop3_body_init_top(struct pop3_body *body, uint64_t lines)
{
	pop3_body_init_retr(body);
	/* UINT64_MAX lines can never be reached: it is the whole message, as RETR. */
	body->top = lines != UINT64_MAX;
	body->body_lines = lines;
}

/* True when every octet of data[0..len) is CR, i.e. the line may still be blank. */
static bool only_cr(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\r')
			return false;
	}
	return true;
}

/*
 * RETR needs no line structure: only a dot that starts a line changes.
 * So look for dots (memchr is vectorised, and base64 parts have none)
 * and pass everything between in one piece. A memchr per line cost a
 * quarter of the loop's time on a large message; glibc's memmem for
 * "\n." was slower still.
 */
static void feed_retr(struct pop3_body *body, const char *data, size_t len,
                      pop3_body_out_fn *out, void *ctx)
{
	size_t span = 0; /* start of the input not yet passed to out */
	size_t pos = 0;
	const char *dot;

	if (len == 0)
		return;
	while ((dot = memchr(data + pos, '.', len - pos)) != NULL) {
		size_t i = (size_t)(dot - data);
		pos = i + 1;
		if (i > 0 ? data[i - 1] != '\n' : !body->at_line_start)
			continue;
		if (i > span)
			out(ctx, data + span, i - span);
		out(ctx, ".", 1);
		span = i; /* the original dot leaves with the next span */
	}
	out(ctx, data + span, len - span);
	body->at_line_start = data[len - 1] == '\n';
}

bool pop3_body_feed(struct pop3_body *body, const char *data, size_t len, pop3_body_out_fn *out,
                    void *ctx)
{
	size_t pos = 0;
	size_t span = 0; /* start of the input not yet passed to out */

	if (body->done)
		return false;
	if (!body->top) {
		feed_retr(body, data, len, out, ctx);
		return true;
	}
	while (pos < len) {
		if (body->at_line_start) {
			if (data[pos] == '.') {
				if (pos > span)
					out(ctx, data + span, pos - span);
				out(ctx, ".", 1);
				span = pos; /* the original dot leaves with the next span */
			}
			body->at_line_start = false;
			body->line_blank = true;
		}
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - data) + 1 : len;
		size_t content = nl != NULL ? end - 1 : end;
		if (body->top && !body->in_body && body->line_blank)
			body->line_blank = only_cr(data + pos, content - pos);
		pos = end;
		if (nl == NULL)
			break;
		body->at_line_start = true;
		if (!body->top)
			continue;
		if (!body->in_body) {
			if (!body->line_blank)
				continue; /* a header line */
			body->in_body = true; /* RFC 1939 7: the blank line is sent, not counted */
		} else {
			body->body_lines--;
		}
		if (body->body_lines == 0) {
			body->done = true;
			break;
		}
	}
	if (pos > span)
		out(ctx, data + span, pos - span);
	return !body->done;
}

void pop3_body_finish(struct pop3_body *body, pop3_body_out_fn *out, void *ctx)
{
	if (!body->at_line_start)
		out(ctx, "\r\n", 2);
	out(ctx, ".\r\n", 3);
}
