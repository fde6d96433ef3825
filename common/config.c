/* config.c - the key table, the file and environment parsers, validation; see config.h. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config-private.h"
#include "log.h"

/* Longest config file line, without its line end; the longest value is a 1023-byte path. */
#define CONFIG_LINE_MAX 4096

enum config_type {
	CONFIG_STRING,    /* char[size]: printable, no control bytes */
	CONFIG_BOOL,      /* int: yes/no, true/false, on/off, 1/0 */
	CONFIG_UINT,      /* unsigned, decimal, within [min, max] */
	CONFIG_SIZE,      /* uint64_t octets, optional K/M/G suffix (x1024), within [min, max] */
	CONFIG_LISTEN,    /* struct config_listen: comma-separated host:port, empty = none */
	CONFIG_NETLIST,   /* struct netlist: comma-separated addresses and networks, empty = none */
	CONFIG_LOG_LEVEL, /* int: enum log_level */
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;         /* destination in struct mail_config */
	size_t size;           /* and its size */
	uint64_t min, max;     /* bounds of CONFIG_UINT and CONFIG_SIZE */
	const char *def;       /* default, parsed like a value from the file */
	const char *def_pop3d; /* pop3d's default when it differs */
	const char *def_doc;   /* the default as the reference shows it, when def is resolved at load */
	const char *help;      /* one sentence or two; no '|' (it is a Markdown table cell) */
};

#define FIELD(f) .offset = offsetof(struct mail_config, f), .size = sizeof(((struct mail_config *)0)->f)

