/*
 * test_config.c - defaults, the file format and every error it reports,
 * MAIL_* overrides, listen lists, sizes, bounds and the reference table.
 */
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "netlist.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Every key; test_reference checks this list against the table. */
static const char *const all_keys[] = {
	"db", "db_connections", "db_connection_wait", "db_password_file", "hostname",
	"smtp_listen", "submission_listen", "smtps_listen", "pop3_listen",
	"pop3s_listen", "metrics_listen", "proxy_protocol_from", "tls_cert", "tls_key", "allow_plaintext_auth",
	"max_message_size", "max_recipients", "max_hops", "received_auth_header", "max_connections",
	"max_connections_per_ip", "idle_timeout", "handshake_timeout", "login_timeout",
	"stress_idle_timeout", "shutdown_timeout", "soft_error_limit", "hard_error_limit",
	"error_delay_ms", "max_auth_failures", "auth_failure_delay_ms",
	"auth_failure_budget", "auth_failure_decay", "auth_lockout", "user",
	"recipient_delimiter", "postmaster_address", "relay_host", "routes", "relay_tls",
	"relay_auth_user", "relay_auth_password_file", "dns_servers", "queue_lifetime",
	"delay_warning_time",
	"queue_scan_interval", "outbound_connections", "outbound_connections_per_destination",
	"outbound_timeout", "tmpdir", "log_level",
};

static void env_name(const char *key, char *out, size_t outlen)
{
	snprintf(out, outlen, "MAIL_%s", key);
	for (char *p = out; *p != '\0'; p++) {
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	}
}

/* Each test starts without MAIL_<KEY> variables and with a fresh directory. */
struct fixture {
	char dir[512];
	char path[600]; /* the config file written by write_conf */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	for (size_t i = 0; i < N(all_keys); i++) {
		char name[64];
		env_name(all_keys[i], name, sizeof(name));
		unsetenv(name);
	}
	testutil_mkdtemp(f->dir, sizeof(f->dir));
	testutil_path(f->path, sizeof(f->path), f->dir, "mail.conf");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	for (size_t i = 0; i < N(all_keys); i++) {
		char name[64];
		env_name(all_keys[i], name, sizeof(name));
		unsetenv(name);
	}
	testutil_rmtree(f->dir);
	free(f);
	return 0;
}

static void write_conf(const struct fixture *f, const char *text, size_t len)
{
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Loads text as a file; returns config_load's result, the message in err. */
static int load_text(const struct fixture *f, const char *text, struct mail_config *cfg,
                     char *err, size_t errlen)
{
	write_conf(f, text, strlen(text));
	return config_load(cfg, CONFIG_PROGRAM_SMTPD, f->path, err, errlen);
}

static void test_defaults(void **state)
{
	static const struct {
		enum config_program program;
		unsigned idle_timeout;
	} cases[] = {
		{ CONFIG_PROGRAM_SMTPD, 300 },
		{ CONFIG_PROGRAM_POP3D, 600 },
		{ CONFIG_PROGRAM_MAILCTL, 300 },
	};
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");

	for (size_t i = 0; i < N(cases); i++) {
		struct mail_config cfg;
		char err[256] = "unset";
		assert_int_equal(config_load(&cfg, cases[i].program, NULL, err, sizeof(err)), 0);
		assert_string_equal(err, "");
		assert_int_equal(cfg.idle_timeout, cases[i].idle_timeout);

		assert_string_equal(cfg.db, "mail.db");
		assert_string_equal(cfg.hostname, host);
		assert_int_equal(cfg.smtp_listen.count, 1);
		assert_string_equal(cfg.smtp_listen.addr[0], "127.0.0.1:2525");
		assert_int_equal(cfg.submission_listen.count, 1);
		assert_string_equal(cfg.submission_listen.addr[0], "127.0.0.1:2587");
		assert_int_equal(cfg.smtps_listen.count, 1);
		assert_string_equal(cfg.smtps_listen.addr[0], "127.0.0.1:2465");
		assert_int_equal(cfg.pop3_listen.count, 1);
		assert_string_equal(cfg.pop3_listen.addr[0], "127.0.0.1:2110");
		assert_int_equal(cfg.pop3s_listen.count, 1);
		assert_string_equal(cfg.pop3s_listen.addr[0], "127.0.0.1:2995");
		assert_int_equal(cfg.metrics_listen.count, 0);
		assert_string_equal(cfg.tls_cert, "");
		assert_string_equal(cfg.tls_key, "");
		assert_int_equal(cfg.allow_plaintext_auth, 0);
		assert_int_equal(cfg.max_message_size, 25u << 20);
		assert_int_equal(cfg.max_recipients, 100);
		assert_int_equal(cfg.max_hops, 50);
		assert_int_equal(cfg.received_auth_header, 0);
		assert_int_equal(cfg.max_connections, 1000);
		assert_int_equal(cfg.max_connections_per_ip, 20);
		assert_int_equal(cfg.handshake_timeout, 10);
		assert_int_equal(cfg.login_timeout, 60);
		assert_int_equal(cfg.stress_idle_timeout, 10);
		assert_int_equal(cfg.shutdown_timeout, 30);
		assert_int_equal(cfg.max_auth_failures, 3);
		assert_int_equal(cfg.auth_failure_delay_ms, 1000);
		assert_int_equal(cfg.auth_failure_budget, 20);
		assert_int_equal(cfg.auth_failure_decay, 60);
		assert_int_equal(cfg.auth_lockout, 300);
		assert_string_equal(cfg.user, "");
		assert_string_equal(cfg.recipient_delimiter, "+");
		assert_string_equal(cfg.postmaster_address, "");
		assert_string_equal(cfg.relay_host, "");
		assert_string_equal(cfg.routes, "");
		assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	}
}

static void test_tmpdir_default(void **state)
{
	const char *saved = getenv("TMPDIR");
	char keep[1024] = "";
	if (saved != NULL)
		snprintf(keep, sizeof(keep), "%s", saved);

	struct mail_config cfg;
	char err[256];
	setenv("TMPDIR", "/var/spool/test", 1);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.tmpdir, "/var/spool/test");
	unsetenv("TMPDIR");
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.tmpdir, "/tmp");
	setenv("MAIL_TMPDIR", "/data/tmp", 1);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.tmpdir, "/data/tmp");

	if (saved != NULL)
		setenv("TMPDIR", keep, 1);
}

