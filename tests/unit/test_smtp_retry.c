/* test_smtp_retry.c - the outbound retry policy (smtpd/smtp_retry.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "smtp_retry.h"

static void test_outcomes(void **state)
{
	(void)state;
	assert_int_equal(smtp_outcome_of(250), SMTP_OUTCOME_DELIVERED);
	assert_int_equal(smtp_outcome_of(251), SMTP_OUTCOME_DELIVERED);
	assert_int_equal(smtp_outcome_of(421), SMTP_OUTCOME_TEMPORARY);
	assert_int_equal(smtp_outcome_of(452), SMTP_OUTCOME_TEMPORARY);
	assert_int_equal(smtp_outcome_of(550), SMTP_OUTCOME_PERMANENT);
	assert_int_equal(smtp_outcome_of(554), SMTP_OUTCOME_PERMANENT);
	/* No proper reply (a lost connection, a 3xx where none belongs): try again. */
	assert_int_equal(smtp_outcome_of(0), SMTP_OUTCOME_TEMPORARY);
	assert_int_equal(smtp_outcome_of(354), SMTP_OUTCOME_TEMPORARY);
}

static void test_backoff(void **state)
{
	static const unsigned base[] = { 0, 300, 600, 1200, 2400, 4000, 4000 };

	(void)state;
	for (unsigned attempts = 1; attempts <= 6; attempts++) {
		/* No jitter, and the most jitter: within an eighth below the base. */
		assert_int_equal(smtp_retry_delay(attempts, 0), base[attempts]);
		unsigned least = smtp_retry_delay(attempts, base[attempts] / 8);
		assert_int_equal(least, base[attempts] - base[attempts] / 8);
		for (uint32_t r = 0; r < 5000; r += 7) {
			unsigned d = smtp_retry_delay(attempts, r * 2654435761u);
			assert_true(d <= base[attempts] && d >= least);
		}
	}
	/* However many attempts, never more than the cap and no overflow. */
	assert_int_equal(smtp_retry_delay(1000000, 0), SMTP_RETRY_MAX_S);
	assert_int_equal(smtp_retry_delay(0xffffffffu, 0), SMTP_RETRY_MAX_S);
	assert_int_equal(smtp_retry_delay(0, 0), SMTP_RETRY_MIN_S);
}

static void test_lifetime(void **state)
{
	const unsigned five_days = 5 * 86400;

	(void)state;
	assert_false(smtp_retry_expired(1000, 1000, five_days));
	assert_false(smtp_retry_expired(1000, 1000 + five_days - 1, five_days));
	assert_true(smtp_retry_expired(1000, 1000 + five_days, five_days));
	assert_true(smtp_retry_expired(1000, 1000, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_lifetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
