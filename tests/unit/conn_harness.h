/*
 * conn_harness.h - a real server loop for the connection-layer tests
 * (test_conn.c, test_conn_tls.c): a server on 127.0.0.1 with ephemeral
 * ports runs a tiny line protocol (below), and a blocking client (plain
 * sockets, or mbedTLS for STARTTLS and implicit TLS) talks to it from a
 * second thread.
 *
 * The loop runs on the test's thread inside server_run(). The client
 * thread records its first failure as text (cmocka asserts are not
 * thread-safe there) and asks the server to shut down when it is done;
 * what the sessions observed is checked after the join. Every test ends
 * with no handle left on the loop (so uv_loop_close() returns 0) and, under
 * ASan, no leak.
 *
 * The test protocol, one command per line:
 *   anything      "> " + the line (+ " [lf]" for a bare LF)
 *   over-long     "500 too long"
 *   SILENT ...    no reply
 *   DATA          "354 go", raw mode until CRLF.CRLF, "250 body N"
 *   WORK ms       pause, sleep ms on the thread pool, "250 work 42", resume
 *   WORKCLOSE     queue a 200 ms job, close at once
 *   HOLD ms       conn_hold, a loop timer of ms, conn_release: "250 work 7"
 *   HOLDCLOSE     HOLD 200, close at once
 *   FLOOD n       n lines of 1 KiB, produced only while output is not full
 *   AFTER         conn_after 50 ms, then "250 after"
 *   EVERY n       conn_every 10 ms: "250 tick n" ... "250 tick 1", then stop
 *   CLOSEJOB      close; the close callback queues a 100 ms job
 *   STARTTLS      "220 go", conn_starttls
 *   TLSINFO       "250 <version> <cipher>"
 *   TLSMEM        "250 <n>": tls_conn_resident() of this session now
 *   PEER          "250 <peer address>"
 *   STUBBORN      this session ignores the shutdown request
 *   LOGIN         conn_login_done, "250 logged in"
 *   QUIT          "221 bye", close
 * Greeting "220 hello"; idle timeout "421 idle"; shutdown "421 shutting down".
 */
#ifndef MAIL_TEST_CONN_HARNESS_H
#define MAIL_TEST_CONN_HARNESS_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>
#include <uv.h>

#include "conn.h"
#include "server.h"

enum { ROLE_PLAIN = 1, ROLE_TLS = 2 };

#define REJECT_LINE "421 too many connections\r\n"
#define FLOOD_LINE 1024

struct harness {
	struct mail_config cfg;
	struct server *srv;
	int port;     /* plain listener (STARTTLS offered) */
	int tls_port; /* implicit TLS listener */
	bool ipv6;    /* also listen on [::1] (set it only after harness_ipv6_missing) */
	int v6_port;  /* plain on [::1], when ipv6 is set */
	void (*client)(struct harness *h);
	uv_async_t stop_async;
	uv_async_t call_async; /* harness_on_loop */
	pthread_mutex_t call_lock;
	pthread_cond_t call_cond;
	void (*call_fn)(struct harness *h, void *arg);
	void *call_arg;
	bool call_done;
	uv_timer_t watchdog;
	bool stop_sent;
	int run_rc;
	char fail[512];

	/* Seen by the sessions on the loop thread; read after the join. */
	int opens, closes, tls_ready, drains, too_long, full_seen;
	int tls_failed[CONN_TLS_FAIL_COUNT]; /* handler->tls_failed, by reason */
	int tls_failed_in_session;           /* ... of those, after STARTTLS (conn_data set) */
	int done_null, cancelled, stop_cbs;
	size_t max_queued, max_in;
	struct session *sessions; /* open sessions, newest first */
	char seen[8192]; /* every line received, '|'-separated */
	size_t seen_len;
};

/* The harness of the test running now (the sessions' callbacks record into it). */
extern struct harness *H;
/* A self-signed certificate for CN=localhost in tmp_dir, made by conn_group_setup. */
extern char cert_file[512], key_file[512], tmp_dir[256];

void failf(struct harness *h, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* In client code (a function of struct harness *h): records the first failure and returns. */
#define CHECK(cond, ...)                                \
	do {                                                \
		if (!(cond)) {                                  \
			failf(h, __LINE__, __VA_ARGS__);            \
			return;                                     \
		}                                               \
	} while (0)

/* ---- the client (client thread) ---- */

struct tclient {
	int fd;
	struct tls_client *tls;
	char buf[16384];
	size_t start, end;
};

/* 0 or -1. source_ip binds the local end; rcvbuf > 0 shrinks the receive buffer. */
int tc_connect(struct tclient *c, int port, const char *source_ip, int rcvbuf);
int tc_connect6(struct tclient *c, int port);
/* TLS on the connected socket (implicit TLS, or after "220 go"); the server's subject in subject. */
int tc_starttls(struct tclient *c, char *subject, size_t len);
int tc_send(struct tclient *c, const void *data, size_t len);
int tc_sendstr(struct tclient *c, const char *s);
/* The next line without its CRLF into out; its length, or -1 at EOF or on error. */
int tc_line(struct tclient *c, char *out, size_t len);
/* True when the server has closed (after close_notify, under TLS). */
bool tc_eof(struct tclient *c);
void tc_close(struct tclient *c);
/* Connects from source_ip, sends `first` (a PROXY header; NULL for none) and
 * reads the first line: 1 for the greeting "220 hello", 0 for the reject
 * line "421 too many connections" then EOF, -1 for anything else. */
int tc_greeted(struct tclient *c, int port, const char *source_ip, const char *first);
double now_s(void);

/* Reads one line and compares it. */
#define EXPECT(c, want)                                                                    \
	do {                                                                                   \
		char got_[2048];                                                                   \
		int n_ = tc_line((c), got_, sizeof(got_));                                         \
		CHECK(n_ >= 0 && strcmp(got_, (want)) == 0, "want \"%s\", got \"%s\"", (want),     \
		      n_ >= 0 ? got_ : "<eof/error>");                                             \
	} while (0)

/* ---- the harness (test thread) ---- */

/*
 * NULL when this host can listen on and connect to [::1], else why not
 * (Docker's default network has no IPv6 on the loopback interface): tests
 * that need IPv6 skip with that reason; no other test depends on it.
 */
const char *harness_ipv6_missing(void);
/* Defaults: idle timeout 30 s, shutdown timeout 5 s, the group's certificate. */
void harness_init(struct harness *h);
/* Runs the server until `client` (on its own thread) is done and the server has stopped. */
void harness_run(struct harness *h, void (*client)(struct harness *h));
/* From the client thread: asks the server to shut down (once). */
void harness_stop(struct harness *h);
/*
 * From the client thread, before harness_stop: runs fn(h, arg) on the loop
 * thread and waits for it, so the client can look at server-side state
 * (the counters above, the sessions' conns) without a race. 0, or -1 when
 * the loop did not run it within 5 s.
 */
int harness_on_loop(struct harness *h, void (*fn)(struct harness *h, void *arg), void *arg);
/*
 * From the client thread: polls pred(h) on the loop thread every 10 ms
 * until it is true (0) or timeout_ms have passed (-1).
 */
int harness_wait_for(struct harness *h, bool (*pred)(struct harness *h), unsigned timeout_ms);
/* From the client thread: tls_conn_resident() summed over the open sessions. */
size_t harness_tls_resident(struct harness *h);
/* A self-signed P-256 certificate for CN=cn (openssl). */
void make_cert(const char *cn, const char *cert, const char *key);
/* cmocka group fixtures: a temp dir with the certificate. */
int conn_group_setup(void **state);
int conn_group_teardown(void **state);

#endif