static void test_file_syntax(void **state)
{
	struct fixture *f = *state;
	struct mail_config cfg;
	char err[512];
	const char text[] =
		"# mail.conf\n"
		"\n"
		"   # indented comment\n"
		"db = /data/mail.db\n"
		"\thostname\t=\tmx.example.test   \n"
		"smtp_listen = 0.0.0.0:25, [::]:25 # MX on every address\n"
		"submission_listen =\n"
		"tls_cert = /etc/mail/cert#1.pem\n"
		"tls_key=/etc/mail/key.pem\r\n"
		"allow_plaintext_auth = Yes\n"
		"max_message_size = 10m\n"
		"idle_timeout = 42\n"
		"shutdown_timeout = 0\n"
		"user = mail\n"
		"relay_host = smarthost.example.test:587\n"
		"recipient_delimiter = +-\n"
		"postmaster_address = \"Post Master\"@Example.TEST\n"
		"log_level = debug\n"
		"max_connections_per_ip=5"; /* no final newline */

	assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.db, "/data/mail.db");
	assert_string_equal(cfg.hostname, "mx.example.test");
	assert_int_equal(cfg.smtp_listen.count, 2);
	assert_string_equal(cfg.smtp_listen.addr[0], "0.0.0.0:25");
	assert_string_equal(cfg.smtp_listen.addr[1], "[::]:25");
	assert_int_equal(cfg.submission_listen.count, 0);
	assert_string_equal(cfg.tls_cert, "/etc/mail/cert#1.pem");
	assert_string_equal(cfg.tls_key, "/etc/mail/key.pem");
	assert_int_equal(cfg.allow_plaintext_auth, 1);
	assert_int_equal(cfg.max_message_size, 10u << 20);
	assert_int_equal(cfg.idle_timeout, 42);
	assert_int_equal(cfg.shutdown_timeout, 0);
	assert_string_equal(cfg.user, "mail");
	assert_string_equal(cfg.relay_host, "smarthost.example.test:587");
	assert_string_equal(cfg.relay.host, "smarthost.example.test"); /* parsed (route.h) */
	assert_int_equal(cfg.relay.port, 587);
	assert_int_equal(cfg.route_table.count, 0);
	assert_string_equal(cfg.recipient_delimiter, "+-");
	assert_string_equal(cfg.postmaster_address, "\"Post Master\"@Example.TEST");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg.max_connections_per_ip, 5);
	/* Keys the file does not set keep their defaults. */
	assert_int_equal(cfg.pop3_listen.count, 1);
	assert_int_equal(cfg.max_recipients, 100);

	/* An empty file and a comments-only file are valid. */
	assert_int_equal(load_text(f, "", &cfg, err, sizeof(err)), 0);
	assert_int_equal(load_text(f, "# nothing\n\n  \n", &cfg, err, sizeof(err)), 0);
}