static const struct config_key config_keys[] = {
	{ .name = "db", .type = CONFIG_STRING, FIELD(db), .def = "mail.db",
	  .help = "The mailbox database: a SQLite file, created if missing, or a PostgreSQL "
	          "`postgresql://` URI (libpq) whose empty database gets the schema at first use." },
	{ .name = "db_connections", .type = CONFIG_UINT, FIELD(db_connections), .def = "8",
	  .min = 1, .max = 1000,
	  .help = "PostgreSQL: the most connections each daemon keeps to the database for its "
	          "sessions' work, shared by its worker threads (idle ones stay open); smtpd also "
	          "opens 2 for its commits and one for queue wake-ups. Keep the sum over all "
	          "daemons below the server's `max_connections`. SQLite: not used (each worker "
	          "thread has the file open)." },
	{ .name = "db_connection_wait", .type = CONFIG_UINT, FIELD(db_connection_wait),
	  .def = "30", .min = 1, .max = 3600,
	  .help = "PostgreSQL: seconds a job waits for one of the `db_connections` to be free "
	          "before it fails with a temporary error." },
	{ .name = "db_password_file", .type = CONFIG_STRING, FIELD(db_password_file), .def = "",
	  .help = "PostgreSQL: file whose first line is the password for `db` (libpq's "
	          "`password`, over one in the URI or `PGPASSFILE`), kept out of the "
	          "configuration, the environment and the command line. The daemons read it at "
	          "start, before dropping privileges, and mailctl too; refused when anyone but its "
	          "owner and group may read or change it (as ssh refuses a key)." },
	{ .name = "hostname", .type = CONFIG_STRING, FIELD(hostname), .def = "",
	  .def_doc = "the system host name (else `localhost`)",
	  .help = "Name this server gives in greetings, Received: headers and bounces." },
	{ .name = "smtp_listen", .type = CONFIG_LISTEN, FIELD(smtp_listen), .def = "127.0.0.1:2525",
	  .help = "SMTP (MX) listeners: mail from other servers to local recipients; no AUTH." },
	{ .name = "submission_listen", .type = CONFIG_LISTEN, FIELD(submission_listen),
	  .def = "127.0.0.1:2587",
	  .help = "Submission listeners (RFC 6409): AUTH required; STARTTLS when TLS is configured." },
	{ .name = "smtps_listen", .type = CONFIG_LISTEN, FIELD(smtps_listen), .def = "127.0.0.1:2465",
	  .help = "Submission over implicit TLS (RFC 8314): AUTH required; needs `tls_cert` and `tls_key`." },
	{ .name = "pop3_listen", .type = CONFIG_LISTEN, FIELD(pop3_listen), .def = "127.0.0.1:2110",
	  .help = "POP3 listeners (RFC 1939); STLS when TLS is configured." },
	{ .name = "pop3s_listen", .type = CONFIG_LISTEN, FIELD(pop3s_listen), .def = "127.0.0.1:2995",
	  .help = "POP3 over implicit TLS (RFC 8314); needs `tls_cert` and `tls_key`." },
	{ .name = "metrics_listen", .type = CONFIG_LISTEN, FIELD(metrics_listen), .def = "",
	  .help = "HTTP listeners of each daemon for `GET /metrics` (Prometheus text format) and "
	          "`GET /healthz` (200, or 503 while draining or when the database fails); outside "
	          "the connection limits; give smtpd and pop3d different ports." },
	{ .name = "proxy_protocol_from", .type = CONFIG_NETLIST, FIELD(proxy_protocol_from),
	  .def = "",
	  .help = "Load balancers in front of the client listeners: a connection from one of "
	          "these must start with a PROXY protocol header (v1 or v2, within "
	          "`handshake_timeout`), whose client address then counts for the limits, logs "
	          "and `Received:`; without a valid header it is closed. Others are clients "
	          "themselves, and a header from them is refused. Not for `metrics_listen`." },
	{ .name = "tls_cert", .type = CONFIG_STRING, FIELD(tls_cert), .def = "",
	  .help = "PEM certificate chain file; empty means no TLS. Reloaded on SIGHUP." },
	{ .name = "tls_key", .type = CONFIG_STRING, FIELD(tls_key), .def = "",
	  .help = "PEM private key file of `tls_cert`; set both or neither. Reloaded on SIGHUP." },
	{ .name = "allow_plaintext_auth", .type = CONFIG_BOOL, FIELD(allow_plaintext_auth), .def = "no",
	  .help = "Allow AUTH and USER/PASS on connections without TLS (for tests only)." },
	{ .name = "max_message_size", .type = CONFIG_SIZE, FIELD(max_message_size), .def = "25M",
	  .min = 1024, .max = UINT64_C(4) << 30,
	  .help = "Largest message accepted, announced with SIZE (RFC 1870)." },
	{ .name = "max_recipients", .type = CONFIG_UINT, FIELD(max_recipients), .def = "100",
	  .min = 1, .max = 100000,
	  .help = "Recipients accepted per message; RFC 5321 4.5.3.1.8 asks for at least 100." },
	{ .name = "max_hops", .type = CONFIG_UINT, FIELD(max_hops), .def = "50",
	  .min = 1, .max = 1000,
	  .help = "Messages that arrive with more `Received:` header fields are refused "
	          "(`554 5.4.6`) as a mail loop (RFC 5321 6.3; Postfix's `hopcount_limit`)." },
	{ .name = "received_auth_header", .type = CONFIG_BOOL, FIELD(received_auth_header),
	  .def = "no",
	  .help = "Name the login in the `Received:` header of submitted mail. Off, a role "
	          "address does not reveal who sent as it (Postfix's "
	          "`smtpd_sasl_authenticated_header`)." },
	{ .name = "max_connections", .type = CONFIG_UINT, FIELD(max_connections), .def = "1000",
	  .min = 1, .max = 1000000,
	  .help = "Concurrent client connections accepted; more are refused." },
	{ .name = "max_connections_per_ip", .type = CONFIG_UINT, FIELD(max_connections_per_ip),
	  .def = "20", .min = 1, .max = 1000000,
	  .help = "Concurrent client connections accepted from one IP address (IPv6: one /64)." },
	{ .name = "idle_timeout", .type = CONFIG_UINT, FIELD(idle_timeout), .def = "300",
	  .def_pop3d = "600", .min = 1, .max = 86400,
	  .help = "Seconds a session may wait for the client before it is closed "
	          "(RFC 5321 4.5.3.2.7, RFC 1939 3)." },
	{ .name = "handshake_timeout", .type = CONFIG_UINT, FIELD(handshake_timeout), .def = "10",
	  .min = 1, .max = 3600,
	  .help = "Seconds a TLS handshake (implicit TLS, STARTTLS, STLS) may take: a few round "
	          "trips, which even a slow link finishes in seconds. Also the time a peer in "
	          "`proxy_protocol_from` has to send its PROXY header." },
	{ .name = "login_timeout", .type = CONFIG_UINT, FIELD(login_timeout), .def = "60",
	  .min = 0, .max = 86400,
	  .help = "Seconds a client has, from connecting, to log in (submission, POP3) or, on the "
	          "MX listener, to start a mail transaction (MAIL); then it is disconnected, "
	          "however active. 0 disables it." },
	{ .name = "stress_idle_timeout", .type = CONFIG_UINT, FIELD(stress_idle_timeout),
	  .def = "10", .min = 0, .max = 86400,
	  .help = "Idle timeout in seconds, instead of `idle_timeout`, from the moment "
	          "connections reach 80% of `max_connections` until they are below 70%, so idle "
	          "clients cannot keep others out (Postfix's stress mode). 0 disables it." },
	{ .name = "shutdown_timeout", .type = CONFIG_UINT, FIELD(shutdown_timeout), .def = "30",
	  .min = 0, .max = 3600,
	  .help = "Seconds sessions get to finish after SIGTERM or SIGINT." },
	{ .name = "soft_error_limit", .type = CONFIG_UINT, FIELD(soft_error_limit), .def = "10",
	  .min = 0, .max = 1000,
	  .help = "Protocol errors (unknown commands, bad arguments, refusals) a session may make "
	          "before each further error reply is delayed by `error_delay_ms` (Postfix's "
	          "`smtpd_soft_error_limit`)." },
	{ .name = "hard_error_limit", .type = CONFIG_UINT, FIELD(hard_error_limit), .def = "20",
	  .min = 1, .max = 1000,
	  .help = "Protocol errors after which a session is told so (`421 4.7.0`, `-ERR`) and "
	          "disconnected (Postfix's `smtpd_hard_error_limit`)." },
	{ .name = "error_delay_ms", .type = CONFIG_UINT, FIELD(error_delay_ms), .def = "250",
	  .min = 0, .max = 60000,
	  .help = "Milliseconds each error reply waits beyond `soft_error_limit`, so a client "
	          "that keeps making mistakes slows itself down." },
	{ .name = "max_auth_failures", .type = CONFIG_UINT, FIELD(max_auth_failures), .def = "3",
	  .min = 1, .max = 100,
	  .help = "Failed authentications per connection before it is closed." },
	{ .name = "auth_failure_delay_ms", .type = CONFIG_UINT, FIELD(auth_failure_delay_ms),
	  .def = "1000", .min = 0, .max = 60000,
	  .help = "Milliseconds to wait before answering a failed authentication; from one "
	          "address, beyond 5 failures the wait doubles with each failure, up to 30 s." },
	{ .name = "auth_failure_budget", .type = CONFIG_UINT, FIELD(auth_failure_budget),
	  .def = "20", .min = 1, .max = 100000,
	  .help = "Failed authentications from one client address (IPv6: its /64), across "
	          "connections, before its logins are refused for `auth_lockout` seconds." },
	{ .name = "auth_failure_decay", .type = CONFIG_UINT, FIELD(auth_failure_decay),
	  .def = "60", .min = 1, .max = 86400,
	  .help = "Seconds after which one of an address's failed authentications is forgotten." },
	{ .name = "auth_lockout", .type = CONFIG_UINT, FIELD(auth_lockout), .def = "300",
	  .min = 1, .max = 86400,
	  .help = "Seconds an address that used up `auth_failure_budget` is refused logins "
	          "(a temporary error, no password checked)." },
	{ .name = "user", .type = CONFIG_STRING, FIELD(user), .def = "",
	  .help = "User to switch to after binding the listeners; empty keeps the current user." },
	{ .name = "recipient_delimiter", .type = CONFIG_STRING, FIELD(recipient_delimiter),
	  .def = "+",
	  .help = "Characters that start a recipient extension: `alice+tag@` reaches `alice@` "
	          "unless `alice+tag@` exists itself, and alice may send as it. Empty disables. "
	          "At most 16 characters, each a symbol allowed in an address other than a dot "
	          "(`+`, `-`, `_`, `=`, ...)." },
	{ .name = "postmaster_address", .type = CONFIG_STRING, FIELD(postmaster_address), .def = "",
	  .help = "Where mail to `postmaster@DOMAIN` goes when DOMAIN has no postmaster user or "
	          "alias, and mail to a bare `postmaster` when neither `hostname` nor a parent "
	          "domain of it is local; empty refuses it (550 5.1.1)." },
	{ .name = "relay_host", .type = CONFIG_STRING, FIELD(relay_host), .def = "",
	  .help = "Smarthost for outbound mail (`host`, `host:port` or `[IPv6]:port`; port 25 "
	          "unless given); empty delivers by `routes` and DNS MX." },
	{ .name = "routes", .type = CONFIG_STRING, FIELD(routes), .def = "",
	  .help = "Static routes for outbound mail, used before `relay_host` and DNS MX: "
	          "comma-separated `domain=host[:port]`, where the domain is a name (that "
	          "domain), `.name` (its subdomains) or `*` (any); the most specific wins." },
	{ .name = "relay_tls", .type = CONFIG_STRING, FIELD(relay_tls), .def = "may",
	  .help = "TLS to `relay_host` and `routes` next hops: `none`, `may` (STARTTLS when "
	          "offered, certificate not checked), `encrypt` (STARTTLS required) or `verify` "
	          "(STARTTLS required, certificate must chain to a system CA and name the host). "
	          "Delivery by DNS MX always uses `may`." },
	{ .name = "relay_auth_user", .type = CONFIG_STRING, FIELD(relay_auth_user), .def = "",
	  .help = "Login for AUTH PLAIN or LOGIN at `relay_host`, sent only over TLS; empty: no AUTH." },
	{ .name = "relay_auth_password_file", .type = CONFIG_STRING,
	  FIELD(relay_auth_password_file), .def = "",
	  .help = "File whose first line is the password of `relay_auth_user` (kept out of the "
	          "configuration and the environment); read at start." },
	{ .name = "dns_servers", .type = CONFIG_STRING, FIELD(dns_servers), .def = "",
	  .help = "Resolvers for MX lookups: comma-separated `ip`, `ip:port` or `[ipv6]:port`; "
	          "empty uses `/etc/resolv.conf`." },
	{ .name = "queue_lifetime", .type = CONFIG_UINT, FIELD(queue_lifetime), .def = "432000",
	  .min = 60, .max = 60 * 86400,
	  .help = "Seconds an outbound message is retried before it fails and is bounced "
	          "(RFC 5321 4.5.4.1: at least 4-5 days)." },
	{ .name = "delay_warning_time", .type = CONFIG_UINT, FIELD(delay_warning_time),
	  .def = "14400", .min = 0, .max = 60 * 86400,
	  .help = "Seconds after which the sender of a message still undelivered is told, once, "
	          "that it is delayed and retried (RFC 3464 `Action: delayed`); 0 never warns." },
	{ .name = "queue_scan_interval", .type = CONFIG_UINT, FIELD(queue_scan_interval),
	  .def = "30", .min = 1, .max = 3600,
	  .help = "Seconds between looks at the queue for items that became due (retries, "
	          "`mailctl queue retry`, other hosts' mail); new mail is sent at once." },
	{ .name = "outbound_connections", .type = CONFIG_UINT, FIELD(outbound_connections),
	  .def = "50", .min = 1, .max = 10000,
	  .help = "Outbound SMTP connections open at once, all destinations together." },
	{ .name = "outbound_connections_per_destination", .type = CONFIG_UINT,
	  FIELD(outbound_connections_per_destination), .def = "5", .min = 1, .max = 1000,
	  .help = "Outbound SMTP connections open at once to one destination (a domain's MX "
	          "hosts, or a configured next hop)." },
	{ .name = "outbound_timeout", .type = CONFIG_UINT, FIELD(outbound_timeout), .def = "300",
	  .min = 1, .max = 3600,
	  .help = "Seconds to wait for a remote server's reply (RFC 5321 4.5.3.2: 5 minutes; "
	          "twice this after the message's final dot) or to connect (at most 30)." },
	{ .name = "tmpdir", .type = CONFIG_STRING, FIELD(tmpdir), .def = "",
	  .def_doc = "`$TMPDIR`, else `/tmp`",
	  .help = "Directory where large incoming messages are spooled." },
	{ .name = "log_level", .type = CONFIG_LOG_LEVEL, FIELD(log_level), .def = "info",
	  .help = "Lowest level logged." },
};

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* Where the value of each key came from, for duplicates and error messages. */
struct config_origin {
	enum { CONFIG_FROM_DEFAULT, CONFIG_FROM_FILE, CONFIG_FROM_ENV } from;
	unsigned line;
};

