/*
 * pop3_command.h - pure parsing of POP3 command lines and their numeric
 * arguments. No I/O, no session: the session looks the verb up in its
 * command table and the handlers validate arguments with these helpers, so
 * every rule about what a well-formed argument is lives here and is unit
 * tested and fuzzed on its own.
 */
#ifndef MAIL_POP3_COMMAND_H
#define MAIL_POP3_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 1939 3 / RFC 2449 3: keywords are three or four characters. */
#define POP3_VERB_MAX 4
/* RFC 1939 3: an argument is up to 40 characters; we only split this many. */
#define POP3_ARGS_MAX 3

struct pop3_command {
	char verb[POP3_VERB_MAX + 1]; /* upper-cased, NUL-terminated */
	size_t argc;                  /* arguments seen, may exceed POP3_ARGS_MAX */
	/* The first POP3_ARGS_MAX arguments; point into the parsed line, not NUL-terminated. */
	const char *argv[POP3_ARGS_MAX];
	size_t argl[POP3_ARGS_MAX];
	/*
	 * Everything after the verb and its separating space, verbatim. PASS
	 * uses it because RFC 1939 7 lets a password contain spaces.
	 */
	const char *rest;
	size_t restlen;
};

/*
 * Splits a command line (without CRLF) into verb and arguments. Arguments
 * are separated by runs of spaces (RFC 1939 says one space; accepting more
 * costs nothing). Returns false when the line has no verb, the verb is
 * longer than POP3_VERB_MAX or contains a byte other than a letter; then
 * *cmd is unspecified. The pointers in *cmd point into `line`.
 */
bool pop3_command_parse(const char *line, size_t len, struct pop3_command *cmd);

/* Outcome of validating a message-number argument. */
enum pop3_msgno {
	POP3_MSGNO_OK = 0,
	POP3_MSGNO_SYNTAX,   /* not a decimal number (empty, sign, letters) */
	POP3_MSGNO_NO_SUCH,  /* 0, or beyond the maildrop (huge numbers included) */
	POP3_MSGNO_DELETED,  /* marked as deleted in this session (RFC 1939 5) */
};

/*
 * Validates a message-number argument against a maildrop of `count`
 * messages, of which deleted[i] (may be NULL) marks message i+1 deleted.
 * On POP3_MSGNO_OK, *index_r is the zero-based index.
 */
enum pop3_msgno pop3_msgno_parse(const char *arg, size_t len, size_t count, const bool *deleted,
                                 size_t *index_r);

/*
 * Parses a non-negative decimal count (the line count of TOP). Numbers
 * too large for uint64_t saturate at UINT64_MAX, which means "the whole
 * message". Returns false when `arg` is not a decimal number.
 */
bool pop3_count_parse(const char *arg, size_t len, uint64_t *count_r);

#endif