/* "%s" in want stands for the file's path. */
static const struct {
	const char *text;
	const char *want;
} file_errors[] = {
	{ "foo = 1\n", "%s:1: unknown key 'foo'" },
	{ "\n# c\nDB = x\n", "%s:3: unknown key 'DB'" },
	{ "db = a\nidle_timeout = 5\ndb = b\n", "%s:3: duplicate key 'db' (first set on line 1)" },
	{ "db /data/mail.db\n", "%s:1: expected 'key = value'" },
	{ "\n\nlog_level\n", "%s:3: expected 'key = value'" },
	{ "= value\n", "%s:1: expected 'key = value' (no key before '=')" },
	{ "max_recipients = 12a\n", "%s:1: max_recipients: bad number '12a'" },
	{ "max_recipients = -1\n", "%s:1: max_recipients: bad number '-1'" },
	{ "max_hops = 0\n", "%s:1: max_hops: 0 is out of range 1-1000" },
	{ "received_auth_header = maybe\n", "%s:1: received_auth_header: bad boolean 'maybe' (use yes or no)" },
	{ "max_recipients = +5\n", "%s:1: max_recipients: bad number '+5'" },
	{ "max_recipients = 1 0\n", "%s:1: max_recipients: bad number '1 0'" },
	{ "max_recipients =\n", "%s:1: max_recipients: bad number ''" },
	{ "max_recipients = 0\n", "%s:1: max_recipients: 0 is out of range 1-100000" },
	{ "idle_timeout = 86401\n", "%s:1: idle_timeout: 86401 is out of range 1-86400" },
	{ "max_connections = 99999999999999999999999\n",
	  "%s:1: max_connections: bad number '99999999999999999999999'" },
	{ "max_connections = 4294967296\n",
	  "%s:1: max_connections: 4294967296 is out of range 1-1000000" },
	{ "auth_failure_delay_ms = 60001\n",
	  "%s:1: auth_failure_delay_ms: 60001 is out of range 0-60000" },
	{ "max_message_size = 10X\n", "%s:1: max_message_size: bad number '10X'" },
	{ "max_message_size = M\n", "%s:1: max_message_size: bad number 'M'" },
	{ "max_message_size = 10MB\n", "%s:1: max_message_size: bad number '10MB'" },
	{ "max_message_size = 1023\n", "%s:1: max_message_size: 1023 is out of range 1K-4G" },
	{ "max_message_size = 5G\n", "%s:1: max_message_size: 5G is out of range 1K-4G" },
	{ "max_message_size = 99999999999999999G\n",
	  "%s:1: max_message_size: bad number '99999999999999999G'" },
	{ "allow_plaintext_auth = maybe\n",
	  "%s:1: allow_plaintext_auth: bad boolean 'maybe' (use yes or no)" },
	{ "allow_plaintext_auth =\n", "%s:1: allow_plaintext_auth: bad boolean '' (use yes or no)" },
	{ "log_level = verbose\n",
	  "%s:1: log_level: bad log level 'verbose' (debug, info, warn or error)" },
	{ "smtp_listen = 127.0.0.1\n",
	  "%s:1: smtp_listen: bad address '127.0.0.1' (expected host:port)" },
	{ "smtp_listen = 127.0.0.1:0\n",
	  "%s:1: smtp_listen: bad address '127.0.0.1:0' (port must be 1-65535)" },
	{ "smtp_listen = 127.0.0.1:65536\n",
	  "%s:1: smtp_listen: bad address '127.0.0.1:65536' (port must be 1-65535)" },
	{ "smtp_listen = 127.0.0.1:\n",
	  "%s:1: smtp_listen: bad address '127.0.0.1:' (port must be 1-65535)" },
	{ "smtp_listen = 127.0.0.1:25x\n",
	  "%s:1: smtp_listen: bad address '127.0.0.1:25x' (port must be 1-65535)" },
	{ "smtp_listen = :25\n", "%s:1: smtp_listen: bad address ':25' (bad host)" },
	{ "smtp_listen = 999.1.1.1:25\n", "%s:1: smtp_listen: bad address '999.1.1.1:25' (bad host)" },
	{ "smtp_listen = mx_1:25\n", "%s:1: smtp_listen: bad address 'mx_1:25' (bad host)" },
	{ "smtp_listen = ::1:25\n",
	  "%s:1: smtp_listen: bad address '::1:25' (IPv6 is written [address]:port)" },
	{ "smtp_listen = [::1:25\n",
	  "%s:1: smtp_listen: bad address '[::1:25' (IPv6 is written [address]:port)" },
	{ "smtp_listen = [::1]25\n",
	  "%s:1: smtp_listen: bad address '[::1]25' (IPv6 is written [address]:port)" },
	{ "smtp_listen = [zz::1]:25\n",
	  "%s:1: smtp_listen: bad address '[zz::1]:25' (not an IPv6 address)" },
	{ "smtp_listen = [fe80::1%]:25\n",
	  "%s:1: smtp_listen: bad address '[fe80::1%%]:25' (not an IPv6 address)" },
	{ "smtp_listen = [127.0.0.1]:25\n",
	  "%s:1: smtp_listen: bad address '[127.0.0.1]:25' (not an IPv6 address)" },
	{ "smtp_listen = 127.0.0.1:25,,127.0.0.1:26\n", "%s:1: smtp_listen: empty address in list" },
	{ "smtp_listen = 127.0.0.1:25,\n", "%s:1: smtp_listen: empty address in list" },
	{ "smtp_listen = 127.0.0.1:25, 127.0.0.1:25\n",
	  "%s:1: smtp_listen: address '127.0.0.1:25' listed twice" },
	{ "pop3_listen = 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,127.0.0.1:5,"
	  "127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,127.0.0.1:9\n",
	  "%s:1: pop3_listen: more than 8 addresses" },
	{ "tls_cert = /etc/cert.pem\n",
	  "%s:1: tls_cert is set but tls_key is not: set both or neither" },
	{ "db = x\n\ntls_key = /etc/key.pem\n",
	  "%s:3: tls_key is set but tls_cert is not: set both or neither" },
	{ "db =\n", "%s:1: db must not be empty" },
	{ "hostname = mail host\n", "%s:1: hostname 'mail host' is not a host name" },
	{ "user = a\tb\n", "%s:1: user: control character in value" },
	/* Outbound routes (route.h). */
	{ "relay_tls = sometimes\n",
	  "%s:1: relay_tls 'sometimes': expected none, may, encrypt or verify" },
	{ "relay_auth_user = me@example.test\n",
	  "%s:1: relay_auth_user and relay_auth_password_file go together: set both or neither" },
	{ "queue_lifetime = 59\n", "%s:1: queue_lifetime: 59 is out of range 60-5184000" },
	/* PostgreSQL's settings. */
	{ "db = mail.db\ndb_password_file = /run/secrets/db\n",
	  "%s:2: db_password_file is for a PostgreSQL db (postgresql://...); an SQLite file has "
	  "no password" },
	{ "db_connections = 0\n", "%s:1: db_connections: 0 is out of range 1-1000" },
	{ "db_connection_wait = 0\n", "%s:1: db_connection_wait: 0 is out of range 1-3600" },
	{ "relay_host = smtp.example.net:0\n",
	  "%s:1: relay_host: next hop 'smtp.example.net:0': the port must be 1-65535" },
	{ "db = x\nroutes = example.com=mx.example.net, example.com=other\n",
	  "%s:2: routes: route for 'example.com' given twice" },
	{ "soft_error_limit = 20\n",
	  "%s:1: soft_error_limit (20) must be below hard_error_limit (20)" },
	/* The address rules of smtp_address.h. */
	{ "recipient_delimiter = a\n",
	  "%s:1: recipient_delimiter 'a': each character must be one of !#$%%&'*+-/=?^_`{|}~" },
	{ "recipient_delimiter = +.\n",
	  "%s:1: recipient_delimiter '+.': each character must be one of !#$%%&'*+-/=?^_`{|}~" },
	{ "recipient_delimiter = + -\n",
	  "%s:1: recipient_delimiter '+ -': each character must be one of !#$%%&'*+-/=?^_`{|}~" },
	{ "recipient_delimiter = +++++++++++++++++\n",
	  "%s:1: recipient_delimiter: value too long (at most 16 bytes)" },
	{ "postmaster_address = postmaster\n",
	  "%s:1: postmaster_address 'postmaster': address syntax error" },
	{ "postmaster_address = a..b@example.test\n",
	  "%s:1: postmaster_address 'a..b@example.test': address syntax error" },
	{ "postmaster_address = ops@exa_mple.test\n",
	  "%s:1: postmaster_address 'ops@exa_mple.test': address syntax error" },
};