/* The state of one config_load() call. */
struct config_loader {
	struct mail_config *cfg;
	const char *path;
	struct config_origin origin[CONFIG_NKEYS];
	char *err;
	size_t errlen;
};

/* Formats "WHERE: message" into the caller's error buffer; returns -1. */
__attribute__((format(printf, 3, 4)))
static int config_fail(struct config_loader *ld, const char *where, const char *fmt, ...)
{
	char msg[CONFIG_WHY_MAX + 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ld->errlen > 0)
		snprintf(ld->err, ld->errlen, "%s: %s", where, msg);
	return -1;
}

/* The environment variable overriding key k: MAIL_ and the key in upper case. */
static void config_env_name(const struct config_key *k, char *out, size_t outlen)
{
	size_t n = (size_t)snprintf(out, outlen, "MAIL_%s", k->name);
	for (size_t i = 5; i < n && i < outlen; i++) {
		if (out[i] >= 'a' && out[i] <= 'z')
			out[i] = (char)(out[i] - 'a' + 'A');
	}
}

/* "file:line", "MAIL_KEY" or the key name, for a message about key k. */
static void config_where(const struct config_loader *ld, size_t k, char *out, size_t outlen)
{
	switch (ld->origin[k].from) {
	case CONFIG_FROM_FILE:
		snprintf(out, outlen, "%s:%u", ld->path, ld->origin[k].line);
		break;
	case CONFIG_FROM_ENV:
		config_env_name(&config_keys[k], out, outlen);
		break;
	case CONFIG_FROM_DEFAULT:
		snprintf(out, outlen, "%s", config_keys[k].name);
		break;
	}
}

