#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_DEADLINE_S 900
#define MAX_CONCURRENCY 10000
#define MAX_CONNECTIONS 100000
#define MAX_MESSAGES 10000000
#define MAX_SIZE ((size_t)1 << 30)

static const char help_text[] =
	"usage: mailbench MODE [options]\n"
	"\n"
	"Load generator for SMTP and POP3 servers on this machine. Connects only to\n"
	"loopback addresses (127.0.0.0/8, ::1, localhost); any other host is refused.\n"
	"TLS: the server's certificate is NOT verified (benchmarks run against\n"
	"throw-away self-signed certificates); never use this tool to reach a real server.\n"
	"Prints one JSON line per run on stdout and a summary on stderr.\n"
	"Exit status: 0 all operations succeeded, 1 errors or no run, 2 usage error.\n"
	"\n"
	"mailbench smtp --port N [--host H] [--concurrency C] [--messages M] [--size S]\n"
	"               [--starttls|--tls] [--auth USER:PASS] [--from A] --to B[,B2...]\n"
	"               [--pipelining]\n"
	"    C sessions send M messages in all, one transaction each (MAIL, RCPT,\n"
	"    DATA), reusing their session. Message i goes to the i-th --to address,\n"
	"    round robin. Latency: from MAIL to the 250 after DATA.\n"
	"mailbench pop3 --port N [--host H] [--concurrency C] (--users FILE | --user U:P)\n"
	"               [--stls|--tls] [--dele] [--list-only]\n"
	"    Session i logs in (USER/PASS) as line i of FILE (USER:PASS per line),\n"
	"    runs STAT, RETR of every message (optionally DELE), QUIT. Latency: per\n"
	"    RETR; xfer_mb_per_s: from the first RETR to the last one's end, logins\n"
	"    excluded. --list-only times PASS, STAT, LIST and UIDL instead of RETR.\n"
	"mailbench idle --port N [--host H] --connections K [--tls] [--seconds T]\n"
	"    Opens K connections, reads the greetings, prints \"ready\" on stderr and\n"
	"    holds them until SIGINT/SIGTERM or T seconds.\n"
	"\n"
	"common: --timeout MS per protocol step (default 30000, re-armed by progress),\n"
	"        --deadline S for the whole run (default 900), --label TEXT (into the\n"
	"        JSON line), --quiet. Sizes take K/M/G suffixes (powers of 1024).\n";

const char *bench_tls_name(enum bench_tls_mode tls)
{
	switch (tls) {
	case BENCH_TLS_STARTTLS:
		return "starttls";
	case BENCH_TLS_IMPLICIT:
		return "tls";
	case BENCH_TLS_NONE:
		break;
	}
	return "none";
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "mailbench: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (mailbench --help)\n");
	return BENCH_EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	uint64_t v;

	if (parse_u64(s, max, &v) != 0 || v < min)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* "4096", "4K", "1M", "50M": K, M, G are powers of 1024. */
static int parse_size(const char *s, size_t *out)
{
	char digits[32];
	size_t len = strlen(s), shift = 0;
	uint64_t v;

	if (len == 0 || len >= sizeof(digits))
		return -1;
	memcpy(digits, s, len + 1);
	switch (digits[len - 1]) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	default: break;
	}
	if (shift != 0)
		digits[len - 1] = '\0';
	if (parse_u64(digits, MAX_SIZE >> shift, &v) != 0 || v == 0)
		return -1;
	*out = (size_t)v << shift;
	return 0;
}

/*
 * Loopback only (see bench.h): 127.0.0.0/8, ::1 and the name localhost,
 * which becomes 127.0.0.1 so no resolver is ever asked.
 */
