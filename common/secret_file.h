/*
 * secret_file.h - a password kept in a file of its own (the config keys
 * relay_auth_password_file and db_password_file), so that it is in no
 * configuration file, environment variable or command line.
 *
 * The password is the file's first line, without its line end. A caller
 * wipes and frees it with secret_free once it has no more use for it.
 * Messages name the key and the file, never the password.
 */
#ifndef MAIL_SECRET_FILE_H
#define MAIL_SECRET_FILE_H

#include <stddef.h>

/* Longest password taken, in octets. */
#define SECRET_FILE_MAX 1023

/* Refuse a file that anyone but its owner and group may read, write or
 * run (any "other" permission bit), as ssh refuses such a private key: a
 * password others can read is no longer a secret, and one others can
 * write is theirs to choose. */
#define SECRET_FILE_PRIVATE 0x1

/*
 * Reads the first line of the regular file at `path` into *secret_r
 * (malloc'd). `key` is the config key, for messages ("db_password_file
 * /run/secret: empty"). Returns 0, or -1 with a message in err: the file
 * cannot be opened or read, is not a regular file, is open to others
 * (with SECRET_FILE_PRIVATE), is empty, or its first line is empty or
 * longer than SECRET_FILE_MAX.
 */
int secret_file_read(const char *key, const char *path, unsigned flags, char **secret_r,
                     char *err, size_t errlen);

/* Wipes and frees a secret, and sets *secret to NULL. Safe on NULL. */
void secret_free(char **secret);

#endif
