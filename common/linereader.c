#include "linereader.h"

#include <assert.h>
#include <string.h>

void linereader_init(struct linereader *lr, size_t max)
{
	lr->skipping = false;
	linereader_set_max(lr, max);
}

void linereader_set_max(struct linereader *lr, size_t max)
{
	assert(max >= 1);
	lr->max = max;
}

size_t linereader_window(const struct linereader *lr)
{
	return lr->max + 1;
}

size_t linereader_next(struct linereader *lr, const char *buf, size_t len,
                       struct linereader_line *line_r, bool *found_r)
{
	size_t pos = 0;

	*found_r = false;
	if (lr->skipping) {
		const char *lf = memchr(buf, '\n', len);
		if (lf == NULL)
			return len;
		pos = (size_t)(lf - buf) + 1;
		lr->skipping = false;
	}

	const char *start = buf + pos;
	size_t avail = len - pos;
	/* A line of max octets plus CR LF is the longest that can be valid:
	 * no LF within that many bytes proves the line too long. */
	size_t proof = lr->max + 2;
	size_t scan = avail < proof ? avail : proof;
	const char *lf = scan > 0 ? memchr(start, '\n', scan) : NULL;

	if (lf != NULL) {
		size_t n = (size_t)(lf - start);
		bool crlf = n > 0 && start[n - 1] == '\r';
		size_t content = crlf ? n - 1 : n;

		line_r->data = start;
		line_r->too_long = content > lr->max;
		line_r->len = line_r->too_long ? lr->max : content;
		line_r->crlf = line_r->too_long ? false : crlf;
		*found_r = true;
		return pos + n + 1;
	}
	if (avail < proof)
		return pos;

	line_r->data = start;
	line_r->len = lr->max;
	line_r->crlf = false;
	line_r->too_long = true;
	*found_r = true;
	lr->skipping = true;
	return pos + proof;
}
