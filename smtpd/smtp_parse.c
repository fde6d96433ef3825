/* smtp_parse.c - SMTP command lines and their arguments; see smtp_parse.h. */
#include "smtp_parse.h"

#include <assert.h>
#include <string.h>

/* How smtp_parse_command treats a verb's argument. */
enum arg_policy {
	ARG_NONE,     /* must be absent */
	ARG_OPTIONAL, /* free text or nothing */
	ARG_REQUIRED, /* free text, not empty */
	ARG_OWN,      /* judged by the verb's own parser below */
};

static const struct verb_info {
	const char *name;
	enum arg_policy policy;
	bool eight_bit; /* bytes >= 0x80 may appear (SMTPUTF8 addresses) */
} verbs[SMTP_VERB_COUNT] = {
	[SMTP_VERB_UNKNOWN] = { "UNKNOWN", ARG_OPTIONAL, false },
	[SMTP_VERB_EHLO] = { "EHLO", ARG_OWN, false },
	[SMTP_VERB_HELO] = { "HELO", ARG_OWN, false },
	[SMTP_VERB_MAIL] = { "MAIL", ARG_OWN, true },
	[SMTP_VERB_RCPT] = { "RCPT", ARG_OWN, true },
	[SMTP_VERB_DATA] = { "DATA", ARG_NONE, false },
	[SMTP_VERB_BDAT] = { "BDAT", ARG_OWN, false },
	[SMTP_VERB_RSET] = { "RSET", ARG_NONE, false },
	[SMTP_VERB_NOOP] = { "NOOP", ARG_OPTIONAL, false },
	[SMTP_VERB_QUIT] = { "QUIT", ARG_NONE, false },
	[SMTP_VERB_VRFY] = { "VRFY", ARG_REQUIRED, false },
	[SMTP_VERB_EXPN] = { "EXPN", ARG_REQUIRED, false },
	[SMTP_VERB_HELP] = { "HELP", ARG_OPTIONAL, false },
	[SMTP_VERB_STARTTLS] = { "STARTTLS", ARG_NONE, false },
	[SMTP_VERB_AUTH] = { "AUTH", ARG_OWN, false },
};

static const struct smtp_parse_error errors[] = {
	[SMTP_PARSE_UNKNOWN_COMMAND] = { 500, "5.5.1", "Command unrecognized" },
	[SMTP_PARSE_BAD_CHARACTER] = { 500, "5.5.2", "Invalid character in command" },
	[SMTP_PARSE_LINE_TOO_LONG] = { 500, "5.5.2", "Line too long" },
	[SMTP_PARSE_ARG_REQUIRED] = { 501, "5.5.4", "Argument required" },
	[SMTP_PARSE_ARG_NOT_ALLOWED] = { 501, "5.5.4", "No parameters allowed" },
	[SMTP_PARSE_HELO_SYNTAX] = { 501, "5.5.4", "Syntax: EHLO hostname" },
	[SMTP_PARSE_MAIL_SYNTAX] = { 501, "5.5.4", "Syntax: MAIL FROM:<address>" },
	[SMTP_PARSE_RCPT_SYNTAX] = { 501, "5.5.4", "Syntax: RCPT TO:<address>" },
	[SMTP_PARSE_BAD_SENDER] = { 501, "5.1.7", "Bad sender address syntax" },
	[SMTP_PARSE_BAD_RECIPIENT] = { 553, "5.1.3", "Bad recipient address syntax" },
	[SMTP_PARSE_SENDER_TOO_LONG] = { 501, "5.1.7", "Sender address too long" },
	[SMTP_PARSE_RECIPIENT_TOO_LONG] = { 501, "5.1.3", "Recipient address too long" },
	[SMTP_PARSE_SENDER_NEEDS_SMTPUTF8] = { 553, "5.6.7",
	                                       "Non-ASCII sender address needs SMTPUTF8" },
	[SMTP_PARSE_RECIPIENT_NEEDS_SMTPUTF8] = { 553, "5.6.7",
	                                          "Non-ASCII recipient address needs SMTPUTF8" },
	[SMTP_PARSE_PARAM_SYNTAX] = { 501, "5.5.4", "Syntax error in parameters" },
	[SMTP_PARSE_PARAM_UNKNOWN] = { 555, "5.5.4", "Unsupported parameter" },
	[SMTP_PARSE_PARAM_DUPLICATE] = { 501, "5.5.4", "Duplicate parameter" },
	[SMTP_PARSE_SIZE_SYNTAX] = { 501, "5.5.4", "Bad SIZE value" },
	[SMTP_PARSE_BODY_UNSUPPORTED] = { 555, "5.5.4", "Unsupported BODY type" },
	[SMTP_PARSE_AUTH_PARAM_SYNTAX] = { 501, "5.5.4", "Bad AUTH parameter value" },
	[SMTP_PARSE_DSN_PARAM_SYNTAX] = { 501, "5.5.4", "Bad DSN parameter value (RFC 3461)" },
	[SMTP_PARSE_BDAT_SYNTAX] = { 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]" },
	[SMTP_PARSE_AUTH_SYNTAX] = { 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]" },
};

