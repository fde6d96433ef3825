/*
 * sqlite_sql.c - the statements whose SQLite text is not the shared one of
 * store_sql.c: SQLite's transaction verbs, its id bookkeeping table and
 * its aggregate dialect. store_sql.c's header lists what PostgreSQL will
 * put in their place.
 */
#include "sqlite-private.h"

const char *const store__sqlite_sql[STORE__STMT_COUNT] = {
	/* IMMEDIATE: the write lock up front, waited for with busy_timeout,
	 * instead of failing half-way on the first write; a plain (deferred)
	 * BEGIN reads one WAL snapshot. */
	[STORE__BEGIN_READ] = "BEGIN",
	[STORE__BEGIN_WRITE] = "BEGIN IMMEDIATE",

	/* Reserving ids moves the AUTOINCREMENT high-water mark (the largest id
	 * ever used, which SQLite keeps in sqlite_sequence) past the block, so
	 * no later insert picks one of them. The table's own maximum is read
	 * too: sqlite_sequence has no row before the first insert. */
	[STORE__MESSAGE_ID_LAST] =
		"SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
		" COALESCE((SELECT max(id) FROM messages), 0))",
	[STORE__MESSAGE_ID_SET] = "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'messages'",
	[STORE__MESSAGE_ID_INIT] = "INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?1)",

	/* store_copy: a table's high-water mark (?1 its name) as
	 * AUTOINCREMENT keeps it, and raising it on the target. Only the
	 * AUTOINCREMENT tables (sqlite_schema.c) have one; the others take
	 * max(id) + 1 by themselves, which the copied rows already give. An
	 * insert with an explicit id moves the mark by itself, so SET finds a
	 * row for every table that got rows, and INIT is for one whose rows
	 * were all deleted in the source. */
	[STORE__COPY_ID_LAST] = "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0)",
	[STORE__COPY_ID_SET] = "UPDATE sqlite_sequence SET seq = max(seq, ?2) WHERE name = ?1",
	[STORE__COPY_ID_INIT] =
		"INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2"
		" WHERE ?1 IN ('messages', 'mailbox_entries', 'queue')",

	/* Addresses that differ only by case (sqlite_schema.c, version 2):
	 * each group that still has more than one spelling, the one that
	 * answers to other spellings first. */
	[STORE__CHECK_USER_CONFLICTS] =
		"SELECT group_concat(address, ' ') FROM"
		" (SELECT address, address_key FROM users WHERE address_key IN"
		"   (SELECT address_key FROM users WHERE case_conflict <> 0)"
		"  ORDER BY address_key, case_conflict, id)"
		" GROUP BY address_key HAVING COUNT(*) > 1 ORDER BY address_key",
	[STORE__CHECK_ALIAS_CONFLICTS] =
		"SELECT group_concat(address, ' ') FROM"
		" (SELECT address, address_key FROM aliases WHERE address_key IN"
		"   (SELECT address_key FROM aliases WHERE case_conflict <> 0)"
		"  GROUP BY address ORDER BY address_key, MIN(case_conflict), MIN(id))"
		" GROUP BY address_key HAVING COUNT(*) > 1 ORDER BY address_key",
};
