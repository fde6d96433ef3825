/* commands.c - mailctl's command table and the help generated from it. */
#include <string.h>

#include "mailctl.h"

const struct mailctl_group mailctl_groups[] = {
	{"domain", "the local domains mail is accepted for"},
	{"user", "mailbox users and their passwords"},
	{"alias", "addresses that forward to other addresses"},
	{"mailbox", "a user's stored messages"},
	{"queue", "outbound messages waiting for delivery"},
	{"cert", "TLS certificates"},
	{"dkim", "DKIM keys that sign the mail of local domains"},
	{"db", "the database: schema, consistency, copies to another backend"},
	{"config", "the configuration file and its keys"},
	{NULL, NULL},
};

#define PASSWORD_DETAILS                                                                   \
	"The password is read from the terminal without echo, twice. With\n"              \
	"--password-stdin it is the first line of standard input instead (a trailing\n"   \
	"newline is removed; an empty password is refused). Without a terminal and\n"     \
	"without --password-stdin the command fails with status 2. The password is\n"     \
	"stored as a yescrypt hash.\n"

/*
 * {group, verb, check, run, min args, max args, store use, options, usage,
 *  help, details}
 */
const struct mailctl_cmd mailctl_commands[] = {
	{"domain", "add", check_arg_domain, cmd_domain_add, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "DOMAIN",
	 "add a local domain",
	 "DOMAIN is an ASCII name (the xn-- form of an internationalized one). Mail to\n"
	 "postmaster@DOMAIN goes to that address's alias or user, else to the\n"
	 "postmaster_address config key, else it is refused; the command says which.\n"},
	{"domain", "del", check_arg_domain, cmd_domain_del, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "DOMAIN",
	 "remove a domain without users or aliases", NULL},
	{"domain", "list", NULL, cmd_domain_list, 0, 0, MAILCTL_STORE_READ,
	 {NULL}, "",
	 "list the local domains", NULL},

	{"user", "add", check_arg_address, cmd_user_add, 1, 1, MAILCTL_STORE_WRITE,
	 {"password-stdin"}, "ADDRESS [--password-stdin]",
	 "add a user with a password",
	 PASSWORD_DETAILS "Adding a user to a domain that is not local fails with status 1, and\n"
	 "so does an address that differs from an existing user or alias only by case:\n"
	 "addresses match without regard to case (the spelling given is kept for\n"
	 "display). ADDRESS follows RFC 5321 as SMTP does: no empty or doubled dots,\n"
	 "a local part of at most 64 octets, labels of at most 63.\n"},
	{"user", "del", check_arg_stored_address, cmd_user_del, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "ADDRESS",
	 "remove a user and their mailbox", NULL},
	{"user", "list", check_arg_domain, cmd_user_list, 0, 1, MAILCTL_STORE_READ,
	 {NULL}, "[DOMAIN]",
	 "list users; disabled ones are marked", NULL},
	{"user", "show", check_arg_stored_address, cmd_user_show, 1, 1, MAILCTL_STORE_READ,
	 {NULL}, "ADDRESS",
	 "show a user's hash, state, quota and mailbox usage",
	 "Prints address, hash, disabled (yes/no), quota (octets, or unlimited),\n"
	 "used (octets in the mailbox, as POP3 serves them) and messages.\n"},
	{"user", "passwd", check_arg_stored_address, cmd_user_passwd, 1, 1, MAILCTL_STORE_WRITE,
	 {"password-stdin"}, "ADDRESS [--password-stdin]",
	 "set a user's password, read as for add", NULL},
	{"user", "quota", check_arg_quota, cmd_user_quota, 2, 2, MAILCTL_STORE_WRITE,
	 {NULL}, "ADDRESS SIZE|unlimited",
	 "limit the octets a user's mailbox may hold",
	 "SIZE is in octets, with an optional K, M or G suffix (powers of 1024), as\n"
	 "sizes in the config file; 0 or 'unlimited' removes the limit. Lowering it\n"
	 "below what the mailbox holds deletes nothing. smtpd refuses a recipient\n"
	 "whose mailbox is at or over its quota with 452 4.2.2 at RCPT, and defers a\n"
	 "message (452 4.2.2 after DATA, for all its recipients) that would take a\n"
	 "mailbox past it; the sender retries later. A message larger than the whole\n"
	 "quota is refused for good (552 5.2.2). With SIZE= declared at MAIL, both\n"
	 "are answered at RCPT.\n"},
	{"user", "disable", check_arg_stored_address, cmd_user_disable, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "ADDRESS",
	 "refuse a user's logins and mail", NULL},
	{"user", "enable", check_arg_stored_address, cmd_user_enable, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "ADDRESS",
	 "undo user disable", NULL},
	{"user", "import", NULL, cmd_user_import, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "FILE",
	 "add users from a Dovecot passwd-file",
	 "Each line is user:{SCHEME}hash:uid:gid:gecos:home:shell:extra; only the\n"
	 "first two fields are used. Blank lines and lines starting with '#' are\n"
	 "skipped. Accepted schemes: BLF-CRYPT ($2y$, $2b$, $2a$), SHA512-CRYPT ($6$),\n"
	 "SHA256-CRYPT ($5$) and CRYPT (any crypt(3) hash); a hash without {SCHEME}\n"
	 "must be a crypt(3) string starting with '$'. Hashes the daemons cannot\n"
	 "verify are refused: PLAIN, CRAM-MD5 and other schemes, and libxcrypt's\n"
	 "legacy methods DES and MD5-crypt (SHA256-crypt is verified). So are users\n"
	 "whose domain is not local. Users that already exist are left unchanged\n"
	 "and counted as skipped.\n"
	 "FILE \"-\" is standard input. Every bad line is reported as FILE:LINE:\n"
	 "reason on standard error and the valid lines are still imported; the\n"
	 "status is 1 when any line failed.\n"},

	{"alias", "add", check_arg_addresses, cmd_alias_add, 2, 2, MAILCTL_STORE_WRITE,
	 {"force"}, "FROM TO [--force]",
	 "forward FROM (local) to TO (any address)",
	 "FROM must be in a local domain and not be a user. Adding a second target\n"
	 "to FROM makes it forward to both. Refused, with status 1: a TO in a local\n"
	 "domain that is neither a user nor an alias, even without its recipient\n"
	 "extension (--force adds it anyway, e.g. before the user); a TO that leads\n"
	 "back to FROM (an alias loop); and a chain of more than 8 aliases, which\n"
	 "delivery would not follow.\n"},
	{"alias", "del", check_arg_stored_addresses, cmd_alias_del, 2, 2, MAILCTL_STORE_WRITE,
	 {NULL}, "FROM TO",
	 "remove one forwarding", NULL},
	{"alias", "list", check_arg_domain, cmd_alias_list, 0, 1, MAILCTL_STORE_READ,
	 {NULL}, "[DOMAIN]",
	 "list aliases as FROM -> TO", NULL},

	{"mailbox", "list", check_arg_stored_address, cmd_mailbox_list, 1, 1, MAILCTL_STORE_READ,
	 {NULL}, "ADDRESS",
	 "list a mailbox: number, uid, size", NULL},

	{"queue", "list", NULL, cmd_queue_list, 0, 0, MAILCTL_STORE_READ,
	 {NULL}, "",
	 "list queued outbound deliveries",
	 "One line per delivery (a message to one recipient):\n"
	 "  ID STATE msg=QUEUEID attempts=N next=TIME from=SENDER to=RECIPIENT [error=TEXT]\n"
	 "ID is what queue retry and queue delete take. QUEUEID is the message's queue\n"
	 "id, as in smtpd's \"250 ... queued as QUEUEID\" reply, its log lines (id=) and\n"
	 "the message's Received: header (id QUEUEID).\n"},
	{"queue", "retry", check_arg_queue_id, cmd_queue_retry, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "ID|all",
	 "make a delivery (or all) due now", NULL},
	{"queue", "delete", check_arg_queue_id, cmd_queue_delete, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "ID|all",
	 "drop a delivery (or all) without a bounce", NULL},

	{"cert", "selfsigned", NULL, cmd_cert_selfsigned, 0, 0, MAILCTL_STORE_NONE,
	 {"host=", "cert=", "key=", "days=", "force"},
	 "[--host NAME] [--cert FILE] [--key FILE] [--days N] [--force]",
	 "write a key and a self-signed certificate",
	 "NAME, FILE and the key FILE default to the config keys hostname, tls_cert\n"
	 "and tls_key. The certificate names NAME as its CN and subjectAltName and is\n"
	 "valid for N days (default 365). The key file gets mode 0600. Existing files\n"
	 "are only replaced with --force; both are replaced atomically.\n"},

	{"dkim", "generate", check_arg_dkim, cmd_dkim_generate, 1, 1, MAILCTL_STORE_WRITE,
	 {"selector=", "force"}, "DOMAIN [--selector S] [--force]",
	 "make a DOMAIN's DKIM key and print its DNS record",
	 "Makes a 2048-bit RSA key, stores it for the local DOMAIN under selector S\n"
	 "(default \"mail\") and prints the TXT record to publish, in zone-file form:\n"
	 "  S._domainkey.DOMAIN. IN TXT ( \"v=DKIM1; k=rsa; \" \"p=...\" )\n"
	 "The key is for signing mail from DOMAIN (rsa-sha256, relaxed/relaxed). A\n"
	 "domain that already has a key keeps it (status 1) unless --force is given:\n"
	 "publish the new record under a new selector before replacing a key in use.\n"
	 "A domain that is not local fails with status 1.\n"},
	{"dkim", "show", check_arg_domain, cmd_dkim_show, 1, 1, MAILCTL_STORE_READ,
	 {NULL}, "DOMAIN",
	 "print the DNS record of DOMAIN's DKIM key",
	 "The same record as generate; status 1 when DOMAIN has no key.\n"},
	{"dkim", "del", check_arg_domain, cmd_dkim_del, 1, 1, MAILCTL_STORE_WRITE,
	 {NULL}, "DOMAIN",
	 "remove DOMAIN's DKIM key (its mail is then sent unsigned)", NULL},

	{"db", "migrate", NULL, cmd_db_migrate, 0, 0, MAILCTL_STORE_WRITE,
	 {NULL}, "",
	 "create or upgrade the database",
	 "Then lists the addresses an older database holds that need the operator,\n"
	 "one per line starting with \"conflict: \", with status 1 when there are any:\n"
	 "users or aliases that differ only by case (schema 1 compared local parts\n"
	 "exactly; the upgrade keeps them apart, each spelling reaching what it did\n"
	 "before) and addresses the address rules now refuse. Resolve them by\n"
	 "deleting the extra spellings (user del and alias del take the exact\n"
	 "spelling) until db check is clean.\n"},
	{"db", "check", NULL, cmd_db_check, 0, 0, MAILCTL_STORE_READ,
	 {NULL}, "",
	 "check the database; status 1 on problems", NULL},
	/* It opens its two databases itself, neither of them the db key's. */
	{"db", "copy", check_arg_copy, cmd_db_copy, 0, 0, MAILCTL_STORE_NONE,
	 {"from=", "to="}, "--from DB --to DB",
	 "copy everything to a new or empty database",
	 "Copies a whole installation from one database to another, each a SQLite\n"
	 "file or a postgresql:// URI as the db key takes them, in either direction:\n"
	 "domains, users (hashes, quotas, disabled), aliases, DKIM keys, messages,\n"
	 "mailboxes and the outbound queue (attempts, due times, errors, DSN\n"
	 "parameters), with their ids: POP3 clients see the same unique ids and\n"
	 "sizes and download nothing again, and no id the source gave out is given\n"
	 "out again. Maildrop locks are not copied, and queued mail is claimed\n"
	 "afresh by the target's smtpd. Prints one line: what was copied.\n"
	 "The --to database must be new or empty: a missing file is created and an\n"
	 "empty file or database gets the schema; one that holds anything, or an\n"
	 "older schema, is refused with status 1 and left as it is. The --from\n"
	 "database must be at this program's schema version (run `MAIL_DB=DB\n"
	 "mailctl db migrate` on it first); it is never changed. It is read as one\n"
	 "snapshot, so stop smtpd and pop3d first: what they store after it is not\n"
	 "copied. The target is written in one transaction: a copy that fails\n"
	 "leaves it empty, and can simply be run again.\n"
	 "Passwords: the side that is the configured db logs in with\n"
	 "db_password_file; another finds its password in PGPASSFILE. Never put\n"
	 "one in the URI: command lines are visible to every local user.\n"},

	{"config", "check", NULL, cmd_config_check, 0, 0, MAILCTL_STORE_NONE,
	 {NULL}, "",
	 "validate the configuration (file and MAIL_* variables)", NULL},
	{"config", "reference", NULL, cmd_config_reference, 0, 0, MAILCTL_STORE_NONE,
	 {NULL}, "",
	 "print every key with its default as a Markdown table", NULL},

	{NULL, NULL, NULL, NULL, 0, 0, MAILCTL_STORE_NONE, {NULL}, NULL, NULL, NULL},
};

