/*
 * mailctl.c - global options, command dispatch, configuration and store
 * set-up around each handler.
 */
#include <string.h>

#include "mailctl.h"
#include "secret_file.h"

#ifndef MAIL_VERSION
#error "MAIL_VERSION must be defined by the build"
#endif

static bool is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* Messages before a command is known have no "GROUP VERB:" prefix. */
static int usage_error(struct mailctl *ctx, const char *what, const char *arg)
{
	fprintf(ctx->err, "mailctl: %s%s%s%s (try 'mailctl --help')\n", what, arg ? " '" : "",
	        arg ? arg : "", arg ? "'" : "");
	return MAILCTL_EXIT_USAGE;
}

static int cmd_usage_error(struct mailctl *ctx, const char *what, const char *arg)
{
	const struct mailctl_cmd *c = ctx->cmd;

	return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "%s%s%s%s (usage: mailctl %s %s %s)", what,
	                    arg ? " '" : "", arg ? arg : "", arg ? "'" : "", c->group, c->verb,
	                    c->usage);
}

/* Index of the declared option `name` (namelen bytes) in cmd->opts, or -1. */
static int find_opt(const struct mailctl_cmd *cmd, const char *name, size_t namelen,
                    bool *takes_value_r)
{
	for (int i = 0; i < MAILCTL_MAX_OPTS && cmd->opts[i] != NULL; i++) {
		const char *o = cmd->opts[i];
		size_t olen = strcspn(o, "=");

		if (olen == namelen && memcmp(o, name, namelen) == 0) {
			*takes_value_r = o[olen] == '=';
			return i;
		}
	}
	return -1;
}

/*
 * Splits a command's arguments into declared options and positionals.
 * Returns -1 after printing a usage error, 1 when --help was asked for,
 * 0 otherwise.
 */
static int parse_cmd_args(struct mailctl *ctx, int argc, char **argv, struct mailctl_args *args)
{
	const struct mailctl_cmd *cmd = ctx->cmd;
	size_t npos = 0;
	bool options_done = false;

	memset(args, 0, sizeof(*args));
	args->cmd = cmd;
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];

		if (!options_done && strcmp(a, "--") == 0) {
			options_done = true;
			continue;
		}
		if (!options_done && is_help(a))
			return 1;
		if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
			if (npos < MAILCTL_MAX_ARGS)
				args->argv[npos] = a;
			npos++;
			continue;
		}
		if (a[1] != '-') {
			cmd_usage_error(ctx, "unknown option", a);
			return -1;
		}
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
		bool takes_value;
		int idx = find_opt(cmd, name, namelen, &takes_value);

		if (idx < 0) {
			cmd_usage_error(ctx, "unknown option", a);
			return -1;
		}
		if (!takes_value) {
			if (eq != NULL) {
				cmd_usage_error(ctx, "option takes no value", a);
				return -1;
			}
			args->opt[idx] = "";
		} else if (eq != NULL) {
			args->opt[idx] = eq + 1;
		} else if (i + 1 < argc) {
			args->opt[idx] = argv[++i];
		} else {
			cmd_usage_error(ctx, "option needs a value", a);
			return -1;
		}
	}
	if (npos < cmd->min_args) {
		cmd_usage_error(ctx, "missing argument", NULL);
		return -1;
	}
	if (npos > cmd->max_args) {
		cmd_usage_error(ctx, "too many arguments", NULL);
		return -1;
	}
	args->argc = npos;
	return 0;
}

static void print_cmd_help(FILE *out, const struct mailctl_cmd *cmd)
{
	mailctl_print_cmd_usage(out, cmd);
	fprintf(out, "\n%s.\n", cmd->help);
	if (cmd->details != NULL)
		fprintf(out, "\n%s", cmd->details);
}

