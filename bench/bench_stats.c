#include "bench_stats.h"

#include <stdlib.h>
#include <string.h>

int bench_stats_init(struct bench_stats *s, size_t max_ops)
{
	memset(s, 0, sizeof(*s));
	s->lat_us = calloc(max_ops != 0 ? max_ops : 1, sizeof(*s->lat_us));
	if (s->lat_us == NULL)
		return -1;
	s->lat_cap = max_ops;
	return 0;
}

void bench_stats_free(struct bench_stats *s)
{
	free(s->lat_us);
	s->lat_us = NULL;
	s->lat_len = s->lat_cap = 0;
}

void bench_stats_op(struct bench_stats *s, uint64_t ns, uint64_t bytes)
{
	uint64_t us = ns / 1000;

	s->ops++;
	s->bytes += bytes;
	if (s->lat_len < s->lat_cap)
		s->lat_us[s->lat_len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void bench_stats_error(struct bench_stats *s, const char *key)
{
	size_t i;

	s->errors_total++;
	for (i = 0; i < s->nerror_keys; i++)
		if (strncmp(s->errors[i].key, key, sizeof(s->errors[i].key) - 1) == 0)
			break;
	if (i == s->nerror_keys) {
		if (i == BENCH_STATS_MAX_ERROR_KEYS)
			i--; /* the last slot collects the rest under its key */
		else
			s->nerror_keys++;
		snprintf(s->errors[i].key, sizeof(s->errors[i].key), "%s", key);
	}
	s->errors[i].count++;
}

void bench_stats_extra(struct bench_stats *s, const char *name, double value)
{
	if (s->nextra == BENCH_STATS_MAX_EXTRA)
		return;
	s->extra[s->nextra].name = name;
	s->extra[s->nextra].value = value;
	s->nextra++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

double bench_stats_percentile_ms(struct bench_stats *s, double p)
{
	size_t rank;

	if (s->lat_len == 0)
		return 0;
	qsort(s->lat_us, s->lat_len, sizeof(*s->lat_us), cmp_u32);
	/* Nearest rank: the smallest value with at least p% of the values at or below it. */
	rank = (size_t)(p / 100.0 * (double)s->lat_len + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > s->lat_len)
		rank = s->lat_len;
	return s->lat_us[rank - 1] / 1000.0;
}

/* Error keys are reply codes or fixed reason words: no JSON escaping needed beyond this. */
static void json_key_safe(char *k)
{
	for (; *k != '\0'; k++)
		if (*k == '"' || *k == '\\' || (unsigned char)*k < 0x20)
			*k = '?';
}

void bench_stats_report(struct bench_stats *s, const struct bench_opts *o, const char *proto,
                        size_t size, FILE *out, FILE *err)
{
	double secs = (double)(s->end_ns - s->start_ns) / 1e9;
	double rate = secs > 0 ? (double)s->ops / secs : 0;
	double mbps = secs > 0 ? (double)s->bytes / 1e6 / secs : 0;
	double p50 = bench_stats_percentile_ms(s, 50);
	double p99 = bench_stats_percentile_ms(s, 99);
	unsigned conc = o->mode == BENCH_MODE_IDLE ? o->connections : o->concurrency;

	fprintf(out,
	        "{\"tool\":\"mailbench\",\"proto\":\"%s\",\"label\":\"%s\",\"concurrency\":%u,"
	        "\"messages\":%llu,\"size\":%zu,\"tls\":\"%s\",\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,"
	        "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%llu,\"error_codes\":{",
	        proto, o->label, conc, (unsigned long long)s->ops, size, bench_tls_name(o->tls), rate,
	        mbps, p50, p99, (unsigned long long)s->errors_total);
	for (size_t i = 0; i < s->nerror_keys; i++) {
		json_key_safe(s->errors[i].key);
		fprintf(out, "%s\"%s\":%llu", i ? "," : "", s->errors[i].key,
		        (unsigned long long)s->errors[i].count);
	}
	fprintf(out, "},\"seconds\":%.3f,\"bytes\":%llu", secs, (unsigned long long)s->bytes);
	for (size_t i = 0; i < s->nextra; i++)
		fprintf(out, ",\"%s\":%.3f", s->extra[i].name, s->extra[i].value);
	fprintf(out, "}\n");
	fflush(out);

	if (o->quiet || err == NULL)
		return;
	fprintf(err, "mailbench %s%s%s: %u session(s), tls=%s: %llu ok in %.3f s = %.1f msg/s, %.2f MB/s; "
	             "latency p50 %.3f ms, p99 %.3f ms; %llu error(s)",
	        proto, o->label[0] ? " " : "", o->label, conc, bench_tls_name(o->tls),
	        (unsigned long long)s->ops, secs, rate, mbps, p50, p99,
	        (unsigned long long)s->errors_total);
	for (size_t i = 0; i < s->nerror_keys; i++)
		fprintf(err, "%s%s x%llu", i ? ", " : " (", s->errors[i].key,
		        (unsigned long long)s->errors[i].count);
	fprintf(err, "%s\n", s->nerror_keys ? ")" : "");
	for (size_t i = 0; i < s->nextra; i++)
		fprintf(err, "  %s = %.3f\n", s->extra[i].name, s->extra[i].value);
}
