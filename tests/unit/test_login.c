/*
 * test_login.c - the failed-login budget of common/login.c: what a failure
 * and a lockout refusal cost, against the connection (max_auth_failures)
 * and against the client's address (authlimit.h). The check itself runs
 * against the real daemons in tests/e2e (test_auth_budget.py,
 * test_login_store_failure.py).
 *
 * The conn_* functions login.c calls are defined here: a fake connection
 * from one address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "authlimit.h"
#include "config.h"
#include "login.h"

static const char *peer = "192.0.2.7";

uint64_t conn_id(const conn_t *conn)
{
	(void)conn;
	return 1;
}

const char *conn_peer_ip(const conn_t *conn)
{
	(void)conn;
	return peer;
}

int conn_queue_work(conn_t *conn, conn_work_fn *work, conn_done_fn *done, void *arg)
{
	(void)conn, (void)work, (void)done, (void)arg;
	return -1; /* login_start is not under test here */
}

const char *conn_strerror(int err)
{
	(void)err;
	return "error";
}

struct fixture {
	struct mail_config cfg;
	struct authlimit *authlimit;
};

static int setup(void **state)
{
	static struct fixture f;
	char err[256];

	assert_int_equal(config_load(&f.cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err)), 0);
	f.cfg.max_auth_failures = 3;
	f.cfg.auth_failure_delay_ms = 100;
	f.cfg.auth_failure_budget = 4;
	struct authlimit_params p;
	authlimit_params_from_config(&p, &f.cfg);
	assert_int_equal(authlimit_new(&f.authlimit, &p), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	authlimit_free(&f->authlimit);
	return 0;
}

static struct login_verdict fail_login(struct fixture *f, unsigned *failures, bool refused)
{
	return login_failed(f->authlimit, &f->cfg, (conn_t *)f, failures, refused, "PLAIN",
	                    "alice@example.test", "credentials");
}

static void test_connection_hangs_up_at_max_auth_failures(void **state)
{
	struct fixture *f = *state;
	unsigned failures = 0;

	assert_false(fail_login(f, &failures, false).hang_up);
	assert_false(fail_login(f, &failures, false).hang_up);
	struct login_verdict v = fail_login(f, &failures, false);
	assert_true(v.hang_up);
	assert_int_equal(failures, 3);
	assert_int_equal(v.delay_ms, 100); /* within the free failures: the base delay */
}

static void test_address_locked_out_at_its_budget(void **state)
{
	struct fixture *f = *state;
	unsigned a = 0, b = 0;

	/* Two connections from one address share its budget of 4. */
	fail_login(f, &a, false);
	fail_login(f, &a, false);
	fail_login(f, &b, false);
	assert_int_equal(login_locked_ms(f->authlimit, (conn_t *)f), 0);
	fail_login(f, &b, false);
	assert_true(login_locked_ms(f->authlimit, (conn_t *)f) > 0);
}

static void test_refusal_counts_against_the_connection_only(void **state)
{
	struct fixture *f = *state;
	unsigned failures = 0;

	/* A refusal checked no password: it costs the base delay and a connection
	 * attempt, never a failure of the address (which would lengthen the lockout). */
	for (int i = 0; i < 3; i++) {
		struct login_verdict v = fail_login(f, &failures, true);
		assert_int_equal(v.delay_ms, 100);
	}
	assert_int_equal(failures, 3);
	assert_int_equal(login_locked_ms(f->authlimit, (conn_t *)f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connection_hangs_up_at_max_auth_failures, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_address_locked_out_at_its_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_counts_against_the_connection_only, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
