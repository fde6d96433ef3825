/*
 * pop3_mailbox.c - the maildrop of one session: its lease (RFC 1939 8:
 * exclusive access, in the store so it holds across processes and hosts),
 * the snapshot taken at login (numbers and sizes never change during the
 * session), the TRANSACTION commands that only read it, and the UPDATE
 * state, the one place where messages are deleted (RFC 1939 6).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pop3_session.h"

#define IN_USE_TEXT "maildrop is in use by another session"
#define LEASE_LOST_REPLY "-ERR [SYS/TEMP] maildrop lock lost; nothing deleted\r\n"

/* What a job needs to act on a session's lease: copies, as jobs never touch the session. */
struct lease_ref {
	store_pool_t *pool; /* the daemon's, which outlives every job */
	char mailbox[POP3_MAILBOX_MAX];
	char owner[POP3_OWNER_MAX];
	int ttl;
};

static void lease_ref_init(struct lease_ref *lease, const struct pop3_session *s)
{
	snprintf(lease->mailbox, sizeof(lease->mailbox), "%s", s->mailbox);
	snprintf(lease->owner, sizeof(lease->owner), "%s", s->owner);
	lease->ttl = (int)s->ctx->lease_ttl;
	lease->pool = s->ctx->pool;
}

/* On a worker. A failure only costs time: the lease expires after its ttl. */
static void lease_release(store_t *store, const struct lease_ref *lease)
{
	if (store_lease_release(store, lease->mailbox, lease->owner) != STORE_OK)
		log_warn(0, "pop3_lease_release_failed", "owner=%s error=\"%s\"", lease->owner,
		         store_errmsg(store));
}

/* ---- releasing a lease off-loop ---------------------------------------- */

struct release_job {
	struct lease_ref lease;
};

static void release_work(void *arg)
{
	struct release_job *job = arg;
	char err[256];
	store_t *store = store_pool_acquire(job->lease.pool, err, sizeof(err));

	if (store == NULL)
		log_warn(0, "pop3_lease_release_failed", "owner=%s error=\"%s\"", job->lease.owner,
		         err);
	else
		lease_release(store, &job->lease);
	store_pool_release(job->lease.pool, &store);
}

static void release_done(conn_t *conn, void *arg, int status)
{
	(void)conn;
	(void)status;
	free(arg);
}

/*
 * Releases a lease the session no longer uses, through the connection's
 * job list (so shutdown waits for it), also from the close callback. If
 * even that fails the lease expires after its ttl.
 */
static void release_later(conn_t *conn, const struct lease_ref *lease)
{
	struct release_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return;
	job->lease = *lease;
	if (conn_queue_work(conn, release_work, release_done, job) != 0)
		free(job);
}

void pop3_mailbox_close(struct pop3_session *s, conn_t *conn)
{
	/*
	 * A client that sent QUIT and dropped at once: the UPDATE job deletes
	 * what it marked and releases the lease itself, after the delete.
	 * Releasing it here too could let another session take the maildrop
	 * and see messages that are about to vanish.
	 */
	if (s->lease_held && pop3_session_state(s) != POP3_STATE_UPDATE) {
		struct lease_ref lease;
		lease_ref_init(&lease, s);
		s->lease_held = false;
		release_later(conn, &lease);
	}
}

/* ---- lease renewal --------------------------------------------------------- */

struct renew_job {
	struct lease_ref lease;
	int result;
	char error[256];
};

static void renew_work(void *arg)
{
	struct renew_job *job = arg;
	store_t *store = store_pool_acquire(job->lease.pool, job->error, sizeof(job->error));

	if (store == NULL) {
		job->result = STORE_EIO;
		return;
	}
	job->result = store_lease_renew(store, job->lease.mailbox, job->lease.owner, job->lease.ttl);
	if (job->result != STORE_OK)
		snprintf(job->error, sizeof(job->error), "%s", store_errmsg(store));
	store_pool_release(job->lease.pool, &store);
}

