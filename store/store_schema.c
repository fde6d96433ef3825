/*
 * store_schema.c - the schema and its migrations.
 *
 * PRAGMA user_version is the number of migrations applied; migration N
 * takes the file from version N-1 to N and is never edited once released
 * (a change is a new migration). Version 1 is the whole initial schema.
 * PRAGMA application_id marks the file as ours, so `db = ` pointing at some
 * other SQLite file is refused instead of having tables added to it.
 */
#include <stdio.h>
#include <string.h>

#include "store-private.h"

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

static const char *const migrations[] = {
	schema_v1,
};

#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_version(void)
{
	return MIGRATION_COUNT;
}

/* Reads one integer PRAGMA (user_version, application_id). */
static int pragma_int(store_t *store, const char *sql, int *value_r)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
	if (rc != SQLITE_OK)
		return store__sqlite_fail(store, rc, sql);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*value_r = sqlite3_column_int(stmt, 0);
	int err = rc == SQLITE_ROW ? STORE_OK : store__sqlite_fail(store, rc, sql);
	sqlite3_finalize(stmt);
	return err;
}

int store_file_version(store_t *store, int *version_r)
{
	return pragma_int(store, "PRAGMA user_version", version_r);
}

/* 1 when the file has no schema objects at all (new or empty file). */
static int file_is_empty(store_t *store, int *empty_r)
{
	sqlite3_stmt *stmt;
	const char *sql = "SELECT COUNT(*) FROM sqlite_master";
	int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
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
	int rc = sqlite3_exec(store->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int err = store__fail(store, store__map_rc(rc), "%s: %s", what,
		                      msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return err;
	}
	return STORE_OK;
}

/* Applies the missing migrations in one write transaction. The version is
 * read again under the write lock: another process may have migrated
 * between our first look and now. */
static int migrate(store_t *store)
{
	int version = 0, err;
	char sql[64];
	err = store__begin_write(store);
	if (err != STORE_OK)
		return err;
	err = store_file_version(store, &version);
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

int store__schema_identify(store_t *store, int *version_r)
{
	/* One snapshot for both reads: another process may commit its
	 * migration between them (version 0, then tables: "foreign"). */
	int err = store__begin_read(store);
	if (err != STORE_OK)
		return err;
	err = store_file_version(store, version_r);
	if (err == STORE_OK)
		err = check_identity(store, *version_r);
	store__end_read(store);
	return err;
}

int store__schema_prepare(store_t *store, int version, int want_migrate)
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
