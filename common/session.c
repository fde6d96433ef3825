/* session.c - the protocol-independent part of a session; see session.h. */
#include "session.h"

#include <assert.h>
#include <string.h>

#include "config.h"
#include "log.h"

struct session_limits session_limits_from_config(const struct mail_config *cfg)
{
	struct session_limits l = {
		.soft_errors = cfg->soft_error_limit,
		.hard_errors = cfg->hard_error_limit,
		.delay_ms = cfg->error_delay_ms,
	};
	return l;
}

void session_init(struct session *s, conn_t *conn, const struct session_def *def,
                  const struct session_limits *limits, unsigned initial_state)
{
	memset(s, 0, sizeof(*s));
	s->conn = conn;
	s->id = conn_id(conn);
	s->def = def;
	s->limits = *limits;
	s->state = initial_state;
}

/* ---- state ------------------------------------------------------------- */

const char *session_state_name(const struct session *s)
{
	return s->def->state_names[s->state];
}

void session_enter_state(struct session *s, unsigned state)
{
	const struct session_def *def = s->def;

	assert(state < def->state_count);
	if (s->state == state || s->state == def->closing_state)
		return;
	/* One bit test: cheap enough to keep in every build, where a report helps most. */
	if (!(def->next_states[s->state] & (1u << state)))
		log_error(s->id, "state_bug", "protocol=%s from=%s to=%s", def->protocol,
		          def->state_names[s->state], def->state_names[state]);
	log_debug(s->id, "state", "protocol=%s from=%s to=%s", def->protocol,
	          def->state_names[s->state], def->state_names[state]);
	s->state = state;
}

/* ---- replies ----------------------------------------------------------- */

bool session_blocked(const struct session *s)
{
	return s->delayed || s->closing;
}

void session_close(struct session *s)
{
	s->closing = true;
	session_enter_state(s, s->def->closing_state);
	if (s->delayed)
		return; /* the timer writes the held reply, then closes */
	conn_close(s->conn);
}

static void flush_pending_cb(conn_t *conn)
{
	/* Every daemon's session object starts with its struct session. */
	struct session *s = conn_data(conn);

	conn_write(conn, s->pending, s->pending_len);
	s->pending_len = 0;
	s->delayed = false;
	if (s->closing) {
		session_close(s);
		return;
	}
	session_done(s);
}

void session_send(struct session *s, const char *line, size_t len, enum session_reply_kind kind)
{
	unsigned delay = 0;

	if (s->closing)
		return;
	assert(len <= sizeof(s->pending) / 2);
	memcpy(s->pending, line, len);
	s->pending_len = len;
	if (kind == SESSION_REPLY_FINAL)
		s->closing = true;
	if (kind == SESSION_REPLY_ERROR) {
		s->errors++;
		if (s->errors > s->limits.soft_errors)
			delay = s->limits.delay_ms;
		if (s->errors >= s->limits.hard_errors) {
			s->pending_len += s->def->too_many_errors(s, s->pending + len,
			                                          sizeof(s->pending) - len);
			s->closing = true;
			log_info(s->id, "hangup", "protocol=%s reason=too_many_errors errors=%u",
			         s->def->protocol, s->errors);
		}
	}
	if (s->delay_next_ms > delay)
		delay = s->delay_next_ms;
	s->delay_next_ms = 0;
	if (delay > 0) {
		s->delayed = true;
		conn_after(s->conn, delay, flush_pending_cb);
		return;
	}
	conn_write(s->conn, s->pending, s->pending_len);
	s->pending_len = 0;
	if (s->closing)
		session_close(s);
}

void session_delay_next(struct session *s, unsigned ms)
{
	s->delay_next_ms = ms;
}

/* ---- commands in progress ---------------------------------------------- */

void session_busy(struct session *s)
{
	s->busy = true;
	conn_pause(s->conn);
}

int session_queue_work(struct session *s, conn_work_fn *work, conn_done_fn *done, void *arg)
{
	int rc = conn_queue_work(s->conn, work, done, arg);

	if (rc == 0)
		session_busy(s);
	else
		log_error(s->id, "queue_work_failed", "rc=%d", rc);
	return rc;
}

void session_done(struct session *s)
{
	s->busy = false;
	if (session_blocked(s))
		return;
	if (s->stopping && s->def->may_stop(s)) {
		s->def->stop(s);
		return;
	}
	conn_resume(s->conn);
}

void session_stop(struct session *s)
{
	s->stopping = true;
	if (s->busy || session_blocked(s) || !s->def->may_stop(s))
		return;
	s->def->stop(s);
}