/* Trims spaces and tabs around s in place; returns the new start. */
static char *config_trim(char *s)
{
	while (config__is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && config__is_space(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Parses value for key k into its field of cfg; -1 with the reason in why. */
static int config_parse_value(const struct config_key *k, const char *value,
                              struct mail_config *cfg, char *why, size_t whylen)
{
	void *dst = (char *)cfg + k->offset;
	uint64_t v;
	int b;

	switch (k->type) {
	case CONFIG_STRING: {
		size_t len = strlen(value);
		if (len >= k->size) {
			snprintf(why, whylen, "value too long (at most %zu bytes)", k->size - 1);
			return -1;
		}
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)value[i];
			if (c < 0x20 || c == 0x7f) {
				snprintf(why, whylen, "control character in value");
				return -1;
			}
		}
		memcpy(dst, value, len + 1);
		return 0;
	}
	case CONFIG_BOOL:
		if (config__parse_bool(value, &b) != 0) {
			snprintf(why, whylen, "bad boolean '%.64s' (use yes or no)", value);
			return -1;
		}
		assert(k->size == sizeof(int));
		memcpy(dst, &b, sizeof(b));
		return 0;
	case CONFIG_UINT:
	case CONFIG_SIZE:
		if ((k->type == CONFIG_UINT ? config__parse_decimal(value, strlen(value), &v)
		                            : config__parse_size(value, &v)) != 0) {
			snprintf(why, whylen, "bad number '%.64s'", value);
			return -1;
		}
		if (v < k->min || v > k->max) {
			char lo[32], hi[32];
			if (k->type == CONFIG_SIZE) {
				config__format_size(k->min, lo, sizeof(lo));
				config__format_size(k->max, hi, sizeof(hi));
			} else {
				snprintf(lo, sizeof(lo), "%" PRIu64, k->min);
				snprintf(hi, sizeof(hi), "%" PRIu64, k->max);
			}
			snprintf(why, whylen, "%s is out of range %s-%s", value, lo, hi);
			return -1;
		}
		if (k->type == CONFIG_UINT) {
			unsigned u = (unsigned)v;
			assert(k->size == sizeof(u));
			memcpy(dst, &u, sizeof(u));
		} else {
			assert(k->size == sizeof(v));
			memcpy(dst, &v, sizeof(v));
		}
		return 0;
	case CONFIG_LISTEN:
		assert(k->size == sizeof(struct config_listen));
		return config__parse_listen(value, dst, why, whylen);
	case CONFIG_NETLIST:
		assert(k->size == sizeof(struct netlist));
		return netlist_parse(value, dst, why, whylen);
	case CONFIG_LOG_LEVEL:
		b = log_level_parse(value);
		if (b < 0) {
			snprintf(why, whylen, "bad log level '%.64s' (debug, info, warn or error)", value);
			return -1;
		}
		assert(k->size == sizeof(int));
		memcpy(dst, &b, sizeof(b));
		return 0;
	}
	assert(!"unknown config type");
	return -1;
}

/* The table entry of key name, or NULL; its index is the pointer minus config_keys. */
static const struct config_key *config_lookup(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static int config_defaults(struct config_loader *ld, enum config_program program)
{
	char why[CONFIG_WHY_MAX];

	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		const char *def = program == CONFIG_PROGRAM_POP3D && k->def_pop3d != NULL ? k->def_pop3d
		                                                                          : k->def;
		/* A default that does not parse is a bug in the table above. */
		if (config_parse_value(k, def, ld->cfg, why, sizeof(why)) != 0)
			return config_fail(ld, k->name, "bad default: %s", why);
		ld->origin[i].from = CONFIG_FROM_DEFAULT;
	}
	return 0;
}

/* One "key = value" line of the file (already without its line end). */
static int config_file_line(struct config_loader *ld, char *line, unsigned lineno)
{
	char where[CONFIG_LINE_MAX / 4];
	char why[CONFIG_WHY_MAX];

	snprintf(where, sizeof(where), "%s:%u", ld->path, lineno);
	char *p = config_trim(line);
	if (*p == '\0' || *p == '#')
		return 0;
	/* A trailing comment starts at a '#' after a space: "key = value # why". */
	for (char *q = p + 1; *q != '\0'; q++) {
		if (*q == '#' && config__is_space(q[-1])) {
			*q = '\0';
			break;
		}
	}
	char *eq = strchr(p, '=');
	if (eq == NULL)
		return config_fail(ld, where, "expected 'key = value'");
	*eq = '\0';
	char *key = config_trim(p);
	char *value = config_trim(eq + 1);
	if (*key == '\0')
		return config_fail(ld, where, "expected 'key = value' (no key before '=')");

	const struct config_key *k = config_lookup(key);
	if (k == NULL)
		return config_fail(ld, where, "unknown key '%.64s'", key);
	size_t i = (size_t)(k - config_keys);
	if (ld->origin[i].from == CONFIG_FROM_FILE)
		return config_fail(ld, where, "duplicate key '%s' (first set on line %u)", key,
		                   ld->origin[i].line);
	if (config_parse_value(k, value, ld->cfg, why, sizeof(why)) != 0)
		return config_fail(ld, where, "%s: %s", key, why);
	ld->origin[i].from = CONFIG_FROM_FILE;
	ld->origin[i].line = lineno;
	return 0;
}

enum { CONFIG_LINE_EOF, CONFIG_LINE_OK, CONFIG_LINE_TOO_LONG, CONFIG_LINE_NUL, CONFIG_LINE_ERROR };

/* Reads one line into buf without "\n" or "\r\n"; a long line is skipped to its end. */
static int config_read_line(FILE *f, char *buf, size_t size)
{
	size_t n = 0;
	int c, too_long = 0, nul = 0;

	while ((c = getc(f)) != EOF && c != '\n') {
		if (c == '\0')
			nul = 1;
		if (n + 1 < size)
			buf[n++] = (char)c;
		else
			too_long = 1;
	}
	if (c == EOF && ferror(f))
		return CONFIG_LINE_ERROR;
	if (c == EOF && n == 0)
		return CONFIG_LINE_EOF;
	buf[n] = '\0';
	if (too_long)
		return CONFIG_LINE_TOO_LONG;
	if (nul)
		return CONFIG_LINE_NUL;
	if (n > 0 && buf[n - 1] == '\r')
		buf[n - 1] = '\0';
	return CONFIG_LINE_OK;
}

static int config_file(struct config_loader *ld)
{
	FILE *f = fopen(ld->path, "r");
	if (f == NULL)
		return config_fail(ld, ld->path, "cannot open: %s", strerror(errno));

	char *line = malloc(CONFIG_LINE_MAX);
	if (line == NULL) {
		fclose(f);
		return config_fail(ld, ld->path, "out of memory");
	}
	int ret = 0;
	for (unsigned lineno = 1; ret == 0; lineno++) {
		char where[CONFIG_LINE_MAX / 4];
		snprintf(where, sizeof(where), "%s:%u", ld->path, lineno);
		int r = config_read_line(f, line, CONFIG_LINE_MAX);
		if (r == CONFIG_LINE_EOF)
			break;
		else if (r == CONFIG_LINE_ERROR)
			ret = config_fail(ld, ld->path, "read error: %s", strerror(errno));
		else if (r == CONFIG_LINE_TOO_LONG)
			ret = config_fail(ld, where, "line too long (at most %d bytes)", CONFIG_LINE_MAX - 1);
		else if (r == CONFIG_LINE_NUL)
			ret = config_fail(ld, where, "NUL byte in line");
		else
			ret = config_file_line(ld, line, lineno);
	}
	free(line);
	fclose(f);
	return ret;
}

/*
 * MAIL_<KEY> overrides. Only names of keys are looked up, so other MAIL_*
 * variables (the test harness sets some) are no error. An empty value is a
 * value: MAIL_SMTPS_LISTEN= disables that listener.
 */
static int config_env(struct config_loader *ld)
{
	char why[CONFIG_WHY_MAX];

	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char name[64];
		config_env_name(k, name, sizeof(name));
		const char *env = getenv(name);
		if (env == NULL)
			continue;

		char value[CONFIG_LINE_MAX];
		if (strlen(env) >= sizeof(value))
			return config_fail(ld, name, "value too long");
		memcpy(value, env, strlen(env) + 1);
		if (config_parse_value(k, config_trim(value), ld->cfg, why, sizeof(why)) != 0)
			return config_fail(ld, name, "%s", why);
		ld->origin[i].from = CONFIG_FROM_ENV;
	}
	return 0;
}