static void test_file_errors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < N(file_errors); i++) {
		struct mail_config cfg;
		char err[512] = "", want[1024];
		snprintf(want, sizeof(want), file_errors[i].want, f->path);
		int r = load_text(f, file_errors[i].text, &cfg, err, sizeof(err));
		if (r != -1 || strcmp(err, want) != 0)
			print_error("case %zu: file \"%s\"\n", i, file_errors[i].text);
		assert_int_equal(r, -1);
		assert_string_equal(err, want);
	}
}

/* Errors about the bytes of a line rather than its text. */
static void test_file_line_errors(void **state)
{
	struct fixture *f = *state;
	struct mail_config cfg;
	char err[512], want[1024];

	/* 4095 bytes fit (a comment), 4096 do not. */
	static char text[10000];
	size_t n = (size_t)snprintf(text, sizeof(text), "db = x\n#");
	memset(text + n, 'c', 4094);
	n += 4094;
	text[n++] = '\n';
	write_conf(f, text, n);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, f->path, err, sizeof(err)), 0);

	text[n - 1] = 'c';
	text[n++] = '\n';
	write_conf(f, text, n);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, f->path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: line too long (at most 4095 bytes)", f->path);
	assert_string_equal(err, want);

	write_conf(f, "db = x\nuser = a\0b\n", 18);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, f->path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", f->path);
	assert_string_equal(err, want);

	/* Values longer than their field. */
	n = (size_t)snprintf(text, sizeof(text), "hostname = ");
	memset(text + n, 'h', 256);
	text[n + 256] = '\0';
	write_conf(f, text, strlen(text));
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, f->path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1: hostname: value too long (at most 255 bytes)", f->path);
	assert_string_equal(err, want);

	n = (size_t)snprintf(text, sizeof(text), "smtp_listen = ");
	memset(text + n, '1', 70);
	memcpy(text + n + 70, ":25", 4);
	write_conf(f, text, strlen(text));
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_SMTPD, f->path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:1: smtp_listen: bad address '%.70s:25' (too long)", f->path,
	         text + n);
	assert_string_equal(err, want);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct mail_config cfg;
	char err[512], path[700], want[1024];

	testutil_path(path, sizeof(path), f->dir, "absent.conf");
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_POP3D, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	assert_string_equal(err, want);

	/* A directory opens but does not read. */
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_POP3D, f->dir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: read error: Is a directory", f->dir);
	assert_string_equal(err, want);

	/* A short error buffer gets a truncated, terminated message. */
	char small[8];
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_POP3D, path, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_env_overrides(void **state)
{
	struct fixture *f = *state;
	struct mail_config cfg;
	char err[512];

	write_conf(f, "idle_timeout = 100\nsmtp_listen = 127.0.0.1:25\ndb = file.db\n",
	           strlen("idle_timeout = 100\nsmtp_listen = 127.0.0.1:25\ndb = file.db\n"));
	setenv("MAIL_IDLE_TIMEOUT", "200", 1);
	setenv("MAIL_SMTP_LISTEN", "", 1); /* empty disables */
	setenv("MAIL_POP3_LISTEN", " [::1]:110 , 127.0.0.1:110 ", 1);
	setenv("MAIL_ALLOW_PLAINTEXT_AUTH", "on", 1);
	setenv("MAIL_MAX_MESSAGE_SIZE", "1G", 1);
	setenv("MAIL_LOG_LEVEL", "error", 1);
	setenv("MAIL_TLS_CERT", "/c.pem", 1);
	setenv("MAIL_TLS_KEY", "/k.pem", 1);
	setenv("MAIL_NOT_A_KEY", "ignored", 1); /* only keys are looked up */
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_POP3D, f->path, err, sizeof(err)), 0);
	unsetenv("MAIL_NOT_A_KEY");

	assert_int_equal(cfg.idle_timeout, 200);
	assert_int_equal(cfg.smtp_listen.count, 0);
	assert_int_equal(cfg.pop3_listen.count, 2);
	assert_string_equal(cfg.pop3_listen.addr[0], "[::1]:110");
	assert_string_equal(cfg.pop3_listen.addr[1], "127.0.0.1:110");
	assert_int_equal(cfg.allow_plaintext_auth, 1);
	assert_int_equal(cfg.max_message_size, UINT64_C(1) << 30);
	assert_int_equal(cfg.log_level, LOG_LEVEL_ERROR);
	assert_string_equal(cfg.tls_cert, "/c.pem");
	assert_string_equal(cfg.db, "file.db"); /* from the file */

	/* Without a file too. */
	setenv("MAIL_DB", "/data/env.db", 1);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_MAILCTL, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.db, "/data/env.db");
}

