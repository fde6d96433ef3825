/* histogram.c - fixed-bucket Prometheus histograms; see histogram.h. */
#include "histogram.h"

#include <stdio.h>
#include <time.h>

#include "service_http.h"

const struct histogram_layout histogram_store_seconds = {
	.bounds = { 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000 },
	.count = 10,
	.scale = 1000000,
};

uint64_t histogram_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void histogram_observe(struct histogram *h, const struct histogram_layout *layout, uint64_t value)
{
	size_t i = 0;

	while (i < layout->count && value > layout->bounds[i])
		i++;
	h->buckets[i]++;
	h->sum += value;
	h->count++;
}

/* value / scale as a decimal without trailing zeros ("0.0025", "1", "64"). */
static const char *scaled(char *buf, size_t len, uint64_t value, uint64_t scale)
{
	unsigned digits = 0;

	for (uint64_t s = scale; s > 1; s /= 10)
		digits++;
	uint64_t frac = value % scale;
	if (frac == 0) {
		snprintf(buf, len, "%llu", (unsigned long long)(value / scale));
		return buf;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, len, "%llu.%0*llu", (unsigned long long)(value / scale), (int)digits,
	         (unsigned long long)frac);
	return buf;
}

void histogram_render(const struct histogram *h, const struct histogram_layout *layout,
                      struct metrics_text *out, const char *family, const char *labels,
                      const char *help)
{
	/* _sum and _count carry the labels in braces; the buckets add le to them. */
	const char *sep = labels != NULL ? "," : "";
	const char *lbrace = labels != NULL ? "{" : "", *rbrace = labels != NULL ? "}" : "";
	char name[256], le[32], value[32];
	uint64_t cumulative = 0;

	if (labels == NULL)
		labels = "";
	/* Prometheus wants the buckets cumulative: each counts everything at or below its bound. */
	for (size_t i = 0; i < layout->count; i++) {
		cumulative += h->buckets[i];
		snprintf(name, sizeof(name), "%s_bucket{%s%sle=\"%s\"}", family, labels, sep,
		         scaled(le, sizeof(le), layout->bounds[i], layout->scale));
		snprintf(value, sizeof(value), "%llu", (unsigned long long)cumulative);
		metrics_sample_text(out, name, "histogram", help, value);
	}
	snprintf(name, sizeof(name), "%s_bucket{%s%sle=\"+Inf\"}", family, labels, sep);
	snprintf(value, sizeof(value), "%llu", (unsigned long long)h->count);
	metrics_sample_text(out, name, "histogram", help, value);
	snprintf(name, sizeof(name), "%s_sum%s%s%s", family, lbrace, labels, rbrace);
	metrics_sample_text(out, name, "histogram", help,
	                    scaled(value, sizeof(value), h->sum, layout->scale));
	snprintf(name, sizeof(name), "%s_count%s%s%s", family, lbrace, labels, rbrace);
	snprintf(value, sizeof(value), "%llu", (unsigned long long)h->count);
	metrics_sample_text(out, name, "histogram", help, value);
}

void histogram_render_by(const struct histogram *h, size_t count,
                         const struct histogram_layout *layout, struct metrics_text *out,
                         const char *family, const char *label, const char *const *values,
                         const char *help)
{
	for (size_t i = 0; i < count; i++) {
		char labels[128];
		snprintf(labels, sizeof(labels), "%s=\"%s\"", label, values[i]);
		histogram_render(&h[i], layout, out, family, labels, help);
	}
}
