#!/bin/bash
# Entrypoint of the PostgreSQL image (docker/postgres/Dockerfile), run as the
# user `postgres`.
#   postgres ARGS...   makes the cluster on first start, then runs the server
#                      in the foreground
#   anything else      runs as given
# First start: $PGDATA missing on the volume (it is a directory inside it). The cluster is made beside it
# and renamed into place only when complete, so a start that fails halfway
# (an unreadable password file, a full disk) is simply made again next time
# and never leaves a cluster without the mail role.
set -euo pipefail

die() {
	echo "pg-entrypoint: $*" >&2
	exit 1
}

init_cluster() {
	local new=$PGDATA.new password
	[ -r "$DB_PASSWORD_FILE" ] ||
		die "cannot read the password file $DB_PASSWORD_FILE (it wants group 8, mail, and mode 0640)"
	IFS= read -r password <"$DB_PASSWORD_FILE" || true
	[ -n "$password" ] || die "the first line of $DB_PASSWORD_FILE is empty"

	rm -rf "$new"
	# Peer authentication on the local socket (this container's postgres
	# only); passwords hashed with SCRAM for everyone over TCP.
	initdb -D "$new" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=peer \
		--auth-host=scram-sha-256 >/dev/null
	# The daemons connect from other containers, at addresses Docker picks:
	# the mail role, to its database only, from anywhere with the password.
	printf 'host %s %s all scram-sha-256\n' "$DB_NAME" "$DB_USER" >>"$new/pg_hba.conf"

	# A server on the socket only for the set-up: nothing can connect over
	# TCP (and the health check does not pass) before the role exists.
	pg_ctl -D "$new" -s -w -o "-c listen_addresses=" start
	# The password goes to psql on its standard input (printf is a builtin):
	# never on a command line. The quotes are doubled for the SQL literal.
	printf "CREATE ROLE \"%s\" LOGIN PASSWORD '%s';\nCREATE DATABASE \"%s\" OWNER \"%s\";\n" \
		"$DB_USER" "${password//\'/\'\'}" "$DB_NAME" "$DB_USER" |
		psql -X -q -v ON_ERROR_STOP=1 -d postgres
	pg_ctl -D "$new" -s -w -m fast stop
	mv "$new" "$PGDATA"
	echo "pg-entrypoint: made the cluster in $PGDATA with the role $DB_USER and its database $DB_NAME" >&2
}

if [ "${1:-}" = postgres ]; then
	[ -e "$PGDATA" ] || init_cluster
fi
exec "$@"
