/*
 * test_authlimit.c - the per-address failed-login budget, driven by a fake
 * clock: delays that double beyond the free failures and stop at the cap,
 * the lockout and what happens after it, decay, IPv6 /64 and IPv4-mapped
 * keys, LRU eviction in a full table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authlimit.h"
#include "config.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t fake_now;

static uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* base 100 ms, 2 free failures, cap 1 s, budget 6, one failure forgotten
 * per 10 s, 5 s lockout. */
static struct authlimit_params params(size_t capacity)
{
	return (struct authlimit_params){
		.base_delay_ms = 100, .free_failures = 2, .max_delay_ms = 1000, .budget = 6,
		.decay_ms = 10000, .lockout_ms = 5000, .capacity = capacity,
		.clock = fake_clock,
	};
}

enum op { FAIL, CHECK };

/* One call at time `now`: FAIL expects failures/delay/locked, CHECK expects locked_ms. */
struct step {
	uint64_t now;
	enum op op;
	const char *ip;
	unsigned failures, delay_ms;
	bool locked;
	uint64_t locked_ms;
};

static void run_steps(struct authlimit *al, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *st = &steps[i];
		fake_now = st->now;
		if (st->op == CHECK) {
			uint64_t got = authlimit_locked_ms(al, st->ip);
			if (got != st->locked_ms)
				print_error("step %zu: CHECK %s at %llu: locked_ms %llu, want %llu\n", i,
				            st->ip, (unsigned long long)st->now, (unsigned long long)got,
				            (unsigned long long)st->locked_ms);
			assert_int_equal(got, st->locked_ms);
			continue;
		}
		struct authlimit_result r;
		authlimit_fail(al, st->ip, &r);
		if (r.failures != st->failures || r.delay_ms != st->delay_ms || r.locked != st->locked)
			print_error("step %zu: FAIL %s at %llu: failures %u delay %u locked %d, "
			            "want %u %u %d\n", i, st->ip, (unsigned long long)st->now, r.failures,
			            r.delay_ms, r.locked, st->failures, st->delay_ms, st->locked);
		assert_int_equal(r.failures, st->failures);
		assert_int_equal(r.delay_ms, st->delay_ms);
		assert_int_equal(r.locked, st->locked);
	}
}

static void test_budget_and_lockout(void **state)
{
	static const struct step steps[] = {
		{ 0, FAIL, "192.0.2.1", 1, 100, false, 0 },
		{ 0, FAIL, "192.0.2.1", 2, 100, false, 0 },     /* the free ones */
		{ 0, FAIL, "192.0.2.1", 3, 200, false, 0 },     /* then doubling */
		{ 0, FAIL, "192.0.2.1", 4, 400, false, 0 },
		{ 0, FAIL, "192.0.2.1", 5, 800, false, 0 },
		{ 0, CHECK, "192.0.2.1", 0, 0, false, 0 },      /* still allowed */
		{ 0, FAIL, "192.0.2.1", 6, 1000, true, 0 },     /* capped; the budget is used up */
		{ 0, CHECK, "192.0.2.1", 0, 0, false, 5000 },
		{ 1000, CHECK, "192.0.2.2", 0, 0, false, 0 },   /* another address is not affected */
		{ 4999, CHECK, "192.0.2.1", 0, 0, false, 1 },
		{ 5000, CHECK, "192.0.2.1", 0, 0, false, 0 },   /* the lockout is over */
		{ 5000, FAIL, "192.0.2.1", 7, 1000, true, 0 },  /* still at the budget: locked again */
		{ 5001, CHECK, "192.0.2.1", 0, 0, false, 4999 },
		{ 10000, CHECK, "192.0.2.1", 0, 0, false, 0 },
		{ 10000, FAIL, "192.0.2.1", 7, 1000, true, 0 }, /* one decayed, one added */
		/* 7 failures decay after 70 s: forgotten, as if never seen. */
		{ 80000, CHECK, "192.0.2.1", 0, 0, false, 0 },
		{ 80000, FAIL, "192.0.2.1", 1, 100, false, 0 },
	};
	struct authlimit_params p = params(16);
	struct authlimit *al;

	assert_int_equal(authlimit_new(&al, &p), 0);
	run_steps(al, steps, N(steps));
	authlimit_free(&al);
	assert_null(al);
}

