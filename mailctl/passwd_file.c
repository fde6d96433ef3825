/* passwd_file.c - one line of a Dovecot passwd-file (see passwd_file.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "passwd_file.h"

struct scheme {
	const char *name;
	const char *prefixes[4]; /* the hash must start with one; none listed = any */
};

static const struct scheme schemes[] = {
	{"BLF-CRYPT", {"$2y$", "$2b$", "$2a$", NULL}},
	{"SHA512-CRYPT", {"$6$", NULL}},
	{"SHA256-CRYPT", {"$5$", NULL}},
	{"CRYPT", {NULL}},
};

static const struct scheme *find_scheme(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		if (strlen(schemes[i].name) == len && strncasecmp(schemes[i].name, name, len) == 0)
			return &schemes[i];
	}
	return NULL;
}

static int prefix_ok(const struct scheme *s, const char *hash)
{
	if (s->prefixes[0] == NULL)
		return 1;
	for (int i = 0; i < 4 && s->prefixes[i] != NULL; i++) {
		if (strncmp(hash, s->prefixes[i], strlen(s->prefixes[i])) == 0)
			return 1;
	}
	return 0;
}

/* Checks the password field (`len` bytes at `pw`) and copies its hash. */
static enum passwd_line_kind parse_password(const char *pw, size_t len,
                                            struct passwd_entry *entry_r, char *err,
                                            size_t errlen)
{
	const struct scheme *scheme = NULL;

	if (len > 0 && pw[0] == '{') {
		const char *close = memchr(pw, '}', len);

		if (close == NULL) {
			snprintf(err, errlen, "unterminated {SCHEME} in the password field");
			return PASSWD_LINE_ERROR;
		}
		size_t namelen = (size_t)(close - pw - 1);
		scheme = find_scheme(pw + 1, namelen);
		if (scheme == NULL) {
			snprintf(err, errlen,
			         "scheme %.*s cannot be imported (only BLF-CRYPT, SHA512-CRYPT, "
			         "SHA256-CRYPT and CRYPT hashes can)",
			         (int)(namelen > 64 ? 64 : namelen), pw + 1);
			return PASSWD_LINE_ERROR;
		}
		len -= namelen + 2;
		pw = close + 1;
	}
	if (len == 0) {
		snprintf(err, errlen, "empty password field");
		return PASSWD_LINE_ERROR;
	}
	if (len >= sizeof(entry_r->hash)) {
		snprintf(err, errlen, "password hash longer than %zu characters",
		         sizeof(entry_r->hash) - 1);
		return PASSWD_LINE_ERROR;
	}
	memcpy(entry_r->hash, pw, len);
	entry_r->hash[len] = '\0';

	if (scheme == NULL && entry_r->hash[0] != '$') {
		snprintf(err, errlen, "password without {SCHEME} is not a crypt(3) hash");
		return PASSWD_LINE_ERROR;
	}
	if (scheme != NULL && !prefix_ok(scheme, entry_r->hash)) {
		snprintf(err, errlen, "hash does not match its scheme %s", scheme->name);
		return PASSWD_LINE_ERROR;
	}
	if (password_hash_valid(entry_r->hash) != 0) {
		snprintf(err, errlen, "not a crypt(3) hash the daemons can verify (malformed, or a "
		                      "legacy method libxcrypt refuses)");
		return PASSWD_LINE_ERROR;
	}
	return PASSWD_LINE_USER;
}

enum passwd_line_kind passwd_file_parse_line(const char *line, struct passwd_entry *entry_r,
                                             char *err, size_t errlen)
{
	size_t linelen = strlen(line);
	const char *p = line + strspn(line, " \t");

	if (linelen > 0 && line[linelen - 1] == '\r')
		linelen--;
	if ((size_t)(p - line) >= linelen || *p == '#')
		return PASSWD_LINE_SKIP;

	const char *colon = memchr(line, ':', linelen);
	if (colon == NULL) {
		snprintf(err, errlen, "no password field (expected user:{SCHEME}hash:...)");
		return PASSWD_LINE_ERROR;
	}
	size_t userlen = (size_t)(colon - line);
	if (userlen == 0) {
		snprintf(err, errlen, "empty user name");
		return PASSWD_LINE_ERROR;
	}
	if (userlen >= sizeof(entry_r->user)) {
		snprintf(err, errlen, "user name longer than %zu characters",
		         sizeof(entry_r->user) - 1);
		return PASSWD_LINE_ERROR;
	}
	memcpy(entry_r->user, line, userlen);
	entry_r->user[userlen] = '\0';

	const char *pw = colon + 1;
	size_t rest = linelen - userlen - 1;
	const char *end = memchr(pw, ':', rest);
	return parse_password(pw, end != NULL ? (size_t)(end - pw) : rest, entry_r, err, errlen);
}
