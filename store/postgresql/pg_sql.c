/*
 * pg_sql.c - the statements whose PostgreSQL text is not the shared one of
 * store_sql.c (its header says why each differs): the message id
 * bookkeeping in the column's sequence, and the aggregates of the address
 * checks. Transactions are the driver's own (pg_driver.c, pg_begin).
 */
#include "pg-private.h"

/* The sequence behind messages.id (pg_schema.c). */
#define MESSAGES_SEQ "pg_get_serial_sequence('messages', 'id')"

const char *const store__pg_sql[STORE__STMT_COUNT] = {
	/* Unused (pg_begin runs its own), but every id needs a text. */
	[STORE__BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
	[STORE__BEGIN_WRITE] = "BEGIN",

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
