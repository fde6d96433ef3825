/*
 * pop3_retr.c - RETR and TOP (RFC 1939 7), streamed from the store.
 *
 * A message is never whole in memory: a worker job reads a batch of
 * chunks, the loop byte-stuffs it into the write queue while the next
 * batches are read, and a batch is sent only while the queue is below its
 * high water mark; otherwise the stream waits for the drain event. A slow
 * client therefore holds STREAM_BATCHES batches plus the write queue,
 * whatever the message size. A batch buffer is never larger than the part
 * of the message it is to hold, and the stream and its buffers are freed
 * when the command ends: a session that idles after a RETR (up to
 * idle_timeout) holds nothing of it.
 * Successive jobs of one stream may run on different workers: each reads
 * through its own thread's store handle, which a store_reader_t allows.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pop3_body.h"
#include "pop3_session.h"

/* Octets read per job: eight store chunks. Each job is a thread-pool
 * round trip, so fewer, larger jobs stream faster (1 and 2 MiB were no
 * faster than 512 KiB). */
#define STREAM_BATCH (512 * 1024)

/*
 * Batches per stream: one being sent, and up to two read ahead, so the
 * reader keeps going while the loop waits for the client to drain the
 * write queue (two in all made the 50 MB RETR ~20 % slower). A slow
 * client costs these plus the write queue's high water mark.
 */
#define STREAM_BATCHES 3

/* Messages up to this size are read on the loop (stream_read_now). */
#define STREAM_INLINE_MAX (64 * 1024)

/*
 * A job fills one batch (FILLING, the worker's until its done callback)
 * while the others are READY or being sent; at most one job runs, since
 * the reader is one cursor over the message.
 */
enum batch_state { BATCH_FREE, BATCH_FILLING, BATCH_READY };

struct stream_batch {
	enum batch_state state; /* changed on the loop only */
	uint64_t seq;           /* order of the reads: the oldest READY batch is sent first */
	char *buf;
	size_t len, cap;
	bool eof;
	int result;
	char error[256];
	uint64_t micros; /* how long the store took to fill it */
};

struct pop3_stream {
	store_pool_t *pool; /* the daemon's */
	/* Worker side: the running job's, and nobody else's while it runs. */
	store_reader_t *reader; /* the message being read, or one TOP stopped early */
	bool restart;           /* start over: close any old reader first */
	int64_t message_id;
	uint64_t size;          /* the message's octets (snapshot): sizes the batch buffers */
	uint64_t offset;        /* octets read so far */
	struct stream_batch *filling;

	/* Loop side. */
	struct stream_batch batches[STREAM_BATCHES];
	uint64_t next_seq;
	bool reading;   /* a job is in flight */
	bool read_all;  /* a batch with eof came back: no more jobs */
	bool detached;  /* the session let go: the job's done callback frees the stream */
	bool started;   /* the +OK line has been sent */
	bool timed;     /* the first batch's read has been counted */
	bool top;
	size_t index;   /* zero-based message number */
	struct pop3_body body;
};

/* ---- worker side ---------------------------------------------------------- */

static int batch_fail(struct stream_batch *b, int err, const char *msg)
{
	b->result = err;
	snprintf(b->error, sizeof(b->error), "%s", msg);
	return err;
}

/*
 * Makes room for `need` octets. A new buffer gets `hint`, what the batch is
 * expected to hold, so a 1 KB message costs 1 KB, not STREAM_BATCH.
 */
static int batch_grow(struct stream_batch *b, size_t need, size_t hint)
{
	if (need <= b->cap)
		return STORE_OK;
	size_t cap = b->cap > 0 ? b->cap * 2 : hint;
	if (cap < need)
		cap = need;
	char *buf = realloc(b->buf, cap);
	if (buf == NULL)
		return batch_fail(b, STORE_ENOMEM, "out of memory");
	b->buf = buf;
	b->cap = cap;
	return STORE_OK;
}

