/* smtp_data.c - DATA / BDAT receiver state machine; see smtp_data.h. */
#include "smtp_data.h"

#include <assert.h>
#include <string.h>

enum state {
	ST_BOL,  /* at the start of a line */
	ST_DOT,  /* DATA: a "." at the start of a line, held back */
	ST_TEXT, /* inside a line */
	ST_CR,   /* a CR held back until we know whether LF follows */
};

enum eol_kind {
	EOL_CRLF,
	EOL_BARE_LF,
	EOL_BARE_CR,
	EOL_ADDED, /* BDAT: smtp_data_finish() ends an unfinished line */
};

void smtp_data_init(struct smtp_data *data, enum smtp_data_mode mode, uint64_t max_size,
                    smtp_data_emit_cb *emit, void *ctx)
{
	memset(data, 0, sizeof(*data));
	data->in_headers = true;
	data->priv.mode = mode;
	data->priv.state = ST_BOL;
	/* The start of the data counts as following a CRLF (RFC 5321 4.1.1.4:
	 * the CRLF that ended the DATA command line), so "." first ends it. */
	data->priv.crlf_bol = true;
	data->priv.max_size = max_size;
	data->priv.emit = emit;
	data->priv.ctx = ctx;
}

/* Counts n stored octets and emits them while under the size limit. */
static void out(struct smtp_data *d, const char *p, size_t n)
{
	if (!d->too_big) {
		/* Invariant: size <= max_size while !too_big. */
		if (n > d->priv.max_size - d->size)
			d->too_big = true;
		else
			d->priv.emit(d->priv.ctx, p, n);
	}
	d->size += n;
}

static void text(struct smtp_data *d, const char *p, size_t n)
{
	d->priv.line_len += n;
	out(d, p, n);
}

static void eol(struct smtp_data *d, enum eol_kind kind)
{
	if (d->priv.line_len + 2 > d->max_line)
		d->max_line = d->priv.line_len + 2;
	if (d->in_headers && d->priv.line_len == 0) {
		d->in_headers = false;
		d->header_size = d->size;
	}
	out(d, "\r\n", 2);
	if (kind == EOL_BARE_LF)
		d->bare_lf++;
	else if (kind == EOL_BARE_CR)
		d->bare_cr++;
	d->priv.line_len = 0;
	d->priv.state = ST_BOL;
	d->priv.crlf_bol = kind == EOL_CRLF;
	d->priv.dot_line = false;
}

size_t smtp_data_feed(struct smtp_data *d, const char *buf, size_t len)
{
	size_t i = 0;

	if (d->ended)
		return 0;
	while (i < len) {
		char c = buf[i];

		switch (d->priv.state) {
		case ST_BOL:
			if (c == '.' && d->priv.mode == SMTP_DATA_DOT) {
				d->priv.state = ST_DOT;
				i++;
			} else {
				d->priv.state = ST_TEXT;
			}
			break;
		case ST_DOT:
			if (c == '\r') {
				d->priv.dot_line = true;
				d->priv.state = ST_CR;
				i++;
			} else if (c == '\n') {
				text(d, ".", 1); /* a lone "." ended by a bare LF is data */
				eol(d, EOL_BARE_LF);
				i++;
			} else {
				d->priv.state = ST_TEXT; /* drop the stuffing dot; c is text */
			}
			break;
		case ST_TEXT:
			if (c == '\r') {
				d->priv.state = ST_CR;
				i++;
			} else if (c == '\n') {
				eol(d, EOL_BARE_LF);
				i++;
			} else {
				size_t j = i + 1;
				while (j < len && buf[j] != '\r' && buf[j] != '\n')
					j++;
				text(d, buf + i, j - i);
				i = j;
			}
			break;
		case ST_CR:
			if (c == '\n' && d->priv.dot_line && d->priv.crlf_bol) {
				d->ended = true; /* <CRLF>.<CRLF> */
				return i + 1;
			}
			if (d->priv.dot_line)
				text(d, ".", 1);
			if (c == '\n') {
				eol(d, EOL_CRLF);
				i++;
			} else {
				eol(d, EOL_BARE_CR); /* c starts the next line */
			}
			break;
		default:
			assert(!"smtp_data: bad state");
			return i;
		}
	}
	return i;
}

void smtp_data_finish(struct smtp_data *d)
{
	assert(d->priv.mode == SMTP_DATA_BDAT);
	if (d->ended)
		return;
	if (d->priv.state == ST_CR)
		eol(d, EOL_BARE_CR);
	else if (d->priv.line_len > 0)
		eol(d, EOL_ADDED);
	d->ended = true;
}
