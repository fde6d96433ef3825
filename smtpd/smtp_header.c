/* smtp_header.c - the header section filter; see smtp_header.h. */
#include "smtp_header.h"

#include <string.h>
#include <strings.h>

enum state {
	ST_BOL,  /* at the start of a header line */
	ST_NAME, /* holding a field name */
	ST_WSP,  /* holding WSP between a name and its colon (obsolete syntax) */
	ST_PASS, /* the rest of a kept line, up to its LF */
	ST_DROP, /* the rest of a dropped line, up to its LF */
	ST_BODY, /* the header section is over */
};

/* What a field's name makes of it. */
enum kind {
	KIND_OTHER,
	KIND_DROP,
	KIND_BCC,
	KIND_RECEIVED,
	KIND_DATE,
	KIND_MESSAGE_ID,
};

static const struct {
	const char *name;
	enum kind kind;
} names[] = {
	{ "Return-Path", KIND_DROP },
	{ "Bcc", KIND_BCC },
	{ "Resent-Bcc", KIND_BCC },
	{ "Received", KIND_RECEIVED },
	{ "Date", KIND_DATE },
	{ "Message-ID", KIND_MESSAGE_ID },
};

void smtp_header_init(struct smtp_header *h, unsigned flags, const char *date,
                      const char *message_id, smtp_header_emit_cb *emit, void *ctx)
{
	memset(h, 0, offsetof(struct smtp_header, priv));
	h->priv.state = ST_BOL;
	h->priv.flags = flags;
	h->priv.in_field = false;
	h->priv.dropping = false;
	h->priv.last = '\0';
	h->priv.date = date;
	h->priv.message_id = message_id;
	h->priv.emit = emit;
	h->priv.ctx = ctx;
	h->priv.held = 0;
}

static void emit(struct smtp_header *h, const char *p, size_t n)
{
	if (n > 0)
		h->priv.emit(h->priv.ctx, p, n);
}

/* RFC 5322 3.6.8: ftext is printable US-ASCII except ':'. */
static bool is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static bool is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The held line is not a field: the body starts with it. Unless it is the
 * empty line that separates the sections (RFC 5322 2.1), an empty line is
 * put before it, as Postfix's cleanup does: mail readers go on reading
 * fields past a line that is not one (an mbox "From " line, say), so
 * without it a Return-Path, Bcc or Received after such a line would slip
 * past this filter and still be read as a header.
 */
static void end_headers(struct smtp_header *h, bool at_empty_line)
{
	if ((h->priv.flags & SMTP_HEADER_ADD_MISSING) != 0) {
		bool add_date = !h->has_date && h->priv.date != NULL;
		bool add_id = !h->has_message_id && h->priv.message_id != NULL;

		/* Only at the end of a message whose last field has no line end:
		 * an added field must not run on from it. */
		if ((add_date || add_id) && h->priv.state == ST_PASS) {
			if (h->priv.last == '\r')
				emit(h, "\n", 1);
			else
				emit(h, "\r\n", 2);
		}
		if (add_date)
			emit(h, h->priv.date, strlen(h->priv.date));
		if (add_id)
			emit(h, h->priv.message_id, strlen(h->priv.message_id));
	}
	if (!at_empty_line)
		emit(h, "\r\n", 2);
	emit(h, h->priv.hold, h->priv.held);
	h->priv.held = 0;
	h->priv.state = ST_BODY;
	h->in_body = true;
}

static enum kind classify(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i].name) == len && strncasecmp(names[i].name, name, len) == 0)
			return names[i].kind;
	}
	return KIND_OTHER;
}

/* The colon of a held field: decide its fate. The colon is not consumed. */
static void field_start(struct smtp_header *h)
{
	size_t len = h->priv.held;

	while (len > 0 && is_wsp((unsigned char)h->priv.hold[len - 1]))
		len--;
	enum kind kind = classify(h->priv.hold, len);
	bool drop = kind == KIND_DROP ||
	            (kind == KIND_BCC && (h->priv.flags & SMTP_HEADER_DROP_BCC) != 0);

	if (kind == KIND_RECEIVED)
		h->received++;
	else if (kind == KIND_DATE)
		h->has_date = true;
	else if (kind == KIND_MESSAGE_ID)
		h->has_message_id = true;
	h->priv.in_field = true;
	h->priv.dropping = drop;
	if (drop) {
		h->dropped++;
		h->priv.state = ST_DROP;
	} else {
		emit(h, h->priv.hold, h->priv.held);
		h->priv.state = ST_PASS;
	}
	h->priv.held = 0;
}

void smtp_header_feed(struct smtp_header *h, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)buf[i];

		switch (h->priv.state) {
		case ST_BODY:
			emit(h, buf + i, len - i);
			return;
		case ST_BOL:
			if (is_wsp(c) && h->priv.in_field)
				h->priv.state = h->priv.dropping ? ST_DROP : ST_PASS;
			else
				h->priv.state = ST_NAME;
			break;
		case ST_NAME:
		case ST_WSP:
			if (c == ':' && h->priv.held > 0) {
				field_start(h);
			} else if (h->priv.held < sizeof(h->priv.hold) &&
			           ((h->priv.state == ST_NAME && is_ftext(c)) ||
			            (h->priv.held > 0 && is_wsp(c)))) {
				h->priv.hold[h->priv.held++] = (char)c;
				if (is_wsp(c))
					h->priv.state = ST_WSP;
				i++;
			} else {
				end_headers(h, h->priv.held == 0 && (c == '\r' || c == '\n'));
			}
			break;
		case ST_PASS:
		case ST_DROP: {
			const char *lf = memchr(buf + i, '\n', len - i);
			size_t n = lf != NULL ? (size_t)(lf - (buf + i)) + 1 : len - i;

			if (h->priv.state == ST_PASS) {
				emit(h, buf + i, n);
				h->priv.last = buf[i + n - 1];
			}
			i += n;
			if (lf != NULL)
				h->priv.state = ST_BOL;
			break;
		}
		}
	}
}

void smtp_header_finish(struct smtp_header *h)
{
	/* A message that is all header section needs no empty line after it. */
	if (h->priv.state != ST_BODY)
		end_headers(h, h->priv.held == 0);
}
