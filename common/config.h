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

#include "netlist.h"
#include "route.h"
#include "smtp_address.h"

/* Which program loads the configuration: some defaults differ (idle_timeout). */
enum config_program {
	CONFIG_PROGRAM_SMTPD,
	CONFIG_PROGRAM_POP3D,
	CONFIG_PROGRAM_MAILCTL,
};

/* relay_tls: what TLS outbound delivery to a configured next hop insists on. */
enum config_tls_policy {
	CONFIG_TLS_NONE,    /* never STARTTLS */
	CONFIG_TLS_MAY,     /* STARTTLS when offered, any certificate (RFC 7435 opportunistic) */
	CONFIG_TLS_ENCRYPT, /* STARTTLS required, any certificate */
	CONFIG_TLS_VERIFY,  /* STARTTLS required, certificate verified against the host name */
};

#define CONFIG_MAX_LISTEN 8   /* addresses per listen key */

struct config_listen {
	size_t count;
	char addr[CONFIG_MAX_LISTEN][64]; /* "host:port"; IPv6 as "[::1]:2525" */
};

struct mail_config {
	char db[1024];
	unsigned db_connections;       /* PostgreSQL: pooled connections per daemon (store_pool) */
	unsigned db_connection_wait;   /* PostgreSQL: seconds a job waits for a free one */
	char db_password_file[1024];   /* PostgreSQL: the password's file; read at start */
	char hostname[256];            /* never empty after config_load: gethostname(), else "localhost" */

	struct config_listen smtp_listen;       /* MX: no AUTH, local recipients from anyone */
	struct config_listen submission_listen; /* AUTH required before MAIL */
	struct config_listen smtps_listen;      /* implicit TLS, AUTH required */
	struct config_listen pop3_listen;
	struct config_listen pop3s_listen;
	struct config_listen metrics_listen;
	struct netlist proxy_protocol_from;     /* peers that must send a PROXY header first */

	char tls_cert[1024];
	char tls_key[1024];
	int allow_plaintext_auth;

	uint64_t max_message_size;     /* octets (RFC 1870 SIZE) */
	unsigned max_recipients;       /* RFC 5321 4.5.3.1.8: at least 100 */
	unsigned max_hops;             /* Received: fields a message may arrive with (RFC 5321 6.3) */
	int received_auth_header;      /* name the login in Received: on submission */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned idle_timeout;         /* seconds: 300 smtpd (RFC 5321 4.5.3.2.7), 600 pop3d (RFC 1939 3) */
	unsigned handshake_timeout;    /* seconds for a TLS handshake (implicit, STARTTLS, STLS) */
	unsigned login_timeout;        /* seconds from connect to login (MX: first MAIL); 0 = none */
	unsigned stress_idle_timeout;  /* idle timeout near max_connections (server.h); 0 = off */
	unsigned shutdown_timeout;     /* seconds sessions get to finish after SIGTERM */
	unsigned soft_error_limit;     /* protocol errors per session before error replies are delayed */
	unsigned hard_error_limit;     /* ... before the session is closed */
	unsigned error_delay_ms;       /* the delay of each error reply beyond soft_error_limit */
	unsigned max_auth_failures;    /* per connection, then 421 / -ERR and close */
	unsigned auth_failure_delay_ms; /* before a failed-login answer; grows per address */
	unsigned auth_failure_budget;   /* per client address, then a lockout (authlimit.h) */
	unsigned auth_failure_decay;    /* seconds per failure forgotten */
	unsigned auth_lockout;          /* seconds logins from a locked-out address are refused */

	char user[64];                 /* drop privileges to this user after binding */
	char recipient_delimiter[SMTP_DELIMITERS_MAX + 1]; /* "+": alice+tag@ reaches alice@ */
	char postmaster_address[256];  /* postmaster@ of a domain without its own; "" refuses */
	char relay_host[256];
	char routes[1024];
	struct route_hop relay;         /* relay_host parsed; host "" when unset */
	struct route_table route_table; /* routes parsed (route.h) */
	char relay_tls[16];
	int relay_tls_policy;           /* enum config_tls_policy, from relay_tls */
	char relay_auth_user[256];
	char relay_auth_password_file[1024];
	char dns_servers[512];
	unsigned queue_lifetime;        /* seconds */
	unsigned delay_warning_time;    /* seconds; 0: no delay warnings */
	unsigned queue_scan_interval;   /* seconds */
	unsigned outbound_connections;
	unsigned outbound_connections_per_destination;
	unsigned outbound_timeout;      /* seconds per reply (RFC 5321 4.5.3.2) */
	char tmpdir[1024];             /* spool for large incoming messages; never empty after
	                                  config_load ($TMPDIR, else /tmp) */
	int log_level;                 /* enum log_level */
};

/*
 * Fills *cfg with defaults, then the file at `path` (may be NULL: no file;
 * a path given explicitly must exist), then MAIL_* environment overrides,
 * then validates. Returns 0, or -1 with a one-line message in err
 * ("mail.conf:12: unknown key 'foo'", "MAIL_IDLE_TIMEOUT: bad number 'x'");
 * *cfg is then unspecified.
 *
 * Validation covers each value's syntax and bounds, and tls_cert/tls_key
 * being set together. Whether a listener needs TLS that is not configured
 * (smtps_listen, pop3s_listen) is for the daemon opening it to decide:
 * mailctl reads the same file and must not fail on it.
 */
int config_load(struct mail_config *cfg, enum config_program program, const char *path,
                char *err, size_t errlen);

/*
 * Parses a size as the file spells one (max_message_size = 25M): decimal
 * digits with an optional K, M or G suffix (powers of 1024, either case),
 * for other tools that take sizes the same way (mailctl user quota).
 * Returns 0, or -1 when malformed or over UINT64_MAX.
 */
int config_parse_size(const char *s, uint64_t *v_r);

/* Writes the key reference (key, default, description) as a Markdown table. */
void config_print_reference(FILE *out);

/*
 * Splits one listen address ("127.0.0.1:25", "[::1]:25", "mx.example:25")
 * into host (without brackets, NUL-terminated in host_r of hostlen bytes)
 * and port (1-65535). Addresses in a loaded config always split. Host
 * names are allowed: the listener resolves them. Returns 0 or -1.
 */
int config_listen_split(const char *addr, char *host_r, size_t hostlen, unsigned *port_r);

#endif
