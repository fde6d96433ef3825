/*
 * bench_message.h - the messages mailbench smtp sends.
 *
 * Each message is exactly `size` octets as RFC 5322 text: a header block
 * of fixed length (a Message-ID unique to the run and the message number,
 * Date, From, To, Subject, MIME headers, padded to the same length for
 * every recipient), then a body shared by all messages: printable US-ASCII
 * lines of at most 78 characters plus CRLF (RFC 5322 2.1.1), none starting
 * with '.', so the body needs no dot-stuffing (RFC 5321 4.5.2) and the
 * server stores the same bytes it received.
 */
#ifndef MAILBENCH_BENCH_MESSAGE_H
#define MAILBENCH_BENCH_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "bench.h"

/* Room for every header with 255-octet addresses (bench.h BENCH_MAX_ADDR). */
#define BENCH_MESSAGE_MAX_HEADER 1024

struct bench_message {
	char *body;            /* owned: body text followed by the ".\r\n" end of DATA */
	size_t body_len;       /* including the 3 octets of ".\r\n" */
	size_t header_len;     /* every header block is this long */
	uint64_t run_id;       /* makes Message-IDs unique across runs */
};

/*
 * Prepares messages of `size` octets from `from` to any of the nrcpt
 * addresses in rcpt. Returns 0, or -1 with a message in err (size smaller
 * than the headers, out of memory).
 */
int bench_message_init(struct bench_message *m, size_t size, const char *from,
                       const char (*rcpt)[BENCH_MAX_ADDR], size_t nrcpt, char *err, size_t errlen);
void bench_message_free(struct bench_message *m);

/*
 * Writes the header block of message number seq to `to` (one of the
 * addresses given to init) into out, which has BENCH_MESSAGE_MAX_HEADER
 * octets. Returns m->header_len.
 */
size_t bench_message_header(const struct bench_message *m, char *out, uint64_t seq, const char *from,
                            const char *to);

#endif