static void test_decay(void **state)
{
	static const struct step steps[] = {
		{ 0, FAIL, "198.51.100.7", 1, 100, false, 0 },
		{ 0, FAIL, "198.51.100.7", 2, 100, false, 0 },
		{ 0, FAIL, "198.51.100.7", 3, 200, false, 0 },
		/* 25 s later two are forgotten; the half period served is kept... */
		{ 25000, FAIL, "198.51.100.7", 2, 100, false, 0 },
		/* ...so 5 s more forget one again (since = 20 s, now 30 s). */
		{ 30000, FAIL, "198.51.100.7", 2, 100, false, 0 },
		{ 39999, FAIL, "198.51.100.7", 3, 200, false, 0 },
		{ 40000, FAIL, "198.51.100.7", 3, 200, false, 0 },
	};
	struct authlimit_params p = params(16);
	struct authlimit *al;

	assert_int_equal(authlimit_new(&al, &p), 0);
	run_steps(al, steps, N(steps));
	authlimit_free(&al);
}

/* Forgotten addresses leave the table when met; nothing decays with decay_ms 0. */
static void test_forget(void **state)
{
	struct authlimit_params p = params(16);
	struct authlimit_result r;
	struct authlimit *al;

	assert_int_equal(authlimit_new(&al, &p), 0);
	fake_now = 0;
	authlimit_fail(al, "192.0.2.1", &r);
	authlimit_fail(al, "192.0.2.2", &r);
	assert_int_equal(authlimit_count(al), 2);
	fake_now = 10000;
	assert_int_equal(authlimit_locked_ms(al, "192.0.2.1"), 0);
	assert_int_equal(authlimit_count(al), 1);
	authlimit_free(&al);

	p.decay_ms = 0;
	assert_int_equal(authlimit_new(&al, &p), 0);
	fake_now = 0;
	authlimit_fail(al, "192.0.2.1", &r);
	fake_now = UINT64_C(1) << 40;
	authlimit_fail(al, "192.0.2.1", &r);
	assert_int_equal(r.failures, 2);
	authlimit_free(&al);
}

/* Which addresses share a count: IPv6 by /64, IPv4-mapped IPv6 as IPv4. */
static void test_keys(void **state)
{
	static const struct {
		const char *a, *b;
		bool same;
	} cases[] = {
		{ "192.0.2.1", "192.0.2.1", true },
		{ "192.0.2.1", "192.0.2.2", false },
		{ "192.0.2.1", "::ffff:192.0.2.1", true },
		{ "2001:db8::1", "2001:db8::ffff:2", true },
		{ "2001:db8::1", "2001:db8:0:0:1234:5678:9abc:def0", true },
		{ "2001:db8::1", "2001:db8:0:1::1", false },
		{ "2001:db8::1", "2001:db9::1", false },
		{ "::1", "::2", true },
		{ "::1", "0.0.0.1", false },
		{ "not-an-address", "not-an-address", true },
		{ "not-an-address", "not-an-addresz", false },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct authlimit_params p = params(16);
		struct authlimit_result r;
		struct authlimit *al;

		assert_int_equal(authlimit_new(&al, &p), 0);
		fake_now = 0;
		authlimit_fail(al, cases[i].a, &r);
		authlimit_fail(al, cases[i].b, &r);
		unsigned want = cases[i].same ? 2 : 1;
		if (r.failures != want)
			print_error("%s then %s: %u failures, want %u\n", cases[i].a, cases[i].b,
			            r.failures, want);
		assert_int_equal(r.failures, want);
		assert_int_equal(authlimit_count(al), cases[i].same ? 1 : 2);
		authlimit_free(&al);
	}
}

/* A full table forgets the address whose last failure is oldest. */
static void test_lru(void **state)
{
	static const struct step steps[] = {
		{ 0, FAIL, "10.0.0.1", 1, 100, false, 0 },
		{ 1, FAIL, "10.0.0.2", 1, 100, false, 0 },
		{ 2, FAIL, "10.0.0.3", 1, 100, false, 0 },
		{ 3, FAIL, "10.0.0.1", 2, 100, false, 0 },  /* .1 is now the most recent */
		{ 4, FAIL, "10.0.0.4", 1, 100, false, 0 },  /* full: .2 goes */
		{ 5, FAIL, "10.0.0.1", 3, 200, false, 0 },
		{ 6, FAIL, "10.0.0.3", 2, 100, false, 0 },
		{ 7, FAIL, "10.0.0.2", 1, 100, false, 0 },  /* forgotten; .4 goes now */
		{ 8, FAIL, "10.0.0.4", 1, 100, false, 0 },  /* and .1 for it */
		{ 9, FAIL, "10.0.0.3", 3, 200, false, 0 },
		{ 10, FAIL, "10.0.0.1", 1, 100, false, 0 },
	};
	struct authlimit_params p = params(3);
	struct authlimit *al;

	assert_int_equal(authlimit_new(&al, &p), 0);
	run_steps(al, steps, N(steps));
	assert_int_equal(authlimit_count(al), 3);
	authlimit_free(&al);
}

