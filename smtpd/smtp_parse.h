/*
 * smtp_parse.h - SMTP command lines (RFC 5321 4.1) into verbs and arguments,
 * and the arguments of EHLO/HELO, MAIL, RCPT, BDAT and AUTH into structs.
 *
 * Pure functions: no I/O, no allocation, no global state; safe to fuzz.
 * Every input is a byte slice that need not be NUL-terminated and may hold
 * any byte. Slices in the results point into the caller's input and live
 * as long as it does; everything else is copied into the result structs.
 *
 * Every function returns an enum smtp_parse_result. SMTP_PARSE_OK means the
 * result struct is filled; anything else is a client mistake that the
 * session answers with smtp_parse_error(result), so that every reply to a
 * given mistake is the same everywhere (the result structs are then
 * unspecified).
 *
 * What a session does with one line:
 *
 *   struct smtp_command cmd;
 *   r = smtp_parse_command(line, len, &cmd);          // verb + argument
 *   switch (cmd.verb) {
 *   case SMTP_VERB_MAIL: r = smtp_parse_mail(cmd.arg, cmd.arg_len, ext, &mail); ...
 *   case SMTP_VERB_RCPT: r = smtp_parse_rcpt(cmd.arg, cmd.arg_len, mail.smtputf8, &rcpt); ...
 *
 * The line given to smtp_parse_command is one line without its CRLF, as the
 * connection layer delivers it. Whether a line that ended in a bare LF is
 * accepted at all is the session's decision, not this module's.
 */
#ifndef MAIL_SMTP_PARSE_H
#define MAIL_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_address.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF. */
#define SMTP_COMMAND_LINE_MAX 512
/*
 * MAIL FROM may exceed that by what its parameters add: SIZE 26 (RFC 1870
 * 6), AUTH= 500 (RFC 4954 5), SMTPUTF8 10 (RFC 6531 3.4), BODY=8BITMIME 14
 * (RFC 6152 defines no allowance; the keyword and value are counted here).
 */
#define SMTP_MAIL_LINE_MAX (SMTP_COMMAND_LINE_MAX + 26 + 500 + 10 + 14)
/* Longest decoded AUTH= value kept (RFC 4954 5 allows it 500 octets). */
#define SMTP_AUTH_PARAM_MAX 500
/* RFC 4954 4: a SASL mechanism name is 1 to 20 characters. */
#define SMTP_SASL_MECH_MAX 20

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};
#define SMTP_VERB_COUNT (SMTP_VERB_AUTH + 1)

enum smtp_parse_result {
	SMTP_PARSE_OK = 0,
	/* Any line. */
	SMTP_PARSE_UNKNOWN_COMMAND,  /* 500 5.5.1 */
	SMTP_PARSE_BAD_CHARACTER,    /* 500 5.5.2: NUL, CR, LF, other controls; 8-bit
	                              * outside MAIL and RCPT */
	SMTP_PARSE_LINE_TOO_LONG,    /* 500 5.5.2: never returned here; for the session to
	                              * answer an over-long line (RFC 5321 4.5.3.1.10) */
	SMTP_PARSE_ARG_REQUIRED,     /* 501 5.5.4: VRFY, EXPN without argument */
	SMTP_PARSE_ARG_NOT_ALLOWED,  /* 501 5.5.4: DATA, RSET, QUIT, STARTTLS with one */
	/* EHLO / HELO. */
	SMTP_PARSE_HELO_SYNTAX,      /* 501 5.5.4: no argument */
	/* MAIL and RCPT. */
	SMTP_PARSE_MAIL_SYNTAX,      /* 501 5.5.4: not "FROM:<...>" */
	SMTP_PARSE_RCPT_SYNTAX,      /* 501 5.5.4: not "TO:<...>" */
	SMTP_PARSE_BAD_SENDER,       /* 501 5.1.7: reverse-path syntax */
	SMTP_PARSE_BAD_RECIPIENT,    /* 553 5.1.3: forward-path syntax, "<>" included */
	SMTP_PARSE_SENDER_TOO_LONG,  /* 501 5.1.7: RFC 5321 4.5.3.1.10 "Path too long" */
	SMTP_PARSE_RECIPIENT_TOO_LONG, /* 501 5.1.3: likewise */
	SMTP_PARSE_SENDER_NEEDS_SMTPUTF8,    /* 553 5.6.7: RFC 6531 3.5 */
	SMTP_PARSE_RECIPIENT_NEEDS_SMTPUTF8, /* 553 5.6.7 */
	SMTP_PARSE_PARAM_SYNTAX,     /* 501 5.5.4: esmtp-keyword[=esmtp-value] broken */
	SMTP_PARSE_PARAM_UNKNOWN,    /* 555 5.5.4: not an advertised parameter (RFC 5321 4.1.1.11) */
	SMTP_PARSE_PARAM_DUPLICATE,  /* 501 5.5.4 */
	SMTP_PARSE_SIZE_SYNTAX,      /* 501 5.5.4: SIZE= not 1*20DIGIT (RFC 1870) */
	SMTP_PARSE_BODY_UNSUPPORTED, /* 555 5.5.4: BODY= other than 7BIT / 8BITMIME */
	SMTP_PARSE_AUTH_PARAM_SYNTAX, /* 501 5.5.4: AUTH= not "<>" or valid xtext (RFC 4954 5) */
	SMTP_PARSE_DSN_PARAM_SYNTAX, /* 501 5.5.4: RET, ENVID, NOTIFY or ORCPT malformed (RFC 3461) */
	/* BDAT. */
	SMTP_PARSE_BDAT_SYNTAX,      /* 501 5.5.4 */
	/* AUTH. */
	SMTP_PARSE_AUTH_SYNTAX,      /* 501 5.5.4 */
};