/* Reads the next batch into st->filling through `store`. */
static void stream_read_batch(struct pop3_stream *st, store_t *store)
{
	struct stream_batch *b = st->filling;

	b->len = 0;
	b->eof = false;
	b->result = STORE_OK;
	if (st->restart) {
		store_reader_close(&st->reader);
		st->offset = 0;
		st->restart = false;
	}
	/* The rest of the message, up to a batch; the snapshot's size is only a hint. */
	uint64_t left = st->size > st->offset ? st->size - st->offset : 0;
	size_t hint = left < STREAM_BATCH ? (size_t)left : STREAM_BATCH;
	if (st->reader == NULL) {
		int r = store_reader_open(store, st->message_id, &st->reader);
		if (r != STORE_OK) {
			batch_fail(b, r, store_errmsg(store));
			return;
		}
	}
	while (b->len < STREAM_BATCH) {
		const void *data;
		size_t n;
		int r = store_reader_next(store, st->reader, &data, &n);
		if (r != STORE_OK) {
			batch_fail(b, r, store_errmsg(store));
			return;
		}
		if (n == 0) {
			b->eof = true;
			store_reader_close(&st->reader);
			return;
		}
		if (batch_grow(b, b->len + n, hint) != STORE_OK)
			return;
		memcpy(b->buf + b->len, data, n);
		b->len += n;
		st->offset += n;
	}
}

/* The same, timed: the first batch's time is the message_read operation. */
static void stream_fill(struct pop3_stream *st, store_t *store)
{
	uint64_t started = histogram_now_us();

	stream_read_batch(st, store);
	st->filling->micros = histogram_now_us() - started;
}

static void stream_work(void *arg)
{
	struct pop3_stream *st = arg;
	char err[256];
	store_t *store = store_pool_acquire(st->pool, err, sizeof(err));

	if (store == NULL)
		batch_fail(st->filling, STORE_EIO, err);
	else
		stream_fill(st, store);
	store_pool_release(st->pool, &store);
}

static void stream_destroy(struct pop3_stream *st)
{
	store_reader_close(&st->reader);
	for (size_t i = 0; i < STREAM_BATCHES; i++)
		free(st->batches[i].buf);
	free(st);
}

/* The session lets go of its stream; one with a job in flight is freed by the job's done. */
static void stream_release(struct pop3_session *s)
{
	struct pop3_stream *st = s->stream;

	s->stream = NULL;
	if (st == NULL)
		return;
	if (st->reading)
		st->detached = true;
	else
		stream_destroy(st);
}

void pop3_retr_close(struct pop3_session *s)
{
	stream_release(s);
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
	log_error(s->core.id, "pop3_retr_failed", "msg=%zu error=\"%s\"", st->index + 1, error);
	if (!st->started) {
		pop3_reply(s, pop3_store_resp(store_err), "cannot read the message");
		stream_release(s);
		session_done(&s->core);
	} else {
		/* Mid-body there is no way to say -ERR; a missing terminator tells the client. */
		session_close(&s->core);
	}
}

/*
 * A message of at most one store chunk is read on the loop through its
 * loop-safe handle (store.h): a few pages, usually in the page cache, for which a
 * thread-pool round trip would cost more than the read. Returns false
 * when that handle cannot answer now; the pool then reads from the start.
 */
static bool stream_read_now(struct pop3_session *s, struct pop3_stream *st)
{
	store_t *store = s->ctx->loop_store;
	struct stream_batch *b = st->filling;

	if (!store_loop_safe(store) || st->started || s->entries[st->index].size > STREAM_INLINE_MAX)
		return false;
	stream_fill(st, store);
	if (b->result != STORE_OK && b->result != STORE_ENOTFOUND) {
		st->restart = true; /* the reader may have moved: start over */
		return false;
	}
	b->state = BATCH_READY;
	if (b->eof || b->result != STORE_OK)
		st->read_all = true;
	return true;
}

/* Starts a job on the free batch, if there is one and anything is left to read. */
static int stream_read_ahead(struct pop3_session *s, struct pop3_stream *st)
{
	if (st->reading || st->read_all)
		return 0;
	for (size_t i = 0; i < STREAM_BATCHES; i++) {
		if (st->batches[i].state != BATCH_FREE)
			continue;
		st->filling = &st->batches[i];
		st->filling->seq = st->next_seq++;
		if (stream_read_now(s, st))
			return 0;
		int r = conn_queue_work(s->core.conn, stream_work, stream_done, st);
		if (r != 0)
			return r;
		st->filling->state = BATCH_FILLING;
		st->reading = true;
		return 0;
	}
	return 0;
}

