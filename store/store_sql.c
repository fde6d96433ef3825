/*
 * store_sql.c - the text of every statement the SQLite backend runs.
 *
 * Kept in one table so the whole data access of the store can be read (and
 * later ported to PostgreSQL) in one place. Everything is plain SQL that
 * PostgreSQL also speaks (UPSERT, RETURNING, ||, EXISTS) except the NOW
 * expression, which comes from store-private.h. Parameters are numbered
 * and always bound; no statement is ever built from caller strings.
 */
#include <assert.h>

#include "store-private.h"

#define NOW STORE__SQL_NOW

static const char *const sql_text[STORE__STMT_COUNT] = {
	[STORE__BEGIN_READ] = "BEGIN",
	[STORE__BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[STORE__COMMIT] = "COMMIT",
	[STORE__ROLLBACK] = "ROLLBACK",
	/* One delivery of a group commit (store_deliver_batch). */
	[STORE__SAVEPOINT] = "SAVEPOINT delivery",
	[STORE__ROLLBACK_TO] = "ROLLBACK TO SAVEPOINT delivery",
	[STORE__RELEASE] = "RELEASE SAVEPOINT delivery",

	[STORE__DOMAIN_ADD] = "INSERT INTO domains (name) VALUES (?1)",
	[STORE__DOMAIN_DEL] = "DELETE FROM domains WHERE id = ?1",
	[STORE__DOMAIN_ID] = "SELECT id FROM domains WHERE name = ?1",
	[STORE__DOMAIN_IN_USE] =
		"SELECT EXISTS (SELECT 1 FROM users WHERE domain_id = ?1)"
		" OR EXISTS (SELECT 1 FROM aliases WHERE domain_id = ?1)",
	[STORE__DOMAIN_LIST] = "SELECT name FROM domains ORDER BY name",

	/* Users and aliases are found by key (store_address.c) with ?2 the
	 * key; ?1, the address as asked, only picks among rows that differ by
	 * case, which only a schema 1 database can hold (store_schema.c). */
	[STORE__USER_ADD] =
		"INSERT INTO users (domain_id, address, hash, disabled, quota, created, address_key)"
		" VALUES (?1, ?2, ?3, 0, 0, " NOW ", ?4)",
	[STORE__USER_GET] =
		"SELECT id, address, hash, disabled, quota FROM users WHERE address_key = ?2"
		" ORDER BY address = ?1 DESC, case_conflict LIMIT 1",
	[STORE__USER_ID] =
		"SELECT id, disabled, address FROM users WHERE address_key = ?2"
		" ORDER BY address = ?1 DESC, case_conflict LIMIT 1",
	[STORE__USER_DEL] = "DELETE FROM users WHERE id = ?1",
	[STORE__USER_SET_HASH] = "UPDATE users SET hash = ?2 WHERE id = ?1",
	[STORE__USER_SET_DISABLED] = "UPDATE users SET disabled = ?2 WHERE id = ?1",
	[STORE__USER_LIST_ALL] = "SELECT address FROM users ORDER BY address",
	[STORE__USER_LIST_DOMAIN] = "SELECT address FROM users WHERE domain_id = ?1 ORDER BY address",
	[STORE__USER_ENTRIES_DEL] = "DELETE FROM mailbox_entries WHERE user_id = ?1 RETURNING message_id",
	[STORE__USER_LEASE_DEL] = "DELETE FROM pop3_locks WHERE mailbox = ?1",
	[STORE__USER_SET_QUOTA] = "UPDATE users SET quota = ?2 WHERE id = ?1",
	/* Two indexed lookups, whatever the mailbox holds: mailbox_usage is
	 * kept by triggers (schema v3). The user is found as USER_GET finds it. */
	[STORE__QUOTA_STATE] =
		"SELECT u.quota, COALESCE(q.bytes, 0), COALESCE(q.messages, 0) FROM users u"
		" LEFT JOIN mailbox_usage q ON q.user_id = u.id WHERE u.address_key = ?2"
		" ORDER BY u.address = ?1 DESC, u.case_conflict LIMIT 1",

	[STORE__ALIAS_ADD] =
		"INSERT INTO aliases (domain_id, address, target, address_key, target_key, case_conflict)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* One target of the alias group ?3: spelled exactly as ?1, else by key. */
	[STORE__ALIAS_DEL_EXACT] =
		"DELETE FROM aliases WHERE address_key = ?2 AND case_conflict = ?3 AND target = ?1",
	[STORE__ALIAS_DEL_KEY] =
		"DELETE FROM aliases WHERE address_key = ?2 AND case_conflict = ?3 AND target_key = ?1",
	/* The alias group an address names: its case_conflict, the spelling
	 * of its first row, and whether it already has the target with key ?3. */
	[STORE__ALIAS_GROUP] =
		"SELECT g.case_conflict, g.address, EXISTS (SELECT 1 FROM aliases t"
		"  WHERE t.address_key = ?2 AND t.case_conflict = g.case_conflict AND t.target_key = ?3)"
		" FROM aliases g WHERE g.address_key = ?2"
		" ORDER BY g.address = ?1 DESC, g.case_conflict, g.id LIMIT 1",
	[STORE__ALIAS_EXISTS] = "SELECT EXISTS (SELECT 1 FROM aliases WHERE address_key = ?1)",
	[STORE__ALIAS_TARGETS] =
		"SELECT target FROM aliases WHERE address_key = ?2 AND case_conflict ="
		" (SELECT case_conflict FROM aliases WHERE address_key = ?2"
		"  ORDER BY address = ?1 DESC, case_conflict LIMIT 1) ORDER BY id",
	[STORE__ALIAS_SOURCES] =
		"SELECT DISTINCT address FROM aliases WHERE target_key = ?1 ORDER BY address",
	[STORE__ALIAS_LIST_ALL] = "SELECT address, target FROM aliases ORDER BY address_key, address, target",
	[STORE__ALIAS_LIST_DOMAIN] =
		"SELECT address, target FROM aliases WHERE domain_id = ?1"
		" ORDER BY address_key, address, target",

	/* ?2 is a reserved id, or NULL for the next one. */
	[STORE__MESSAGE_ADD] = "INSERT INTO messages (id, size, created) VALUES (?2, ?1, " NOW ")",
	/* Reserving ids moves the AUTOINCREMENT high-water mark (the largest id
	 * ever used, which SQLite keeps in sqlite_sequence) past the block, so
	 * no later insert picks one of them. The table's own maximum is read
	 * too: sqlite_sequence has no row before the first insert. (SQLite's
	 * own bookkeeping table; a PostgreSQL backend moves its sequence.) */
	[STORE__MESSAGE_ID_LAST] =
		"SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),"
		" COALESCE((SELECT max(id) FROM messages), 0))",
	[STORE__MESSAGE_ID_SET] = "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'messages'",
	[STORE__MESSAGE_ID_INIT] = "INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?1)",
	[STORE__CHUNK_ADD] = "INSERT INTO message_chunks (message_id, seq, data) VALUES (?1, ?2, ?3)",
	/* Inserts nothing when the mailbox is gone: the caller checks changes. */
	[STORE__ENTRY_ADD] =
		"INSERT INTO mailbox_entries (user_id, message_id, size, created)"
		" SELECT id, ?2, ?3, " NOW " FROM users WHERE address = ?1",
	[STORE__QUEUE_ADD] =
		"INSERT INTO queue (message_id, sender, recipient, attempts, created, next_attempt,"
		" state, last_error, dsn_notify, dsn_orcpt, dsn_ret, dsn_envid)"
		" VALUES (?1, ?2, ?3, 0, " NOW ", " NOW ", 0, '', ?4, ?5, ?6, ?7)",

	/* One row of NULLs for an empty mailbox, no row for no such user. */
	[STORE__SNAPSHOT] =
		"SELECT e.id, e.message_id, e.size FROM users u"
		" LEFT JOIN mailbox_entries e ON e.user_id = u.id"
		" WHERE u.address = ?1 ORDER BY e.id",
	[STORE__ENTRY_DEL] =
		"DELETE FROM mailbox_entries WHERE id = ?1"
		" AND user_id = (SELECT id FROM users WHERE address = ?2) RETURNING message_id",
	[STORE__BODY_REFERENCED] =
		"SELECT EXISTS (SELECT 1 FROM mailbox_entries WHERE message_id = ?1)"
		" OR EXISTS (SELECT 1 FROM queue WHERE message_id = ?1)",
	[STORE__BODY_CHUNKS_DEL] = "DELETE FROM message_chunks WHERE message_id = ?1",
	[STORE__BODY_MESSAGE_DEL] = "DELETE FROM messages WHERE id = ?1",
	[STORE__MESSAGE_SIZE] = "SELECT size FROM messages WHERE id = ?1",
	[STORE__CHUNK_GET] = "SELECT data FROM message_chunks WHERE message_id = ?1 AND seq = ?2",

	/* Takes a free or expired lease, or renews our own; changes() == 0
	 * means someone else holds it. A lease is held until the end of the
	 * second expires, so it never lasts less than its ttl. */
	[STORE__LEASE_ACQUIRE] =
		"INSERT INTO pop3_locks (mailbox, owner, expires) VALUES (?1, ?2, " NOW " + ?3)"
		" ON CONFLICT (mailbox) DO UPDATE SET owner = excluded.owner, expires = excluded.expires"
		" WHERE pop3_locks.owner = excluded.owner OR pop3_locks.expires < " NOW,
	[STORE__LEASE_RENEW] =
		"UPDATE pop3_locks SET expires = " NOW " + ?3 WHERE mailbox = ?1 AND owner = ?2",
	[STORE__LEASE_RELEASE] = "DELETE FROM pop3_locks WHERE mailbox = ?1 AND owner = ?2",
	/* Whether ?2 still holds the lease, expired or not: an expired lease
	 * that still names us has not been taken by anyone (taking it changes
	 * the owner), so nobody else has the maildrop. */
	[STORE__LEASE_HELD] =
		"SELECT EXISTS (SELECT 1 FROM pop3_locks WHERE mailbox = ?1 AND owner = ?2)",

	[STORE__QUEUE_LIST] =
		"SELECT id, message_id, sender, recipient, attempts, created, next_attempt, state,"
		" last_error, dsn_notify, dsn_orcpt, dsn_ret, dsn_envid, delay_warned FROM queue"
		" ORDER BY id",
	/* Marking and reading back in one statement: no other claimer can
	 * take the same rows, and rows this owner already held stay out. */
	[STORE__QUEUE_CLAIM] =
		"UPDATE queue SET lease_owner = ?1, lease_until = " NOW " + ?2"
		" WHERE id IN (SELECT id FROM queue WHERE state = 0 AND next_attempt <= " NOW
		"              AND (lease_until IS NULL OR lease_until < " NOW ")"
		"              ORDER BY next_attempt, id LIMIT ?3)"
		" RETURNING id, message_id, sender, recipient, attempts, created, next_attempt, state,"
		" last_error, dsn_notify, dsn_orcpt, dsn_ret, dsn_envid, delay_warned",
	[STORE__QUEUE_DELIVERED] =
		"DELETE FROM queue WHERE id = ?1 AND lease_owner = ?2 RETURNING message_id",
	[STORE__QUEUE_DEFER] =
		"UPDATE queue SET attempts = attempts + 1, next_attempt = " NOW " + ?3,"
		" last_error = ?4, lease_owner = NULL, lease_until = NULL,"
		" delay_warned = MAX(delay_warned, ?5)"
		" WHERE id = ?1 AND lease_owner = ?2",
	[STORE__QUEUE_FAIL] =
		"UPDATE queue SET attempts = attempts + 1, state = 1, last_error = ?3,"
		" lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND lease_owner = ?2",
	/* A runner holding the lease keeps it: retry must not start a second
	 * delivery attempt of the same row in parallel. */
	/* Read first, so an idle queue costs runners no write lock. */
	[STORE__QUEUE_DUE] =
		"SELECT EXISTS (SELECT 1 FROM queue WHERE state = 0 AND next_attempt <= " NOW
		" AND (lease_until IS NULL OR lease_until < " NOW "))",
	[STORE__QUEUE_STATS] =
		"SELECT COALESCE(SUM(state = 0), 0), COALESCE(SUM(state = 1), 0), MIN(created), " NOW
		" FROM queue",
	[STORE__QUEUE_RENEW] =
		"UPDATE queue SET lease_until = " NOW " + ?2 WHERE lease_owner = ?1",
	[STORE__QUEUE_RELEASE] =
		"UPDATE queue SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?1",
	[STORE__QUEUE_LEASED] =
		"SELECT EXISTS (SELECT 1 FROM queue WHERE id = ?1 AND lease_until >= " NOW ")",
	[STORE__QUEUE_RETRY_ONE] = "UPDATE queue SET state = 0, next_attempt = " NOW " WHERE id = ?1",
	[STORE__QUEUE_RETRY_ALL] = "UPDATE queue SET state = 0, next_attempt = " NOW,
	/* A row a runner holds is being sent: its body must stay. */
	[STORE__QUEUE_DELETE_ONE] =
		"DELETE FROM queue WHERE id = ?1 AND (lease_until IS NULL OR lease_until < " NOW ")"
		" RETURNING message_id",
	[STORE__QUEUE_DELETE_ALL] =
		"DELETE FROM queue WHERE lease_until IS NULL OR lease_until < " NOW
		" RETURNING message_id",

	/* ?1 is a local domain's normalised name (checked by the caller). */
	[STORE__DKIM_SET] =
		"INSERT INTO dkim_keys (domain, selector, private_key, created)"
		" VALUES (?1, ?2, ?3, " NOW ")"
		" ON CONFLICT (domain) DO UPDATE SET selector = excluded.selector,"
		" private_key = excluded.private_key, created = excluded.created",
	[STORE__DKIM_GET] = "SELECT selector, private_key FROM dkim_keys WHERE domain = ?1",
	[STORE__DKIM_DEL] = "DELETE FROM dkim_keys WHERE domain = ?1",

	[STORE__CHECK_INTEGRITY] = "PRAGMA integrity_check",
	[STORE__CHECK_FOREIGN_KEYS] = "PRAGMA foreign_key_check",
	[STORE__CHECK_ORPHAN_CHUNKS] =
		"SELECT DISTINCT c.message_id FROM message_chunks c"
		" WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.message_id)"
		" ORDER BY c.message_id",
	[STORE__CHECK_MESSAGE_SIZES] =
		"SELECT m.id, m.size, COALESCE(SUM(LENGTH(c.data)), 0) FROM messages m"
		" LEFT JOIN message_chunks c ON c.message_id = m.id GROUP BY m.id, m.size"
		" HAVING m.size <> COALESCE(SUM(LENGTH(c.data)), 0) ORDER BY m.id",
	[STORE__CHECK_CHUNK_SEQUENCE] =
		"SELECT message_id, COUNT(*), MIN(seq), MAX(seq) FROM message_chunks"
		" GROUP BY message_id HAVING MIN(seq) <> 0 OR MAX(seq) <> COUNT(*) - 1"
		" ORDER BY message_id",
	[STORE__CHECK_ENTRY_SIZES] =
		"SELECT e.id, e.size, m.size FROM mailbox_entries e JOIN messages m ON m.id = e.message_id"
		" WHERE e.size <> m.size ORDER BY e.id",
	[STORE__CHECK_UNREFERENCED] =
		"SELECT m.id FROM messages m"
		" WHERE NOT EXISTS (SELECT 1 FROM mailbox_entries e WHERE e.message_id = m.id)"
		" AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.message_id = m.id) ORDER BY m.id",
	/* Addresses that differ only by case (store_schema.c, version 2):
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
	/* Users are looked up before aliases, so such an alias is never used. */
	[STORE__CHECK_ALIAS_HIDDEN] =
		"SELECT DISTINCT a.address, u.address FROM aliases a"
		" JOIN users u ON u.address_key = a.address_key ORDER BY a.address",
	[STORE__CHECK_USER_ADDRESSES] = "SELECT address FROM users ORDER BY id",
	[STORE__CHECK_ALIAS_ADDRESSES] = "SELECT address, target FROM aliases ORDER BY id",
	[STORE__CHECK_USAGE] =
		"SELECT u.address, COALESCE(q.bytes, 0), COALESCE(q.messages, 0),"
		" COALESCE(e.bytes, 0), COALESCE(e.messages, 0) FROM users u"
		" LEFT JOIN mailbox_usage q ON q.user_id = u.id"
		" LEFT JOIN (SELECT user_id, SUM(size) AS bytes, COUNT(*) AS messages"
		"            FROM mailbox_entries GROUP BY user_id) e ON e.user_id = u.id"
		" WHERE COALESCE(q.bytes, 0) <> COALESCE(e.bytes, 0)"
		"    OR COALESCE(q.messages, 0) <> COALESCE(e.messages, 0) ORDER BY u.address",
};

const char *store__sql(enum store__stmt_id id)
{
	assert(id < STORE__STMT_COUNT && sql_text[id] != NULL);
	return sql_text[id];
}
