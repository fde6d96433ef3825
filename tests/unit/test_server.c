/*
 * test_server.c - server set-up without a running loop: listen address
 * parsing and bind errors, TLS file checks, and dropping privileges.
 * Connections themselves are tested in test_conn.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "log.h"
#include "server.h"
#include "testutil.h"

enum { ROLE_PLAIN = 1, ROLE_TLS = 2 };

static char tmp_dir[256], cert_file[512], key_file[512], other_key[512];

/* Never called: no connection is accepted here. */
static void never_open(conn_t *conn)
{
	fail();
}

static void never_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	fail();
}

static void never_close(conn_t *conn, const char *reason)
{
	fail();
}

static const struct conn_handler handler = {
	.open = never_open,
	.line = never_line,
	.close = never_close,
};

#define ERR_LEN 512

/* server_listen with the test handler, no reject line and an ERR_LEN buffer. */
static int listen1(struct server *srv, const struct config_listen *l, int role, bool tls, char *err)
{
	return server_listen(srv, l, role, tls, &handler, NULL, err, ERR_LEN);
}

/* Configuration mistakes are reported with the address, before any loop runs. */
static void test_listen_errors(void **state)
{
	static const struct {
		const char *addr;
		const char *msg;
	} bad[] = {
		{"nohostport", "expected host:port"},
		{"::1:25", "expected host:port"},
		{"[::1]25", "expected [IPv6]:port"},
		{"127.0.0.1:99999", "bad port"},
		{"127.0.0.1:", "bad port"},
		{"127.0.0.1:2x", "bad port"},
	};
	struct mail_config cfg = {.idle_timeout = 30};
	struct server *srv;
	char err[ERR_LEN];

	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config_listen l = {.count = 1};
		snprintf(l.addr[0], sizeof(l.addr[0]), "%s", bad[i].addr);
		err[0] = '\0';
		assert_int_equal(listen1(srv, &l, ROLE_PLAIN, false, err), -1);
		if (strstr(err, bad[i].msg) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].addr, err, bad[i].msg);
	}
	struct config_listen l = {.count = 1, .addr = {"127.0.0.1:0"}};
	assert_int_equal(listen1(srv, &l, ROLE_TLS, true, err), -1);
	assert_non_null(strstr(err, "implicit TLS"));
	/* A port in use. */
	assert_int_equal(listen1(srv, &l, ROLE_PLAIN, false, err), 0);
	snprintf(l.addr[0], sizeof(l.addr[0]), "127.0.0.1:%d", server_listen_port(srv, 0));
	assert_int_equal(listen1(srv, &l, ROLE_PLAIN, false, err), -1);
	assert_non_null(strstr(err, l.addr[0]));
	struct config_listen none = {.count = 0};
	assert_int_equal(listen1(srv, &none, ROLE_TLS, true, err), 0);
	server_free(&srv);
	assert_null(srv);
}

/* TLS files: both or neither, readable, and a key that matches. */
static void test_tls_files(void **state)
{
	struct mail_config cfg = {.idle_timeout = 30};
	struct server *srv;
	char err[ERR_LEN];

	snprintf(cfg.tls_cert, sizeof(cfg.tls_cert), "%s", cert_file);
	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), -1);
	snprintf(cfg.tls_key, sizeof(cfg.tls_key), "%s/missing.pem", tmp_dir);
	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing.pem"));
	snprintf(cfg.tls_key, sizeof(cfg.tls_key), "%s", cert_file);
	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), -1);
	assert_null(srv);
	snprintf(cfg.tls_key, sizeof(cfg.tls_key), "%s", other_key);
	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not match"));
	snprintf(cfg.tls_key, sizeof(cfg.tls_key), "%s", key_file);
	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), 0);
	server_free(&srv);
}

static void test_drop_privileges(void **state)
{
	struct mail_config cfg = {.idle_timeout = 30};
	struct server *srv;
	char err[ERR_LEN];

	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), 0);
	assert_int_equal(server_drop_privileges(srv, err, sizeof(err)), 0); /* no user: nothing */
	server_free(&srv);
	snprintf(cfg.user, sizeof(cfg.user), "no-such-user-x");
	assert_int_equal(server_new(&srv, &cfg, "test", err, sizeof(err)), 0);
	assert_int_equal(server_drop_privileges(srv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no-such-user-x"));
	server_free(&srv);

	struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0)
		TESTUTIL_SKIP("switching users needs root (running as uid %u)", (unsigned)geteuid());
	if (pw == NULL)
		TESTUTIL_SKIP("no user 'nobody' to switch to");
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	/* In a child: dropping root is for good. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		snprintf(cfg.user, sizeof(cfg.user), "nobody");
		int ok = server_new(&srv, &cfg, "test", err, sizeof(err)) == 0 &&
		         server_drop_privileges(srv, err, sizeof(err)) == 0 && geteuid() == uid &&
		         getuid() == uid && getegid() == gid && getgroups(0, NULL) <= 1 && setuid(0) != 0;
		server_free(&srv);
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int group_setup(void **state)
{
	char cmd[2048];
	testutil_mkdtemp(tmp_dir, sizeof(tmp_dir));
	testutil_path(cert_file, sizeof(cert_file), tmp_dir, "cert.pem");
	testutil_path(key_file, sizeof(key_file), tmp_dir, "key.pem");
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
	         "-subj /CN=localhost -keyout '%s' -out '%s' >/dev/null 2>&1",
	         key_file, cert_file);
	assert_int_equal(system(cmd), 0);
	testutil_path(other_key, sizeof(other_key), tmp_dir, "other.pem");
	snprintf(cmd, sizeof(cmd),
	         "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out '%s' 2>/dev/null",
	         other_key);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int group_teardown(void **state)
{
	testutil_rmtree(tmp_dir);
	return 0;
}

int main(void)
{
	log_set_level(LOG_LEVEL_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_drop_privileges),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