const struct smtp_parse_error *smtp_parse_error(enum smtp_parse_result result)
{
	assert((size_t)result < sizeof(errors) / sizeof(errors[0]));
	if (result == SMTP_PARSE_OK)
		return NULL;
	return &errors[result];
}

const char *smtp_verb_name(enum smtp_verb verb)
{
	assert((size_t)verb < SMTP_VERB_COUNT);
	return verbs[verb].name;
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char to_upper(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - ('a' - 'A')) : c;
}

/* s[0..len) equals the upper-case literal `lit`, ignoring ASCII case. */
static bool ci_equal(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (to_upper((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

static bool ci_prefix(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);
	return len >= n && ci_equal(s, n, lit);
}

static bool has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

enum smtp_parse_result smtp_parse_command(const char *line, size_t len, struct smtp_command *cmd_r)
{
	cmd_r->verb = SMTP_VERB_UNKNOWN;
	cmd_r->arg = line + len;
	cmd_r->arg_len = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 || c == 0x7f)
			return SMTP_PARSE_BAD_CHARACTER;
	}

	size_t vlen = 0;
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	enum smtp_verb verb = SMTP_VERB_UNKNOWN;
	for (size_t v = 1; v < SMTP_VERB_COUNT; v++) {
		if (ci_equal(line, vlen, verbs[v].name)) {
			verb = (enum smtp_verb)v;
			break;
		}
	}
	if (verb == SMTP_VERB_UNKNOWN)
		return SMTP_PARSE_UNKNOWN_COMMAND;
	cmd_r->verb = verb;

	size_t start = vlen, end = len;
	while (start < end && line[start] == ' ')
		start++;
	while (end > start && line[end - 1] == ' ')
		end--;
	cmd_r->arg = line + start;
	cmd_r->arg_len = end - start;

	if (!verbs[verb].eight_bit && has_8bit(line, len))
		return SMTP_PARSE_BAD_CHARACTER;
	if (verbs[verb].policy == ARG_NONE && cmd_r->arg_len > 0)
		return SMTP_PARSE_ARG_NOT_ALLOWED;
	if (verbs[verb].policy == ARG_REQUIRED && cmd_r->arg_len == 0)
		return SMTP_PARSE_ARG_REQUIRED;
	return SMTP_PARSE_OK;
}

enum smtp_parse_result smtp_parse_helo(const char *arg, size_t len, struct smtp_helo *helo_r)
{
	struct smtp_domain domain;

	helo_r->name = arg;
	helo_r->name_len = len;
	helo_r->valid = false;
	if (len == 0)
		return SMTP_PARSE_HELO_SYNTAX;
	helo_r->valid = smtp_address_parse_domain(arg, len, 0, &domain) == SMTP_ADDRESS_OK;
	return SMTP_PARSE_OK;
}

/* One esmtp-param: esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2). */
struct param {
	const char *key;
	size_t key_len;
	const char *value; /* NULL when there is no "=" */
	size_t value_len;
};

/*
 * The next SP-separated parameter of s[*pos..len) into *p, advancing *pos.
 * Returns 1 with a parameter, 0 at the end, or -1 if it is malformed.
 */
static int next_param(const char *s, size_t len, size_t *pos, struct param *p)
{
	size_t i = *pos;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return 0;
	}
	size_t start = i;
	while (i < len && s[i] != ' ')
		i++;
	*pos = i;

	size_t tok_len = i - start;
	const char *eq = memchr(s + start, '=', tok_len);
	p->key = s + start;
	p->key_len = eq != NULL ? (size_t)(eq - p->key) : tok_len;
	p->value = eq != NULL ? eq + 1 : NULL;
	p->value_len = eq != NULL ? tok_len - p->key_len - 1 : 0;

	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (p->key_len == 0 || p->key[0] == '-')
		return -1;
	for (size_t k = 0; k < p->key_len; k++) {
		unsigned char c = (unsigned char)p->key[k];
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return -1;
	}
	if (p->value == NULL)
		return 1;
	/* esmtp-value = 1*(%d33-60 / %d62-126), and UTF-8 (RFC 6531 3.3) */
	if (p->value_len == 0 || !smtp_address_utf8_valid(p->value, p->value_len))
		return -1;
	for (size_t k = 0; k < p->value_len; k++) {
		unsigned char c = (unsigned char)p->value[k];
		if (c < 33 || c == '=' || c == 127)
			return -1;
	}
	return 1;
}

