/* pop3_command.c - POP3 command line and argument parsing; see pop3_command.h. */
#include "pop3_command.h"

#include <string.h>

static bool is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd)
{
	size_t pos = 0;

	memset(cmd, 0, sizeof(*cmd));
	while (pos < len && line[pos] != ' ') {
		if (pos >= POP3_VERB_MAX || !is_alpha(line[pos]))
			return false;
		char c = line[pos];
		cmd->verb[pos] = (char)(c >= 'a' ? c - ('a' - 'A') : c);
		pos++;
	}
	if (pos == 0)
		return false;
	cmd->verb[pos] = '\0';

	if (pos < len)
		pos++; /* the space after the verb */
	cmd->rest = line + pos;
	cmd->restlen = len - pos;

	while (pos < len) {
		while (pos < len && line[pos] == ' ')
			pos++;
		if (pos == len)
			break;
		size_t start = pos;
		while (pos < len && line[pos] != ' ')
			pos++;
		if (cmd->argc < POP3_ARGS_MAX) {
			cmd->argv[cmd->argc] = line + start;
			cmd->argl[cmd->argc] = pos - start;
		}
		cmd->argc++;
	}
	return true;
}

/*
 * Parses decimal digits into *value_r, saturating at UINT64_MAX. Returns
 * false unless `arg` is one or more digits and nothing else.
 */
static bool parse_decimal(const char *arg, size_t len, uint64_t *value_r)
{
	uint64_t value = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return false;
		unsigned digit = (unsigned)(arg[i] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			value = UINT64_MAX;
		else
			value = value * 10 + digit;
	}
	*value_r = value;
	return true;
}

enum pop3_msgno pop3_msgno_parse(const char *arg, size_t len, size_t count, const bool *deleted,
                                 size_t *index_r)
{
	uint64_t n;

	if (!parse_decimal(arg, len, &n))
		return POP3_MSGNO_SYNTAX;
	if (n == 0 || n > count)
		return POP3_MSGNO_NO_SUCH;
	if (deleted != NULL && deleted[n - 1])
		return POP3_MSGNO_DELETED;
	*index_r = (size_t)(n - 1);
	return POP3_MSGNO_OK;
}

bool pop3_count_parse(const char *arg, size_t len, uint64_t *count_r)
{
	return parse_decimal(arg, len, count_r);
}
