/*
 * pop3_retr.c - RETR and TOP (RFC 1939 7), streamed from the store.
 *
 * A message is never whole in memory: a worker job reads a batch of
 * chunks, the loop byte-stuffs it into the write queue, and the next job
 * is queued only while the queue is below its high water mark; otherwise
 * the stream waits for the drain event. A slow client therefore holds one
 * batch plus the write queue, whatever the message size.
 * Successive jobs of one stream may run on different workers: each reads
 * through its own thread's store handle, which a store_reader_t allows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pop3_body.h"
#include "pop3_session.h"

/* Octets read per job: eight store chunks. A slow client costs this plus
 * the write queue's high water mark; each job is a thread-pool round trip
 * (0.3-0.4 ms on a 2-core VM), so fewer, larger jobs stream faster. */
#define STREAM_BATCH (512 * 1024)

struct pop3_stream {
	/*
	 * Worker side. A stream is owned by the session (s->stream) between
	 * jobs and by its job while one runs, so exactly one side touches it.
	 */
	store_reader_t *reader; /* the message being read, or one TOP stopped early */
	bool restart;           /* a new command: close any old reader first */
	int64_t message_id;
	char *buf; /* the batch read by the last job */
	size_t len, cap;
	bool eof;
	int result;
	char error[256];

	/* Loop side. */
	bool started; /* the +OK line has been sent */
	bool top;
	size_t index;   /* zero-based message number */
	struct pop3_body body;
};

/* ---- worker side ---------------------------------------------------------- */

static int stream_fail(struct pop3_stream *st, int err, const char *msg)
{
	st->result = err;
	snprintf(st->error, sizeof(st->error), "%s", msg);
	return err;
}

static int stream_grow(struct pop3_stream *st, size_t need)
{
	if (need <= st->cap)
		return STORE_OK;
	size_t cap = st->cap > 0 ? st->cap * 2 : STREAM_BATCH;
	while (cap < need)
		cap *= 2;
	char *buf = realloc(st->buf, cap);
	if (buf == NULL)
		return stream_fail(st, STORE_ENOMEM, "out of memory");
	st->buf = buf;
	st->cap = cap;
	return STORE_OK;
}

static void stream_work(void *arg)
{
	struct pop3_stream *st = arg;
	char err[256];

	st->len = 0;
	st->eof = false;
	st->result = STORE_OK;
	if (st->restart) {
		store_reader_close(&st->reader);
		st->restart = false;
	}
	store_t *store = pop3_worker_store(err, sizeof(err));
	if (store == NULL) {
		stream_fail(st, STORE_EIO, err);
		return;
	}
	if (st->reader == NULL) {
		int r = store_reader_open(store, st->message_id, &st->reader);
		if (r != STORE_OK) {
			stream_fail(st, r, store_errmsg(store));
			return;
		}
	}
	while (st->len < STREAM_BATCH) {
		const void *data;
		size_t n;
		int r = store_reader_next(store, st->reader, &data, &n);
		if (r != STORE_OK) {
			stream_fail(st, r, store_errmsg(store));
			return;
		}
		if (n == 0) {
			st->eof = true;
			store_reader_close(&st->reader);
			return;
		}
		if (stream_grow(st, st->len + n) != STORE_OK)
			return;
		memcpy(st->buf + st->len, data, n);
		st->len += n;
	}
}

static void stream_destroy(struct pop3_stream *st)
{
	store_reader_close(&st->reader);
	free(st->buf);
	free(st);
}

void pop3_retr_close(struct pop3_session *s)
{
	/* A stream in flight is not here: its done callback sees conn == NULL and frees it. */
	if (s->stream != NULL)
		stream_destroy(s->stream);
	s->stream = NULL;
}

/* ---- loop side ----------------------------------------------------------- */

static void stream_done(conn_t *conn, void *arg, int status);

static void write_out(void *ctx, const char *data, size_t len)
{
	conn_write(ctx, data, len);
}

/*
 * The command ends without a body: -ERR if nothing was sent, else hang up.
 * store_err is the store's code, or STORE_EIO for a failure to run the job.
 */
static void stream_abort(struct pop3_session *s, struct pop3_stream *st, int store_err,
                         const char *error)
{
	log_error(s->id, "pop3_retr_failed", "msg=%zu error=\"%s\"", st->index + 1, error);
	if (!st->started) {
		pop3_reply(s, pop3_store_resp(store_err), "cannot read the message");
		pop3_session_done(s);
	} else {
		/* Mid-body there is no way to say -ERR; a missing terminator tells the client. */
		pop3_session_close(s);
	}
}

/* Hands the stream to a job that reads the next batch; s->stream is NULL meanwhile. */
static void stream_next(struct pop3_session *s)
{
	struct pop3_stream *st = s->stream;

	s->stream = NULL;
	int r = conn_queue_work(s->conn, stream_work, stream_done, st);
	if (r != 0) {
		s->stream = st;
		stream_abort(s, st, STORE_EIO, uv_strerror(r));
	}
}

static void stream_done(conn_t *conn, void *arg, int status)
{
	struct pop3_stream *st = arg;
	struct pop3_session *s;

	if (conn == NULL) {
		stream_destroy(st);
		return;
	}
	s = conn_data(conn);
	s->stream = st;
	if (pop3_session_of(conn) == NULL)
		return; /* closing: the session frees the stream in its close */
	if (status != 0 || st->result != STORE_OK) {
		if (status != 0)
			stream_abort(s, st, STORE_EIO, uv_strerror(status));
		else
			stream_abort(s, st, st->result, st->error);
		return;
	}
	if (!st->started) {
		st->started = true;
		if (st->top)
			pop3_reply(s, POP3_OK, "top of message follows");
		else
			pop3_reply(s, POP3_OK, "%" PRIu64 " octets", s->entries[st->index].size);
	}
	bool more = pop3_body_feed(&st->body, st->buf, st->len, write_out, conn);
	if (!more || st->eof) {
		pop3_body_finish(&st->body, write_out, conn);
		pop3_session_done(s);
	} else if (conn_output_full(conn)) {
		s->on_drain = stream_next;
	} else {
		stream_next(s);
	}
}

/* Starts sending message `index`; the session stays busy until the end. */
static void stream_start(struct pop3_session *s, size_t index, bool top, uint64_t lines)
{
	struct pop3_stream *st = s->stream;

	if (st == NULL) {
		st = calloc(1, sizeof(*st));
		if (st == NULL) {
			pop3_reply(s, POP3_ERR_SYS_TEMP, "out of memory");
			return;
		}
		s->stream = st;
	}
	st->restart = true;
	st->message_id = s->entries[index].message_id;
	st->index = index;
	st->started = false;
	st->top = top;
	if (top)
		pop3_body_init_top(&st->body, lines);
	else
		pop3_body_init_retr(&st->body);
	pop3_session_busy(s);
	stream_next(s);
}

void pop3_cmd_retr(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t i;

	if (pop3_mailbox_msgno(s, cmd->argv[0], cmd->argl[0], &i))
		stream_start(s, i, false, 0);
}

void pop3_cmd_top(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t i;
	uint64_t lines;

	if (!pop3_mailbox_msgno(s, cmd->argv[0], cmd->argl[0], &i))
		return;
	/* A line count beyond uint64_t saturates: the whole message, as RETR sends it. */
	if (!pop3_count_parse(cmd->argv[1], cmd->argl[1], &lines)) {
		pop3_reply(s, POP3_ERR, "invalid line count");
		return;
	}
	stream_start(s, i, true, lines);
}
