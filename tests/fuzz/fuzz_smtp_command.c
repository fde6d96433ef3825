/*
 * fuzz_smtp_command.c - a command line through smtp_parse_command and then
 * through every argument parser (smtp_parse.h), checking what each promises:
 * results in range, a reply for every error, slices inside the input,
 * NUL-terminated strings within their limits, and consistency between
 * related calls.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

#define EXT_ALL (SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | SMTP_EXT_AUTH)

static void check_result(enum smtp_parse_result r)
{
	CHECK((int)r >= SMTP_PARSE_OK && (int)r <= SMTP_PARSE_AUTH_SYNTAX);
	const struct smtp_parse_error *e = smtp_parse_error(r);
	CHECK((r == SMTP_PARSE_OK) == (e == NULL));
	if (e != NULL)
		CHECK(e->code >= 500 && e->code <= 555 && e->enh != NULL && e->text != NULL);
}

static void check_inside(const char *p, size_t n, const char *s, size_t len)
{
	CHECK(p >= s && p <= s + len && n <= (size_t)(s + len - p));
}

static void check_path(const struct smtp_path *path)
{
	const struct smtp_mailbox *mb = &path->mailbox;
	char text[SMTP_MAILBOX_MAX + 1];

	CHECK(memchr(mb->local, '\0', sizeof(mb->local)) != NULL);
	CHECK(memchr(mb->domain.name, '\0', sizeof(mb->domain.name)) != NULL);
	CHECK(smtp_address_format(mb, text, sizeof(text)) >= 0);
	if (path->null)
		CHECK(mb->local[0] == '\0' && mb->domain.name[0] == '\0' && !path->postmaster);
	else if (path->postmaster)
		CHECK(strcmp(mb->local, "postmaster") == 0 && mb->domain.name[0] == '\0');
	else
		CHECK(mb->local[0] != '\0' && mb->domain.name[0] != '\0');
}

static void fuzz_mail(const char *arg, size_t len)
{
	static const unsigned exts[] = { 0, SMTP_EXT_SIZE, EXT_ALL };
	struct smtp_mail mail;

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		enum smtp_parse_result r = smtp_parse_mail(arg, len, exts[i], &mail);
		check_result(r);
		if (r != SMTP_PARSE_OK)
			continue;
		check_path(&mail.path);
		CHECK(!mail.path.postmaster);
		CHECK(memchr(mail.auth, '\0', sizeof(mail.auth)) != NULL);
		CHECK(!mail.auth_null || mail.auth_given);
		CHECK(!mail.size_given || (exts[i] & SMTP_EXT_SIZE));
		CHECK(mail.body == SMTP_BODY_NONE || (exts[i] & SMTP_EXT_8BITMIME));
		CHECK(!mail.smtputf8 || (exts[i] & SMTP_EXT_SMTPUTF8));
		CHECK(!mail.auth_given || (exts[i] & SMTP_EXT_AUTH));
		CHECK(!mail.path.mailbox.utf8 || mail.smtputf8);
	}
}

static void fuzz_rcpt(const char *arg, size_t len)
{
	struct smtp_rcpt ascii, utf8;

	enum smtp_parse_result r1 = smtp_parse_rcpt(arg, len, false, SMTP_EXT_DSN, &ascii);
	enum smtp_parse_result r2 = smtp_parse_rcpt(arg, len, true, SMTP_EXT_DSN, &utf8);
	check_result(r1);
	check_result(r2);
	/* SMTPUTF8 only ever turns a refusal into an acceptance. */
	if (r1 == SMTP_PARSE_OK) {
		CHECK(r2 == SMTP_PARSE_OK);
		CHECK(!ascii.path.mailbox.utf8);
		CHECK(strcmp(ascii.path.mailbox.local, utf8.path.mailbox.local) == 0);
		CHECK(strcmp(ascii.path.mailbox.domain.name, utf8.path.mailbox.domain.name) == 0);
	}
	if (r2 == SMTP_PARSE_OK) {
		check_path(&utf8.path);
		CHECK(!utf8.path.null);
	}
	if (r2 != SMTP_PARSE_OK)
		CHECK(r1 == r2);
}

static void fuzz_others(const char *arg, size_t len)
{
	struct smtp_helo helo;
	enum smtp_parse_result r = smtp_parse_helo(arg, len, &helo);
	check_result(r);
	if (r == SMTP_PARSE_OK)
		check_inside(helo.name, helo.name_len, arg, len);

	uint64_t chunk;
	bool last;
	check_result(smtp_parse_bdat(arg, len, &chunk, &last));

	struct smtp_auth auth;
	r = smtp_parse_auth(arg, len, &auth);
	check_result(r);
	if (r == SMTP_PARSE_OK) {
		size_t n = strlen(auth.mech);
		CHECK(n >= 1 && n <= SMTP_SASL_MECH_MAX);
		check_inside(auth.initial, auth.initial_len, arg, len);
		CHECK(auth.has_initial == (auth.initial_len > 0));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct smtp_command cmd;

	enum smtp_parse_result r = smtp_parse_command(line, size, &cmd);
	check_result(r);
	CHECK((int)cmd.verb >= SMTP_VERB_UNKNOWN && (int)cmd.verb < SMTP_VERB_COUNT);
	CHECK(smtp_verb_name(cmd.verb) != NULL);
	check_inside(cmd.arg, cmd.arg_len, line, size);
	if (r == SMTP_PARSE_OK) {
		CHECK(cmd.verb != SMTP_VERB_UNKNOWN);
		CHECK(memchr(line, '\0', size) == NULL && memchr(line, '\r', size) == NULL &&
		      memchr(line, '\n', size) == NULL);
		CHECK(cmd.arg_len == 0 || (cmd.arg[0] != ' ' && cmd.arg[cmd.arg_len - 1] != ' '));
	}

	/* The argument parsers, on the argument and on the raw input, so that
	 * they are reached even when the line is no command at all. */
	switch (cmd.verb) {
	case SMTP_VERB_MAIL:
		fuzz_mail(cmd.arg, cmd.arg_len);
		break;
	case SMTP_VERB_RCPT:
		fuzz_rcpt(cmd.arg, cmd.arg_len);
		break;
	default:
		fuzz_others(cmd.arg, cmd.arg_len);
		break;
	}
	fuzz_mail(line, size);
	fuzz_rcpt(line, size);
	fuzz_others(line, size);
	return 0;
}
