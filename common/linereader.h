/*
 * linereader.h - splits a byte stream into lines with a hard length limit.
 *
 * Pure code: no I/O, no allocation, no copies. The caller owns the bytes
 * and feeds whatever it has; linereader_next() returns how many of them
 * it consumed and, when it found one, a line pointing into the caller's
 * buffer. Bytes not consumed (an incomplete line) must be presented again,
 * followed by more input, on the next call. So the caller needs to keep
 * at most linereader_window() bytes of an incomplete line, whatever the
 * peer sends: memory stays bounded.
 *
 * A line ends at LF. A CR right before the LF is part of the terminator
 * (crlf = true); any other CR is content. A line longer than `max` octets
 * (terminator excluded) is reported once with too_long = true and its
 * first `max` octets, and everything up to its LF is then skipped.
 *
 * The state carries only the "skipping the rest of a long line" flag, so
 * it can be fed one byte at a time (tests/unit/test_linereader.c) or by a
 * fuzzer.
 */
#ifndef MAIL_LINEREADER_H
#define MAIL_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>

struct linereader {
	size_t max;      /* longest accepted line, terminator excluded */
	bool skipping;   /* inside an over-long line: drop bytes up to LF */
};

struct linereader_line {
	const char *data; /* points into the buffer given to linereader_next */
	size_t len;
	bool crlf;        /* ended in CRLF (false: bare LF, or too_long) */
	bool too_long;    /* data holds the first `max` octets only */
};

/* Starts a reader for lines of at most `max` octets (max >= 1). */
void linereader_init(struct linereader *lr, size_t max);

/* Changes the limit; takes effect for the next line. */
void linereader_set_max(struct linereader *lr, size_t max);

/*
 * Scans buf[0..len). Returns the number of bytes consumed and sets
 * *found_r. When *found_r is true, *line_r describes one line (valid as
 * long as buf is) and the bytes returned include its terminator. When it
 * is false, the rest of buf holds the start of an incomplete line: keep
 * buf[consumed..len) and call again once more bytes are appended.
 */
size_t linereader_next(struct linereader *lr, const char *buf, size_t len,
                       struct linereader_line *line_r, bool *found_r);

/*
 * The most bytes of one incomplete line the caller will ever have to keep
 * (max + CR + one more byte to prove the line too long).
 */
size_t linereader_window(const struct linereader *lr);

#endif