static void renew_done(conn_t *conn, void *arg, int status)
{
	struct renew_job *job = arg;
	struct pop3_session *s = pop3_session_of(conn);

	if (s != NULL) {
		s->renewing = false;
		if (status == 0 && job->result == STORE_ENOTFOUND && s->lease_held) {
			/* Someone took the maildrop (our lease expired): stop without deleting. */
			log_warn(s->core.id, "pop3_lease_lost", "owner=%s", s->owner);
			s->lease_held = false;
			pop3_session_stop(s, LEASE_LOST_REPLY);
		} else if (status != 0 || job->result != STORE_OK) {
			/* The lease still has two thirds of its life: the next tick retries. */
			log_warn(s->core.id, "pop3_lease_renew_failed", "error=\"%s\"",
			         status != 0 ? conn_strerror(status) : job->error);
		}
	}
	free(job);
}

static void lease_tick(conn_t *conn)
{
	struct pop3_session *s = conn_data(conn);

	if (s == NULL || s->renewing || !s->lease_held)
		return;
	struct renew_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		return;
	lease_ref_init(&job->lease, s);
	if (conn_queue_work(s->core.conn, renew_work, renew_done, job) != 0)
		free(job);
	else
		s->renewing = true;
}

/* ---- login: lease and snapshot ------------------------------------------- */

enum open_result { OPEN_OK, OPEN_IN_USE, OPEN_TEMPFAIL };

struct open_job {
	struct pop3_metrics *metrics;
	struct lease_ref lease;
	uint64_t micros; /* the store calls' time */
	enum open_result result;
	int store_err; /* OPEN_TEMPFAIL: what failed */
	struct store_entry *entries;
	size_t count;
	char error[256];
};

static void open_lease_and_snapshot(struct open_job *job, store_t *store)
{
	int r = store_lease_acquire(store, job->lease.mailbox, job->lease.owner, job->lease.ttl);
	if (r == STORE_EBUSY) {
		job->result = OPEN_IN_USE;
		return;
	}
	if (r == STORE_OK) {
		r = store_mailbox_snapshot(store, job->lease.mailbox, &job->entries, &job->count);
		if (r == STORE_OK) {
			job->result = OPEN_OK;
			return;
		}
	}
	job->store_err = r;
	snprintf(job->error, sizeof(job->error), "%s", store_errmsg(store));
	lease_release(store, &job->lease);
}

static void open_work(void *arg)
{
	struct open_job *job = arg;
	store_t *store = store_pool_acquire(job->lease.pool, job->error, sizeof(job->error));

	job->result = OPEN_TEMPFAIL;
	job->store_err = STORE_EIO;
	if (store == NULL)
		return;
	uint64_t started = histogram_now_us();
	open_lease_and_snapshot(job, store);
	job->micros = histogram_now_us() - started;
	store_pool_release(job->lease.pool, &store);
}

static void transaction_begin(struct pop3_session *s, struct open_job *job)
{
	unsigned interval_ms = s->ctx->lease_ttl * 1000 / 3;

	s->deleted = calloc(job->count > 0 ? job->count : 1, sizeof(*s->deleted));
	if (s->deleted == NULL) {
		release_later(s->core.conn, &job->lease);
		pop3_reply(s, POP3_ERR_SYS_TEMP, "out of memory");
		return;
	}
	s->entries = job->entries;
	s->count = job->count;
	job->entries = NULL;
	s->lease_held = true;
	s->live_count = s->count;
	s->live_size = 0;
	for (size_t i = 0; i < s->count; i++)
		s->live_size += s->entries[i].size;
	conn_every(s->core.conn, interval_ms, lease_tick);
	session_enter_state(&s->core, POP3_STATE_TRANSACTION);
	conn_login_done(s->core.conn);
	log_info(s->core.id, "pop3_maildrop", "messages=%zu octets=%" PRIu64, s->count, s->live_size);
	pop3_reply(s, POP3_OK, "maildrop has %zu messages (%" PRIu64 " octets)", s->live_count,
	           s->live_size);
}

