/* cmd_db_copy.c - mailctl db copy --from DB --to DB: a whole installation
 * into a new or empty database, of either backend (store_copy). */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "mailctl.h"
#include "secret_file.h"

#define COPY_USAGE "(usage: mailctl db copy --from DB --to DB)"

int check_arg_copy(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *from = mailctl_opt(args, "from");
	const char *to = mailctl_opt(args, "to");

	if (from == NULL || *from == '\0')
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "missing option --from " COPY_USAGE);
	if (to == NULL || *to == '\0')
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "missing option --to " COPY_USAGE);
	/* Only the same spelling is caught here; another name for the same
	 * file or database is refused as a target that is not empty. */
	if (strcmp(from, to) == 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_USAGE, "--from and --to name the same database");
	return 0;
}

struct progress {
	FILE *tty; /* stderr when it is a terminal, else NULL */
};

/* A copy of a large installation takes a while: someone at a terminal
 * sees it move; a script or a log gets the summary line alone. */
static void progress_cb(void *ctx, const char *table, const struct store_copy_stats *st)
{
	struct progress *p = ctx;

	if (p->tty == NULL)
		return;
	if (strcmp(table, "done") == 0) {
		fputs("\r\033[K", p->tty);
		return;
	}
	fprintf(p->tty, "\r\033[Kcopying %s: %" PRIu64 " messages, %" PRIu64 " bytes so far", table,
	        st->messages, st->bytes);
	fflush(p->tty);
}

/* Opens one side; a failure is exit 1 with the store's message, which
 * names the file (SQLite) or the server (libpq). URIs are not repeated:
 * they may carry a password. The side that is the configured `db` logs in
 * with db_password_file, as the daemons do; another finds its password in
 * PGPASSFILE (never give it in the URI: it would show in `ps`). */
static int open_side(struct mailctl *ctx, const char *side, const char *db, int flags,
                     store_t **store_r)
{
	char err[1024] = "";
	char *password = NULL;
	if (strcmp(db, ctx->cfg.db) == 0 && ctx->cfg.db_password_file[0] != '\0' &&
	    secret_file_read("db_password_file", ctx->cfg.db_password_file, SECRET_FILE_PRIVATE,
	                     &password, err, sizeof(err)) != 0)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %s", side, err);
	int rc = store_open_auth(db, password, flags, store_r, err, sizeof(err));
	secret_free(&password);

	if (rc == 0)
		return 0;
	return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s: %s", side,
	                    err[0] != '\0' ? err : store_strerror(rc));
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cmd_db_copy(struct mailctl *ctx, const struct mailctl_args *args)
{
	struct progress progress = {.tty = isatty(fileno(ctx->err)) ? ctx->err : NULL};
	struct store_copy_stats st;
	store_t *src = NULL, *dst = NULL;
	char err[1024] = "";

	/* The source as it is: never created, never migrated (a copy must not
	 * change what it copies). The target is created when missing and
	 * given the schema when it has none, but an older schema is not
	 * upgraded: it is refused as it is (STORE_OPEN_INIT). */
	int status = open_side(ctx, "source", mailctl_opt(args, "from"), 0, &src);
	if (status == 0)
		status = open_side(ctx, "target", mailctl_opt(args, "to"),
		                   STORE_OPEN_CREATE | STORE_OPEN_INIT, &dst);
	if (status == 0) {
		int rc = store_copy(src, dst, progress_cb, &progress, &st, err, sizeof(err));
		if (rc != 0) {
			if (progress.tty != NULL)
				fputs("\r\033[K", progress.tty);
			status = mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "%s (nothing was copied)",
			                      err[0] != '\0' ? err : store_strerror(rc));
		}
	}
	store_close(&dst);
	store_close(&src);
	if (status != 0)
		return status;
	fprintf(ctx->out,
	        "copied %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " %s, %" PRIu64 " DKIM %s, %" PRIu64
	        " %s (%" PRIu64 " %s) in %" PRIu64 " mailbox %s, %" PRIu64 " queued %s\n",
	        st.domains, plural(st.domains, "domain", "domains"), st.users,
	        plural(st.users, "user", "users"), st.aliases, plural(st.aliases, "alias", "aliases"),
	        st.dkim_keys, plural(st.dkim_keys, "key", "keys"), st.messages,
	        plural(st.messages, "message", "messages"), st.bytes,
	        plural(st.bytes, "byte", "bytes"), st.entries, plural(st.entries, "entry", "entries"),
	        st.queue, plural(st.queue, "delivery", "deliveries"));
	return MAILCTL_EXIT_OK;
}
