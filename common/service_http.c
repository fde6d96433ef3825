/* service_http.c - /metrics and /healthz on metrics_listen; see service_http.h. */
#include "service_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

/* A scraper that connects and says nothing is not kept around. */
#define SERVICE_HTTP_IDLE_S 10
#define SERVICE_HTTP_LINES_MAX 100

struct request {
	const struct service_http *svc;
	size_t head_bytes;
	unsigned lines;
	bool bad;       /* the request line or a header did not parse */
	bool head_only; /* HEAD */
	bool answered;
	bool probing;   /* a probe job holds the request: it is freed by probe_done */
	char method[16];
	char path[256];
	/* /healthz's probe */
	int probe_status;
	char probe_error[256];
};

void metrics_sample(struct metrics_text *out, const char *name, const char *type,
                    const char *help, uint64_t value)
{
	char text[32];
	snprintf(text, sizeof(text), "%llu", (unsigned long long)value);
	metrics_sample_text(out, name, type, help, text);
}

void metrics_sample_text(struct metrics_text *out, const char *name, const char *type,
                         const char *help, const char *value)
{
	size_t family_len = strcspn(name, "{");
	char line[512];
	int n = 0;

	/* A histogram's _bucket, _sum and _count samples share its family. */
	if (strcmp(type, "histogram") == 0) {
		static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
		for (size_t i = 0; i < 3; i++) {
			size_t k = strlen(suffixes[i]);
			if (family_len > k && strncmp(name + family_len - k, suffixes[i], k) == 0) {
				family_len -= k;
				break;
			}
		}
	}

	if (out->failed)
		return;
	if (family_len >= sizeof(out->family) || strncmp(out->family, name, family_len) != 0 ||
	    out->family[family_len] != '\0') {
		snprintf(out->family, sizeof(out->family), "%.*s", (int)family_len, name);
		n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", out->family, help,
		             out->family, type);
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s %s\n", name, value);
	if (n <= 0 || (size_t)n >= sizeof(line)) {
		out->failed = 1;
		return;
	}
	if (out->len + (size_t)n > out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 8192;
		while (cap < out->len + (size_t)n)
			cap *= 2;
		char *grown = realloc(out->buf, cap);
		if (grown == NULL) {
			out->failed = 1;
			return;
		}
		out->buf = grown;
		out->cap = cap;
	}
	memcpy(out->buf + out->len, line, (size_t)n);
	out->len += (size_t)n;
}

void metrics_store_pool(struct metrics_text *out, const char *prefix, store_pool_t *pool)
{
	struct store_pool_stats st;
	char name[64];

	store_pool_stats(pool, &st);
	if (!st.pooled)
		return;
	snprintf(name, sizeof(name), "%s_db_connections_max", prefix);
	metrics_sample(out, name, "gauge", "Database connections the pool may open (db_connections).",
	               st.max_open);
	snprintf(name, sizeof(name), "%s_db_connections_open", prefix);
	metrics_sample(out, name, "gauge", "Pooled database connections open now.", st.open);
	snprintf(name, sizeof(name), "%s_db_connections_in_use", prefix);
	metrics_sample(out, name, "gauge", "Pooled database connections serving a job now.",
	               st.in_use);
	snprintf(name, sizeof(name), "%s_db_connection_waiters", prefix);
	metrics_sample(out, name, "gauge", "Jobs waiting for a free database connection now.",
	               st.waiting);
	snprintf(name, sizeof(name), "%s_db_connection_wait_timeouts_total", prefix);
	metrics_sample(out, name, "counter",
	               "Jobs that failed after waiting db_connection_wait for a connection.",
	               st.wait_timeouts);
}

static void respond(conn_t *conn, struct request *r, int code, const char *reason,
                    const char *type, const char *body, size_t len, const char *extra)
{
	conn_printf(conn,
	            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	            code, reason, type, len, extra != NULL ? extra : "");
	if (!r->head_only && len > 0)
		conn_write(conn, body, len);
	r->answered = true;
	conn_close(conn);
}

static void respond_text(conn_t *conn, struct request *r, int code, const char *reason,
                         const char *text, const char *extra)
{
	respond(conn, r, code, reason, "text/plain; charset=utf-8", text, strlen(text), extra);
}

/* Pool thread: the database read (store_pool_probe: an SQLite file opened
 * afresh, so a file that went away or went bad shows). */
static void probe_work(void *arg)
{
	struct request *r = arg;

	r->probe_status = store_pool_probe(r->svc->pool, r->probe_error, sizeof(r->probe_error));
}