static int parse_host(const char *s, char *out, size_t outlen)
{
	unsigned char a[16];

	if (strcmp(s, "localhost") == 0)
		s = "127.0.0.1";
	if (inet_pton(AF_INET, s, a) == 1) {
		if (a[0] != 127)
			return -1;
	} else if (inet_pton(AF_INET6, s, a) == 1) {
		static const unsigned char loop6[16] = { [15] = 1 };

		if (memcmp(a, loop6, sizeof(a)) != 0)
			return -1;
	} else {
		return -1;
	}
	if (strlen(s) >= outlen)
		return -1;
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int parse_cred(const char *s, struct bench_cred *c)
{
	const char *colon = strchr(s, ':');
	size_t ulen;

	if (colon == NULL || colon == s)
		return -1;
	ulen = (size_t)(colon - s);
	if (ulen >= sizeof(c->user) || strlen(colon + 1) >= sizeof(c->pass))
		return -1;
	memcpy(c->user, s, ulen);
	c->user[ulen] = '\0';
	memcpy(c->pass, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

/* An address goes into MAIL FROM / RCPT TO and headers: printable, no <>, no spaces. */
static int check_addr(const char *s, size_t len)
{
	if (len == 0 || len >= BENCH_MAX_ADDR)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '<' || s[i] == '>')
			return -1;
	return 0;
}

static int parse_rcpts(const char *s, struct bench_opts *o)
{
	while (*s != '\0') {
		const char *comma = strchr(s, ',');
		size_t len = comma != NULL ? (size_t)(comma - s) : strlen(s);

		if (o->nrcpt == BENCH_MAX_RCPTS || check_addr(s, len) != 0)
			return -1;
		memcpy(o->rcpt[o->nrcpt], s, len);
		o->rcpt[o->nrcpt][len] = '\0';
		o->nrcpt++;
		s += len;
		if (*s == ',')
			s++;
	}
	return o->nrcpt != 0 ? 0 : -1;
}

/* USER:PASS per line; empty lines and lines starting with '#' are skipped. */
static int read_users(const char *path, struct bench_opts *o)
{
	FILE *f = fopen(path, "r");
	char line[2 * BENCH_MAX_ADDR + 2];
	size_t cap = 0;

	if (f == NULL) {
		fprintf(stderr, "mailbench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\r\n");

		if (line[len] == '\0' && !feof(f))
			goto bad;
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (o->nusers == BENCH_MAX_USERS)
			goto bad;
		if (o->nusers == cap) {
			struct bench_cred *u;

			cap = cap ? cap * 2 : 64;
			u = realloc(o->users, cap * sizeof(*u));
			if (u == NULL)
				goto bad;
			o->users = u;
		}
		if (parse_cred(line, &o->users[o->nusers]) != 0)
			goto bad;
		o->nusers++;
	}
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "mailbench: %s: line %zu: expected USER:PASS\n", path, o->nusers + 1);
	fclose(f);
	return -1;
}

enum {
	OPT_HOST = 256, OPT_PORT, OPT_CONC, OPT_CONNS, OPT_MESSAGES, OPT_SIZE, OPT_STARTTLS, OPT_STLS,
	OPT_TLS, OPT_AUTH, OPT_FROM, OPT_TO, OPT_PIPE, OPT_USERS, OPT_USER, OPT_DELE, OPT_LIST,
	OPT_SECONDS, OPT_TIMEOUT, OPT_DEADLINE, OPT_LABEL, OPT_QUIET, OPT_HELP,
};

static const struct option long_opts[] = {
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "concurrency", required_argument, NULL, OPT_CONC },
	{ "connections", required_argument, NULL, OPT_CONNS },
	{ "messages", required_argument, NULL, OPT_MESSAGES },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "starttls", no_argument, NULL, OPT_STARTTLS },
	{ "stls", no_argument, NULL, OPT_STLS },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "auth", required_argument, NULL, OPT_AUTH },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "pipelining", no_argument, NULL, OPT_PIPE },
	{ "users", required_argument, NULL, OPT_USERS },
	{ "user", required_argument, NULL, OPT_USER },
	{ "dele", no_argument, NULL, OPT_DELE },
	{ "list-only", no_argument, NULL, OPT_LIST },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "deadline", required_argument, NULL, OPT_DEADLINE },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Options that only one mode takes; the others refuse them. */
static bool opt_fits_mode(int opt, enum bench_mode mode)
{
	switch (opt) {
	case OPT_MESSAGES: case OPT_SIZE: case OPT_STARTTLS: case OPT_AUTH: case OPT_FROM:
	case OPT_TO: case OPT_PIPE:
		return mode == BENCH_MODE_SMTP;
	case OPT_STLS: case OPT_USERS: case OPT_USER: case OPT_DELE: case OPT_LIST:
		return mode == BENCH_MODE_POP3;
	case OPT_CONNS: case OPT_SECONDS:
		return mode == BENCH_MODE_IDLE;
	case OPT_CONC:
		return mode != BENCH_MODE_IDLE;
	default:
		return true;
	}
}