/* The reply a session sends for a result: "<code> <enh> <text>". */
struct smtp_parse_error {
	int code;          /* 500, 501, 553, 555 */
	const char *enh;   /* RFC 3463 enhanced status code, "5.5.4" */
	const char *text;  /* short human text, no CRLF */
};

/* The reply for a result; NULL for SMTP_PARSE_OK. Static storage. */
const struct smtp_parse_error *smtp_parse_error(enum smtp_parse_result result);

/* The verb in upper case ("MAIL"); "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

struct smtp_command {
	enum smtp_verb verb;
	const char *arg;   /* the argument, inside the input line; never NULL */
	size_t arg_len;    /* 0 when there is none */
};

/*
 * Splits one command line (without CRLF) into verb and argument. The verb
 * is case-insensitive and ends at the first SP; any number of SPs separate
 * it from the argument, and trailing SPs are dropped (clients send
 * "DATA "). Checks, in this order:
 *   - any byte below 0x20 (NUL, CR, LF, TAB...) or DEL: BAD_CHARACTER
 *     (a CR or LF inside a line is how command smuggling starts);
 *   - an unknown or empty verb: UNKNOWN_COMMAND (cmd_r->verb is then
 *     SMTP_VERB_UNKNOWN);
 *   - bytes >= 0x80 anywhere except in MAIL and RCPT lines, where
 *     smtp_parse_mail/rcpt judge them (SMTPUTF8 addresses): BAD_CHARACTER;
 *   - DATA, RSET, QUIT, STARTTLS with an argument: ARG_NOT_ALLOWED;
 *     VRFY and EXPN without one: ARG_REQUIRED. NOOP and HELP take an
 *     optional one. EHLO, HELO, MAIL, RCPT, BDAT and AUTH arguments are left
 *     to their own parsers below.
 * cmd_r->verb is set whenever the verb was recognised, even on error.
 */
enum smtp_parse_result smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd_r);

struct smtp_helo {
	const char *name;  /* the whole argument, inside the input */
	size_t name_len;
	/* The argument is a syntactically valid Domain or address-literal
	 * (RFC 5321 4.1.1.1). Many real clients send something else (a bare
	 * host name with '_', a NetBIOS name): whether to accept them is the
	 * session's policy, so it is reported and not enforced. */
	bool valid;
};

/* EHLO / HELO argument. Only an empty one is an error (HELO_SYNTAX). */
enum smtp_parse_result smtp_parse_helo(const char *arg, size_t len, struct smtp_helo *helo_r);

/* Which extensions the session advertised: their MAIL parameters are known. */
#define SMTP_EXT_SIZE 0x01      /* SIZE= (RFC 1870) */
#define SMTP_EXT_8BITMIME 0x02  /* BODY= (RFC 6152) */
#define SMTP_EXT_SMTPUTF8 0x04  /* SMTPUTF8 (RFC 6531) */
#define SMTP_EXT_AUTH 0x08      /* AUTH= (RFC 4954 5) */
#define SMTP_EXT_DSN 0x10       /* RET=, ENVID= on MAIL; NOTIFY=, ORCPT= on RCPT (RFC 3461) */