static void test_env_errors(void **state)
{
	static const struct {
		const char *name, *value, *want;
	} cases[] = {
		{ "MAIL_IDLE_TIMEOUT", "abc", "MAIL_IDLE_TIMEOUT: bad number 'abc'" },
		{ "MAIL_IDLE_TIMEOUT", "0", "MAIL_IDLE_TIMEOUT: 0 is out of range 1-86400" },
		{ "MAIL_MAX_MESSAGE_SIZE", "1T", "MAIL_MAX_MESSAGE_SIZE: bad number '1T'" },
		{ "MAIL_ALLOW_PLAINTEXT_AUTH", "y", "MAIL_ALLOW_PLAINTEXT_AUTH: bad boolean 'y' (use yes or no)" },
		{ "MAIL_SMTPS_LISTEN", "localhost",
		  "MAIL_SMTPS_LISTEN: bad address 'localhost' (expected host:port)" },
		{ "MAIL_LOG_LEVEL", "loud",
		  "MAIL_LOG_LEVEL: bad log level 'loud' (debug, info, warn or error)" },
		{ "MAIL_TLS_KEY", "/k.pem", "MAIL_TLS_KEY: tls_key is set but tls_cert is not: set both or neither" },
		{ "MAIL_DB", "", "MAIL_DB: db must not be empty" },
		{ "MAIL_ROUTES", "a\nb", "MAIL_ROUTES: control character in value" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct mail_config cfg;
		char err[512] = "";
		setenv(cases[i].name, cases[i].value, 1);
		int r = config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err));
		unsetenv(cases[i].name);
		if (r != -1 || strcmp(err, cases[i].want) != 0)
			print_error("case %zu: %s='%s'\n", i, cases[i].name, cases[i].value);
		assert_int_equal(r, -1);
		assert_string_equal(err, cases[i].want);
	}
}

