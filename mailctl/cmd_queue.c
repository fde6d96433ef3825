/* cmd_queue.c - mailctl queue list|retry|delete. */
#include <string.h>

#include "log.h"
#include "mailctl.h"

struct queue_list {
	FILE *out;
	size_t count;
};

/*
 * "ID STATE msg=QUEUEID attempts=N next=TIME from=SENDER to=RECIPIENT
 * [error=TEXT]". ID names the row (one per recipient) for retry and
 * delete; QUEUEID is the message's id, the one smtpd gave in its 250
 * reply, its log lines and the Received: header.
 * Addresses and the last error came from other servers and clients, so
 * they are escaped like log values: no control bytes reach the terminal.
 */
static void print_item_cb(void *ctx, const struct store_queue_item *item)
{
	struct queue_list *list = ctx;
	char from[600], to[600], error[1200], next[32];

	list->count++;
	mailctl_format_time(item->next_attempt, next, sizeof(next));
	if (item->sender[0] == '\0')
		snprintf(from, sizeof(from), "<>");
	else
		log_escape(from, sizeof(from), item->sender, strlen(item->sender));
	log_escape(to, sizeof(to), item->recipient, strlen(item->recipient));
	fprintf(list->out, "%lld %s msg=%lld attempts=%d next=%s from=%s to=%s", (long long)item->id,
	        item->state == STORE_QUEUE_FAILED ? "failed" : "pending", (long long)item->message_id,
	        item->attempts, next, from, to);
	if (item->last_error[0] != '\0') {
		log_escape(error, sizeof(error), item->last_error, strlen(item->last_error));
		fprintf(list->out, " error=%s", error);
	}
	fputc('\n', list->out);
}

int cmd_queue_list(struct mailctl *ctx, const struct mailctl_args *args)
{
	struct queue_list list = {.out = ctx->out};
	int rc = store_queue_list(ctx->store, print_item_cb, &list);

	if (rc != 0)
		return mailctl_store_fail(ctx, rc, "listing the queue");
	fprintf(ctx->out, "total: %zu\n", list.count);
	return MAILCTL_EXIT_OK;
}

static int queue_act(struct mailctl *ctx, const char *arg, int (*act)(store_t *, int64_t))
{
	int64_t id = 0;
	int rc;

	mailctl_parse_queue_id(arg, &id); /* checked by check_arg_queue_id */
	rc = act(ctx->store, id);
	/* "all" on an empty queue has nothing to do, which is not a failure. */
	if (rc == STORE_ENOTFOUND && id == 0)
		rc = 0;
	if (rc == STORE_ENOTFOUND)
		return mailctl_fail(ctx, MAILCTL_EXIT_FAIL, "no queue item %lld", (long long)id);
	if (rc != 0)
		return mailctl_store_fail(ctx, rc, arg);
	return MAILCTL_EXIT_OK;
}

int cmd_queue_retry(struct mailctl *ctx, const struct mailctl_args *args)
{
	return queue_act(ctx, args->argv[0], store_queue_retry);
}

int cmd_queue_delete(struct mailctl *ctx, const struct mailctl_args *args)
{
	return queue_act(ctx, args->argv[0], store_queue_delete);
}
