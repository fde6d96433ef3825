/*
 * pg_sql.c - the statements whose PostgreSQL text is not the shared one of
 * store_sql.c (its header says why each differs): the message id
 * bookkeeping in the column's sequence, the aggregates of the address
 * checks, and the row locks of scoped writers running at once under READ
 * COMMITTED (store-private.h "Scoped writes"): mailbox keys, message rows,
 * and queue rows taken in id order or skipped when another claimer has
 * them. Transactions are the driver's own (pg_driver.c, pg_begin).
 */
#include "pg-private.h"

#define NOW STORE__SQL_NOW

/* The sequence behind messages.id (pg_schema.c). */
#define MESSAGES_SEQ "pg_get_serial_sequence('messages', 'id')"

/* ?1, the keys as "k1,k2,...", one row each in the order given. */
#define KEYS "unnest(string_to_array(?1, ',')::int4[]) AS k"

/* Locks in ascending id order the queue rows the condition selects (then
 * updated by id): two writers of overlapping sets of rows (a runner's
 * renewal and its report on another committer thread, mailctl queue
 * retry) cannot each hold a row the other waits for. */
#define QUEUE_ROWS_LOCKED(cond) \
	" WHERE id IN (SELECT id FROM queue WHERE " cond " ORDER BY id FOR UPDATE)"

const char *const store__pg_sql[STORE__STMT_COUNT] = {
	/* Unused (pg_begin runs its own), but every id needs a text. */
	[STORE__BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
	[STORE__BEGIN_WRITE] = "BEGIN",

	/* A function scan evaluates its rows in order: the keys are taken
	 * one after the other as given, ascending (store_scope.c). _TRY
	 * counts the keys it could not take. */
	[STORE__LOCK_KEYS] =
		"SELECT pg_advisory_xact_lock(" STORE__PG_MAILBOX_LOCKS ", k) FROM " KEYS,
	[STORE__LOCK_KEYS_TRY] =
		"SELECT count(*) FROM " KEYS
		" WHERE NOT pg_try_advisory_xact_lock(" STORE__PG_MAILBOX_LOCKS ", k)",

	/* Before the last-reference check (store_body.c), as its own
	 * statement: the check that follows takes its snapshot after the
	 * lock, so it sees what an earlier releaser of the body committed. */
	[STORE__BODY_LOCK] = "SELECT id FROM messages WHERE id = ?1 FOR UPDATE",

	/* As store_sql.c's, but a row another claimer has locked (claiming
	 * it now) is skipped instead of waited for: runners on several hosts
	 * take disjoint rows at once. Under READ COMMITTED a locked row is
	 * checked again in its newest version, so a row another runner took
	 * and committed meanwhile is not taken twice. */
	[STORE__QUEUE_CLAIM] =
		"UPDATE queue SET lease_owner = ?1, lease_until = " NOW " + ?2"
		" WHERE id IN (SELECT id FROM queue WHERE state = 0 AND next_attempt <= " NOW
		"              AND (lease_until IS NULL OR lease_until < " NOW ")"
		"              ORDER BY next_attempt, id LIMIT ?3 FOR UPDATE SKIP LOCKED)"
		" RETURNING id, message_id, sender, recipient, attempts, created, next_attempt, state,"
		" last_error, dsn_notify, dsn_orcpt, dsn_ret, dsn_envid, delay_warned",
	[STORE__QUEUE_RENEW] =
		"UPDATE queue SET lease_until = " NOW " + ?2" QUEUE_ROWS_LOCKED("lease_owner = ?1"),
	[STORE__QUEUE_RELEASE] =
		"UPDATE queue SET lease_owner = NULL, lease_until = NULL"
		QUEUE_ROWS_LOCKED("lease_owner = ?1"),
	[STORE__QUEUE_RETRY_ALL] =
		"UPDATE queue SET state = 0, next_attempt = " NOW QUEUE_ROWS_LOCKED("TRUE"),

	/* The highest id taken or reserved: the sequence's last value (minus
	 * one before its first use), or a larger id inserted explicitly. */
	[STORE__MESSAGE_ID_LAST] =
		"SELECT GREATEST((SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END"
		"                 FROM messages_id_seq),"
		"                COALESCE((SELECT max(id) FROM messages), 0))",
	/* A SELECT reports its one row as a change, so INIT never runs. setval
	 * is not undone by a rollback: a gap in the ids, which store.h allows. */
	[STORE__MESSAGE_ID_SET] = "SELECT setval(" MESSAGES_SEQ ", ?1)",
	[STORE__MESSAGE_ID_INIT] = "SELECT setval(" MESSAGES_SEQ ", ?1)",

	/* store_copy: a table's identity sequence (?1 its name), read and
	 * raised. pg_sequence_last_value is what the pg_sequences view shows:
	 * NULL before the first value is taken. Sequences are outside
	 * transactions, so a read may see values taken after the copy's
	 * snapshot: a higher mark, never a lower one. SET only raises, and a
	 * SELECT reports its row as a change, so INIT never runs. */
	[STORE__COPY_ID_LAST] =
		"SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence(?1, 'id')::regclass), 0)",
	[STORE__COPY_ID_SET] =
		"SELECT setval(pg_get_serial_sequence(?1, 'id'), GREATEST(?2, COALESCE("
		"pg_sequence_last_value(pg_get_serial_sequence(?1, 'id')::regclass), 0)))",
	[STORE__COPY_ID_INIT] =
		"SELECT setval(pg_get_serial_sequence(?1, 'id'), GREATEST(?2, COALESCE("
		"pg_sequence_last_value(pg_get_serial_sequence(?1, 'id')::regclass), 0)))",

	[STORE__CHECK_USER_CONFLICTS] =
		"SELECT string_agg(address, ' ' ORDER BY case_conflict, id) FROM users"
		" WHERE address_key IN (SELECT address_key FROM users WHERE case_conflict <> 0)"
		" GROUP BY address_key HAVING COUNT(*) > 1 ORDER BY address_key",
	[STORE__CHECK_ALIAS_CONFLICTS] =
		"SELECT string_agg(address, ' ' ORDER BY cc, first_id) FROM"
		" (SELECT address, address_key, MIN(case_conflict) AS cc, MIN(id) AS first_id"
		"  FROM aliases WHERE address_key IN"
		"   (SELECT address_key FROM aliases WHERE case_conflict <> 0)"
		"  GROUP BY address, address_key) g"
		" GROUP BY address_key HAVING COUNT(*) > 1 ORDER BY address_key",
};
