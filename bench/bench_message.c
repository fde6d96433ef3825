#include "bench_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#define BODY_LINE 76   /* text octets per body line; one line may take 77 (<= 78) */
#define PAD_MIN 1      /* "X-Pad: " always carries at least one octet */

static const char filler[] =
	"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
	"tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam";

/* The header block without padding; returns its length (or a value >= cap if it does not fit). */
static size_t header_unpadded(char *out, size_t cap, uint64_t run_id, uint64_t seq, const char *from,
                              const char *to, size_t pad)
{
	static const char date[] = "Thu, 26 Nov 2026 12:00:00 +0000";
	char padding[BENCH_MESSAGE_MAX_HEADER];
	int n;

	if (pad >= sizeof(padding))
		return cap;
	memset(padding, 'x', pad);
	padding[pad] = '\0';
	/* Fixed-width Message-ID: only the padding depends on the recipient. */
	n = snprintf(out, cap,
	             "Message-ID: <%016llx.%016llx@mailbench.invalid>\r\n"
	             "Date: %s\r\n"
	             "From: <%s>\r\n"
	             "To: <%s>\r\n"
	             "Subject: mailbench %016llx\r\n"
	             "MIME-Version: 1.0\r\n"
	             "Content-Type: text/plain; charset=us-ascii\r\n"
	             "X-Pad: %s\r\n"
	             "\r\n",
	             (unsigned long long)run_id, (unsigned long long)seq, date, from, to,
	             (unsigned long long)seq, padding);
	return n < 0 ? cap : (size_t)n;
}

int bench_message_init(struct bench_message *m, size_t size, const char *from,
                       const char (*rcpt)[BENCH_MAX_ADDR], size_t nrcpt, char *err, size_t errlen)
{
	char tmp[BENCH_MESSAGE_MAX_HEADER];
	size_t longest = 0, text, off = 0;

	memset(m, 0, sizeof(*m));
	m->run_id = uv_hrtime() ^ ((uint64_t)getpid() << 40) ^ (uint64_t)time(NULL);
	for (size_t i = 0; i < nrcpt; i++) {
		size_t len = header_unpadded(tmp, sizeof(tmp), 0, 0, from, rcpt[i], PAD_MIN);

		if (len >= sizeof(tmp)) {
			snprintf(err, errlen, "addresses too long for the message header");
			return -1;
		}
		if (len > longest)
			longest = len;
	}
	m->header_len = longest;
	/* At least one body line, so every message has a body. */
	if (size < m->header_len + 3) {
		snprintf(err, errlen, "--size %zu is too small: the headers alone take %zu octets",
		         size, m->header_len);
		return -1;
	}
	text = size - m->header_len;
	m->body_len = text + 3;
	m->body = malloc(m->body_len);
	if (m->body == NULL) {
		snprintf(err, errlen, "out of memory for a %zu-octet message", size);
		return -1;
	}
	for (size_t line = 0; off < text; line++) {
		size_t left = text - off, n = BODY_LINE;

		/* The last line takes what is left; 1 octet left joins this line (77 + CRLF). */
		if (left <= BODY_LINE + 2 + 1)
			n = left - 2;
		for (size_t i = 0; i < n; i++)
			m->body[off + i] = filler[(line + i) % (sizeof(filler) - 1)];
		if (n != 0 && m->body[off] == '.')
			m->body[off] = 'L';
		off += n;
		m->body[off++] = '\r';
		m->body[off++] = '\n';
	}
	memcpy(m->body + off, ".\r\n", 3);
	return 0;
}

void bench_message_free(struct bench_message *m)
{
	free(m->body);
	m->body = NULL;
}

size_t bench_message_header(const struct bench_message *m, char *out, uint64_t seq, const char *from,
                            const char *to)
{
	size_t natural = header_unpadded(out, BENCH_MESSAGE_MAX_HEADER, m->run_id, seq, from, to, PAD_MIN);

	/* Same address lengths as at init, so this always fits. */
	return header_unpadded(out, BENCH_MESSAGE_MAX_HEADER, m->run_id, seq, from, to,
	                       PAD_MIN + (m->header_len - natural));
}