/* SIZE=1*20DIGIT (RFC 1870 3), saturating at UINT64_MAX. */
static bool parse_size_value(const char *s, size_t len, uint64_t *size_r)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			v = UINT64_MAX;
		else if (v != UINT64_MAX)
			v = v * 10 + d;
	}
	*size_r = v;
	return true;
}

static int hex_digit(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	c = to_upper(c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * AUTH= value (RFC 4954 5): "<>" or xtext (RFC 3461 4). xtext's hexchar is
 * upper case by the grammar; lower case is accepted as well, since
 * rejecting it would fail the whole transaction over a cosmetic slip.
 */
static bool parse_auth_value(const char *s, size_t len, struct smtp_mail *mail)
{
	size_t o = 0;

	if (len == 2 && s[0] == '<' && s[1] == '>') {
		mail->auth_null = true;
		mail->auth[0] = '\0';
		return true;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			int hi = i + 2 < len ? hex_digit((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_digit((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return false;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126) {
			return false; /* xchar is printable ASCII */
		}
		if (c < 0x20 || c == 0x7f || o >= SMTP_AUTH_PARAM_MAX)
			return false;
		mail->auth[o++] = (char)c;
	}
	mail->auth[o] = '\0';
	return o > 0 && smtp_address_utf8_valid(mail->auth, o);
}

/* xtext (RFC 3461 4): printable ASCII but '+' and '=', "+XX" for others; at most max long. */
static bool xtext_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			if (i + 2 >= len || hex_digit((unsigned char)s[i + 1]) < 0 ||
			    hex_digit((unsigned char)s[i + 2]) < 0)
				return false;
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

/* Copies a checked value into a NUL-terminated field. */
static void copy_value(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* RET= and ENVID= (RFC 3461 4.3, 4.4). */
static enum smtp_parse_result mail_dsn_param(const struct param *p, struct smtp_mail *mail)
{
	if (ci_equal(p->key, p->key_len, "RET")) {
		if (mail->ret != SMTP_DSN_RET_NONE)
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value != NULL && ci_equal(p->value, p->value_len, "FULL"))
			mail->ret = SMTP_DSN_RET_FULL;
		else if (p->value != NULL && ci_equal(p->value, p->value_len, "HDRS"))
			mail->ret = SMTP_DSN_RET_HDRS;
		else
			return SMTP_PARSE_DSN_PARAM_SYNTAX;
		return SMTP_PARSE_OK;
	}
	if (mail->envid[0] != '\0')
		return SMTP_PARSE_PARAM_DUPLICATE;
	if (p->value == NULL || !xtext_valid(p->value, p->value_len, SMTP_ENVID_MAX))
		return SMTP_PARSE_DSN_PARAM_SYNTAX;
	copy_value(mail->envid, p->value, p->value_len);
	return SMTP_PARSE_OK;
}

/* NOTIFY= (RFC 3461 4.1): NEVER alone, or a list of SUCCESS, FAILURE, DELAY. */
static bool parse_notify(const char *s, size_t len, unsigned *notify_r)
{
	static const struct { const char *name; unsigned bit; } words[] = {
		{ "NEVER", SMTP_NOTIFY_NEVER }, { "SUCCESS", SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", SMTP_NOTIFY_FAILURE }, { "DELAY", SMTP_NOTIFY_DELAY },
	};
	unsigned notify = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != ',')
			continue;
		unsigned bit = 0;
		for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
			if (ci_equal(s + start, i - start, words[w].name))
				bit = words[w].bit;
		if (bit == 0 || (notify & bit))
			return false;
		notify |= bit;
		start = i + 1;
	}
	if ((notify & SMTP_NOTIFY_NEVER) && notify != SMTP_NOTIFY_NEVER)
		return false;
	*notify_r = notify;
	return true;
}

/* ORCPT= (RFC 3461 4.2): addr-type ";" xtext. */
static bool orcpt_valid(const char *s, size_t len)
{
	const char *semi = memchr(s, ';', len);
	if (semi == NULL || semi == s || len > SMTP_ORCPT_MAX)
		return false;
	for (const char *c = s; c < semi; c++)
		if (!(is_digit((unsigned char)*c) || (to_upper((unsigned char)*c) >= 'A' &&
		                                      to_upper((unsigned char)*c) <= 'Z') || *c == '-'))
			return false;
	return xtext_valid(semi + 1, len - (size_t)(semi + 1 - s), SMTP_ORCPT_MAX);
}

static enum smtp_parse_result rcpt_param(const struct param *p, unsigned ext, struct smtp_rcpt *rcpt)
{
	if (!(ext & SMTP_EXT_DSN))
		return SMTP_PARSE_PARAM_UNKNOWN;
	if (ci_equal(p->key, p->key_len, "NOTIFY")) {
		if (rcpt->notify != 0)
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value == NULL || !parse_notify(p->value, p->value_len, &rcpt->notify))
			return SMTP_PARSE_DSN_PARAM_SYNTAX;
		return SMTP_PARSE_OK;
	}
	if (ci_equal(p->key, p->key_len, "ORCPT")) {
		if (rcpt->orcpt[0] != '\0')
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value == NULL || !orcpt_valid(p->value, p->value_len))
			return SMTP_PARSE_DSN_PARAM_SYNTAX;
		copy_value(rcpt->orcpt, p->value, p->value_len);
		return SMTP_PARSE_OK;
	}
	return SMTP_PARSE_PARAM_UNKNOWN;
}

/* One MAIL parameter, already well-formed. */
static enum smtp_parse_result mail_param(const struct param *p, unsigned ext, struct smtp_mail *mail)
{
	if ((ext & SMTP_EXT_SIZE) && ci_equal(p->key, p->key_len, "SIZE")) {
		if (mail->size_given)
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value == NULL || !parse_size_value(p->value, p->value_len, &mail->size))
			return SMTP_PARSE_SIZE_SYNTAX;
		mail->size_given = true;
		return SMTP_PARSE_OK;
	}
	if ((ext & SMTP_EXT_8BITMIME) && ci_equal(p->key, p->key_len, "BODY")) {
		if (mail->body != SMTP_BODY_NONE)
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value == NULL)
			return SMTP_PARSE_PARAM_SYNTAX;
		if (ci_equal(p->value, p->value_len, "7BIT"))
			mail->body = SMTP_BODY_7BIT;
		else if (ci_equal(p->value, p->value_len, "8BITMIME"))
			mail->body = SMTP_BODY_8BITMIME;
		else
			return SMTP_PARSE_BODY_UNSUPPORTED; /* BINARYMIME is not advertised */
		return SMTP_PARSE_OK;
	}
	if ((ext & SMTP_EXT_SMTPUTF8) && ci_equal(p->key, p->key_len, "SMTPUTF8")) {
		if (mail->smtputf8)
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value != NULL)
			return SMTP_PARSE_PARAM_SYNTAX;
		mail->smtputf8 = true;
		return SMTP_PARSE_OK;
	}
	if ((ext & SMTP_EXT_AUTH) && ci_equal(p->key, p->key_len, "AUTH")) {
		if (mail->auth_given)
			return SMTP_PARSE_PARAM_DUPLICATE;
		if (p->value == NULL || !parse_auth_value(p->value, p->value_len, mail))
			return SMTP_PARSE_AUTH_PARAM_SYNTAX;
		mail->auth_given = true;
		return SMTP_PARSE_OK;
	}
	if ((ext & SMTP_EXT_DSN) &&
	    (ci_equal(p->key, p->key_len, "RET") || ci_equal(p->key, p->key_len, "ENVID")))
		return mail_dsn_param(p, mail);
	return SMTP_PARSE_PARAM_UNKNOWN;
}

