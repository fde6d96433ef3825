/*
 * pg_listen.c - the queue's wake-ups (store.h store_wakeup) as LISTEN on a
 * connection of their own: pg_schema.c's trigger notifies the channel at
 * commit, and the loop reads the notifications without waiting.
 */
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "pg-private.h"

/* TCP keepalive of the listening connection, which only ever reads: a
 * server host that vanished without a word is noticed within about
 * IDLE + INTVL * CNT seconds, rather than the system's two hours (until
 * then the runner's periodic scan still finds the queue's rows). */
#define LISTEN_KEEPIDLE_S 60
#define LISTEN_KEEPINTVL_S 10
#define LISTEN_KEEPCNT 3

int store__pg_listen(store_t *store)
{
	struct store__pg *pg = store__pg(store);
	int err = store__pg_exec(store, "LISTEN " STORE__PG_QUEUE_CHANNEL, "listen for the queue");
	if (err != STORE_OK)
		return err;
	/* The loop reads it: never block in a send either. */
	if (PQsetnonblocking(pg->conn, 1) != 0)
		return store__fail(store, STORE_EIO, "listen for the queue: %s",
		                   PQerrorMessage(pg->conn));
	/* A Unix socket has no TCP options; failing to set them is harmless. */
	int fd = PQsocket(pg->conn);
	int on = 1, idle = LISTEN_KEEPIDLE_S, intvl = LISTEN_KEEPINTVL_S, cnt = LISTEN_KEEPCNT;
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	return STORE_OK;
}

int store__pg_listen_fd(store_t *store)
{
	return PQsocket(store__pg(store)->conn);
}

int store__pg_listen_drain(store_t *store)
{
	PGconn *conn = store__pg(store)->conn;
	/* libpq's socket never blocks: this takes what has arrived. */
	if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		size_t len = strcspn(msg, "\n");
		if (len == 0) {
			msg = "the connection was lost";
			len = strlen(msg);
		}
		return store__fail(store, STORE_EIO, "queue wake-ups: %.*s", (int)len, msg);
	}
	int woken = 0;
	PGnotify *note;
	while ((note = PQnotifies(conn)) != NULL) {
		woken = 1;
		PQfreemem(note);
	}
	return woken;
}
