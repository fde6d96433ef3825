/* daemon.c - command line and configuration of the daemons; see daemon.h. */
#include "daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int daemon_configure(int argc, char **argv, enum config_program program, const char *usage,
                     struct mail_config *cfg)
{
	const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *path = NULL;
	char err[512];
	int opt;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return DAEMON_EXIT_OK;
		default:
			fputs(usage, stderr);
			return DAEMON_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return DAEMON_EXIT_USAGE;
	}
	if (config_load(cfg, program, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", name, err);
		return DAEMON_EXIT_USAGE;
	}
	log_set_level((enum log_level)cfg->log_level);
	return -1;
}
