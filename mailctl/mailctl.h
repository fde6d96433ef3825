/*
 * mailctl.h - the operator's tool: shared context, command table, helpers.
 *
 * mailctl_main() parses the global options, finds the command in the table
 * (commands.c), parses that command's options and positional arguments
 * against the table entry, loads the configuration, opens the store as the
 * entry asks, and calls the handler. Argument syntax is checked first
 * (the entry's check function), so a usage error never creates a database. Handlers live in one file per command
 * group (cmd_domain.c, cmd_user.c, ...), print their results on stdout and
 * return an exit status.
 *
 * Exit statuses (DESIGN.md "Interfaces users see"): 0 success, 1 runtime
 * failure (store error, no such user, ...), 2 usage, input or config error.
 * Every failure prints exactly one line "mailctl: GROUP VERB: what is wrong"
 * on stderr, through mailctl_fail().
 */
#ifndef MAIL_MAILCTL_H
#define MAIL_MAILCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

enum mailctl_exit {
	MAILCTL_EXIT_OK = 0,
	MAILCTL_EXIT_FAIL = 1,
	MAILCTL_EXIT_USAGE = 2,
};

/* How a command needs the store; mailctl_main opens it before the handler. */
enum mailctl_store_use {
	MAILCTL_STORE_NONE,  /* the command does not touch the database */
	/* Reads open the existing database as it is: a missing file or an
	 * out-of-date schema is a failure (exit 1) with the store's message, so a
	 * typo in the db path never creates a stray database and a listing never
	 * changes the schema under running daemons. */
	MAILCTL_STORE_READ,
	/* Writes create the file and migrate the schema, so a fresh install works
	 * with `mailctl domain add` as its first command. */
	MAILCTL_STORE_WRITE,
};

#define MAILCTL_MAX_OPTS 5
#define MAILCTL_MAX_ARGS 4 /* positional arguments any command takes, at most */

struct mailctl;
struct mailctl_args;

typedef int mailctl_handler(struct mailctl *ctx, const struct mailctl_args *args);

/*
 * One command. Options are "--name" flags or "--name VALUE" / "--name=VALUE"
 * when the name is declared with a trailing '=' ("days="); they may appear
 * anywhere among the positional arguments, and "--" ends them.
 */
struct mailctl_cmd {
	const char *group;
	const char *verb;
	mailctl_handler *check;          /* argument checks before the store opens, or NULL */
	mailctl_handler *run;
	unsigned min_args, max_args;     /* positional arguments */
	enum mailctl_store_use store;
	const char *opts[MAILCTL_MAX_OPTS]; /* declared options, NULL-terminated when shorter */
	const char *usage;               /* arguments after "GROUP VERB" */
	const char *help;                /* one line */
	const char *details;             /* extra paragraph for --help, or NULL */
};

/* The table, in help order, ending with an entry whose group is NULL. */
extern const struct mailctl_cmd mailctl_commands[];

/* One-line description of each group for the global help, same ending. */
struct mailctl_group {
	const char *name;
	const char *help;
};
extern const struct mailctl_group mailctl_groups[];

/* The parsed arguments of one command; pointers into argv. */
struct mailctl_args {
	const struct mailctl_cmd *cmd;
	char *argv[MAILCTL_MAX_ARGS]; /* positional arguments */
	size_t argc;
	const char *opt[MAILCTL_MAX_OPTS]; /* per cmd->opts: value, "" for a set flag, NULL if absent */
};

/* What every handler sees. */
struct mailctl {
	const struct mailctl_cmd *cmd; /* the running command, for message prefixes */
	const char *config_path;       /* -c FILE, or NULL */
	struct mail_config cfg;
	store_t *store;                /* opened per cmd->store, else NULL */
	FILE *out;                     /* results (stdout) */
	FILE *err;                     /* the one-line failure message (stderr) */
	char db_shown[sizeof(((struct mail_config *)0)->db)]; /* mailctl_db_shown's */
};

/*
 * The whole program: returns the exit status. main.c only calls this, so
 * the core library holds everything and unit tests can drive it.
 */
int mailctl_main(int argc, char **argv);

/* ---- commands.c: lookup and help ------------------------------------- */

const struct mailctl_cmd *mailctl_cmd_find(const char *group, const char *verb);
bool mailctl_group_exists(const char *group);
/* Global help (group NULL) or one group's help, including details. */
void mailctl_print_help(FILE *out, const char *group);
/* "usage: mailctl [-c FILE] GROUP VERB ARGS" for one command. */
void mailctl_print_cmd_usage(FILE *out, const struct mailctl_cmd *cmd);

