/* daemon.c - the daemons' start-up, run and exit; see daemon.h. */
#include "daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "authlimit.h"
#include "log.h"
#include "secret_file.h"
#include "service_http.h"
#include "server.h"
#include "store.h"

/* Returns -1 when the daemon should go on, else the status to exit with. */
static int configure(int argc, char **argv, const struct daemon_def *def,
                     struct mail_config *cfg)
{
	const char *path = NULL;
	char err[512];
	int opt;

	while ((opt = getopt(argc, argv, "c:h")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			fputs(def->usage, stdout);
			return DAEMON_EXIT_OK;
		default:
			fputs(def->usage, stderr);
			return DAEMON_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(def->usage, stderr);
		return DAEMON_EXIT_USAGE;
	}
	if (config_load(cfg, def->program, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", def->name, err);
		return DAEMON_EXIT_USAGE;
	}
	log_set_level((enum log_level)cfg->log_level);
	return -1;
}

static const struct config_listen *listener_addrs(const struct mail_config *cfg,
                                                  const struct daemon_listener *l)
{
	return (const struct config_listen *)(const void *)((const char *)cfg + l->offset);
}

/* Binds every configured listener; an implicit-TLS one without a certificate is skipped. */
static int listen_all(const struct daemon_def *def, struct server *srv,
                      const struct mail_config *cfg, struct service_http *service, char *err,
                      size_t errlen)
{
	/* First, so that once a client listener accepts, the endpoints do too;
	 * before the privileges go, like the others. Requests wait for the loop,
	 * which runs once the context they report on exists. */
	if (def->metrics != NULL &&
	    server_listen_service(srv, &cfg->metrics_listen, DAEMON_ROLE_SERVICE,
	                          &service_http_handler, service, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < def->listener_count; i++) {
		const struct daemon_listener *l = &def->listeners[i];
		const struct config_listen *addrs = listener_addrs(cfg, l);

		if (l->implicit_tls && addrs->count > 0 && cfg->tls_cert[0] == '\0') {
			/* The default smtps_listen / pop3s_listen must not stop a local run without TLS. */
			log_warn(0, "listener_skipped", "key=%s reason=\"no tls_cert\"", l->key);
			continue;
		}
		if (server_listen(srv, addrs, l->role, l->implicit_tls, def->handler, def->reject_line,
		                  err, errlen) != 0)
			return -1;
	}
	return 0;
}

static void address_problem_cb(void *ctx, const char *problem)
{
	char esc[1024];

	(void)ctx;
	log_warn(0, "address_problem", "problem=%s hint=\"mailctl db migrate lists them\"",
	         log_escape(esc, sizeof(esc), problem, strlen(problem)));
}

/*
 * The process's pool (store.h) on cfg->db, with the password of
 * db_password_file: read here, before privileges are dropped, so the file
 * may be readable by root alone; the pool keeps the only copy.
 */
static int make_pool(const struct mail_config *cfg, store_pool_t **pool_r, char *err,
                     size_t errlen)
{
	char *password = NULL;

	if (cfg->db_password_file[0] != '\0' &&
	    secret_file_read("db_password_file", cfg->db_password_file, SECRET_FILE_PRIVATE,
	                     &password, err, errlen) != 0)
		return -1;
	struct store_pool_config pc = {
		.db = cfg->db,
		.password = password,
		.max_open = cfg->db_connections,
		.wait_ms = cfg->db_connection_wait * 1000,
	};
	int rc = store_pool_new(&pc, pool_r);
	secret_free(&password);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "database pool: %s", store_strerror(rc));
		return -1;
	}
	return 0;
}

/* Creates or migrates the schema once, here, before any worker thread opens the file. */
static int prepare_store(const struct mail_config *cfg, store_pool_t *pool, char *err,
                         size_t errlen)
{
	char msg[512];
	store_t *store = NULL;

	if (store_pool_open(pool, STORE_OPEN_CREATE | STORE_OPEN_MIGRATE, &store, msg,
	                    sizeof(msg)) != STORE_OK) {
		char shown[256];
		snprintf(err, errlen, "%.200s: %.300s", store_db_redacted(cfg->db, shown, sizeof(shown)),
		         msg);
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

struct running {
	const struct daemon_def *def;
	void *ctx;
	struct service_http service; /* metrics_listen's endpoints */
};

static void stop_cb(void *arg)
{
	struct running *r = arg;

	if (r->def->stop != NULL)
		r->def->stop(r->ctx);
}

int daemon_main(int argc, char **argv, const struct daemon_def *def)
{
	static struct mail_config cfg; /* sessions keep pointers into it until exit */
	struct daemon d = { .name = def->name, .cfg = &cfg };
	struct running running = { .def = def, .service = { .render = def->metrics } };
	struct authlimit_params limits;
	char err[512] = "";
	bool started = false;
	int status = configure(argc, argv, def, &cfg);

	if (status >= 0)
		return status;
	bool any = false;
	for (size_t i = 0; i < def->listener_count; i++)
		any = any || listener_addrs(&cfg, &def->listeners[i])->count > 0;
	if (!any) {
		fprintf(stderr, "%s: every listener is empty: nothing to serve\n", def->name);
		return DAEMON_EXIT_USAGE;
	}

	authlimit_params_from_config(&limits, &cfg);
	status = DAEMON_EXIT_RUNTIME;
	if (authlimit_new(&d.authlimit, &limits) != 0) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	/* Before server_drop_privileges, which comes with the listeners. */
	if (make_pool(&cfg, &d.pool, err, sizeof(err)) != 0)
		goto out;
	running.service.pool = d.pool;
	/* server_new ignores SIGPIPE and sizes libuv's thread pool. */
	if (server_new(&d.srv, &cfg, def->name, err, sizeof(err)) != 0 ||
	    listen_all(def, d.srv, &cfg, &running.service, err, sizeof(err)) != 0 ||
	    server_drop_privileges(d.srv, err, sizeof(err)) != 0 ||
	    /* As the service user, so the files SQLite creates belong to it. */
	    prepare_store(&cfg, d.pool, err, sizeof(err)) != 0)
		goto out;
	started = true;
	if (def->start(&d, &running.ctx, err, sizeof(err)) != 0)
		goto out;
	server_set_context(d.srv, running.ctx);
	server_set_stop_cb(d.srv, stop_cb, &running);
	char shown[sizeof(cfg.db)];
	log_info(0, "start", "daemon=%s hostname=%s db=%s", def->name, cfg.hostname,
	         store_db_redacted(cfg.db, shown, sizeof(shown)));
	int rc = server_run(d.srv);
	log_info(0, "stop", "daemon=%s status=%d", def->name, rc);
	status = rc == 0 ? DAEMON_EXIT_OK : DAEMON_EXIT_RUNTIME;
	err[0] = '\0';
out:
	if (err[0] != '\0')
		fprintf(stderr, "%s: %s\n", def->name, err);
	/* First, so the loop closes any handle a failed start left, while its memory lives. */
	server_free(&d.srv);
	if (started)
		def->finish(running.ctx);
	/* After finish: the context's handles go back to the pool first. */
	store_pool_free(&d.pool);
	authlimit_free(&d.authlimit);
	return status;
}