/* RFC 3461 4.3 and 4.4: ENVID is at most 100 characters, ORCPT at most 500. */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

/* RET= (RFC 3461 4.3): what a failure report carries of the message. */
enum smtp_dsn_ret {
	SMTP_DSN_RET_NONE = 0,
	SMTP_DSN_RET_FULL,
	SMTP_DSN_RET_HDRS,
};

/* NOTIFY= (RFC 3461 4.1): when the sender wants a report; 0 when not given
 * (then failures and delays are reported, as without DSN). */
#define SMTP_NOTIFY_NEVER 0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY 0x8

enum smtp_body {
	SMTP_BODY_NONE = 0,  /* no BODY= parameter */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
};

struct smtp_mail {
	struct smtp_path path;  /* path.null for "<>" */
	bool size_given;
	/* SIZE= value. A value above UINT64_MAX (up to 20 digits are allowed)
	 * is reported as UINT64_MAX: it is over any limit, so the session's
	 * 552 check (RFC 1870 6.1) covers it. */
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	bool auth_given;
	bool auth_null;  /* AUTH=<> */
	/* AUTH= value, xtext-decoded (RFC 3461 4): printable, well-formed UTF-8
	 * without control characters; "" when auth_null. Not checked as an
	 * address: it only matters when relaying. */
	char auth[SMTP_AUTH_PARAM_MAX + 1];
	enum smtp_dsn_ret ret;
	/* ENVID= as given (xtext, RFC 3461 4.4); "" when not given. */
	char envid[SMTP_ENVID_MAX + 1];
};

/*
 * MAIL argument: "FROM:" (case-insensitive), at most one SP (a common
 * leniency: "MAIL FROM: <a@b>"), a reverse-path in angle brackets ("<>"
 * allowed), then SP-separated parameters. `ext` is the SMTP_EXT_* set the
 * session advertised (0 after HELO); other parameters give PARAM_UNKNOWN. BINARYMIME is not advertised,
 * so BODY=BINARYMIME gives BODY_UNSUPPORTED. The first error from the left
 * is reported, except that non-ASCII in the path, which needs the SMTPUTF8
 * parameter on the same line (SENDER_NEEDS_SMTPUTF8), can only be judged
 * after the parameters that follow it.
 */
enum smtp_parse_result smtp_parse_mail(const char *arg, size_t len, unsigned ext,
                                       struct smtp_mail *mail_r);

struct smtp_rcpt {
	struct smtp_path path;  /* path.postmaster for "<Postmaster>" */
	unsigned notify;        /* SMTP_NOTIFY_*; 0 when not given */
	/* ORCPT= as given ("rfc822;alice+2Bx@example.test", RFC 3461 4.2); "" when not given. */
	char orcpt[SMTP_ORCPT_MAX + 1];
};

/*
 * RCPT argument: "TO:" (case-insensitive), at most one SP, a forward-path
 * ("<Postmaster>" allowed, "<>" is BAD_RECIPIENT), then parameters: NOTIFY
 * and ORCPT when `ext` has SMTP_EXT_DSN, any other well-formed one gives
 * PARAM_UNKNOWN. `smtputf8` tells whether the
 * transaction's MAIL carried SMTPUTF8; without it a non-ASCII path gives
 * RECIPIENT_NEEDS_SMTPUTF8.
 */
enum smtp_parse_result smtp_parse_rcpt(const char *arg, size_t len, bool smtputf8, unsigned ext,
                                       struct smtp_rcpt *rcpt_r);

/*
 * BDAT argument (RFC 3030 2): chunk-size [SP "LAST"], chunk-size 1*DIGIT up
 * to UINT64_MAX, LAST case-insensitive. On BDAT_SYNTAX the chunk's length is
 * unknown, so the session cannot skip it: it can only reply and close.
 */
enum smtp_parse_result smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r, bool *last_r);

struct smtp_auth {
	char mech[SMTP_SASL_MECH_MAX + 1];  /* upper-cased: "PLAIN" */
	bool has_initial;      /* an initial response was given (RFC 4954 4) */
	const char *initial;   /* inside the input; "=" means an empty response */
	size_t initial_len;
};

/*
 * AUTH argument: mechanism [SP initial-response]. The mechanism is 1 to 20
 * of A-Z, 0-9, '-', '_' (accepted in any case); the initial response must be
 * base64 characters or a single "=". Decoding is the SASL layer's job.
 */
enum smtp_parse_result smtp_parse_auth(const char *arg, size_t len, struct smtp_auth *auth_r);

#endif
