/*
 * test_session.c - the session core (common/session.c) against a fake
 * connection: the error budget and its delays, the hang-up at the hard
 * limit, the state table and its final state, and stopping while busy,
 * idle, delayed or in a state that must finish first.
 *
 * The conn_* functions the core calls are defined here, so the core runs
 * without a loop; conn_after's timer fires when the test says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

/* ---- a fake connection -------------------------------------------------- */

struct fake_conn {
	void *data;
	bool paused, closed;
	char out[4096];
	size_t out_len;
	unsigned after_ms;
	void (*after_cb)(conn_t *conn);
	int queued;
};

static struct fake_conn fake;

uint64_t conn_id(const conn_t *conn)
{
	(void)conn;
	return 7;
}

void *conn_data(const conn_t *conn)
{
	(void)conn;
	return fake.data;
}

void conn_pause(conn_t *conn)
{
	(void)conn;
	fake.paused = true;
}

void conn_resume(conn_t *conn)
{
	(void)conn;
	fake.paused = false;
}

void conn_write(conn_t *conn, const void *data, size_t len)
{
	(void)conn;
	assert_true(fake.out_len + len <= sizeof(fake.out));
	memcpy(fake.out + fake.out_len, data, len);
	fake.out_len += len;
}

void conn_close(conn_t *conn)
{
	(void)conn;
	fake.closed = true;
}

void conn_after(conn_t *conn, unsigned ms, void (*cb)(conn_t *conn))
{
	(void)conn;
	fake.paused = true;
	fake.after_ms = ms;
	fake.after_cb = cb;
}

int conn_queue_work(conn_t *conn, conn_work_fn *work, conn_done_fn *done, void *arg)
{
	(void)conn, (void)work, (void)done, (void)arg;
	fake.queued++;
	return 0;
}

/* The conn_after timer expires. */
static void fire_timer(void)
{
	void (*cb)(conn_t *) = fake.after_cb;

	assert_non_null(cb);
	fake.after_cb = NULL;
	cb((conn_t *)&fake);
}

/* Takes what was written so far, as a string. */
static const char *output(void)
{
	static char text[sizeof(fake.out) + 1];

	memcpy(text, fake.out, fake.out_len);
	text[fake.out_len] = '\0';
	fake.out_len = 0;
	return text;
}

/* ---- a toy protocol ------------------------------------------------------ */

enum { ST_IDLE, ST_BODY, ST_CLOSING, ST_COUNT };

static const char *const names[] = { "idle", "body", "closing" };
static const unsigned next[] = {
	[ST_IDLE] = 1u << ST_BODY | 1u << ST_CLOSING,
	[ST_BODY] = 1u << ST_IDLE | 1u << ST_CLOSING,
	[ST_CLOSING] = 0,
};

static int stops;

static bool may_stop(const struct session *s)
{
	return s->state != ST_BODY;
}

static void stop(struct session *s)
{
	stops++;
	session_send(s, "421 bye\r\n", 9, SESSION_REPLY_FINAL);
}

static size_t too_many(struct session *s, char *buf, size_t cap)
{
	(void)s;
	assert_true(cap >= 16);
	memcpy(buf, "421 too many\r\n", 14);
	return 14;
}

static const struct session_def def = {
	.protocol = "toy",
	.state_names = names,
	.next_states = next,
	.state_count = ST_COUNT,
	.closing_state = ST_CLOSING,
	.may_stop = may_stop,
	.stop = stop,
	.too_many_errors = too_many,
};

static struct session s;

static int setup(void **state)
{
	(void)state;
	struct session_limits limits = { .soft_errors = 2, .hard_errors = 4, .delay_ms = 250 };

	memset(&fake, 0, sizeof(fake));
	stops = 0;
	session_init(&s, (conn_t *)&fake, &def, &limits, ST_IDLE);
	fake.data = &s;
	return 0;
}

static void error(void)
{
	session_send(&s, "500 no\r\n", 8, SESSION_REPLY_ERROR);
}

/* ---- tests --------------------------------------------------------------- */

static void test_errors_below_soft_limit_are_not_delayed(void **state)
{
	(void)state;
	error();
	error();
	assert_string_equal(output(), "500 no\r\n500 no\r\n");
	assert_false(session_blocked(&s));
	session_send(&s, "250 ok\r\n", 8, SESSION_REPLY_OK);
	assert_string_equal(output(), "250 ok\r\n");
	assert_int_equal(s.errors, 2);
}

