/*
 * fuzz_pop3_command.c - libFuzzer target for pop3d's pure parsers.
 *
 * The input is one command line for pop3_command_parse, whose arguments
 * then go through the message-number and count parsers. The same bytes are
 * also a message body for the RETR/TOP filter, fed whole and split at a
 * point taken from the input: both outputs must be identical (line starts
 * are tracked across chunks), and a RETR output must unstuff to the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_body.h"
#include "pop3_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	char *buf;
	size_t len, cap;
};

static void sink_out(void *ctx, const char *data, size_t len)
{
	struct sink *sink = ctx;
	if (sink->len + len > sink->cap)
		abort(); /* stuffing at most doubles the input, plus the terminator */
	memcpy(sink->buf + sink->len, data, len);
	sink->len += len;
}

static void filter(const char *in, size_t len, size_t split, bool top, uint64_t lines,
                   struct sink *sink)
{
	struct pop3_body body;

	if (top)
		pop3_body_init_top(&body, lines);
	else
		pop3_body_init_retr(&body);
	sink->len = 0;
	pop3_body_feed(&body, in, split, sink_out, sink);
	pop3_body_feed(&body, in + split, len - split, sink_out, sink);
	pop3_body_finish(&body, sink_out, sink);
}

static void check_body(const char *in, size_t len)
{
	size_t cap = 2 * len + 8;
	struct sink a = { malloc(cap), 0, cap }, b = { malloc(cap), 0, cap };
	size_t split = len > 0 ? (unsigned char)in[0] % (len + 1) : 0;
	uint64_t lines = len > 1 ? (unsigned char)in[1] % 8 : 0;

	if (a.buf == NULL || b.buf == NULL)
		abort();
	for (int top = 0; top <= 1; top++) {
		filter(in, len, len, top, lines, &a);
		filter(in, len, split, top, lines, &b);
		if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
			abort();
	}

	/* RETR: remove the terminator (and the CRLF added when the input lacks
	 * one), undo the stuffing, and get the input back. */
	filter(in, len, split, false, 0, &a);
	size_t end = a.len - 3;
	if (len > 0 && in[len - 1] != '\n')
		end -= 2;
	size_t o = 0;
	bool start = true;
	for (size_t i = 0; i < end; i++) {
		if (start && a.buf[i] == '.')
			i++;
		if (i >= end || o >= len || a.buf[i] != in[o])
			abort();
		start = in[o] == '\n';
		o++;
	}
	if (o != len)
		abort();
	free(a.buf);
	free(b.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct pop3_command cmd;
	static const bool deleted[4] = { false, true, false, false };

	if (pop3_command_parse(line, size, &cmd)) {
		if (cmd.verb[0] == '\0' || strlen(cmd.verb) > POP3_VERB_MAX)
			abort();
		if (cmd.rest < line || cmd.rest + cmd.restlen != line + size)
			abort();
		for (size_t i = 0; i < cmd.argc && i < POP3_ARGS_MAX; i++) {
			size_t index = SIZE_MAX;
			uint64_t count;
			if (cmd.argl[i] == 0 || cmd.argv[i] < cmd.rest ||
			    cmd.argv[i] + cmd.argl[i] > line + size)
				abort();
			if (pop3_msgno_parse(cmd.argv[i], cmd.argl[i], 4, deleted, &index) ==
			        POP3_MSGNO_OK &&
			    (index >= 4 || deleted[index]))
				abort();
			(void)pop3_count_parse(cmd.argv[i], cmd.argl[i], &count);
		}
	}
	check_body(line, size);
	return 0;
}
