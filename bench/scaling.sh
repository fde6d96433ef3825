#!/usr/bin/env bash
# bench/scaling.sh - the same loads on SQLite and on PostgreSQL, and one
# against two smtpd processes on one PostgreSQL database (docs/SCALING.md).
#
# Usage: bench/scaling.sh [--quick] [--results FILE] [--keep]
#   --quick     one repetition of smaller loads: a smoke check
#   --results   where the JSON lines go (default: BUILD/scaling-DATE.jsonl;
#               the Markdown table goes next to it as .md)
#   --keep      keep the temp dir (databases, logs, the cluster) for inspection
# Environment: BENCH_BUILD_DIR (default build/bench), BENCH_PORT_BASE.
#
# Loads (4 KiB messages, plain SMTP and POP3 on loopback, medians of REPS):
#   smtp-c1, smtp-c20   1 and 20 senders, round robin over 20 mailboxes
#   pop3-20x            20 clients, each downloading one of those mailboxes
# and on PostgreSQL only:
#   smtp-c20-2x, smtp-c40-2x   20 and 40 senders split evenly over two smtpd
#                               processes on the same database, against
#                               smtp-c40 (40 senders on one smtpd)
# The PostgreSQL server is a throwaway cluster (tests/tools/pgcluster.sh) on
# this machine with its durable defaults (fsync, synchronous_commit = on), so
# the database's own CPU and syncs compete with the daemons for the cores.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build/bench}
quick=0 keep=0 results=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--keep) keep=1 ;;
	--results) [ $# -ge 2 ] || { echo "scaling.sh: --results needs a file" >&2; exit 2; }; results=$2; shift ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "scaling.sh: unknown argument '$1' (bench/scaling.sh --help)" >&2; exit 2 ;;
	esac
	shift
done
if [ $quick = 1 ]; then
	REPS=1 N_C1=300 N_C20=2000
else
	REPS=3 N_C1=2000 N_C20=20000
fi
PW=benchpw
DOMAIN=bench.test

log() { printf '[scaling.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

log "building Release in $build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" --target smtpd pop3d mailctl mailbench -j 2 >/dev/null ||
	die "build failed: cmake --build $build --target smtpd pop3d mailctl mailbench"
MB=$build/bench/mailbench
[ -z "$results" ] && results=$build/scaling-$(date +%Y%m%d-%H%M%S).jsonl
: > "$results"

tmp=$(mktemp -d /tmp/mailscaling.XXXXXX)
chmod 755 "$tmp" # the cluster's owner, postgres, must reach its directory
pids=()
cleanup() {
	set +e
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	"$src/tests/tools/pgcluster.sh" stop "$tmp/pg" >/dev/null 2>&1
	if [ $keep = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

. "$src/bench/ports.sh"
base=$(free_port_base "${BENCH_PORT_BASE:-25000}" 13)
P_PG=$((base + 12))

printf '{"tool":"scaling.sh","proto":"machine","cpus":%s,"cpu_model":"%s","reps":%s,"quick":%s,"loadavg_start":"%s"}\n' \
	"$(nproc)" "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo | tr -d '"')" \
	"$REPS" "$quick" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$results"

# instance NAME DB PORT_OFFSET: a config for one daemon host (its own ports
# and spool) on database DB; prints the config's path.
instance() {
	local name=$1 db=$2 off=$3 dir=$tmp/$1
	mkdir -p "$dir/spool"
	cat > "$dir/mail.conf" <<CONF
db = $db
tmpdir = $dir/spool
hostname = bench.test
smtp_listen = 127.0.0.1:$((base + off))
submission_listen =
smtps_listen =
pop3_listen = 127.0.0.1:$((base + off + 1))
pop3s_listen =
allow_plaintext_auth = yes
max_connections = 2000
max_connections_per_ip = 2000
CONF
	echo "$dir/mail.conf"
}
start() { # PROGRAM CONF PORT
	"$build/$1/$1" -c "$2" 2>>"${2%/mail.conf}/$1.log" &
	pids+=($!)
	wait_port "$3" "$1"
}
stop_all() {
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
mb() { # LABEL ARGS...
	local label=$1
	shift
	"$MB" "$@" --label "$label" >> "$results" || log "warning: $label: errors (see the JSON line)"
}
users20=$tmp/users20
for i in $(seq -w 1 20); do echo "pop$i@$DOMAIN:$PW"; done > "$users20"
rcpt20=$(cut -d: -f1 "$users20" | paste -sd,)
smtp_args() { # CONCURRENCY MESSAGES PORT
	echo smtp --port "$3" --concurrency "$1" --messages "$2" --size 4K --from "bench@$DOMAIN" --to "$rcpt20"
}

# run_backend NAME DB: the loads on one backend, from an empty database.
run_backend() {
	local be=$1 db=$2 conf conf2
	conf=$(instance "$be-a" "$db" 0)
	"$build/mailctl/mailctl" -c "$conf" db migrate >/dev/null
	"$build/mailctl/mailctl" -c "$conf" domain add "$DOMAIN" >/dev/null
	while IFS=: read -r user pw; do
		echo "$pw" | "$build/mailctl/mailctl" -c "$conf" user add "$user" --password-stdin >/dev/null
	done < "$users20"
	start smtpd "$conf" "$base"
	start pop3d "$conf" $((base + 1))
	log "$be: SMTP, 1 and 20 senders"
	for _ in $(seq 1 "$REPS"); do
		mb "$be/smtp-c1" $(smtp_args 1 "$N_C1" "$base")
		mb "$be/smtp-c20" $(smtp_args 20 "$N_C20" "$base")
	done
	log "$be: POP3, 20 mailboxes"
	"$MB" pop3 --port $((base + 1)) --concurrency 20 --users "$users20" --quiet >/dev/null || true
	for _ in $(seq 1 "$REPS"); do
		mb "$be/pop3-20x" pop3 --port $((base + 1)) --concurrency 20 --users "$users20"
	done
	if [ "$be" = postgresql ]; then
		conf2=$(instance "$be-b" "$db" 5)
		start smtpd "$conf2" $((base + 5))
		log "$be: one against two smtpd processes"
		for _ in $(seq 1 "$REPS"); do
			mb "$be/smtp-c40" $(smtp_args 40 "$N_C20" "$base")
			for c in 20 40; do
				mb "$be/smtp-c$c-2x:1" $(smtp_args $((c / 2)) $((N_C20 / 2)) "$base") &
				local one=$!
				mb "$be/smtp-c$c-2x:2" $(smtp_args $((c / 2)) $((N_C20 / 2)) $((base + 5)))
				wait "$one"
			done
		done
	fi
	stop_all
	"$build/mailctl/mailctl" -c "$conf" db check >/dev/null || die "$be: mailctl db check failed after the loads"
}

run_backend sqlite "$tmp/mail.db"
mkdir -p "$tmp/pg"
pg_uri=$("$src/tests/tools/pgcluster.sh" start "$tmp/pg" "$P_PG")
run_backend postgresql "$pg_uri"
printf '{"tool":"scaling.sh","proto":"loadavg_end","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$results"

/usr/bin/python3 "$src/bench/scaling_report.py" "$results" | tee "${results%.jsonl}.md"
log "results: $results"