static void open_done(conn_t *conn, void *arg, int status)
{
	struct open_job *job = arg;
	struct pop3_session *s = pop3_session_of(conn);

	if (status == 0)
		pop3_metrics_count_store(job->metrics, POP3_STORE_MAILDROP_OPEN, job->micros);
	if (s == NULL) {
		/* Gone while the lease was taken: released through the conn if it
		 * is still closing, else (conn NULL) the lease expires after its ttl. */
		if (status == 0 && job->result == OPEN_OK && conn != NULL)
			release_later(conn, &job->lease);
	} else if (status != 0 || job->result == OPEN_TEMPFAIL) {
		log_error(s->core.id, "pop3_maildrop_error", "error=\"%s\"",
		          status != 0 ? conn_strerror(status) : job->error);
		pop3_reply(s, status != 0 ? POP3_ERR_SYS_TEMP : pop3_store_resp(job->store_err),
		           "cannot open the maildrop");
		session_done(&s->core);
	} else if (job->result == OPEN_IN_USE) {
		log_info(s->core.id, "pop3_maildrop_in_use", "mailbox=%s", s->mailbox);
		pop3_reply(s, POP3_ERR_IN_USE, IN_USE_TEXT);
		session_done(&s->core);
	} else {
		transaction_begin(s, job);
		session_done(&s->core);
	}
	free(job->entries);
	free(job);
}

void pop3_mailbox_open(struct pop3_session *s, const char *mailbox)
{
	struct open_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		pop3_reply(s, POP3_ERR_SYS_TEMP, "out of memory");
		session_done(&s->core);
		return;
	}
	snprintf(s->mailbox, sizeof(s->mailbox), "%s", mailbox);
	snprintf(s->owner, sizeof(s->owner), "%s:%" PRIu64, s->ctx->owner_prefix, s->core.id);
	lease_ref_init(&job->lease, s);
	job->metrics = s->ctx->metrics;
	int r = conn_queue_work(s->core.conn, open_work, open_done, job);
	if (r != 0) {
		free(job);
		log_error(s->core.id, "pop3_maildrop_error", "error=\"%s\"", conn_strerror(r));
		pop3_reply(s, POP3_ERR_SYS_TEMP, "cannot open the maildrop");
		session_done(&s->core);
	}
}

/* ---- TRANSACTION (RFC 1939 5) ------------------------------------------- */

bool pop3_mailbox_msgno(struct pop3_session *s, const char *arg, size_t len, size_t *index_r)
{
	switch (pop3_msgno_parse(arg, len, s->count, s->deleted, index_r)) {
	case POP3_MSGNO_OK:
		return true;
	case POP3_MSGNO_SYNTAX:
		pop3_reply(s, POP3_ERR, "invalid message number");
		return false;
	case POP3_MSGNO_NO_SUCH:
		pop3_reply(s, POP3_ERR, "no such message");
		return false;
	case POP3_MSGNO_DELETED:
		pop3_reply(s, POP3_ERR, "message is deleted");
		return false;
	}
	return false;
}

void pop3_cmd_stat(struct pop3_session *s, const struct pop3_command *cmd)
{
	/* RFC 1939 5: exactly "+OK nn mm", no text, for the sake of simple clients. */
	pop3_reply(s, POP3_OK, "%zu %" PRIu64, s->live_count, s->live_size);
}

/*
 * Writes LIST or UIDL lines from s->list_next on, until the write queue is
 * full (then continues on drain) or the list ends. Lines are gathered in a
 * small buffer so a long list is a few writes, not one per message.
 */
static void list_continue(struct pop3_session *s)
{
	char buf[4096];
	size_t len = 0;

	while (s->list_next < s->count) {
		if (len == 0 && conn_output_full(s->core.conn)) {
			s->on_drain = list_continue;
			return;
		}
		size_t i = s->list_next++;
		if (s->deleted[i])
			continue;
		/* Two decimal numbers and a space: at most 42 octets. */
		int n = snprintf(buf + len, sizeof(buf) - len, "%zu %" PRIu64 "\r\n", i + 1,
		                 s->list_uidl ? (uint64_t)s->entries[i].id : s->entries[i].size);
		len += (size_t)n;
		if (sizeof(buf) - len < 64) {
			conn_write(s->core.conn, buf, len);
			len = 0;
		}
	}
	memcpy(buf + len, ".\r\n", 3);
	conn_write(s->core.conn, buf, len + 3);
	session_done(&s->core);
}