/* The index of a key this file names itself. */
static size_t config_index(const char *name)
{
	const struct config_key *k = config_lookup(name);
	assert(k != NULL);
	return (size_t)(k - config_keys);
}

/* Fills the keys whose defaults come from the system: hostname, tmpdir. */
static int config_resolve(struct config_loader *ld)
{
	struct mail_config *cfg = ld->cfg;

	if (cfg->hostname[0] == '\0') {
		char name[sizeof(cfg->hostname) + 1];
		if (gethostname(name, sizeof(name)) != 0 || memchr(name, '\0', sizeof(name)) == NULL ||
		    name[0] == '\0' || !config__valid_host(name))
			snprintf(name, sizeof(name), "localhost");
		memcpy(cfg->hostname, name, strlen(name) + 1);
	}
	if (cfg->tmpdir[0] == '\0') {
		const char *dir = getenv("TMPDIR");
		if (dir == NULL || dir[0] == '\0')
			dir = "/tmp";
		if (strlen(dir) >= sizeof(cfg->tmpdir))
			return config_fail(ld, "TMPDIR", "value too long for tmpdir");
		memcpy(cfg->tmpdir, dir, strlen(dir) + 1);
	}
	return 0;
}

/* Rules that involve more than one value, or more than its syntax. */
static int config_validate(struct config_loader *ld)
{
	const struct mail_config *cfg = ld->cfg;
	char where[CONFIG_LINE_MAX / 4];

	if (cfg->db[0] == '\0') {
		config_where(ld, config_index("db"), where, sizeof(where));
		return config_fail(ld, where, "db must not be empty");
	}
	if (cfg->db_password_file[0] != '\0' && strncmp(cfg->db, "postgresql://", 13) != 0 &&
	    strncmp(cfg->db, "postgres://", 11) != 0) {
		config_where(ld, config_index("db_password_file"), where, sizeof(where));
		return config_fail(ld, where, "db_password_file is for a PostgreSQL db "
		                   "(postgresql://...); an SQLite file has no password");
	}
	if (!config__valid_host(cfg->hostname)) {
		config_where(ld, config_index("hostname"), where, sizeof(where));
		return config_fail(ld, where, "hostname '%.64s' is not a host name", cfg->hostname);
	}
	/*
	 * Listeners that need TLS (smtps, pop3s, STARTTLS) are checked by the
	 * daemons that open them: mailctl reads the same file and must not
	 * fail because the default smtps_listen has no certificate.
	 */
	if (!smtp_address_delimiters_valid(cfg->recipient_delimiter)) {
		config_where(ld, config_index("recipient_delimiter"), where, sizeof(where));
		return config_fail(ld, where, "recipient_delimiter '%.32s': each character must be "
		                   "one of !#$%%&'*+-/=?^_`{|}~", cfg->recipient_delimiter);
	}
	if (cfg->postmaster_address[0] != '\0') {
		char canon[SMTP_MAILBOX_MAX + 1];
		enum smtp_address_error e = smtp_address_normalize(cfg->postmaster_address, canon,
		                                                   sizeof(canon));
		if (e != SMTP_ADDRESS_OK) {
			config_where(ld, config_index("postmaster_address"), where, sizeof(where));
			return config_fail(ld, where, "postmaster_address '%.64s': %s",
			                   cfg->postmaster_address, smtp_address_strerror(e));
		}
	}
	char why[CONFIG_WHY_MAX];
	memset(&ld->cfg->relay, 0, sizeof(ld->cfg->relay));
	if (cfg->relay_host[0] != '\0' &&
	    route_hop_parse(cfg->relay_host, strlen(cfg->relay_host), &ld->cfg->relay, why,
	                    sizeof(why)) != 0) {
		config_where(ld, config_index("relay_host"), where, sizeof(where));
		return config_fail(ld, where, "relay_host: %s", why);
	}
	if (route_table_parse(cfg->routes, &ld->cfg->route_table, why, sizeof(why)) != 0) {
		config_where(ld, config_index("routes"), where, sizeof(where));
		return config_fail(ld, where, "routes: %s", why);
	}
	static const char *const tls_policies[] = { "none", "may", "encrypt", "verify" };
	ld->cfg->relay_tls_policy = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(cfg->relay_tls, tls_policies[i]) == 0)
			ld->cfg->relay_tls_policy = i;
	if (cfg->relay_tls_policy < 0) {
		config_where(ld, config_index("relay_tls"), where, sizeof(where));
		return config_fail(ld, where, "relay_tls '%.32s': expected none, may, encrypt or "
		                   "verify", cfg->relay_tls);
	}
	if ((cfg->relay_auth_user[0] == '\0') != (cfg->relay_auth_password_file[0] == '\0')) {
		const char *set = cfg->relay_auth_user[0] != '\0' ? "relay_auth_user"
		                                                   : "relay_auth_password_file";
		config_where(ld, config_index(set), where, sizeof(where));
		return config_fail(ld, where, "relay_auth_user and relay_auth_password_file go "
		                   "together: set both or neither");
	}
	if (cfg->soft_error_limit >= cfg->hard_error_limit) {
		config_where(ld, config_index("soft_error_limit"), where, sizeof(where));
		return config_fail(ld, where, "soft_error_limit (%u) must be below hard_error_limit "
		                   "(%u)", cfg->soft_error_limit, cfg->hard_error_limit);
	}
	if ((cfg->tls_cert[0] == '\0') != (cfg->tls_key[0] == '\0')) {
		const char *set = cfg->tls_cert[0] != '\0' ? "tls_cert" : "tls_key";
		const char *unset = cfg->tls_cert[0] != '\0' ? "tls_key" : "tls_cert";
		config_where(ld, config_index(set), where, sizeof(where));
		return config_fail(ld, where, "%s is set but %s is not: set both or neither", set,
		                   unset);
	}
	return 0;
}

