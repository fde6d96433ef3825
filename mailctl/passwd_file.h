/*
 * passwd_file.h - reading one line of a Dovecot passwd-file for
 * `mailctl user import`.
 *
 * A line is user:password:uid:gid:gecos:home:shell:extra_fields; only the
 * first two fields matter here. The password is {SCHEME}hash or a bare
 * hash. Only crypt(3) schemes can be imported, because the store keeps
 * crypt(3) strings and verifies them with libxcrypt:
 *   BLF-CRYPT     $2y$ / $2b$ / $2a$
 *   SHA512-CRYPT  $6$
 *   SHA256-CRYPT  $5$
 *   CRYPT         any string libxcrypt verifies
 *   (no scheme)   a crypt(3) string starting with '$': a bare string that is
 *                 not, like a 13-character DES hash, could as well be a
 *                 plain-text password, so it needs an explicit {CRYPT}.
 * Whatever the scheme, the hash must pass password_hash_valid(): a user
 * whose hash the daemons refuse to verify (libxcrypt's legacy methods DES
 * and MD5-crypt, not SHA256-crypt: common/password.h) could never log in.
 * PLAIN, CRAM-MD5 and every other scheme store something libxcrypt cannot
 * verify and are refused. Scheme names are case-insensitive, as in Dovecot.
 */
#ifndef MAIL_MAILCTL_PASSWD_FILE_H
#define MAIL_MAILCTL_PASSWD_FILE_H

#include <stddef.h>

#include "password.h"

enum passwd_line_kind {
	PASSWD_LINE_SKIP,  /* blank or comment line */
	PASSWD_LINE_USER,  /* *entry_r filled */
	PASSWD_LINE_ERROR, /* reason in err */
};

struct passwd_entry {
	char user[256];                /* as written; the caller checks the address */
	char hash[PASSWORD_HASH_MAX];  /* crypt(3) string without {SCHEME} */
};

/*
 * Parses one line without its "\n" (a trailing "\r" is ignored). Blank
 * lines and lines whose first non-blank character is '#' are skipped.
 */
enum passwd_line_kind passwd_file_parse_line(const char *line, struct passwd_entry *entry_r,
                                             char *err, size_t errlen);

#endif