static void test_listen_lists(void **state)
{
	static const struct {
		const char *value;
		size_t count;
		const char *addr[CONFIG_MAX_LISTEN];
	} cases[] = {
		{ "", 0, { NULL } },
		{ "127.0.0.1:2525", 1, { "127.0.0.1:2525" } },
		{ "[::1]:2525", 1, { "[::1]:2525" } },
		{ "[::]:25,0.0.0.0:25", 2, { "[::]:25", "0.0.0.0:25" } },
		{ "[fe80::1%eth0]:25", 1, { "[fe80::1%eth0]:25" } },
		{ "[2001:db8::25]:65535", 1, { "[2001:db8::25]:65535" } },
		{ "localhost:1", 1, { "localhost:1" } },
		{ "mx-1.example.test:587 ,\t10.0.0.1:587", 2, { "mx-1.example.test:587", "10.0.0.1:587" } },
		{ "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8", 8,
		  { "a:1", "a:2", "a:3", "a:4", "a:5", "a:6", "a:7", "a:8" } },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct mail_config cfg;
		char err[512] = "";
		setenv("MAIL_METRICS_LISTEN", cases[i].value, 1);
		int r = config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err));
		if (r != 0 || cfg.metrics_listen.count != cases[i].count)
			print_error("case %zu '%s': %d %s, %zu addresses\n", i, cases[i].value, r, err,
			            cfg.metrics_listen.count);
		assert_int_equal(r, 0);
		assert_int_equal(cfg.metrics_listen.count, cases[i].count);
		for (size_t j = 0; j < cases[i].count; j++)
			assert_string_equal(cfg.metrics_listen.addr[j], cases[i].addr[j]);
	}
}

