/*
 * fuzz_config.c - config_load() (common/config.h) on a file whose bytes
 * are the input: the one parser the operator feeds directly, shared by
 * smtpd, pop3d and mailctl.
 *
 * The file is a memfd, opened by config_load() through /proc/self/fd, so
 * nothing is written to disk and nothing is left behind after a crash. The
 * MAIL_* environment is cleared once, so only the file counts.
 *
 * Checked: a refusal is one line naming the file and line; the three
 * programs agree on whether the file loads and on every value (but the
 * idle_timeout default, which differs by design); every loaded value is
 * within its documented bounds, NUL-terminated, every listen address
 * splits, and the parsed routes are well-formed and find themselves; and
 * the loaded values written back as "key=value" lines load to the same
 * values (the parse is a fixed point, so what the operator sees
 * echoed is what the daemon runs with).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

extern char **environ;

/* A memfd and the path config_load() opens it by; made once per process. */
struct memfile {
	int fd;
	char path[64];
};

static void memfile_init(struct memfile *f, const char *name)
{
	/* glibc 2.36 declares memfd_create() only with _GNU_SOURCE, which the
	 * build does not define; the system call is the same. */
	f->fd = (int)syscall(SYS_memfd_create, name, 0);
	CHECK(f->fd >= 0);
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

static void memfile_set(const struct memfile *f, const void *data, size_t size)
{
	CHECK(ftruncate(f->fd, 0) == 0);
	CHECK(pwrite(f->fd, data, size, 0) == (ssize_t)size);
}

/* Unsets every MAIL_* variable: overrides would hide what the file says. */
static void clear_mail_env(void)
{
	for (;;) {
		char name[256];
		char **e = environ;
		while (*e != NULL && strncmp(*e, "MAIL_", 5) != 0)
			e++;
		if (*e == NULL)
			return;
		size_t n = strcspn(*e, "=");
		CHECK(n < sizeof(name));
		memcpy(name, *e, n);
		name[n] = '\0';
		CHECK(unsetenv(name) == 0);
	}
}

static void check_string(const char *s, size_t cap)
{
	CHECK(memchr(s, '\0', cap) != NULL);
	for (const char *p = s; *p != '\0'; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void check_listen(const struct config_listen *l)
{
	CHECK(l->count <= CONFIG_MAX_LISTEN);
	for (size_t i = 0; i < l->count; i++) {
		char host[sizeof(l->addr[i])];
		unsigned port = 0;
		CHECK(memchr(l->addr[i], '\0', sizeof(l->addr[i])) != NULL);
		CHECK(config_listen_split(l->addr[i], host, sizeof(host), &port) == 0);
		CHECK(port >= 1 && port <= 65535 && host[0] != '\0');
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(l->addr[i], l->addr[j]) != 0);
	}
}

/* The parsed routes (route.h): well-formed, distinct, and each finds itself. */
static void check_routes(const struct mail_config *c)
{
	const struct route_table *t = &c->route_table;

	CHECK((c->relay_host[0] == '\0') == (c->relay.host[0] == '\0'));
	CHECK(c->relay.host[0] == '\0' || (c->relay.port >= 1 && c->relay.port <= 65535));
	CHECK(t->count <= ROUTE_MAX);
	CHECK((t->count == 0) == (strspn(c->routes, " \t") == strlen(c->routes)));
	for (size_t i = 0; i < t->count; i++) {
		const struct route *r = &t->routes[i];
		CHECK(r->domain[0] != '\0' && r->hop.host[0] != '\0');
		CHECK(r->hop.port >= 1 && r->hop.port <= 65535);
		if (r->domain[0] != '.' && strcmp(r->domain, "*") != 0)
			CHECK(route_table_find(t, r->domain) == r);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(r->domain, t->routes[j].domain) != 0);
	}
}

/* The bounds config.h and the key table promise. */
static void check_values(const struct mail_config *c)
{
	check_string(c->db, sizeof(c->db));
	check_string(c->hostname, sizeof(c->hostname));
	check_string(c->tls_cert, sizeof(c->tls_cert));
	check_string(c->tls_key, sizeof(c->tls_key));
	check_string(c->user, sizeof(c->user));
	check_string(c->relay_host, sizeof(c->relay_host));
	check_string(c->routes, sizeof(c->routes));
	check_string(c->tmpdir, sizeof(c->tmpdir));
	CHECK(c->db[0] != '\0' && c->hostname[0] != '\0' && c->tmpdir[0] != '\0');
	CHECK((c->tls_cert[0] == '\0') == (c->tls_key[0] == '\0'));
	check_listen(&c->smtp_listen);
	check_listen(&c->submission_listen);
	check_listen(&c->smtps_listen);
	check_listen(&c->pop3_listen);
	check_listen(&c->pop3s_listen);
	check_listen(&c->metrics_listen);
	CHECK(c->allow_plaintext_auth == 0 || c->allow_plaintext_auth == 1);
	CHECK(c->max_message_size >= 1024 && c->max_message_size <= (UINT64_C(4) << 30));
	CHECK(c->max_recipients >= 1 && c->max_recipients <= 100000);
	CHECK(c->max_connections >= 1 && c->max_connections <= 1000000);
	CHECK(c->max_connections_per_ip >= 1 && c->max_connections_per_ip <= 1000000);
	CHECK(c->idle_timeout >= 1 && c->idle_timeout <= 86400);
	CHECK(c->shutdown_timeout <= 3600);
	CHECK(c->max_auth_failures >= 1 && c->max_auth_failures <= 100);
	CHECK(c->auth_failure_delay_ms <= 60000);
	CHECK(c->auth_failure_budget >= 1 && c->auth_failure_budget <= 100000);
	CHECK(c->auth_failure_decay >= 1 && c->auth_failure_decay <= 86400);
	CHECK(c->auth_lockout >= 1 && c->auth_lockout <= 86400);
	CHECK(c->log_level >= LOG_LEVEL_DEBUG && c->log_level <= LOG_LEVEL_ERROR);
	check_routes(c);
}

static bool same_listen(const struct config_listen *a, const struct config_listen *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->addr[i], b->addr[i]) != 0)
			return false;
	}
	return true;
}

