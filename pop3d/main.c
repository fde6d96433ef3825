/*
 * pop3d - the POP3 daemon.
 *
 *   pop3d [-c FILE]
 *
 * Start-up follows Postfix's order: load and validate the configuration,
 * bind the listeners, drop privileges, bring the database schema up to
 * date (as the service user), then serve until SIGTERM/SIGINT. Exit codes (DESIGN.md):
 * 0 after a clean shutdown, 1 on a runtime failure, 2 on a usage or
 * configuration error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "authlimit.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "pop3.h"
#include "server.h"
#include "store.h"

#define EXIT_RUNTIME DAEMON_EXIT_RUNTIME
#define EXIT_USAGE DAEMON_EXIT_USAGE

static const char usage[] =
	"usage: pop3d [-c FILE]\n"
	"Serves POP3 (RFC 1939) on pop3_listen (STLS) and pop3s_listen (implicit TLS).\n"
	"Configuration keys can also be set as MAIL_<KEY> environment variables.\n";

static void address_problem_cb(void *ctx, const char *problem)
{
	char esc[1024];

	log_warn(0, "address_problem", "problem=%s hint=\"mailctl db migrate lists them\"",
	         log_escape(esc, sizeof(esc), problem, strlen(problem)));
}

/* Creates or migrates the schema once, so worker threads can open it plainly. */
static int prepare_store(const struct mail_config *cfg)
{
	char err[512];
	store_t *store = NULL;

	if (store_open(cfg->db, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE, &store, err, sizeof(err)) !=
	    STORE_OK) {
		fprintf(stderr, "pop3d: %s: %s\n", cfg->db, err);
		return -1;
	}
	/* Addresses an older schema left for the operator (store.h): said at
	 * every start until resolved, as mailctl db migrate and db check do. */
	int problems = store_address_problems(store, address_problem_cb, NULL);
	if (problems < 0)
		log_warn(0, "address_check_failed", "error=\"%s\"", store_strerror(problems));
	store_close(&store);
	return 0;
}

static int listen_all(struct server *srv, const struct mail_config *cfg, char *err, size_t errlen)
{
	bool pop3s = cfg->pop3s_listen.count > 0;

	if (pop3s && cfg->tls_cert[0] == '\0') {
		/* The default pop3s_listen must not stop a local run without certificates. */
		log_warn(0, "pop3s_disabled", "reason=\"no tls_cert and tls_key configured\"");
		pop3s = false;
	}
	if (server_listen(srv, &cfg->pop3_listen, POP3_ROLE_PLAIN, false, &pop3_handler,
	                  POP3_REJECT_LINE, err, errlen) != 0)
		return -1;
	if (!pop3s)
		return 0;
	return server_listen(srv, &cfg->pop3s_listen, POP3_ROLE_TLS, true, &pop3_handler,
	                     POP3_REJECT_LINE, err, errlen);
}

int main(int argc, char **argv)
{
	static struct mail_config cfg; /* sessions keep a pointer until exit */
	char err[512];
	int status = daemon_configure(argc, argv, CONFIG_PROGRAM_POP3D, usage, &cfg);

	if (status >= 0)
		return status;
	if (cfg.pop3_listen.count == 0 && cfg.pop3s_listen.count == 0) {
		fprintf(stderr, "pop3d: pop3_listen and pop3s_listen are both empty: nothing to serve\n");
		return EXIT_USAGE;
	}

	struct authlimit_params limits;
	struct authlimit *authlimit = NULL;
	authlimit_params_from_config(&limits, &cfg);
	if (authlimit_new(&authlimit, &limits) != 0) {
		fprintf(stderr, "pop3d: out of memory\n");
		return EXIT_RUNTIME;
	}

	struct server *srv = NULL;
	if (server_new(&srv, &cfg, "pop3d", err, sizeof(err)) != 0 ||
	    pop3_init(&cfg, authlimit, err, sizeof(err)) != 0 ||
	    listen_all(srv, &cfg, err, sizeof(err)) != 0 ||
	    server_drop_privileges(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "pop3d: %s\n", err);
		if (srv != NULL)
			server_free(&srv);
		authlimit_free(&authlimit);
		return EXIT_RUNTIME;
	}
	/* As the service user, so the files SQLite creates belong to it. */
	if (prepare_store(&cfg) != 0) {
		server_free(&srv);
		authlimit_free(&authlimit);
		return EXIT_RUNTIME;
	}
	pop3_open_loop_store();
	log_info(0, "pop3d_start", "db=%s", cfg.db);
	int rc = server_run(srv);
	pop3_finish();
	server_free(&srv);
	authlimit_free(&authlimit);
	log_info(0, "pop3d_stop", "status=%d", rc);
	return rc == 0 ? 0 : EXIT_RUNTIME;
}