static void test_errors_beyond_soft_limit_wait_then_resume(void **state)
{
	(void)state;
	error();
	error();
	output();
	session_busy(&s);
	error(); /* the third: beyond the soft limit of 2 */
	assert_true(session_blocked(&s));
	assert_int_equal(fake.after_ms, 250);
	assert_string_equal(output(), "");
	session_done(&s); /* the command is over, but the reply still waits */
	assert_true(fake.paused);
	fire_timer();
	assert_string_equal(output(), "500 no\r\n");
	assert_false(fake.paused);
	assert_false(fake.closed);
}

static void test_hard_limit_says_so_and_closes(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		error();
		if (fake.after_cb != NULL)
			fire_timer();
	}
	output();
	error(); /* the fourth: the hard limit */
	fire_timer();
	assert_string_equal(output(), "500 no\r\n421 too many\r\n");
	assert_true(fake.closed);
	assert_int_equal(s.state, ST_CLOSING);
	session_send(&s, "250 late\r\n", 10, SESSION_REPLY_OK);
	assert_string_equal(output(), "");
}

static void test_delay_next_delays_any_reply(void **state)
{
	(void)state;
	session_delay_next(&s, 1000);
	session_send(&s, "535 failed\r\n", 12, SESSION_REPLY_OK);
	assert_int_equal(fake.after_ms, 1000);
	session_close(&s); /* the last failure allowed: close after the reply */
	assert_false(fake.closed);
	fire_timer();
	assert_string_equal(output(), "535 failed\r\n");
	assert_true(fake.closed);
}

static void test_closing_state_is_final(void **state)
{
	(void)state;
	session_enter_state(&s, ST_BODY);
	assert_int_equal(s.state, ST_BODY);
	session_close(&s);
	assert_int_equal(s.state, ST_CLOSING);
	session_enter_state(&s, ST_IDLE);
	assert_int_equal(s.state, ST_CLOSING);
	assert_string_equal(session_state_name(&s), "closing");
}

static void test_stop_when_idle_is_at_once(void **state)
{
	(void)state;
	session_stop(&s);
	assert_int_equal(stops, 1);
	assert_string_equal(output(), "421 bye\r\n");
	assert_true(fake.closed);
}

static void test_stop_while_busy_waits_for_done(void **state)
{
	(void)state;
	assert_int_equal(session_queue_work(&s, NULL, NULL, NULL), 0);
	assert_true(s.busy && fake.paused);
	session_stop(&s);
	assert_int_equal(stops, 0);
	session_send(&s, "250 done\r\n", 10, SESSION_REPLY_OK);
	session_done(&s);
	assert_int_equal(stops, 1);
	assert_string_equal(output(), "250 done\r\n421 bye\r\n");
	assert_true(fake.closed);
}

static void test_stop_waits_for_a_state_that_must_finish(void **state)
{
	(void)state;
	session_enter_state(&s, ST_BODY);
	session_stop(&s);
	assert_int_equal(stops, 0);
	session_done(&s); /* still in BODY: input resumes so the body can end */
	assert_int_equal(stops, 0);
	assert_false(fake.paused);
	session_enter_state(&s, ST_IDLE);
	session_done(&s);
	assert_int_equal(stops, 1);
}

static void test_stop_waits_for_a_delayed_reply(void **state)
{
	(void)state;
	session_delay_next(&s, 100);
	session_send(&s, "535 failed\r\n", 12, SESSION_REPLY_OK);
	session_stop(&s);
	assert_int_equal(stops, 0);
	fire_timer();
	assert_int_equal(stops, 1);
	assert_string_equal(output(), "535 failed\r\n421 bye\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_errors_below_soft_limit_are_not_delayed, setup),
		cmocka_unit_test_setup(test_errors_beyond_soft_limit_wait_then_resume, setup),
		cmocka_unit_test_setup(test_hard_limit_says_so_and_closes, setup),
		cmocka_unit_test_setup(test_delay_next_delays_any_reply, setup),
		cmocka_unit_test_setup(test_closing_state_is_final, setup),
		cmocka_unit_test_setup(test_stop_when_idle_is_at_once, setup),
		cmocka_unit_test_setup(test_stop_while_busy_waits_for_done, setup),
		cmocka_unit_test_setup(test_stop_waits_for_a_state_that_must_finish, setup),
		cmocka_unit_test_setup(test_stop_waits_for_a_delayed_reply, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