/* proxy_protocol_from: parsed into networks; a bad one names file:line and why. */
static void test_proxy_protocol_from(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *value;
		size_t count;
		const char *trusted, *untrusted;
	} good[] = {
		{ "", 0, NULL, "127.0.0.1" },
		{ "127.0.0.1", 1, "127.0.0.1", "127.0.0.2" },
		{ "10.0.0.0/8, 192.168.1.7, fd00::/8, ::1", 4, "10.1.2.3", "192.168.1.8" },
		{ "fd00::/8,::1", 2, "::1", "fe80::1" },
	};
	for (size_t i = 0; i < N(good); i++) {
		struct mail_config cfg;
		char text[256], err[512] = "";
		snprintf(text, sizeof(text), "db = x.db\nproxy_protocol_from = %s\n", good[i].value);
		int r = load_text(f, text, &cfg, err, sizeof(err));
		if (r != 0 || cfg.proxy_protocol_from.count != good[i].count)
			print_error("case %zu '%s': %d %s\n", i, good[i].value, r, err);
		assert_int_equal(r, 0);
		assert_int_equal(cfg.proxy_protocol_from.count, good[i].count);
		if (good[i].trusted != NULL)
			assert_true(netlist_match(&cfg.proxy_protocol_from, good[i].trusted));
		assert_false(netlist_match(&cfg.proxy_protocol_from, good[i].untrusted));
	}

	static const struct {
		const char *value;
		const char *why;
	} bad[] = {
		{ "10.0.0.1/8", "proxy_protocol_from: bad network '10.0.0.1/8' (address has bits set "
		                "past the /8 prefix)" },
		{ "10.0.0.0/8, proxy.example", "proxy_protocol_from: bad network 'proxy.example' "
		                               "(expected an IPv4 or IPv6 address, optionally with "
		                               "/prefix)" },
		{ "::1/200", "proxy_protocol_from: bad network '::1/200' (prefix length must be 0-128)" },
		{ "127.0.0.1,", "proxy_protocol_from: empty item in list" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		struct mail_config cfg;
		char text[256], err[1024] = "", want[1024];
		snprintf(text, sizeof(text), "db = x.db\nproxy_protocol_from = %s\n", bad[i].value);
		snprintf(want, sizeof(want), "%s:2: %s", f->path, bad[i].why);
		assert_int_equal(load_text(f, text, &cfg, err, sizeof(err)), -1);
		assert_string_equal(err, want);
	}
	/* The environment too, named as such. */
	struct mail_config cfg;
	char err[512] = "";
	setenv("MAIL_PROXY_PROTOCOL_FROM", "203.0.113.0/24", 1);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_POP3D, NULL, err, sizeof(err)), 0);
	assert_true(netlist_match(&cfg.proxy_protocol_from, "203.0.113.77"));
	setenv("MAIL_PROXY_PROTOCOL_FROM", "203.0.113.0/33", 1);
	assert_int_equal(config_load(&cfg, CONFIG_PROGRAM_POP3D, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "MAIL_PROXY_PROTOCOL_FROM: bad network '203.0.113.0/33' (prefix "
	                         "length must be 0-32)");
}

static void test_listen_split(void **state)
{
	static const struct {
		const char *addr;
		int ret;
		const char *host;
		unsigned port;
	} cases[] = {
		{ "127.0.0.1:25", 0, "127.0.0.1", 25 },
		{ "[::1]:2525", 0, "::1", 2525 },
		{ "[::]:65535", 0, "::", 65535 },
		{ "mx.example.test:1", 0, "mx.example.test", 1 },
		{ "127.0.0.1", -1, NULL, 0 },
		{ "::1:25", -1, NULL, 0 },
		{ "[::1]", -1, NULL, 0 },
		{ "127.0.0.1:99999", -1, NULL, 0 },
		{ "", -1, NULL, 0 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char host[64] = "";
		unsigned port = 0;
		int r = config_listen_split(cases[i].addr, host, sizeof(host), &port);
		if (r != cases[i].ret)
			print_error("case %zu '%s': got %d\n", i, cases[i].addr, r);
		assert_int_equal(r, cases[i].ret);
		if (r == 0) {
			assert_string_equal(host, cases[i].host);
			assert_int_equal(port, cases[i].port);
		}
	}
	char tiny[4];
	unsigned port;
	assert_int_equal(config_listen_split("127.0.0.1:25", tiny, sizeof(tiny), &port), -1);
}

static void test_sizes_and_bools(void **state)
{
	static const struct {
		const char *value;
		uint64_t want;
	} sizes[] = {
		{ "1024", 1024 },           { "1K", 1024 },
		{ "1k", 1024 },             { "1025", 1025 },
		{ "25M", 25u << 20 },       { "512m", UINT64_C(512) << 20 },
		{ "1G", UINT64_C(1) << 30 }, { "4G", UINT64_C(4) << 30 },
		{ "4194304K", UINT64_C(4) << 30 },
	};
	for (size_t i = 0; i < N(sizes); i++) {
		struct mail_config cfg;
		char err[512] = "";
		setenv("MAIL_MAX_MESSAGE_SIZE", sizes[i].value, 1);
		int r = config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err));
		if (r != 0 || cfg.max_message_size != sizes[i].want)
			print_error("size case %zu '%s': %d %s, got %" PRIu64 ", want %" PRIu64 "\n", i,
			            sizes[i].value, r, err, cfg.max_message_size, sizes[i].want);
		assert_int_equal(r, 0);
		assert_true(cfg.max_message_size == sizes[i].want);
	}
	unsetenv("MAIL_MAX_MESSAGE_SIZE");

	static const struct {
		const char *value;
		int want;
	} bools[] = {
		{ "yes", 1 }, { "true", 1 }, { "on", 1 }, { "1", 1 }, { "YES", 1 }, { "True", 1 },
		{ "no", 0 },  { "false", 0 }, { "off", 0 }, { "0", 0 }, { "NO", 0 }, { "Off", 0 },
	};
	for (size_t i = 0; i < N(bools); i++) {
		struct mail_config cfg;
		char err[512] = "";
		setenv("MAIL_ALLOW_PLAINTEXT_AUTH", bools[i].value, 1);
		int r = config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err));
		if (r != 0 || cfg.allow_plaintext_auth != bools[i].want)
			print_error("bool case %zu '%s': %d %s\n", i, bools[i].value, r, err);
		assert_int_equal(r, 0);
		assert_int_equal(cfg.allow_plaintext_auth, bools[i].want);
	}
}

