/*
 * daemon.h - what every daemon's main() does first.
 *
 * Exit statuses shared by smtpd, pop3d and mailctl (DESIGN.md): 0 success,
 * 1 runtime failure, 2 usage or configuration error.
 */
#ifndef MAIL_DAEMON_H
#define MAIL_DAEMON_H

#include "config.h"

#define DAEMON_EXIT_OK 0
#define DAEMON_EXIT_RUNTIME 1
#define DAEMON_EXIT_USAGE 2

/*
 * Parses "[-c FILE] [-h]", loads the configuration for `program` and sets
 * the log level. `usage` is the help text (printed for -h on stdout, on a
 * usage error on stderr). Returns -1 when the daemon should go on, else
 * the status main() should exit with, after printing a one-line message
 * prefixed with argv[0]'s name.
 */
int daemon_configure(int argc, char **argv, enum config_program program, const char *usage,
                     struct mail_config *cfg);

#endif
