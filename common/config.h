/*
 * config.h - the shared configuration of smtpd, pop3d and mailctl.
 *
 * One file of `key = value` lines and `#` comments. Every key can be
 * overridden by the environment variable MAIL_<KEY> (upper case). Values
 * are validated once at start-up into a read-only struct mail_config;
 * an unknown key or a bad value is an error naming file:line (or the
 * environment variable), and the programs exit 2.
 *
 * The key table in config.c is the single source of truth: it fills the
 * defaults, validates, and prints the reference (config_print_reference),
 * which the README's key table is generated from.
 */
#ifndef MAIL_CONFIG_H
#define MAIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Which program loads the configuration: some defaults differ (idle_timeout). */
enum config_program {
	CONFIG_PROGRAM_SMTPD,
	CONFIG_PROGRAM_POP3D,
	CONFIG_PROGRAM_MAILCTL,
};

#define CONFIG_MAX_LISTEN 8   /* addresses per listen key */

struct config_listen {
	size_t count;
	char addr[CONFIG_MAX_LISTEN][64]; /* "host:port"; IPv6 as "[::1]:2525" */
};

struct mail_config {
	char db[1024];
	char hostname[256];

	struct config_listen smtp_listen;       /* MX: no AUTH, local recipients from anyone */
	struct config_listen submission_listen; /* AUTH required before MAIL */
	struct config_listen smtps_listen;      /* implicit TLS, AUTH required */
	struct config_listen pop3_listen;
	struct config_listen pop3s_listen;
	struct config_listen metrics_listen;

	char tls_cert[1024];
	char tls_key[1024];
	int allow_plaintext_auth;

	uint64_t max_message_size;     /* octets (RFC 1870 SIZE) */
	unsigned max_recipients;       /* RFC 5321 4.5.3.1.8: at least 100 */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned idle_timeout;         /* seconds: 300 smtpd (RFC 5321 4.5.3.2.7), 600 pop3d (RFC 1939 3) */
	unsigned shutdown_timeout;     /* seconds sessions get to finish after SIGTERM */
	unsigned max_auth_failures;    /* per connection, then 421 / -ERR and close */
	unsigned auth_failure_delay_ms;

	char user[64];                 /* drop privileges to this user after binding */
	char relay_host[256];
	char routes[1024];
	char tmpdir[1024];             /* spool for large incoming messages */
	int log_level;                 /* enum log_level */
};

/*
 * Fills *cfg with defaults, then the file at `path` (may be NULL: no file;
 * a path given explicitly must exist), then MAIL_* environment overrides,
 * then validates. Returns 0, or -1 with a one-line message in err
 * ("mail.conf:12: unknown key 'foo'").
 */
int config_load(struct mail_config *cfg, enum config_program program, const char *path,
                char *err, size_t errlen);

/* Writes the key reference (key, default, description) as a Markdown table. */
void config_print_reference(FILE *out);

#endif