/* The bounds of every integer key, both ends accepted, one past refused. */
static void test_bounds(void **state)
{
	static const struct {
		const char *key;
		unsigned min, max;
	} cases[] = {
		{ "max_recipients", 1, 100000 },      { "max_connections", 1, 1000000 },
		{ "max_connections_per_ip", 1, 1000000 }, { "idle_timeout", 1, 86400 },
		{ "shutdown_timeout", 0, 3600 },      { "max_auth_failures", 1, 100 },
		{ "error_delay_ms", 0, 60000 },
		{ "auth_failure_delay_ms", 0, 60000 }, { "auth_failure_budget", 1, 100000 },
		{ "auth_failure_decay", 1, 86400 },   { "auth_lockout", 1, 86400 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char name[64];
		env_name(cases[i].key, name, sizeof(name));
		const unsigned values[] = { cases[i].min, cases[i].max, cases[i].min - 1, cases[i].max + 1 };
		for (size_t j = 0; j < 4; j++) {
			if (j == 2 && cases[i].min == 0)
				continue; /* nothing below 0 to try */
			struct mail_config cfg;
			char err[512] = "", value[32];
			snprintf(value, sizeof(value), "%u", values[j]);
			setenv(name, value, 1);
			int r = config_load(&cfg, CONFIG_PROGRAM_SMTPD, NULL, err, sizeof(err));
			int want = j < 2 ? 0 : -1;
			if (r != want)
				print_error("%s=%s: got %d (%s), want %d\n", name, value, r, err, want);
			assert_int_equal(r, want);
		}
		unsetenv(name);
	}
}

static void test_reference(void **state)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	assert_non_null(out);
	config_print_reference(out);
	assert_int_equal(fclose(out), 0);

	size_t lines = 0;
	for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, N(all_keys) + 2);
	const char *head = "| Key | Default | Description |\n";
	assert_memory_equal(text, head, strlen(head));
	for (size_t i = 0; i < N(all_keys); i++) {
		char cell[64];
		snprintf(cell, sizeof(cell), "\n| `%s` | ", all_keys[i]);
		if (strstr(text, cell) == NULL)
			print_error("key %s missing from\n%s", all_keys[i], text);
		assert_non_null(strstr(text, cell));
	}
	assert_non_null(strstr(text, "| `idle_timeout` | `300` (smtpd), `600` (pop3d) | "));
	assert_non_null(strstr(text, "| `max_message_size` | `25M` | "));
	assert_non_null(strstr(text, "| `metrics_listen` | (empty) | "));
	assert_non_null(strstr(text, "| `proxy_protocol_from` | (empty) | "));
	assert_non_null(strstr(text, "| `smtp_listen` | `127.0.0.1:2525` | "));
	/* Every row has exactly four cell separators. */
	for (char *line = text, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
		size_t bars = 0;
		for (char *p = line; p < end; p++)
			bars += *p == '|';
		assert_int_equal(bars, 4);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmpdir_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_line_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proxy_protocol_from, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizes_and_bools, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