static void list_or_uidl(struct pop3_session *s, const struct pop3_command *cmd, bool uidl)
{
	size_t i;

	if (cmd->argc == 1) {
		if (pop3_mailbox_msgno(s, cmd->argv[0], cmd->argl[0], &i))
			pop3_reply(s, POP3_OK, "%zu %" PRIu64, i + 1,
			           uidl ? (uint64_t)s->entries[i].id : s->entries[i].size);
		return;
	}
	if (uidl)
		pop3_reply(s, POP3_OK, "unique-id listing follows");
	else
		pop3_reply(s, POP3_OK, "%zu messages (%" PRIu64 " octets)", s->live_count,
		           s->live_size);
	session_busy(&s->core);
	s->list_next = 0;
	s->list_uidl = uidl;
	list_continue(s);
}

void pop3_cmd_list(struct pop3_session *s, const struct pop3_command *cmd)
{
	list_or_uidl(s, cmd, false);
}

/* RFC 1939 7: the entry id is unique in the store and never reused. */
void pop3_cmd_uidl(struct pop3_session *s, const struct pop3_command *cmd)
{
	list_or_uidl(s, cmd, true);
}

void pop3_cmd_dele(struct pop3_session *s, const struct pop3_command *cmd)
{
	size_t i;

	if (!pop3_mailbox_msgno(s, cmd->argv[0], cmd->argl[0], &i))
		return;
	s->deleted[i] = true;
	s->live_count--;
	s->live_size -= s->entries[i].size;
	pop3_reply(s, POP3_OK, "message %zu deleted", i + 1);
}

void pop3_cmd_rset(struct pop3_session *s, const struct pop3_command *cmd)
{
	memset(s->deleted, 0, s->count * sizeof(*s->deleted));
	s->live_count = s->count;
	s->live_size = 0;
	for (size_t i = 0; i < s->count; i++)
		s->live_size += s->entries[i].size;
	pop3_reply(s, POP3_OK, "maildrop has %zu messages (%" PRIu64 " octets)", s->live_count,
	           s->live_size);
}

void pop3_cmd_noop(struct pop3_session *s, const struct pop3_command *cmd)
{
	pop3_reply(s, POP3_OK, NULL);
}

/* ---- QUIT and UPDATE (RFC 1939 6) --------------------------------------- */

enum update_result { UPDATE_OK, UPDATE_LOST, UPDATE_FAILED };

struct update_job {
	struct pop3_metrics *metrics;
	struct lease_ref lease;
	uint64_t session; /* for the log when the client is gone by the end */
	int64_t *ids;
	size_t n;
	uint64_t micros; /* the store calls' time */
	enum update_result result;
	int store_err; /* UPDATE_FAILED: what failed */
	char error[256];
};

static void update_work(void *arg)
{
	struct update_job *job = arg;
	store_t *store = store_pool_acquire(job->lease.pool, job->error, sizeof(job->error));

	job->result = UPDATE_FAILED;
	job->store_err = STORE_EIO;
	if (store == NULL)
		return; /* the lease expires after its ttl */
	uint64_t started = histogram_now_us();
	/* Deletes only while the lease is ours, checked in the delete's own
	 * transaction (with n == 0 it only checks, so the reply tells the truth). */
	int r = store_mailbox_delete(store, job->lease.mailbox, job->lease.owner, job->ids, job->n);
	job->store_err = r;
	if (r == STORE_OK)
		job->result = UPDATE_OK;
	else if (r == STORE_ENOTFOUND)
		job->result = UPDATE_LOST; /* someone else's now, or released: nothing to release */
	else
		snprintf(job->error, sizeof(job->error), "%s", store_errmsg(store));
	if (r != STORE_ENOTFOUND)
		lease_release(store, &job->lease);
	job->micros = histogram_now_us() - started;
	store_pool_release(job->lease.pool, &store);
}