/* Many addresses through a small table: it stays consistent. */
static void test_churn(void **state)
{
	struct authlimit_params p = params(64);
	struct authlimit_result r;
	struct authlimit *al;
	char ip[64];

	assert_int_equal(authlimit_new(&al, &p), 0);
	for (unsigned i = 0; i < 5000; i++) {
		fake_now = i;
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i % 97, i % 89);
		authlimit_fail(al, ip, &r);
		assert_true(r.failures >= 1);
		assert_true(authlimit_count(al) <= 64);
		(void)authlimit_locked_ms(al, "2001:db8:1:1::9");
	}
	/* The most recent address is remembered. */
	authlimit_fail(al, ip, &r);
	assert_true(r.failures >= 2);
	authlimit_free(&al);
}

/* The delay never drops below the base, never overflows, and stops at the cap. */
static void test_delay_bounds(void **state)
{
	static const struct {
		unsigned base, free, max, failures, want;
	} cases[] = {
		{ 0, 0, 30000, 10, 0 },          /* no base delay: nothing grows */
		{ 1000, 5, 30000, 5, 1000 },
		{ 1000, 5, 30000, 6, 2000 },
		{ 1000, 5, 30000, 9, 16000 },
		{ 1000, 5, 30000, 10, 30000 },
		{ 1000, 5, 30000, 100, 30000 },  /* shift past 63 bits */
		{ 60000, 0, 30000, 3, 60000 },   /* a base above the cap wins */
		{ 1, 0, 30000, 40, 30000 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct authlimit_params p = {
			.base_delay_ms = cases[i].base, .free_failures = cases[i].free,
			.max_delay_ms = cases[i].max, .budget = 1000, .decay_ms = 0,
			.lockout_ms = 1000, .capacity = 1, .clock = fake_clock,
		};
		struct authlimit_result r = { 0 };
		struct authlimit *al;

		assert_int_equal(authlimit_new(&al, &p), 0);
		for (unsigned f = 0; f < cases[i].failures; f++)
			authlimit_fail(al, "192.0.2.1", &r);
		if (r.delay_ms != cases[i].want)
			print_error("case %zu: delay %u, want %u\n", i, r.delay_ms, cases[i].want);
		assert_int_equal(r.delay_ms, cases[i].want);
		authlimit_free(&al);
	}
}

static void test_params(void **state)
{
	struct authlimit_params p = params(16);
	struct authlimit *al = (struct authlimit *)&p;

	p.budget = 0;
	assert_int_equal(authlimit_new(&al, &p), -1);
	assert_null(al);
	p = params(0);
	assert_int_equal(authlimit_new(&al, &p), -1);
	p = params(AUTHLIMIT_CAPACITY_MAX + 1);
	assert_int_equal(authlimit_new(&al, &p), -1);
	authlimit_free(&al); /* safe on NULL */

	/* The daemons' parameters come from the config keys. */
	struct mail_config cfg;
	char err[256];
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err)), 0);
	authlimit_params_from_config(&p, &cfg);
	assert_int_equal(p.base_delay_ms, 1000);
	assert_int_equal(p.budget, 20);
	assert_int_equal(p.decay_ms, 60000);
	assert_int_equal(p.lockout_ms, 300000);
	assert_int_equal(p.free_failures, AUTHLIMIT_FREE_FAILURES);
	assert_int_equal(p.max_delay_ms, AUTHLIMIT_MAX_DELAY_MS);
	assert_int_equal(p.capacity, AUTHLIMIT_CAPACITY);
	assert_null(p.clock);
	assert_int_equal(authlimit_new(&al, &p), 0);
	authlimit_free(&al);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_budget_and_lockout),
		cmocka_unit_test(test_decay),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_delay_bounds),
		cmocka_unit_test(test_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
