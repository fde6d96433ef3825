/*
 * sqlite_schema.c - the SQLite schema and its migrations.
 *
 * PRAGMA user_version is the number of migrations applied; migration N
 * takes the file from version N-1 to N and is never edited once released
 * (a change is a new migration). Version 1 is the whole initial schema.
 * PRAGMA application_id marks the file as ours, so `db = ` pointing at some
 * other SQLite file is refused instead of having tables added to it.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_address.h"
#include "sqlite-private.h"

/* "MAIL" in ASCII. */
#define STORE__APPLICATION_ID 0x4d41494c

/*
 * Version 1. Notes on choices that are not obvious from the SQL:
 * - mailbox_entries, messages and queue use AUTOINCREMENT so an id is never
 *   reused: an entry id is the POP3 UIDL (RFC 1939 7: unique and persistent),
 *   and a message id held by a reader must not come back as another body.
 * - Addresses are stored normalised (domain lower-case), so lookups are
 *   plain equality on an indexed column.
 * - message_chunks rows hold STORE__CHUNK_SIZE octets (the last one less);
 *   seq counts from 0 with no gaps.
 * - Times are unix seconds from the database clock (STORE__SQL_NOW).
 * - Every foreign key column has an index: deleting a body checks the
 *   referencing tables, and those lookups must not scan.
 */
