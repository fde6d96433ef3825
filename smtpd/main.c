/*
 * smtpd - the SMTP daemon: reads the config, brings the database schema up
 * to date, binds the MX, submission and smtps listeners, drops privileges,
 * and serves until SIGTERM/SIGINT have drained the sessions.
 *
 * Exit codes: 0 after a clean shutdown, 1 on a runtime failure (database,
 * bind, TLS files), 2 on a usage or configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authlimit.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "server.h"
#include "smtp_commit.h"
#include "smtp_queueid.h"
#include "smtp_spool.h"
#include "smtp_session.h"
#include "store.h"

#define EXIT_RUNTIME DAEMON_EXIT_RUNTIME

static const char usage[] =
	"usage: smtpd [-c FILE]\n"
	"Receives mail (RFC 5321) on smtp_listen (MX), submission_listen and smtps_listen.\n"
	"Configuration keys can also be set as MAIL_<KEY> environment variables.\n";

static void metrics_log_cb(void *ctx, const char *name, uint64_t value)
{
	(void)ctx;
	log_debug(0, "metric", "name=%s value=%llu", name, (unsigned long long)value);
}

/* The counters at exit: a summary line, and each one at debug level. */
static void metrics_log(const struct smtp_metrics *m)
{
	uint64_t rejections = 0;

	for (unsigned i = 0; i < SMTP_REJECT_COUNT; i++)
		rejections += m->rejections[i];
	log_info(0, "stats", "connections=%llu messages=%llu bytes=%llu recipients=%llu "
	         "batches=%llu auth_ok=%llu auth_failed=%llu rejections=%llu",
	         (unsigned long long)m->connections, (unsigned long long)m->messages,
	         (unsigned long long)m->message_bytes, (unsigned long long)m->recipients,
	         (unsigned long long)m->commit_batches, (unsigned long long)m->auth_successes,
	         (unsigned long long)m->auth_failures, (unsigned long long)rejections);
	smtp_metrics_foreach(m, metrics_log_cb, NULL);
}

static void address_problem_cb(void *ctx, const char *problem)
{
	char esc[1024];

	log_warn(0, "address_problem", "problem=%s hint=\"mailctl db migrate lists them\"",
	         log_escape(esc, sizeof(esc), problem, strlen(problem)));
}

/* Creates or migrates the schema once, here, before any worker thread opens the file. */
static int open_store(const struct mail_config *cfg)
{
	char err[512];
	store_t *store;

	if (store_open(cfg->db, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE, &store, err, sizeof(err)) !=
	    STORE_OK) {
		fprintf(stderr, "smtpd: %s: %s\n", cfg->db, err);
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

struct listener {
	const struct config_listen *addrs;
	enum smtp_role role;
	bool implicit_tls;
};

static int listen_all(struct server *srv, const struct mail_config *cfg)
{
	const struct listener listeners[] = {
		{ &cfg->smtp_listen, SMTP_ROLE_MX, false },
		{ &cfg->submission_listen, SMTP_ROLE_SUBMISSION, false },
		{ &cfg->smtps_listen, SMTP_ROLE_SMTPS, true },
	};
	char err[512];

	for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++) {
		if (listeners[i].implicit_tls && listeners[i].addrs->count > 0 &&
		    cfg->tls_cert[0] == '\0') {
			/* The default smtps_listen must not stop a local run without TLS. */
			log_warn(0, "listener_skipped", "key=smtps_listen reason=\"no tls_cert\"");
			continue;
		}
		if (server_listen(srv, listeners[i].addrs, listeners[i].role, listeners[i].implicit_tls,
		                  &smtp_session_handler, "421 4.7.0 Too many connections, try later\r\n",
		                  err, sizeof(err)) != 0) {
			fprintf(stderr, "smtpd: %s\n", err);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct mail_config cfg;
	static struct smtp_env env;
	struct server *srv = NULL;
	char err[512];
	int status = daemon_configure(argc, argv, CONFIG_PROGRAM_SMTPD, usage, &cfg);

	if (status >= 0)
		return status;
	/* server_new ignores SIGPIPE and sizes libuv's thread pool. */
	if (server_new(&srv, &cfg, "smtpd", err, sizeof(err)) != 0) {
		fprintf(stderr, "smtpd: %s\n", err);
		return EXIT_RUNTIME;
	}
	env.cfg = &cfg;
	smtp_session_setup(&env);
	smtp_spool_init(server_loop(srv));
	if (listen_all(srv, &cfg) != 0) {
		server_free(&srv);
		return EXIT_RUNTIME;
	}
	if (server_drop_privileges(srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "smtpd: %s\n", err);
		server_free(&srv);
		return EXIT_RUNTIME;
	}
	/* As the service user, so the files SQLite creates belong to it. */
	if (open_store(&cfg) != 0) {
		server_free(&srv);
		return EXIT_RUNTIME;
	}
	if (smtp_queueid_init(server_loop(srv), cfg.db, err, sizeof(err)) != 0) {
		fprintf(stderr, "smtpd: %s\n", err);
		server_free(&srv);
		return EXIT_RUNTIME;
	}
	struct authlimit_params limits;
	authlimit_params_from_config(&limits, &cfg);
	if (authlimit_new(&env.authlimit, &limits) != 0) {
		fprintf(stderr, "smtpd: out of memory\n");
		server_free(&srv);
		return EXIT_RUNTIME;
	}
	log_info(0, "start", "hostname=%s max_message_size=%llu max_recipients=%u", cfg.hostname,
	         (unsigned long long)cfg.max_message_size, cfg.max_recipients);
	/* Without it, every lookup goes through the thread pool: slower, not wrong. */
	if (store_open(cfg.db, STORE_OPEN_NOWAIT, &env.lookup_store, err, sizeof(err)) != STORE_OK)
		log_warn(0, "lookup_store", "error=\"%s\"", err);
	if (smtp_commit_init(server_loop(srv), cfg.db, err, sizeof(err)) != 0) {
		fprintf(stderr, "smtpd: %s\n", err);
		store_close(&env.lookup_store);
		server_free(&srv);
		authlimit_free(&env.authlimit);
		return EXIT_RUNTIME;
	}
	int rc = server_run(srv);
	smtp_commit_stop();
	store_close(&env.lookup_store);
	metrics_log(&env.metrics);
	server_free(&srv);
	authlimit_free(&env.authlimit);
	log_info(0, "stop", "rc=%d", rc);
	return rc == 0 ? 0 : EXIT_RUNTIME;
}
