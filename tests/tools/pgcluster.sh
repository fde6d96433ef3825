#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, from Debian's packages:
# initdb and pg_ctl (as the `postgres` user when run as root, which initdb
# refuses to be), on 127.0.0.1 only, with a database and a role for the
# store. Nothing is installed system-wide and no system cluster is touched.
#   tests/tools/pgcluster.sh start DIR [PORT]   prints the store's URI
#   tests/tools/pgcluster.sh stop DIR
#   tests/tools/pgcluster.sh restart DIR        (a server restart under load)
# PORT defaults to 54329. The role may create databases: the end-to-end
# tests on PostgreSQL (ctest's e2e-pg/) make one per installation. The
# cluster keeps PostgreSQL's durable defaults (fsync, synchronous_commit =
# on, full_page_writes): the tests check what the store promises, so the
# database must not promise less.
set -euo pipefail
cmd=${1:?usage: pgcluster.sh start|stop|restart DIR [PORT]}
dir=$(realpath -m "${2:?usage: pgcluster.sh start|stop|restart DIR [PORT]}")
port=${3:-54329}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] ||
	{ echo "pgcluster: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }

# Runs a server program as the cluster's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Two end-to-end tests at once (ctest -j2), each with an smtpd and a pop3d
# (or two smtpd) that may hold one connection per thread of libuv's pool
# (32, common/server.c) plus their committers and loop handles, beside the
# pg/ unit tests: about 160 at worst, with room to spare.
max_connections=300

case $cmd in
start)
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
			--locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
	fi
	if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=$max_connections" start \
			>/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
	fi
	psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt)
	if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'mail'")" != 1 ]; then
		"${psql[@]}" -c "CREATE ROLE mail LOGIN" -c "CREATE DATABASE mail OWNER mail"
	fi
	# Also on a cluster made before the role needed them. CREATEDB: each
	# end-to-end test makes a database of its own. pg_signal_backend: its
	# DROP DATABASE ... WITH (FORCE) must also end an autovacuum worker that
	# happens to be on that database, which runs as no role of ours.
	"${psql[@]}" -c "SET client_min_messages = warning" -c "ALTER ROLE mail CREATEDB" \
		-c "GRANT pg_signal_backend TO mail"
	# The databases of end-to-end tests that were killed before they could
	# drop their own (mailtest.py names them e2e_*).
	"${psql[@]}" <<-'EOF' >/dev/null
		SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database
		 WHERE datname LIKE 'e2e\_%' \gexec
	EOF
	echo "postgresql://mail@127.0.0.1:$port/mail"
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
restart)
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
	;;
*)
	echo "usage: pgcluster.sh start|stop|restart DIR [PORT]" >&2
	exit 2
	;;
esac