const struct mailctl_cmd *mailctl_cmd_find(const char *group, const char *verb)
{
	for (const struct mailctl_cmd *c = mailctl_commands; c->group != NULL; c++) {
		if (strcmp(c->group, group) == 0 && strcmp(c->verb, verb) == 0)
			return c;
	}
	return NULL;
}

bool mailctl_group_exists(const char *group)
{
	for (const struct mailctl_group *g = mailctl_groups; g->name != NULL; g++) {
		if (strcmp(g->name, group) == 0)
			return true;
	}
	return false;
}

#define HELP_COLUMN 36 /* width of the synopsis column in help listings */

static void print_cmd_line(FILE *out, const struct mailctl_cmd *c)
{
	char left[128];
	int n = snprintf(left, sizeof(left), "%s %s %s", c->group, c->verb, c->usage);

	/* Long synopses get their description on the next line, aligned. */
	if (n > HELP_COLUMN)
		fprintf(out, "  %s\n  %-*s %s\n", left, HELP_COLUMN, "", c->help);
	else
		fprintf(out, "  %-*s %s\n", HELP_COLUMN, left, c->help);
}

void mailctl_print_cmd_usage(FILE *out, const struct mailctl_cmd *cmd)
{
	fprintf(out, "usage: mailctl [-c FILE] %s %s %s\n", cmd->group, cmd->verb, cmd->usage);
}