/* Every value equal; idle_timeout too when with_idle. */
static bool same_config(const struct mail_config *a, const struct mail_config *b, bool with_idle)
{
	return strcmp(a->db, b->db) == 0 && strcmp(a->hostname, b->hostname) == 0 &&
	       same_listen(&a->smtp_listen, &b->smtp_listen) &&
	       same_listen(&a->submission_listen, &b->submission_listen) &&
	       same_listen(&a->smtps_listen, &b->smtps_listen) &&
	       same_listen(&a->pop3_listen, &b->pop3_listen) &&
	       same_listen(&a->pop3s_listen, &b->pop3s_listen) &&
	       same_listen(&a->metrics_listen, &b->metrics_listen) &&
	       strcmp(a->tls_cert, b->tls_cert) == 0 && strcmp(a->tls_key, b->tls_key) == 0 &&
	       a->allow_plaintext_auth == b->allow_plaintext_auth &&
	       a->max_message_size == b->max_message_size &&
	       a->max_recipients == b->max_recipients && a->max_connections == b->max_connections &&
	       a->max_connections_per_ip == b->max_connections_per_ip &&
	       (!with_idle || a->idle_timeout == b->idle_timeout) &&
	       a->shutdown_timeout == b->shutdown_timeout &&
	       a->max_auth_failures == b->max_auth_failures &&
	       a->auth_failure_delay_ms == b->auth_failure_delay_ms &&
	       a->auth_failure_budget == b->auth_failure_budget &&
	       a->auth_failure_decay == b->auth_failure_decay && a->auth_lockout == b->auth_lockout &&
	       strcmp(a->user, b->user) == 0 && strcmp(a->relay_host, b->relay_host) == 0 &&
	       strcmp(a->routes, b->routes) == 0 && strcmp(a->tmpdir, b->tmpdir) == 0 &&
	       a->log_level == b->log_level;
}

/* The rewritten file; sized so that every value at its longest fits. */
struct text {
	char buf[16384];
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof(t->buf) - t->len;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, room, fmt, ap);
	va_end(ap);
	CHECK(n >= 0 && (size_t)n < room);
	t->len += (size_t)n;
}