/*
 * "FROM:" / "TO:" prefix, optional SP, then the path. On success *pos is
 * just past the path's '>'.
 */
static enum smtp_address_error parse_prefixed_path(const char *arg, size_t len, const char *prefix,
                                                   unsigned flags, struct smtp_path *path,
                                                   size_t *pos, bool *syntax_r)
{
	size_t i = strlen(prefix);
	size_t plen;

	*syntax_r = true;
	if (!ci_prefix(arg, len, prefix))
		return SMTP_ADDRESS_SYNTAX;
	if (i < len && arg[i] == ' ')
		i++;
	if (i >= len || arg[i] != '<')
		return SMTP_ADDRESS_SYNTAX;
	*syntax_r = false;
	enum smtp_address_error err = smtp_address_parse_path(arg + i, len - i, flags, path, &plen);
	if (err == SMTP_ADDRESS_OK)
		*pos = i + plen;
	return err;
}

/* Maps a failed path to its reply: over a length limit, or bad syntax. */
static enum smtp_parse_result path_error(enum smtp_address_error err,
                                         enum smtp_parse_result too_long,
                                         enum smtp_parse_result bad)
{
	switch (err) {
	case SMTP_ADDRESS_LOCAL_TOO_LONG:
	case SMTP_ADDRESS_DOMAIN_TOO_LONG:
	case SMTP_ADDRESS_PATH_TOO_LONG:
		return too_long;
	default:
		return bad;
	}
}

