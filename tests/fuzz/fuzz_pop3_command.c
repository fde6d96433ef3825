/*
 * fuzz_pop3_command.c - libFuzzer target for pop3d's pure parsers.
 *
 * The input is one command line for pop3_command_parse, whose arguments
 * then go through the message-number and count parsers. The RETR/TOP
 * output filter has its own target, fuzz_pop3_body.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	return 0;
}