/* The oldest READY batch, or NULL. */
static struct stream_batch *stream_next_ready(struct pop3_stream *st)
{
	struct stream_batch *oldest = NULL;

	for (size_t i = 0; i < STREAM_BATCHES; i++) {
		struct stream_batch *b = &st->batches[i];
		if (b->state == BATCH_READY && (oldest == NULL || b->seq < oldest->seq))
			oldest = b;
	}
	return oldest;
}

/*
 * Keeps reading ahead into free batches and sends the oldest ready one
 * while the write queue has room; otherwise waits for the drain
 * (s->on_drain) or the job's done.
 */
static void stream_pump(struct pop3_session *s)
{
	struct pop3_stream *st = s->stream;
	conn_t *conn = s->core.conn;

	for (;;) {
		int r = stream_read_ahead(s, st);
		if (r != 0) {
			stream_abort(s, st, STORE_EIO, conn_strerror(r));
			return;
		}
		struct stream_batch *b = stream_next_ready(st);
		if (b == NULL)
			return; /* the job's done calls again */
		if (!st->timed) {
			st->timed = true;
			pop3_metrics_count_store(s->ctx->metrics, POP3_STORE_MESSAGE_READ, b->micros);
		}
		if (b->result != STORE_OK) {
			stream_abort(s, st, b->result, b->error);
			return;
		}
		if (conn_output_full(conn)) {
			s->on_drain = stream_pump;
			return;
		}
		if (!st->started) {
			st->started = true;
			s->ctx->metrics->messages_retrieved++;
			if (!st->top)
				s->ctx->metrics->bytes_retrieved += s->entries[st->index].size;
			if (st->top)
				pop3_reply(s, POP3_OK, "top of message follows");
			else
				pop3_reply(s, POP3_OK, "%" PRIu64 " octets", s->entries[st->index].size);
		}
		bool more = pop3_body_feed(&st->body, b->buf, b->len, write_out, conn);
		b->state = BATCH_FREE;
		if (!more || b->eof) {
			pop3_body_finish(&st->body, write_out, conn);
			/* The buffers go now, not at the session's end (a TOP that
			 * ended early may still have a read in flight: its done frees). */
			stream_release(s);
			session_done(&s->core);
			return;
		}
	}
}

static void stream_done(conn_t *conn, void *arg, int status)
{
	struct pop3_stream *st = arg;
	struct stream_batch *b = st->filling;

	st->reading = false;
	if (conn == NULL || st->detached) {
		stream_destroy(st);
		return;
	}
	struct pop3_session *s = conn_data(conn);
	if (pop3_session_of(conn) == NULL)
		return; /* closing: the session frees the stream in its close */
	b->state = BATCH_READY;
	if (status != 0)
		batch_fail(b, STORE_EIO, conn_strerror(status));
	if (b->eof || b->result != STORE_OK)
		st->read_all = true;
	if (s->on_drain == stream_pump)
		return; /* waiting for room in the write queue: the drain pumps */
	stream_pump(s);
}

/* Starts sending message `index`; the session stays busy until the end. */
static void stream_start(struct pop3_session *s, size_t index, bool top, uint64_t lines)
{
	struct pop3_stream *st;

	/* Every command has a fresh stream: the last one was freed at its end. */
	assert(s->stream == NULL);
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		pop3_reply(s, POP3_ERR_SYS_TEMP, "out of memory");
		return;
	}
	s->stream = st;
	st->pool = s->ctx->pool;
	st->message_id = s->entries[index].message_id;
	st->size = s->entries[index].size;
	st->index = index;
	st->top = top;
	if (top)
		pop3_body_init_top(&st->body, lines);
	else
		pop3_body_init_retr(&st->body);
	session_busy(&s->core);
	stream_pump(s);
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