/* ---- util.c: messages, arguments, store errors ----------------------- */

/* Prints "mailctl: GROUP VERB: <message>" on ctx->err; returns `status`. */
int mailctl_fail(struct mailctl *ctx, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Reports a store failure as exit 1: "<what>: <store text>", where the store
 * text is store_errmsg() when the handle has one, else store_strerror(rc),
 * followed by mailctl_store_hint(rc).
 */
int mailctl_store_fail(struct mailctl *ctx, int rc, const char *what);
/* What to add to a store failure's message: for STORE_ERETRY (a lost
 * database connection, a deadlock) that nothing was changed and running
 * the command again may work; "" for any other error. */
const char *mailctl_store_hint(int rc);
/* The configured database as messages show it: a URI's password hidden. */
const char *mailctl_db_shown(struct mailctl *ctx);

/* Value of the declared option `name` (without "--" and "="), or NULL. */
const char *mailctl_opt(const struct mailctl_args *args, const char *name);

/*
 * Address and domain syntax checks done before asking the store, so a typo
 * is a usage error (exit 2) with a precise message. They are the SMTP
 * parser's rules (smtp_address.h), the same the store applies: an address
 * mailctl takes is one SMTP accepts. A local domain is an ASCII name, not
 * an address literal. Returns 0 or -1 with a reason in err.
 */
int mailctl_check_address(const char *address, char *err, size_t errlen);
int mailctl_check_domain(const char *domain, char *err, size_t errlen);
/* Also takes what the store kept before schema 2 and the rules now refuse
 * (local@domain without spaces or control bytes), for the commands that
 * remove or show such a user or alias. */
int mailctl_check_stored_address(const char *address, char *err, size_t errlen);
/* The domain part of a checked address. */
const char *mailctl_address_domain(const char *address);

/* The recipient rules of the configuration, for store_resolve and store_alias_add. */
struct store_resolve_config mailctl_resolve_config(const struct mailctl *ctx);

/* Parses a decimal integer in [min, max]. Returns 0 or -1. */
int mailctl_parse_int(const char *s, int64_t min, int64_t max, int64_t *value_r);

/* Formats unix seconds as "2026-11-27T09:00:00Z" into buf (at least 21 bytes). */
void mailctl_format_time(int64_t t, char *buf, size_t len);

/* ---- checks.c: argument checks (exit 2) ------------------------------ */

/* argv[0], when present, is a domain name. */
mailctl_handler check_arg_domain;
/* argv[0] is an address. */
mailctl_handler check_arg_address;
/* Every positional argument is an address. */
mailctl_handler check_arg_addresses;
/* The same, for commands that may name what schema 1 stored
 * (mailctl_check_stored_address). */
mailctl_handler check_arg_stored_address;
mailctl_handler check_arg_stored_addresses;
/* argv[0] is a queue id or "all". */
mailctl_handler check_arg_queue_id;
/* A queue id argument: "all" is 0, else a positive number. Returns 0 or -1. */
int mailctl_parse_queue_id(const char *arg, int64_t *id_r);
/* argv[0] is an address and argv[1] a quota. */
mailctl_handler check_arg_quota;
/* A quota argument: octets with an optional K, M or G suffix (x1024), as
 * sizes in the config file; 0 or "unlimited" for none. Returns 0 or -1. */
int mailctl_parse_quota(const char *arg, uint64_t *quota_r);

/* ---- handlers (one file per group) ----------------------------------- */

mailctl_handler cmd_domain_add, cmd_domain_del, cmd_domain_list;
mailctl_handler cmd_user_add, cmd_user_del, cmd_user_list, cmd_user_show, cmd_user_passwd,
	cmd_user_disable, cmd_user_enable, cmd_user_import, cmd_user_quota;
mailctl_handler cmd_alias_add, cmd_alias_del, cmd_alias_list;
mailctl_handler cmd_mailbox_list;
mailctl_handler cmd_queue_list, cmd_queue_retry, cmd_queue_delete;
mailctl_handler cmd_cert_selfsigned;
/* cmd_dkim.c; check_arg_dkim: a domain and a valid --selector. */
mailctl_handler check_arg_dkim, cmd_dkim_generate, cmd_dkim_show, cmd_dkim_del;
mailctl_handler cmd_config_check, cmd_config_reference;
mailctl_handler cmd_db_migrate, cmd_db_check;
/* cmd_db_copy.c; check_arg_copy: --from and --to given, and not the same. */
mailctl_handler check_arg_copy, cmd_db_copy;

#endif