enum smtp_parse_result smtp_parse_mail(const char *arg, size_t len, unsigned ext,
                                       struct smtp_mail *mail_r)
{
	size_t pos = 0;
	bool prefix_bad;

	memset(mail_r, 0, sizeof(*mail_r));
	enum smtp_address_error err =
	    parse_prefixed_path(arg, len, "FROM:", SMTP_ADDRESS_UTF8 | SMTP_ADDRESS_ALLOW_NULL,
	                        &mail_r->path, &pos, &prefix_bad);
	if (prefix_bad)
		return SMTP_PARSE_MAIL_SYNTAX;
	if (err != SMTP_ADDRESS_OK)
		return path_error(err, SMTP_PARSE_SENDER_TOO_LONG, SMTP_PARSE_BAD_SENDER);
	size_t path_end = pos;
	if (pos < len && arg[pos] != ' ')
		return SMTP_PARSE_MAIL_SYNTAX;

	struct param p;
	int more;
	while ((more = next_param(arg, len, &pos, &p)) > 0) {
		enum smtp_parse_result r = mail_param(&p, ext, mail_r);
		if (r != SMTP_PARSE_OK)
			return r;
	}
	if (more < 0)
		return SMTP_PARSE_PARAM_SYNTAX;
	/* Checked last: SMTPUTF8 follows the path on the line. The whole path,
	 * source route included, must be ASCII without it. */
	if (has_8bit(arg, path_end) && !mail_r->smtputf8)
		return SMTP_PARSE_SENDER_NEEDS_SMTPUTF8;
	return SMTP_PARSE_OK;
}

enum smtp_parse_result smtp_parse_rcpt(const char *arg, size_t len, bool smtputf8, unsigned ext,
                                       struct smtp_rcpt *rcpt_r)
{
	size_t pos = 0;
	bool prefix_bad;