static void put_listen(struct text *t, const char *key, const struct config_listen *l)
{
	put(t, "%s=", key);
	for (size_t i = 0; i < l->count; i++)
		put(t, "%s%s", i > 0 ? "," : "", l->addr[i]);
	put(t, "\n");
}

/*
 * Writes c back as a config file. Values are written right after '=' with
 * no space: a loaded value never starts or ends with a blank and never
 * holds " #", so the file parser reads each one back unchanged.
 */
static void write_back(const struct mail_config *c, struct text *t)
{
	t->len = 0;
	put(t, "db=%s\nhostname=%s\n", c->db, c->hostname);
	put_listen(t, "smtp_listen", &c->smtp_listen);
	put_listen(t, "submission_listen", &c->submission_listen);
	put_listen(t, "smtps_listen", &c->smtps_listen);
	put_listen(t, "pop3_listen", &c->pop3_listen);
	put_listen(t, "pop3s_listen", &c->pop3s_listen);
	put_listen(t, "metrics_listen", &c->metrics_listen);
	put(t, "tls_cert=%s\ntls_key=%s\nallow_plaintext_auth=%s\n", c->tls_cert,
	    c->tls_key, c->allow_plaintext_auth ? "yes" : "no");
	put(t, "max_message_size=%" PRIu64 "\nmax_recipients=%u\nmax_connections=%u\n",
	    c->max_message_size, c->max_recipients, c->max_connections);
	put(t, "max_connections_per_ip=%u\nidle_timeout=%u\nshutdown_timeout=%u\n",
	    c->max_connections_per_ip, c->idle_timeout, c->shutdown_timeout);
	put(t, "max_auth_failures=%u\nauth_failure_delay_ms=%u\n", c->max_auth_failures,
	    c->auth_failure_delay_ms);
	put(t, "auth_failure_budget=%u\nauth_failure_decay=%u\nauth_lockout=%u\n",
	    c->auth_failure_budget, c->auth_failure_decay, c->auth_lockout);
	put(t, "user=%s\nrelay_host=%s\nroutes=%s\ntmpdir=%s\nlog_level=%s\n", c->user,
	    c->relay_host, c->routes, c->tmpdir, log_level_name((enum log_level)c->log_level));
}

/* Loads path for program; checks the shape of a refusal. Returns config_load's result. */
static int load(struct mail_config *c, enum config_program program, const char *path)
{
	char err[512];
	memset(err, 0x5a, sizeof(err));
	int r = config_load(c, program, path, err, sizeof(err));
	CHECK(r == 0 || r == -1);
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (r == 0) {
		CHECK(err[0] == '\0');
	} else {
		/* "PATH: cannot open..." or "PATH:LINE: why": where, then why. */
		size_t plen = strlen(path);
		CHECK(strncmp(err, path, plen) == 0 && err[plen] == ':' && strlen(err) > plen + 2);
		CHECK(strchr(err, '\n') == NULL);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct memfile input, echo;
	static bool ready;
	if (!ready) {
		clear_mail_env();
		memfile_init(&input, "fuzz_config");
		memfile_init(&echo, "fuzz_config_echo");
		ready = true;
	}
	memfile_set(&input, data, size);

	static struct mail_config smtpd, pop3d, mailctl, again;
	int r = load(&smtpd, CONFIG_PROGRAM_SMTPD, input.path);
	CHECK(load(&pop3d, CONFIG_PROGRAM_POP3D, input.path) == r);
	CHECK(load(&mailctl, CONFIG_PROGRAM_MAILCTL, input.path) == r);
	if (r != 0)
		return 0;

	check_values(&smtpd);
	check_values(&pop3d);
	CHECK(same_config(&smtpd, &mailctl, true));
	CHECK(same_config(&smtpd, &pop3d, false));

	static struct text text;
	write_back(&smtpd, &text);
	memfile_set(&echo, text.buf, text.len);
	CHECK(load(&again, CONFIG_PROGRAM_SMTPD, echo.path) == 0);
	CHECK(same_config(&smtpd, &again, true));
	return 0;
}
