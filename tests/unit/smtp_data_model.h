/*
 * smtp_data_model.h - the DATA / BDAT rules of smtpd/smtp_data.h in their
 * plainest form, for test_smtp_data.c and fuzz_smtp_data.c to compare the
 * streaming receiver against. Test code only.
 *
 * Split the input into lines at CRLF, bare LF and bare CR (a CR not followed
 * by LF; a CR at the very end is still undecided). In DATA mode a "." line
 * that ends in CRLF and follows a CRLF (or the start) ends the data; other
 * lines lose one leading dot when longer than one octet. Each line is stored
 * with CRLF. An unfinished last line shows what the receiver has emitted of
 * it so far (its text, less a held or dropped leading dot), unless `finish`
 * (BDAT) completes it.
 */
#ifndef MAIL_SMTP_DATA_MODEL_H
#define MAIL_SMTP_DATA_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

struct smtp_data_model {
	char *out;       /* caller's buffer; 2 * input + 2 octets always fit */
	size_t out_cap;
	size_t out_len;
	size_t consumed;
	bool ended;
	uint64_t bare_lf, bare_cr, max_line, header_size;
	bool in_headers;
};

static inline void smtp_data_model__append(struct smtp_data_model *m, const char *p, size_t n)
{
	if (m->out_len + n > m->out_cap)
		abort(); /* the caller's buffer is too small: a bug in the test */
	memcpy(m->out + m->out_len, p, n);
	m->out_len += n;
}

static inline void smtp_data_model__line(struct smtp_data_model *m, const char *p, size_t n)
{
	if (n + 2 > m->max_line)
		m->max_line = n + 2;
	if (m->in_headers && n == 0) {
		m->in_headers = false;
		m->header_size = m->out_len;
	}
	smtp_data_model__append(m, p, n);
	smtp_data_model__append(m, "\r\n", 2);
}

static inline void smtp_data_model_run(struct smtp_data_model *m, enum smtp_data_mode mode,
                                       const char *in, size_t len, bool finish)
{
	bool dot = mode == SMTP_DATA_DOT;
	bool prev_crlf = true;
	size_t pos = 0;

	m->out_len = 0;
	m->consumed = len;
	m->ended = false;
	m->bare_lf = m->bare_cr = m->max_line = m->header_size = 0;
	m->in_headers = true;
	while (pos < len) {
		size_t j = pos;
		while (j < len && in[j] != '\r' && in[j] != '\n')
			j++;
		const char *line = in + pos;
		size_t n = j - pos;
		bool complete = j < len && (in[j] == '\n' || j + 1 < len);
		if (!complete) {
			if (finish) {
				smtp_data_model__line(m, line, n);
				if (j < len)
					m->bare_cr++;
				break;
			}
			if (dot && n >= 1 && line[0] == '.') {
				line++;
				n--;
			}
			smtp_data_model__append(m, line, n);
			break;
		}
		bool crlf = in[j] == '\r' && in[j + 1] == '\n';
		size_t next = crlf ? j + 2 : j + 1;
		if (dot && n == 1 && line[0] == '.' && crlf && prev_crlf) {
			m->ended = true;
			m->consumed = next;
			return;
		}
		if (dot && n > 1 && line[0] == '.') {
			line++;
			n--;
		}
		smtp_data_model__line(m, line, n);
		if (in[j] == '\n')
			m->bare_lf++;
		else if (!crlf)
			m->bare_cr++;
		prev_crlf = crlf;
		pos = next;
	}
	if (finish)
		m->ended = true;
}

#endif