int config_load(struct mail_config *cfg, enum config_program program, const char *path,
                char *err, size_t errlen)
{
	struct config_loader ld = { .cfg = cfg, .path = path, .err = err, .errlen = errlen };

	assert(program == CONFIG_PROGRAM_SMTPD || program == CONFIG_PROGRAM_POP3D ||
	       program == CONFIG_PROGRAM_MAILCTL);
	if (errlen > 0)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	if (config_defaults(&ld, program) != 0)
		return -1;
	if (path != NULL && config_file(&ld) != 0)
		return -1;
	if (config_env(&ld) != 0 || config_resolve(&ld) != 0 || config_validate(&ld) != 0)
		return -1;
	return 0;
}

/* The type's rule, appended to the help text in the reference. */
static void config_type_doc(const struct config_key *k, char *out, size_t outlen)
{
	char lo[32], hi[32];

	switch (k->type) {
	case CONFIG_STRING:
		out[0] = '\0';
		break;
	case CONFIG_BOOL:
		snprintf(out, outlen, " Boolean: yes or no.");
		break;
	case CONFIG_UINT:
		snprintf(out, outlen, " Integer, %" PRIu64 " to %" PRIu64 ".", k->min, k->max);
		break;
	case CONFIG_SIZE:
		config__format_size(k->min, lo, sizeof(lo));
		config__format_size(k->max, hi, sizeof(hi));
		snprintf(out, outlen, " Octets, with an optional K, M or G suffix; %s to %s.", lo, hi);
		break;
	case CONFIG_LISTEN:
		snprintf(out, outlen, " Comma-separated `host:port` list (IPv6 as `[address]:port`, "
		                      "at most %d); empty disables.", CONFIG_MAX_LISTEN);
		break;
	case CONFIG_NETLIST:
		snprintf(out, outlen, " Comma-separated IPv4 and IPv6 addresses and networks "
		                      "(`10.0.0.0/8, 192.0.2.7, fd00::/8`, at most %d); empty: none.",
		         NETLIST_MAX);
		break;
	case CONFIG_LOG_LEVEL:
		snprintf(out, outlen, " One of debug, info, warn, error.");
		break;
	}
}

void config_print_reference(FILE *out)
{
	fprintf(out, "| Key | Default | Description |\n");
	fprintf(out, "|-----|---------|-------------|\n");
	for (size_t i = 0; i < CONFIG_NKEYS; i++) {
		const struct config_key *k = &config_keys[i];
		char def[128], type[160];

		if (k->def_doc != NULL)
			snprintf(def, sizeof(def), "%s", k->def_doc);
		else if (k->def_pop3d != NULL)
			snprintf(def, sizeof(def), "`%s` (smtpd), `%s` (pop3d)", k->def, k->def_pop3d);
		else if (k->def[0] == '\0')
			snprintf(def, sizeof(def), "(empty)");
		else
			snprintf(def, sizeof(def), "`%s`", k->def);
		config_type_doc(k, type, sizeof(type));
		fprintf(out, "| `%s` | %s | %s%s |\n", k->name, def, k->help, type);
	}
}