static const char global_head[] =
	"usage: mailctl [-c FILE] COMMAND [ARGS...]\n"
	"       mailctl [-c FILE] GROUP --help\n"
	"       mailctl --version\n"
	"\n"
	"The operator's tool of the mail service: domains, users, aliases,\n"
	"mailboxes, the outbound queue, certificates and the database.\n"
	"\n"
	"Options:\n"
	"  -c FILE        the configuration file (default: none, built-in defaults);\n"
	"                 MAIL_<KEY> environment variables override it (MAIL_DB=...)\n"
	"  -h, --help     this help; `mailctl GROUP --help` explains one group\n"
	"  --version      the program's version\n"
	"\n";

static const char global_tail[] =
	"\n"
	"Commands that change the database create it and bring its schema up to date\n"
	"first. Commands that only read it fail when it is missing or out of date\n"
	"(run `mailctl db migrate`).\n"
	"\n"
	"Exit status: 0 success; 1 runtime failure (database error, no such user,\n"
	"already exists, ...); 2 usage, input or configuration error. Every failure\n"
	"prints one line on standard error.\n";

void mailctl_print_help(FILE *out, const char *group)
{
	if (group == NULL) {
		fputs(global_head, out);
		fputs("Commands:\n", out);
		for (const struct mailctl_cmd *c = mailctl_commands; c->group != NULL; c++)
			print_cmd_line(out, c);
		fputs(global_tail, out);
		return;
	}
	for (const struct mailctl_group *g = mailctl_groups; g->name != NULL; g++) {
		if (strcmp(g->name, group) == 0)
			fprintf(out, "usage: mailctl [-c FILE] %s VERB [ARGS...]\n\n%s: %s.\n\n", group,
			        group, g->help);
	}
	fputs("Commands:\n", out);
	for (const struct mailctl_cmd *c = mailctl_commands; c->group != NULL; c++) {
		if (strcmp(c->group, group) == 0)
			print_cmd_line(out, c);
	}
	for (const struct mailctl_cmd *c = mailctl_commands; c->group != NULL; c++) {
		if (strcmp(c->group, group) == 0 && c->details != NULL)
			fprintf(out, "\n%s %s:\n%s", c->group, c->verb, c->details);
	}
	fputs(global_tail, out);
}
