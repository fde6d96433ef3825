/* smtp_retry.c - the retry policy of outbound delivery; see smtp_retry.h. */
#include "smtp_retry.h"

enum smtp_outcome smtp_outcome_of(int code)
{
	if (code >= 200 && code <= 299)
		return SMTP_OUTCOME_DELIVERED;
	if (code >= 500 && code <= 599)
		return SMTP_OUTCOME_PERMANENT;
	return SMTP_OUTCOME_TEMPORARY;
}

unsigned smtp_retry_delay(unsigned attempts, uint32_t random)
{
	unsigned delay = SMTP_RETRY_MIN_S;

	for (unsigned i = 1; i < attempts && delay < SMTP_RETRY_MAX_S; i++)
		delay *= 2;
	if (delay > SMTP_RETRY_MAX_S)
		delay = SMTP_RETRY_MAX_S;
	return delay - (unsigned)(random % (delay / 8 + 1));
}

bool smtp_retry_expired(int64_t created, int64_t now, unsigned lifetime)
{
	return now - created >= (int64_t)lifetime;
}