/* Logs the outcome, which holds even when the client left during UPDATE. */
static void update_log(const struct update_job *job, int status, bool client_gone)
{
	const char *gone = client_gone ? " client=gone" : "";

	if (status == 0 && job->result == UPDATE_OK)
		log_info(job->session, "pop3_update", "deleted=%zu%s", job->n, gone);
	else if (status == 0 && job->result == UPDATE_LOST)
		log_warn(job->session, "pop3_lease_lost", "owner=%s deleted=0%s", job->lease.owner,
		         gone);
	else
		log_error(job->session, "pop3_update_failed", "error=\"%s\"%s",
		          status != 0 ? conn_strerror(status) : job->error, gone);
}

static void update_done(conn_t *conn, void *arg, int status)
{
	struct update_job *job = arg;
	struct pop3_session *s = pop3_session_of(conn);

	update_log(job, status, s == NULL);
	if (status == 0)
		pop3_metrics_count_store(job->metrics, POP3_STORE_UPDATE, job->micros);
	if (status == 0 && job->result == UPDATE_OK)
		job->metrics->messages_deleted += job->n;
	if (s != NULL) {
		if (status == 0)
			s->lease_held = false; /* released by the job, or no longer ours */
		if (status == 0 && job->result == UPDATE_OK)
			pop3_reply(s, POP3_OK, "%zu messages deleted; signing off", job->n);
		else if (status == 0 && job->result == UPDATE_LOST)
			conn_write(s->core.conn, LEASE_LOST_REPLY, sizeof(LEASE_LOST_REPLY) - 1);
		else
			pop3_reply(s, status != 0 ? POP3_ERR_SYS_TEMP : pop3_store_resp(job->store_err),
			           "deleting failed; nothing deleted");
		session_close(&s->core);
	} else if (status != 0 && conn != NULL) {
		/* The job never ran (cancelled at a forced shutdown) and the
		 * session, gone during UPDATE, left the release to it (with the
		 * conn gone too, the lease expires after its ttl). */
		release_later(conn, &job->lease);
	}
	free(job->ids);
	free(job);
}

static void update_begin(struct pop3_session *s)
{
	struct update_job *job = calloc(1, sizeof(*job));
	size_t deleted = s->count - s->live_count;

	session_enter_state(&s->core, POP3_STATE_UPDATE);
	session_busy(&s->core);
	conn_every(s->core.conn, 0, NULL);
	if (job != NULL && deleted > 0) {
		job->ids = malloc(deleted * sizeof(*job->ids));
		if (job->ids == NULL) {
			free(job);
			job = NULL;
		}
	}
	if (job == NULL) {
		pop3_reply(s, POP3_ERR_SYS_TEMP, "out of memory; nothing deleted");
		session_close(&s->core);
		return;
	}
	for (size_t i = 0; i < s->count; i++) {
		if (s->deleted[i])
			job->ids[job->n++] = s->entries[i].id;
	}
	lease_ref_init(&job->lease, s);
	job->session = s->core.id;
	job->metrics = s->ctx->metrics;
	int r = conn_queue_work(s->core.conn, update_work, update_done, job);
	if (r != 0) {
		log_error(s->core.id, "pop3_update_failed", "error=\"%s\"", conn_strerror(r));
		free(job->ids);
		free(job);
		pop3_reply(s, POP3_ERR_SYS_TEMP, "deleting failed; nothing deleted");
		session_close(&s->core);
	}
}

void pop3_cmd_quit(struct pop3_session *s, const struct pop3_command *cmd)
{
	if (pop3_session_state(s) == POP3_STATE_AUTHORIZATION) {
		/* RFC 1939 4: QUIT before login ends the session; there is nothing to update. */
		pop3_reply(s, POP3_OK, "signing off");
		session_close(&s->core);
		return;
	}
	update_begin(s);
}