static int open_store(struct mailctl *ctx)
{
	char err[sizeof(ctx->cfg.db) + 512];
	int flags = 0;

	if (ctx->cmd->store == MAILCTL_STORE_NONE)
		return 0;
	if (ctx->cmd->store == MAILCTL_STORE_WRITE)
		flags = STORE_OPEN_CREATE | STORE_OPEN_MIGRATE;
	err[0] = '\0';
	/* The daemons' database, with the daemons' password (db_password_file). */
	char *password = NULL;
	if (ctx->cfg.db_password_file[0] != '\0' &&
	    secret_file_read("db_password_file", ctx->cfg.db_password_file, SECRET_FILE_PRIVATE,
	                     &password, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s", err);
	int rc = store_open_auth(ctx->cfg.db, password, flags, &ctx->store, err, sizeof(err));
	secret_free(&password);
	if (rc == 0)
		return 0;
	/* The store's messages name the database already. */
	if (err[0] == '\0')
		snprintf(err, sizeof(err), "%s: %s", mailctl_db_shown(ctx), store_strerror(rc));
	return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s%s", err,
	                    rc == STORE_ENOTFOUND ? " (mailctl db migrate creates it)" : "");
}

/* Runs one command after global options: argv[0] is the group. */
static int run_command(struct mailctl *ctx, int argc, char **argv)
{
	const char *group = argv[0];
	struct mailctl_args args;
	char err[1024];

	if (strcmp(group, "help") == 0) {
		if (argc > 2)
			return usage_error(ctx, "help takes at most one group", NULL);
		if (argc == 2 && !mailctl_group_exists(argv[1]))
			return usage_error(ctx, "unknown command", argv[1]);
		mailctl_print_help(ctx->out, argc == 2 ? argv[1] : NULL);
		return MAILCTL_EXIT_OK;
	}
	if (!mailctl_group_exists(group))
		return usage_error(ctx, "unknown command", group);
	if (argc < 2) {
		fprintf(ctx->err, "mailctl: %s: missing subcommand (try 'mailctl %s --help')\n", group,
		        group);
		return MAILCTL_EXIT_USAGE;
	}
	if (is_help(argv[1])) {
		mailctl_print_help(ctx->out, group);
		return MAILCTL_EXIT_OK;
	}
	ctx->cmd = mailctl_cmd_find(group, argv[1]);
	if (ctx->cmd == NULL) {
		fprintf(ctx->err, "mailctl: %s: unknown subcommand '%s' (try 'mailctl %s --help')\n",
		        group, argv[1], group);
		return MAILCTL_EXIT_USAGE;
	}

	int rc = parse_cmd_args(ctx, argc - 2, argv + 2, &args);
	if (rc < 0)
		return MAILCTL_EXIT_USAGE;
	if (rc > 0) {
		print_cmd_help(ctx->out, ctx->cmd);
		return MAILCTL_EXIT_OK;
	}

	if (config_load(&ctx->cfg, CONFIG_PROGRAM_MAILCTL, ctx->config_path, err, sizeof(err)) != 0) {
		fprintf(ctx->err, "mailctl: %s\n", err);
		return MAILCTL_EXIT_USAGE;
	}
	if (ctx->cmd->check != NULL) {
		rc = ctx->cmd->check(ctx, &args);
		if (rc != 0)
			return rc;
	}
	rc = open_store(ctx);
	if (rc != 0)
		return rc;
	rc = ctx->cmd->run(ctx, &args);
	store_close(&ctx->store);
	return rc;
}

/*
 * Global options: -c FILE, -h/--help, --version. Returns the index of the
 * command's first word, or -1 with *status_r set when nothing is left to do.
 */
static int parse_global(struct mailctl *ctx, int argc, char **argv, int *status_r)
{
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-c") == 0) {
			if (i + 1 >= argc) {
				*status_r = usage_error(ctx, "option -c needs a file name", NULL);
				return -1;
			}
			ctx->config_path = argv[++i];
		} else if (strncmp(a, "-c", 2) == 0) {
			ctx->config_path = a + 2;
		} else if (is_help(a)) {
			mailctl_print_help(ctx->out, NULL);
			*status_r = MAILCTL_EXIT_OK;
			return -1;
		} else if (strcmp(a, "--version") == 0) {
			fprintf(ctx->out, "mailctl (mail) %s\n", MAIL_VERSION);
			*status_r = MAILCTL_EXIT_OK;
			return -1;
		} else {
			*status_r = usage_error(ctx, "unknown option", a);
			return -1;
		}
	}
	if (i >= argc) {
		*status_r = usage_error(ctx, "no command given", NULL);
		return -1;
	}
	return i;
}

int mailctl_main(int argc, char **argv)
{
	/* The config struct is large; static keeps it off the stack. */
	static struct mailctl ctx;
	int status = MAILCTL_EXIT_OK;
	int first;

	memset(&ctx, 0, sizeof(ctx));
	ctx.out = stdout;
	ctx.err = stderr;
	first = parse_global(&ctx, argc, argv, &status);
	if (first > 0)
		status = run_command(&ctx, argc - first, argv + first);

	/* A result that never reached its reader (full disk, closed pipe) is a
	 * failure, as in coreutils' close_stdout. */
	if (fflush(ctx.out) != 0 || ferror(ctx.out)) {
		fprintf(ctx.err, "mailctl: error writing the output\n");
		if (status == MAILCTL_EXIT_OK)
			status = MAILCTL_EXIT_FAIL;
	}
	return status;
}