	memset(rcpt_r, 0, sizeof(*rcpt_r));
	enum smtp_address_error err =
	    parse_prefixed_path(arg, len, "TO:", SMTP_ADDRESS_UTF8 | SMTP_ADDRESS_ALLOW_POSTMASTER,
	                        &rcpt_r->path, &pos, &prefix_bad);
	if (prefix_bad)
		return SMTP_PARSE_RCPT_SYNTAX;
	if (err != SMTP_ADDRESS_OK)
		return path_error(err, SMTP_PARSE_RECIPIENT_TOO_LONG, SMTP_PARSE_BAD_RECIPIENT);
	size_t path_end = pos;
	if (pos < len && arg[pos] != ' ')
		return SMTP_PARSE_RCPT_SYNTAX;

	struct param p;
	int more;
	while ((more = next_param(arg, len, &pos, &p)) > 0) {
		enum smtp_parse_result r = rcpt_param(&p, ext, rcpt_r);
		if (r != SMTP_PARSE_OK)
			return r;
	}
	if (more < 0)
		return SMTP_PARSE_PARAM_SYNTAX;
	if (has_8bit(arg, path_end) && !smtputf8)
		return SMTP_PARSE_RECIPIENT_NEEDS_SMTPUTF8;
	return SMTP_PARSE_OK;
}

enum smtp_parse_result smtp_parse_bdat(const char *arg, size_t len, uint64_t *size_r, bool *last_r)
{
	size_t i = 0;
	uint64_t v = 0;

	*size_r = 0;
	*last_r = false;
	while (i < len && is_digit((unsigned char)arg[i])) {
		unsigned d = (unsigned)(arg[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return SMTP_PARSE_BDAT_SYNTAX;
		v = v * 10 + d;
		i++;
	}
	if (i == 0)
		return SMTP_PARSE_BDAT_SYNTAX;
	if (i < len) {
		if (arg[i] != ' ')
			return SMTP_PARSE_BDAT_SYNTAX;
		while (i < len && arg[i] == ' ')
			i++;
		if (!ci_equal(arg + i, len - i, "LAST"))
			return SMTP_PARSE_BDAT_SYNTAX;
		*last_r = true;
	}
	*size_r = v;
	return SMTP_PARSE_OK;
}

static bool is_base64_char(unsigned char c)
{
	return is_alpha(c) || is_digit(c) || c == '+' || c == '/';
}

enum smtp_parse_result smtp_parse_auth(const char *arg, size_t len, struct smtp_auth *auth_r)
{
	size_t i = 0;

	memset(auth_r, 0, sizeof(*auth_r));
	auth_r->initial = arg + len;
	/* sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA / DIGIT / "-" / "_" */
	while (i < len && arg[i] != ' ') {
		unsigned char c = (unsigned char)arg[i];
		if (i >= SMTP_SASL_MECH_MAX || !(is_alpha(c) || is_digit(c) || c == '-' || c == '_'))
			return SMTP_PARSE_AUTH_SYNTAX;
		auth_r->mech[i] = (char)to_upper(c);
		i++;
	}
	if (i == 0)
		return SMTP_PARSE_AUTH_SYNTAX;
	auth_r->mech[i] = '\0';
	while (i < len && arg[i] == ' ')
		i++;
	if (i == len)
		return SMTP_PARSE_OK;

	/* initial-response = base64 / "=" */
	const char *ir = arg + i;
	size_t ir_len = len - i;
	if (!(ir_len == 1 && ir[0] == '=')) {
		size_t k = 0;
		while (k < ir_len && is_base64_char((unsigned char)ir[k]))
			k++;
		size_t chars = k;
		while (k < ir_len && ir[k] == '=' && k - chars < 2)
			k++;
		if (chars == 0 || k != ir_len)
			return SMTP_PARSE_AUTH_SYNTAX;
	}
	auth_r->has_initial = true;
	auth_r->initial = ir;
	auth_r->initial_len = ir_len;
	return SMTP_PARSE_OK;
}
