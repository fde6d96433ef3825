/*
 * pop3d - the POP3 daemon.
 *
 *   pop3d [-c FILE]
 *
 * The start-up is common/daemon.c's; what is pop3d's own is its two
 * listeners and its context (pop3.h).
 */
#include <stddef.h>

#include "daemon.h"
#include "pop3.h"

static int start(const struct daemon *d, void **ctx_r, char *err, size_t errlen)
{
	struct pop3_context *ctx = NULL;
	int rc = pop3_context_new(&ctx, d->cfg, d->pool, d->authlimit, err, errlen);

	*ctx_r = ctx;
	return rc;
}

static void finish(void *ctx)
{
	struct pop3_context *c = ctx;

	pop3_context_free(&c);
}

static const struct daemon_listener listeners[] = {
	{ "pop3_listen", offsetof(struct mail_config, pop3_listen), POP3_ROLE_PLAIN, false },
	{ "pop3s_listen", offsetof(struct mail_config, pop3s_listen), POP3_ROLE_TLS, true },
};

static const struct daemon_def pop3d = {
	.name = "pop3d",
	.program = CONFIG_PROGRAM_POP3D,
	.usage = "usage: pop3d [-c FILE]\n"
	         "Serves POP3 (RFC 1939) on pop3_listen (STLS) and pop3s_listen (implicit TLS).\n"
	         "Configuration keys can also be set as MAIL_<KEY> environment variables.\n",
	.listeners = listeners,
	.listener_count = sizeof(listeners) / sizeof(listeners[0]),
	.handler = &pop3_handler,
	.reject_line = POP3_REJECT_LINE,
	.start = start,
	.finish = finish,
	.metrics = pop3_metrics_render,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &pop3d);
}