static int parse_one(int opt, const char *arg, struct bench_opts *o)
{
	uint64_t v;

	switch (opt) {
	case OPT_HOST:
		return parse_host(arg, o->host, sizeof(o->host)) == 0
			? 0 : usage_error("--host %s: only loopback addresses are allowed", arg);
	case OPT_PORT:
		return parse_uint(arg, 1, 65535, &o->port) == 0 ? 0 : usage_error("bad --port '%s'", arg);
	case OPT_CONC:
		return parse_uint(arg, 1, MAX_CONCURRENCY, &o->concurrency) == 0
			? 0 : usage_error("bad --concurrency '%s' (1-10000)", arg);
	case OPT_CONNS:
		return parse_uint(arg, 1, MAX_CONNECTIONS, &o->connections) == 0
			? 0 : usage_error("bad --connections '%s' (1-100000)", arg);
	case OPT_MESSAGES:
		if (parse_u64(arg, MAX_MESSAGES, &v) != 0 || v == 0)
			return usage_error("bad --messages '%s' (1-10000000)", arg);
		o->messages = v;
		return 0;
	case OPT_SIZE:
		return parse_size(arg, &o->size) == 0 ? 0 : usage_error("bad --size '%s' (up to 1G)", arg);
	case OPT_STARTTLS:
	case OPT_STLS:
		o->tls = BENCH_TLS_STARTTLS;
		return 0;
	case OPT_TLS:
		o->tls = BENCH_TLS_IMPLICIT;
		return 0;
	case OPT_AUTH:
		o->auth = true;
		return parse_cred(arg, &o->auth_cred) == 0 ? 0 : usage_error("bad --auth '%s' (USER:PASS)", arg);
	case OPT_FROM:
		if (check_addr(arg, strlen(arg)) != 0)
			return usage_error("bad --from '%s'", arg);
		memcpy(o->from, arg, strlen(arg) + 1);
		return 0;
	case OPT_TO:
		return parse_rcpts(arg, o) == 0 ? 0 : usage_error("bad --to '%s'", arg);
	case OPT_PIPE:
		o->pipelining = true;
		return 0;
	case OPT_USERS:
		return read_users(arg, o) == 0 ? 0 : BENCH_EXIT_USAGE;
	case OPT_USER: {
		struct bench_cred *u = realloc(o->users, (o->nusers + 1) * sizeof(*u));

		if (u == NULL)
			return usage_error("%s", "out of memory");
		o->users = u;
		if (o->nusers >= BENCH_MAX_USERS || parse_cred(arg, &u[o->nusers]) != 0)
			return usage_error("bad --user '%s' (USER:PASS)", arg);
		o->nusers++;
		return 0;
	}
	case OPT_DELE:
		o->dele = true;
		return 0;
	case OPT_LIST:
		o->list_only = true;
		return 0;
	case OPT_SECONDS:
		return parse_uint(arg, 1, 86400, &o->hold_s) == 0 ? 0 : usage_error("bad --seconds '%s'", arg);
	case OPT_TIMEOUT:
		return parse_uint(arg, 1, 3600000, &o->timeout_ms) == 0
			? 0 : usage_error("bad --timeout '%s' (milliseconds)", arg);
	case OPT_DEADLINE:
		return parse_uint(arg, 1, 86400, &o->deadline_s) == 0
			? 0 : usage_error("bad --deadline '%s' (seconds)", arg);
	case OPT_LABEL:
		if (strlen(arg) >= sizeof(o->label) || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
		                                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/") !=
		                                           strlen(arg))
			return usage_error("bad --label '%s' (up to 63 of [A-Za-z0-9-_.:/])", arg);
		memcpy(o->label, arg, strlen(arg) + 1);
		return 0;
	case OPT_QUIET:
		o->quiet = true;
		return 0;
	default:
		return usage_error("%s", "unknown option");
	}
}

static int check_mode(struct bench_opts *o)
{
	if (o->port == 0)
		return usage_error("%s", "--port is required");
	switch (o->mode) {
	case BENCH_MODE_SMTP:
		if (o->nrcpt == 0)
			return usage_error("%s", "smtp needs --to");
		if (o->messages < o->concurrency)
			return usage_error("%s", "--messages must be at least --concurrency");
		break;
	case BENCH_MODE_POP3:
		if (o->nusers == 0)
			return usage_error("%s", "pop3 needs --users FILE or --user U:P");
		/* A maildrop is locked by one session at a time (RFC 1939 8). */
		if (o->nusers < o->concurrency)
			return usage_error("%s", "pop3 needs one mailbox per session: fewer users than --concurrency");
		if (o->list_only && o->dele)
			return usage_error("%s", "--list-only and --dele do not go together");
		break;
	case BENCH_MODE_IDLE:
		if (o->connections == 0)
			return usage_error("%s", "idle needs --connections");
		break;
	}
	return 0;
}

int bench_opts_parse(int argc, char **argv, struct bench_opts *o, bool *help_r)
{
	int opt, r;

	memset(o, 0, sizeof(*o));
	*help_r = false;
	memcpy(o->host, "127.0.0.1", sizeof("127.0.0.1"));
	memcpy(o->from, "mailbench@localhost", sizeof("mailbench@localhost"));
	o->concurrency = 1;
	o->messages = 1000;
	o->size = 4096;
	o->timeout_ms = DEFAULT_TIMEOUT_MS;
	o->deadline_s = DEFAULT_DEADLINE_S;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(help_text, argc < 2 ? stderr : stdout);
		*help_r = argc >= 2;
		return BENCH_EXIT_USAGE;
	}
	if (strcmp(argv[1], "smtp") == 0)
		o->mode = BENCH_MODE_SMTP;
	else if (strcmp(argv[1], "pop3") == 0)
		o->mode = BENCH_MODE_POP3;
	else if (strcmp(argv[1], "idle") == 0)
		o->mode = BENCH_MODE_IDLE;
	else
		return usage_error("unknown mode '%s'", argv[1]);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(help_text, stdout);
			*help_r = true;
			return BENCH_EXIT_USAGE;
		}
		if (opt == '?')
			return usage_error("%s", "bad option");
		if (!opt_fits_mode(opt, o->mode))
			return usage_error("option --%s does not belong to this mode", long_opts[opt - OPT_HOST].name);
		r = parse_one(opt, optarg, o);
		if (r != 0)
			return r;
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return check_mode(o);
}

void bench_opts_free(struct bench_opts *o)
{
	free(o->users);
	o->users = NULL;
	o->nusers = 0;
}
