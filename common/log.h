/*
 * log.h - one line per event on stderr, in key=value form.
 *
 *   ts=2026-11-27T09:00:00.123Z level=info sid=1a2b event=connect ip=127.0.0.1
 *
 * log_event() takes a session id (0 for none), an event name and a printf
 * format for the remaining key=value pairs. Values that come from a client
 * must go through log_escape() first (quotes, control bytes, spaces).
 */
#ifndef MAIL_LOG_H
#define MAIL_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3,
};

/* Sets the lowest level written (default info). */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/*
 * Writes one line; thread-safe (one write(2) per line, at most 2047 bytes so
 * a pipe never interleaves lines). Pairs that do not fit end in "...";
 * control bytes in the formatted pairs become '?' so an event is always one
 * line. errno is preserved.
 */
void log_event(enum log_level level, uint64_t sid, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_debug(sid, ev, ...) log_event(LOG_LEVEL_DEBUG, sid, ev, __VA_ARGS__)
#define log_info(sid, ev, ...)  log_event(LOG_LEVEL_INFO, sid, ev, __VA_ARGS__)
#define log_warn(sid, ev, ...)  log_event(LOG_LEVEL_WARN, sid, ev, __VA_ARGS__)
#define log_error(sid, ev, ...) log_event(LOG_LEVEL_ERROR, sid, ev, __VA_ARGS__)

/*
 * Quotes `in` (len bytes) for a log value into out (outlen bytes, always
 * NUL-terminated, truncated with "..." if too long): printable ASCII kept,
 * '"' and '\\' escaped, other bytes as \xNN, wrapped in double quotes when
 * it contains a space or is empty. Returns out.
 */
char *log_escape(char *out, size_t outlen, const char *in, size_t len);

#endif
