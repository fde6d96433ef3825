/* cmd_mailbox.c - mailctl mailbox list ADDRESS. */
#include <stdlib.h>

#include "mailctl.h"

/*
 * One line per message, oldest first, as POP3 numbers them in a fresh
 * session: "NUMBER UID SIZE" (UID is what UIDL shows, SIZE the octets
 * RETR sends), then "total: N messages, M octets".
 */
int cmd_mailbox_list(struct mailctl *ctx, const struct mailctl_args *args)
{
	const char *address = args->argv[0];
	struct store_entry *entries = NULL;
	size_t count = 0;
	uint64_t total = 0;
	int rc = store_mailbox_snapshot(ctx->store, address, &entries, &count);

	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no such user '%s'", address);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, address);
	for (size_t i = 0; i < count; i++) {
		fprintf(ctx->out, "%zu %lld %llu\n", i + 1, (long long)entries[i].id,
		        (unsigned long long)entries[i].size);
		total += entries[i].size;
	}
	fprintf(ctx->out, "total: %zu message%s, %llu octets\n", count, count == 1 ? "" : "s",
	        (unsigned long long)total);
	free(entries);
	return MAILCTL_EXIT_OK;
}