static const char schema_v1[] =
	"CREATE TABLE domains ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE"
	");"
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains (id),"
	"  address TEXT NOT NULL UNIQUE,"
	"  hash TEXT NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0,"
	"  quota INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE INDEX users_domain ON users (domain_id);"
	"CREATE TABLE aliases ("
	"  id INTEGER PRIMARY KEY,"
	"  domain_id INTEGER NOT NULL REFERENCES domains (id),"
	"  address TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  UNIQUE (address, target)"
	");"
	"CREATE INDEX aliases_domain ON aliases (domain_id);"
	"CREATE INDEX aliases_target ON aliases (target);"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE message_chunks ("
	"  message_id INTEGER NOT NULL REFERENCES messages (id),"
	"  seq INTEGER NOT NULL,"
	"  data BLOB NOT NULL,"
	"  PRIMARY KEY (message_id, seq)"
	");"
	"CREATE TABLE mailbox_entries ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  user_id INTEGER NOT NULL REFERENCES users (id),"
	"  message_id INTEGER NOT NULL REFERENCES messages (id),"
	"  size INTEGER NOT NULL,"
	"  created INTEGER NOT NULL"
	");"
	"CREATE INDEX mailbox_entries_user ON mailbox_entries (user_id, id);"
	"CREATE INDEX mailbox_entries_message ON mailbox_entries (message_id);"
	"CREATE TABLE pop3_locks ("
	"  mailbox TEXT PRIMARY KEY,"
	"  owner TEXT NOT NULL,"
	"  expires INTEGER NOT NULL"
	");"
	"CREATE TABLE queue ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  message_id INTEGER NOT NULL REFERENCES messages (id),"
	"  sender TEXT NOT NULL,"
	"  recipient TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  next_attempt INTEGER NOT NULL,"
	"  state INTEGER NOT NULL DEFAULT 0,"
	"  lease_owner TEXT,"
	"  lease_until INTEGER,"
	"  last_error TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX queue_due ON queue (state, next_attempt);"
	"CREATE INDEX queue_message ON queue (message_id);";

/*
 * Version 2: local parts match without regard to case.
 * - address_key (users, aliases) and target_key (aliases) hold the address
 *   with every ASCII letter in lower case (smtp_address_key, registered as
 *   the SQL function mail_address_key while migrating: SQLite's lower()
 *   would fold more than ASCII in a build with ICU). Lookups are equality
 *   on these columns; address and target keep the spelling for display.
 * - Version 1 compared local parts exactly, so it may hold addresses that
 *   differ only by case. They are not merged: in each group the one spelled
 *   in lower case, else the oldest, keeps case_conflict = 0; the others get
 *   a case_conflict of their own (the row id, or for an alias spelling the
 *   smallest id among its rows), so the unique indexes hold. A lookup
 *   prefers the row spelled exactly as asked, else the case_conflict = 0
 *   one: every old spelling keeps reaching what it reached before, until
 *   the operator resolves the conflicts that store_address_problems()
 *   (mailctl db migrate, db check) reports.
 * - The unique indexes replace the old exact ones as the rule for new rows:
 *   at most one user per key, one target (by key) per alias.
 */
static const char schema_v2[] =
	"ALTER TABLE users ADD COLUMN address_key TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE users ADD COLUMN case_conflict INTEGER NOT NULL DEFAULT 0;"
	"UPDATE users SET address_key = mail_address_key(address);"
	"UPDATE users SET case_conflict = id WHERE id IN ("
	"  SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY address_key"
	"                  ORDER BY address = address_key DESC, id) AS n FROM users)"
	"  WHERE n > 1);"
	"CREATE UNIQUE INDEX users_address_key ON users (address_key, case_conflict);"
	"ALTER TABLE aliases ADD COLUMN address_key TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE aliases ADD COLUMN target_key TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE aliases ADD COLUMN case_conflict INTEGER NOT NULL DEFAULT 0;"
	"UPDATE aliases SET address_key = mail_address_key(address),"
	"  target_key = mail_address_key(target);"
	"UPDATE aliases SET case_conflict = (SELECT MIN(a2.id) FROM aliases a2"
	"                                    WHERE a2.address = aliases.address)"
	" WHERE address IN ("
	"  SELECT address FROM (SELECT address, ROW_NUMBER() OVER (PARTITION BY address_key"
	"                       ORDER BY address = address_key DESC, MIN(id)) AS n"
	"                       FROM aliases GROUP BY address)"
	"  WHERE n > 1);"
	"DROP INDEX aliases_target;"
	"CREATE UNIQUE INDEX aliases_address_key ON aliases (address_key, case_conflict, target);"
	"CREATE INDEX aliases_target_key ON aliases (target_key);";

/*
 * Version 3: what each mailbox holds, kept up to date by triggers, so the
 * quota checks at RCPT (on smtpd's loop) and inside the commit are one
 * primary-key lookup however many messages the mailbox has, instead of a
 * SUM over its entries. Triggers rather than code: every path that adds or
 * removes an entry (deliveries, POP3 deletes, user deletion, an operator's
 * SQL) keeps the counters right, in the same transaction. A user without
 * a row has an empty mailbox; the row goes with the user (ON DELETE
 * CASCADE). The backfill counts the entries an older file already has.
 * `mailctl db check` compares the counters with the entries.
 */
static const char schema_v3[] =
	"CREATE TABLE mailbox_usage ("
	"  user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,"
	"  bytes INTEGER NOT NULL,"
	"  messages INTEGER NOT NULL"
	");"
	"INSERT INTO mailbox_usage (user_id, bytes, messages)"
	"  SELECT user_id, SUM(size), COUNT(*) FROM mailbox_entries GROUP BY user_id;"
	"CREATE TRIGGER mailbox_usage_insert AFTER INSERT ON mailbox_entries BEGIN"
	"  INSERT INTO mailbox_usage (user_id, bytes, messages) VALUES (NEW.user_id, NEW.size, 1)"
	"  ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes,"
	"    messages = messages + 1;"
	"END;"
	"CREATE TRIGGER mailbox_usage_delete AFTER DELETE ON mailbox_entries BEGIN"
	"  UPDATE mailbox_usage SET bytes = bytes - OLD.size, messages = messages - 1"
	"  WHERE user_id = OLD.user_id;"
	"END;"
	"CREATE TRIGGER mailbox_usage_update AFTER UPDATE OF user_id, size ON mailbox_entries BEGIN"
	"  UPDATE mailbox_usage SET bytes = bytes - OLD.size, messages = messages - 1"
	"  WHERE user_id = OLD.user_id;"
	"  INSERT INTO mailbox_usage (user_id, bytes, messages) VALUES (NEW.user_id, NEW.size, 1)"
	"  ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes,"
	"    messages = messages + 1;"
	"END;";

/*
 * Version 4: DKIM signing keys (RFC 6376), one per local domain, written
 * by `mailctl dkim generate` and read by the outbound signer. The domain
 * is the lower-case name as in domains; it is not a foreign key so that a
 * key row never stands in the way of the domain checks above, and
 * store_domain_del removes the key with its domain. private_key is the
 * PEM text; the file is as secret as the password hashes it already
 * holds.
 */
static const char schema_v4[] =
	"CREATE TABLE dkim_keys ("
	"  domain TEXT PRIMARY KEY,"
	"  selector TEXT NOT NULL,"
	"  private_key TEXT NOT NULL,"
	"  created INTEGER NOT NULL"
	");";

/*
 * Version 5: the DSN parameters (RFC 3461) of each queued recipient:
 * NOTIFY (a bit set, 0 when not given), ORCPT and the message's RET and
 * ENVID as the client gave them, for the runner to pass on and to honour
 * in its reports; and whether the sender has been warned of the delay
 * (delay_warning_time), so the warning goes out once. Rows queued before
 * keep the defaults: no parameters, not warned.
 */
static const char schema_v5[] =
	"ALTER TABLE queue ADD COLUMN dsn_notify INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE queue ADD COLUMN dsn_orcpt TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE queue ADD COLUMN dsn_ret INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE queue ADD COLUMN dsn_envid TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE queue ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;";

static const char *const migrations[] = {
	schema_v1,
	schema_v2,
	schema_v3,
	schema_v4,
	schema_v5,
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(MIGRATION_COUNT == STORE__SCHEMA_VERSION,
               "one migration per schema version (store-private.h)");

/* Reads one integer PRAGMA (user_version, application_id). */
static int pragma_int(store_t *store, const char *sql, int *value_r)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(store__sqlite(store)->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, sql);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*value_r = sqlite3_column_int(stmt, 0);
	int err = rc == SQLITE_ROW ? STORE_OK : store__sqlite_fail(store, rc, sql);
	sqlite3_finalize(stmt);
	return err;
}

int store__sqlite_schema_version(store_t *store, int *version_r)
{
	return pragma_int(store, "PRAGMA user_version", version_r);
}

/* 1 when the file has no schema objects at all (new or empty file). */
static int file_is_empty(store_t *store, int *empty_r)
{
	sqlite3_stmt *stmt;
	const char *sql = "SELECT COUNT(*) FROM sqlite_master";
	int rc = sqlite3_prepare_v2(store__sqlite(store)->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, "read schema");
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*empty_r = sqlite3_column_int(stmt, 0) == 0;
	int err = rc == SQLITE_ROW ? STORE_OK : store__sqlite_fail(store, rc, "read schema");
	sqlite3_finalize(stmt);
	return err;
}

/* Refuses files that are not ours or that a newer program wrote. */
static int check_identity(store_t *store, int version)
{
	int app_id = 0, empty = 0, err;
	if (version > MIGRATION_COUNT)
		return store__fail(store, STORE_ECORRUPT,
		                   "database schema version %d is newer than this program's (%d)",
		                   version, MIGRATION_COUNT);
	if (version == 0) {
		err = file_is_empty(store, &empty);
		if (err != STORE_OK)
			return err;
		if (!empty)
			return store__fail(store, STORE_ECORRUPT, "not a mail database (foreign tables)");
		return STORE_OK;
	}
	err = pragma_int(store, "PRAGMA application_id", &app_id);
	if (err != STORE_OK)
		return err;
	if (app_id != STORE__APPLICATION_ID)
		return store__fail(store, STORE_ECORRUPT, "not a mail database (application id %d)",
		                   app_id);
	return STORE_OK;
}

static int exec_script(store_t *store, const char *sql, const char *what)
{
	char *msg = NULL;
	int rc = sqlite3_exec(store__sqlite(store)->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int err = store__fail(store, store__sqlite_map_rc(rc), "%s: %s", what,
		                      msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return err;
	}
	return STORE_OK;
}

/* mail_address_key(text): smtp_address_key() for the migrations. */
static void sql_address_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char key[STORE__ADDRESS_BUF + 1];
	const unsigned char *text = sqlite3_value_text(argv[0]);
	if (text == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	if ((size_t)sqlite3_value_bytes(argv[0]) >= sizeof(key)) {
		/* Longer than any address we ever stored: no key can be made. */
		sqlite3_result_error(ctx, "address too long for a key", -1);
		return;
	}
	smtp_address_key((const char *)text, key, sizeof(key));
	sqlite3_result_text(ctx, key, -1, SQLITE_TRANSIENT);
}

/* Applies the missing migrations in one write transaction. The version is
 * read again under the write lock: another process may have migrated
 * between our first look and now. */
static int migrate(store_t *store)
{
	int version = 0, err;
	char sql[64];
	int rc = sqlite3_create_function(store__sqlite(store)->db, "mail_address_key", 1,
	                                 SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_address_key,
	                                 NULL, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, "register mail_address_key");
	err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store__sqlite_schema_version(store, &version);
	if (err == STORE_OK)
		err = check_identity(store, version);
	for (int v = version; err == STORE_OK && v < MIGRATION_COUNT; v++) {
		char what[32];
		snprintf(what, sizeof(what), "migration %d", v + 1);
		err = exec_script(store, migrations[v], what);
	}
	if (err == STORE_OK && version < MIGRATION_COUNT) {
		/* PRAGMAs take no parameters; both values are our own integers. */
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
		         STORE__APPLICATION_ID, MIGRATION_COUNT);
		err = exec_script(store, sql, "set schema version");
	}
	return store__finish(store, err);
}

int store__sqlite_schema_identify(store_t *store, int *version_r)
{
	/* One snapshot for both reads: another process may commit its
	 * migration between them (version 0, then tables: "foreign"). */
	int err = store__begin_read(store);
	if (err != STORE_OK)
		return err;
	err = store__sqlite_schema_version(store, version_r);
	if (err == STORE_OK)
		err = check_identity(store, *version_r);
	store__end_read(store);
	return err;
}

int store__sqlite_schema_prepare(store_t *store, int version, int want_migrate)
{
	if (version == MIGRATION_COUNT)
		return STORE_OK;
	if (!want_migrate)
		return store__fail(store, STORE_ECORRUPT,
		                   "database schema version %d is older than this program's (%d): "
		                   "run `mailctl db migrate`",
		                   version, MIGRATION_COUNT);
	return migrate(store);
}