static void probe_done(conn_t *conn, void *arg, int status)
{
	struct request *r = arg;
	char text[320];

	r->probing = false;
	if (conn == NULL) {
		free(r); /* the checker left; its conn's close left r to us */
		return;
	}
	if (status != 0 || r->probe_status != STORE_OK) {
		snprintf(text, sizeof(text), "store: %s\n",
		         status != 0 ? conn_strerror(status) : r->probe_error);
		log_warn(conn_id(conn), "healthz_failed", "error=\"%s\"",
		         status != 0 ? conn_strerror(status) : r->probe_error);
		respond_text(conn, r, 503, "Service Unavailable", text, NULL);
		return;
	}
	respond_text(conn, r, conn_draining(conn) ? 503 : 200,
	             conn_draining(conn) ? "Service Unavailable" : "OK",
	             conn_draining(conn) ? "draining\n" : "ok\n", NULL);
}

static void dispatch(conn_t *conn, struct request *r)
{
	size_t path_len = strcspn(r->path, "?");

	if (r->bad) {
		respond_text(conn, r, 400, "Bad Request", "bad request\n", NULL);
		return;
	}
	r->head_only = strcmp(r->method, "HEAD") == 0;
	if (strcmp(r->method, "GET") != 0 && !r->head_only) {
		respond_text(conn, r, 405, "Method Not Allowed", "only GET and HEAD\n",
		             "Allow: GET, HEAD\r\n");
		return;
	}
	if (path_len == 8 && strncmp(r->path, "/metrics", 8) == 0) {
		struct metrics_text out = { 0 };
		r->svc->render(conn_context(conn), &out);
		if (out.failed)
			respond_text(conn, r, 500, "Internal Server Error", "out of memory\n", NULL);
		else
			respond(conn, r, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", out.buf,
			        out.len, NULL);
		free(out.buf);
		return;
	}
	if (path_len == 8 && strncmp(r->path, "/healthz", 8) == 0) {
		if (conn_draining(conn)) {
			respond_text(conn, r, 503, "Service Unavailable", "draining\n", NULL);
			return;
		}
		conn_pause(conn);
		r->probing = true;
		if (conn_queue_work(conn, probe_work, probe_done, r) != 0) {
			r->probing = false;
			respond_text(conn, r, 503, "Service Unavailable", "busy\n", NULL);
		}
		return;
	}
	respond_text(conn, r, 404, "Not Found", "not found: try /metrics or /healthz\n", NULL);
}

/* "METHOD SP path SP HTTP/1.x" (RFC 9112 3). */
static bool parse_request_line(struct request *r, const char *line, size_t len)
{
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || sp1 == line || (size_t)(sp1 - line) >= sizeof(r->method))
		return false;
	const char *path = sp1 + 1;
	const char *sp2 = memchr(path, ' ', len - (size_t)(path - line));
	if (sp2 == NULL || sp2 == path || *path != '/' || (size_t)(sp2 - path) >= sizeof(r->path))
		return false;
	size_t vlen = len - (size_t)(sp2 + 1 - line);
	if (vlen != 8 || (strncmp(sp2 + 1, "HTTP/1.0", 8) != 0 && strncmp(sp2 + 1, "HTTP/1.1", 8) != 0))
		return false;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->method[sp1 - line] = '\0';
	memcpy(r->path, path, (size_t)(sp2 - path));
	r->path[sp2 - path] = '\0';
	for (const char *p = r->path; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

static void service_open(conn_t *conn)
{
	struct request *r = calloc(1, sizeof(*r));
	const struct service_http *svc = conn_data(conn);

	if (r == NULL) {
		conn_close(conn);
		return;
	}
	r->svc = svc;
	conn_set_data(conn, r);
	conn_set_line_max(conn, SERVICE_HTTP_HEAD_MAX);
	conn_set_idle_timeout(conn, SERVICE_HTTP_IDLE_S);
	conn_login_done(conn);
}

static void service_line(conn_t *conn, const char *line, size_t len, bool crlf, bool too_long)
{
	struct request *r = conn_data(conn);

	(void)crlf;
	if (r == NULL || r->answered)
		return;
	r->head_bytes += len + 2;
	if (too_long || r->head_bytes > SERVICE_HTTP_HEAD_MAX || ++r->lines > SERVICE_HTTP_LINES_MAX) {
		r->bad = true;
		dispatch(conn, r);
		return;
	}
	if (r->lines == 1) {
		r->bad = !parse_request_line(r, line, len);
		return;
	}
	if (len == 0) {
		dispatch(conn, r);
		return;
	}
	/* Headers are not needed; each must still look like one (RFC 9112 5). */
	const char *colon = memchr(line, ':', len);
	if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t')
		r->bad = true;
}

static void service_timeout(conn_t *conn)
{
	conn_close(conn);
}

/* SIGTERM: a request under way is answered (/healthz then says "draining"). */
static void service_shutdown(conn_t *conn)
{
	(void)conn;
}

static void service_close(conn_t *conn, const char *reason)
{
	struct request *r = conn_data(conn);

	(void)reason;
	if (r != NULL && !r->probing)
		free(r);
}

const struct conn_handler service_http_handler = {
	.open = service_open,
	.line = service_line,
	.timeout = service_timeout,
	.shutdown = service_shutdown,
	.close = service_close,
};
