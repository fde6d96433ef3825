#!/usr/bin/env bash
# bench/run.sh - the standard benchmark of smtpd and pop3d (docs/PERFORMANCE.md).
#
# Usage: bench/run.sh [--quick] [--compare] [--only LIST] [--results FILE] [--keep]
#   --quick     one repetition of smaller loads: a smoke check (< 2 minutes)
#   --only      a comma-separated subset of smtp, pop3, outbound, idle (default: all)
#   --compare   also installs Postfix and Dovecot from Debian (as root) and runs
#               the same loads against private instances of them
#   --results   where the JSON lines go (default: BUILD/bench-results-DATE.jsonl;
#               the Markdown tables go next to it as .md)
#   --keep      keep the temp dir (databases, logs) for inspection
# Environment: BENCH_BUILD_DIR (default build/bench), BENCH_PORT_BASE.
#
# Builds a Release tree, makes a throw-away installation in a temp dir (config,
# database, spool, certificate, users), starts smtpd and pop3d on loopback
# ports, runs every load REPS times with mailbench (and Postfix's smtp-source
# and smtp-sink when present), and prints medians as Markdown. Everything it
# starts listens on 127.0.0.1 only, keeps its files in the temp dir, and is
# stopped on exit, whatever the exit.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build/bench}
quick=0 compare=0 keep=0 results="" only=""
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--compare) compare=1 ;;
	--keep) keep=1 ;;
	--only) [ $# -ge 2 ] || { echo "run.sh: --only needs a list" >&2; exit 2; }; only=$2; shift ;;
	--results) [ $# -ge 2 ] || { echo "run.sh: --results needs a file" >&2; exit 2; }; results=$2; shift ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument '$1' (bench/run.sh --help)" >&2; exit 2 ;;
	esac
	shift
done

# want GROUP: whether --only (if given) includes this group of loads.
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
for g in ${only//,/ }; do
	case $g in smtp | pop3 | outbound | idle) ;; *) echo "run.sh: --only: unknown group '$g' (smtp, pop3, outbound, idle)" >&2; exit 2 ;; esac
done

log() { printf '[run.sh %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Loads. Full: what docs/PERFORMANCE.md reports. Quick: the same shapes, smaller.
if [ $quick = 1 ]; then
	REPS=1 N_C1_4K=300 N_C20_4K=2000 N_C1_1M=10 N_C20_1M=40 N_OUT=1000
	POP_1X=1000 POP_PER=100 BIG=10M LIST_N=10000 LIST_TAG=10k IDLE_COUNTS="1000"
else
	REPS=3 N_C1_4K=2000 N_C20_4K=20000 N_C1_1M=100 N_C20_1M=400 N_OUT=5000
	POP_1X=5000 POP_PER=500 BIG=50M LIST_N=100000 LIST_TAG=100k IDLE_COUNTS="1000 10000"
fi
PW=benchpw
DOMAIN=bench.test
USERS=(sink pop1x big list)
for i in $(seq -w 1 20); do USERS+=("pop$i"); done

# ---------------------------------------------------------------- build
log "building Release in $build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" --target smtpd pop3d mailctl mailbench -j 2 >/dev/null ||
	die "build failed: cmake --build $build --target smtpd pop3d mailctl mailbench"
MB=$build/bench/mailbench
[ -z "$results" ] && results=$build/bench-results-$(date +%Y%m%d-%H%M%S).jsonl
: > "$results"

if [ $compare = 1 ]; then
	if ! command -v smtp-source >/dev/null || ! command -v dovecot >/dev/null; then
		[ "$(id -u)" = 0 ] || die "--compare installs postfix and dovecot-pop3d: run as root"
		log "installing postfix and dovecot-pop3d (no daemon is started by the install)"
		export DEBIAN_FRONTEND=noninteractive
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
		apt-get update -qq >/dev/null || true
		apt-get install -y -qq --no-install-recommends postfix dovecot-pop3d >/dev/null
	fi
	[ "$(id -u)" = 0 ] || die "--compare runs Postfix and Dovecot instances: run as root"
fi

# ---------------------------------------------------------------- temp dir, cleanup
tmp=$(mktemp -d /tmp/mailbench.XXXXXX)
# Postfix's virtual(8) and Dovecot's mail processes run as nobody and must reach vmail/.
chmod 755 "$tmp"
smtpd_pid="" pop3d_pid="" sink_pid="" idle_pid="" out_pid="" postfix_on=0 dovecot_on=0

stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	set +e
	stop_pid "$idle_pid"
	stop_pid "$smtpd_pid"
	stop_pid "$pop3d_pid"
	stop_pid "$sink_pid"
	stop_pid "$out_pid"
	[ $postfix_on = 1 ] && postfix -c "$tmp/postfix/etc" stop >/dev/null 2>&1
	[ $dovecot_on = 1 ] && doveadm -c "$tmp/dovecot/dovecot.conf" stop >/dev/null 2>&1
	if [ $keep = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 10,000 idle sessions need as many descriptors in the daemon and in mailbench.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 10500 ]; then
	log "warning: only $(ulimit -n) file descriptors: idle runs limited to 1000 connections"
	IDLE_COUNTS="1000"
fi

# ---------------------------------------------------------------- ports
. "$src/bench/ports.sh"
base=$(free_port_base "${BENCH_PORT_BASE:-24000}" 11)
P_SMTP=$base P_SUB=$((base + 1)) P_SMTPS=$((base + 2)) P_POP3=$((base + 3)) P_POP3S=$((base + 4))
P_SINK=$((base + 5)) P_POSTFIX=$((base + 6)) P_DOVECOT=$((base + 7)) P_DOVECOTS=$((base + 8))
P_OUT=$((base + 9)) P_DEAD=$((base + 10))

# ---------------------------------------------------------------- machine
fsync_rate=$(/usr/bin/python3 - "$tmp" <<'PY'
import os, sys, time
p = os.path.join(sys.argv[1], "sync.test")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < 2:
    os.write(fd, b"x" * 512)
    os.fdatasync(fd)
    n += 1
print(int(n / (time.monotonic() - t0)))
os.close(fd)
os.unlink(p)
PY
)
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
printf '{"tool":"run.sh","proto":"machine","cpus":%s,"cpu_model":"%s","fdatasync_per_s":%s,"dir":"%s","reps":%s,"quick":%s,"compare":%s,"loadavg_start":"%s"}\n' \
	"$(nproc)" "${cpu_model//\"/}" "$fsync_rate" "/tmp" "$REPS" "$quick" "$compare" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$results"
log "machine: $(nproc) CPUs ($cpu_model), $fsync_rate fdatasync/s; ports $base-$((base + 8)); temp $tmp"

# ---------------------------------------------------------------- our installation
conf=$tmp/mail.conf
mkdir -p "$tmp/spool"
cat > "$conf" <<CONF
# Written by bench/run.sh for one benchmark run.
db = $tmp/mail.db
tmpdir = $tmp/spool
hostname = bench.test
smtp_listen = 127.0.0.1:$P_SMTP
submission_listen = 127.0.0.1:$P_SUB
smtps_listen = 127.0.0.1:$P_SMTPS
pop3_listen = 127.0.0.1:$P_POP3
pop3s_listen = 127.0.0.1:$P_POP3S
tls_cert = $tmp/cert.pem
tls_key = $tmp/key.pem
# Plaintext POP3 runs log in with USER/PASS without TLS.
allow_plaintext_auth = yes
max_message_size = 64M
max_connections = 20000
max_connections_per_ip = 20000
CONF
ctl() { "$build/mailctl/mailctl" -c "$conf" "$@"; }
ctl cert selfsigned --host localhost --cert "$tmp/cert.pem" --key "$tmp/key.pem" >/dev/null
chmod 644 "$tmp/key.pem" # Dovecot reads it too; a throw-away key
ctl db migrate >/dev/null
ctl domain add "$DOMAIN" >/dev/null

# One yescrypt hash per user, shared by our database and Dovecot's passwd-file,
# so a login costs both servers the same.
/usr/bin/python3 -W ignore - "$PW" "$DOMAIN" "${USERS[@]}" > "$tmp/passwd" <<'PY'
import crypt, secrets, string, sys
pw, domain, users = sys.argv[1], sys.argv[2], sys.argv[3:]
alphabet = "./" + string.digits + string.ascii_letters
for u in users:
    salt = "".join(secrets.choice(alphabet) for _ in range(16))
    print(f"{u}@{domain}:{{CRYPT}}{crypt.crypt(pw, '$y$j9T$' + salt + '$')}::::::")
PY
ctl user import "$tmp/passwd" >/dev/null
for i in $(seq -w 1 20); do echo "pop$i@$DOMAIN:$PW"; done > "$tmp/users20"
rcpt20=$(for i in $(seq -w 1 20); do printf 'pop%s@%s,' "$i" "$DOMAIN"; done)
rcpt20=${rcpt20%,}

start_smtpd() {
	"$build/smtpd/smtpd" -c "$conf" 2>>"$tmp/smtpd.log" &
	smtpd_pid=$!
	wait_port "$P_SMTP" smtpd
}
start_pop3d() {
	"$build/pop3d/pop3d" -c "$conf" 2>>"$tmp/pop3d.log" &
	pop3d_pid=$!
	wait_port "$P_POP3" pop3d
}
start_smtpd
start_pop3d

# ---------------------------------------------------------------- Postfix, Dovecot, smtp-sink
have_sink=0
if command -v smtp-sink >/dev/null; then
	smtp-sink -u nobody -m 1000 "127.0.0.1:$P_SINK" 1024 >/dev/null 2>>"$tmp/smtp-sink.log" &
	sink_pid=$!
	wait_port "$P_SINK" smtp-sink
	have_sink=1
else
	log "smtp-sink not installed (package postfix): no ceiling figures; use --compare"
fi

if [ $compare = 1 ]; then
	mkdir -p "$tmp/postfix/etc" "$tmp/postfix/spool" "$tmp/postfix/data" "$tmp/vmail"
	chown nobody:nogroup "$tmp/vmail"
	chown postfix "$tmp/postfix/data"
	sed -e "s|@DIR@|$tmp|g; s|@UID@|$(id -u nobody)|; s|@GID@|$(id -g nobody)|" \
		-e "s|@RELAYPORT@|$P_SMTP|" \
		"$src/bench/compare/postfix/main.cf.in" > "$tmp/postfix/etc/main.cf"
	sed -e "s|@PORT@|$P_POSTFIX|" "$src/bench/compare/postfix/master.cf.in" > "$tmp/postfix/etc/master.cf"
	for u in "${USERS[@]}"; do echo "$u@$DOMAIN $DOMAIN/$u/"; done > "$tmp/postfix/etc/vmailbox"
	# Postfix reports start-up errors to syslog only, unless it has a terminal.
	script -qec "postfix -c $tmp/postfix/etc start" /dev/null >"$tmp/postfix-start.log" 2>&1 ||
		die "postfix did not start: $(cat "$tmp/postfix-start.log")"
	postfix_on=1
	wait_port "$P_POSTFIX" postfix

	mkdir -p "$tmp/dovecot/run" "$tmp/dovecot/state"
	cp "$tmp/passwd" "$tmp/dovecot/passwd"
	sed -e "s|@DIR@|$tmp|g; s|@UID@|$(id -u nobody)|g; s|@GID@|$(id -g nobody)|g" \
		-e "s|@PORT@|$P_DOVECOT|; s|@PORTS@|$P_DOVECOTS|" \
		"$src/bench/compare/dovecot/dovecot.conf.in" > "$tmp/dovecot/dovecot.conf"
fi

# Waits until Postfix has delivered everything it accepted (bounded).
postfix_drain() {
	[ $compare = 1 ] || return 0
	for _ in $(seq 1 1200); do
		[ -z "$(find "$tmp/postfix/spool/incoming" "$tmp/postfix/spool/active" \
			"$tmp/postfix/spool/deferred" "$tmp/postfix/spool/maildrop" -type f 2>/dev/null | head -1)" ] && return 0
		sleep 0.5
	done
	log "warning: Postfix queue not empty after 10 minutes"
}

# ---------------------------------------------------------------- runners
# mb_once LABEL ARGS...: one mailbench run, JSON into the results. Repetitions
# are loops around every target in turn, so a change in the machine's load
# (it is shared) hits all targets alike instead of one target's runs.
mb_once() {
	local label=$1
	shift
	"$MB" "$@" --label "$label" >> "$results" || log "warning: $label: errors (see the JSON line)"
}
# src_once LABEL PORT SESSIONS MESSAGES LENGTH: Postfix's smtp-source, timed here.
src_once() {
	local label=$1 port=$2 s=$3 m=$4 len=$5 t0 t1 rc=0
	t0=$(date +%s.%N)
	timeout 900 smtp-source -d -s "$s" -m "$m" -l "$len" -M bench.test -f "bench@$DOMAIN" \
		-t "sink@$DOMAIN" "127.0.0.1:$port" >/dev/null 2>>"$tmp/smtp-source.log" || rc=$?
	t1=$(date +%s.%N)
	awk -v l="$label" -v s="$s" -v m="$m" -v len="$len" -v t0="$t0" -v t1="$t1" -v rc="$rc" 'BEGIN {
		secs = t1 - t0
		printf "{\"tool\":\"smtp-source\",\"proto\":\"smtp\",\"label\":\"%s\",\"concurrency\":%d,\"messages\":%d,\"size\":%d,\"tls\":\"none\",\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,\"errors\":%d,\"seconds\":%.3f}\n",
			l, s, m, len, m / secs, m * len / 1e6 / secs, rc != 0, secs }' >> "$results"
	if [ $rc = 0 ]; then
		log "$label: smtp-source $m messages in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
	else
		log "warning: $label: smtp-source exited $rc"
	fi
}

# ---------------------------------------------------------------- SMTP
smtp_scenario() { # C SIZE TAG N TLS
	local c=$1 size=$2 tag=$3 n=$4 tls=$5 flag=()
	local sc="smtp-c$c-$tag-$tls"
	[ "$tls" = starttls ] && flag=(--starttls)
	local args=(smtp --concurrency "$c" --messages "$n" --size "$size" --from "bench@$DOMAIN" --to "sink@$DOMAIN" "${flag[@]}")
	local bytes
	bytes=$(numfmt --from=iec "$size")
	for _ in $(seq 1 "$REPS"); do
		mb_once "ours/$sc" "${args[@]}" --port "$P_SMTP"
		if [ "$tls" = none ] && [ $have_sink = 1 ]; then
			mb_once "sink/$sc" "${args[@]}" --port "$P_SINK"
		fi
		if [ $compare = 1 ]; then
			mb_once "postfix/$sc" "${args[@]}" --port "$P_POSTFIX"
			postfix_drain
		fi
		if [ "$tls" = none ] && [ $have_sink = 1 ]; then
			src_once "ours/$sc" "$P_SMTP" "$c" "$n" "$bytes"
			src_once "sink/$sc" "$P_SINK" "$c" "$n" "$bytes"
			if [ $compare = 1 ]; then
				src_once "postfix/$sc" "$P_POSTFIX" "$c" "$n" "$bytes"
				postfix_drain
			fi
		fi
	done
}
want smtp && for tls in none starttls; do
	smtp_scenario 1 4K 4k "$N_C1_4K" "$tls"
	smtp_scenario 20 4K 4k "$N_C20_4K" "$tls"
	smtp_scenario 1 1M 1m "$N_C1_1M" "$tls"
	smtp_scenario 20 1M 1m "$N_C20_1M" "$tls"
done

# ---------------------------------------------------------------- POP3 mailboxes
if want pop3; then
# Filled through smtpd itself (and through Postfix for Dovecot), one run each.
fill() { # TARGET PORT
	local t=$1 p=$2
	mb_once "$t/fill-1x" smtp --port "$p" --concurrency 20 --messages "$POP_1X" --size 4K \
		--from "bench@$DOMAIN" --to "pop1x@$DOMAIN"
	mb_once "$t/fill-20x" smtp --port "$p" --concurrency 20 --messages $((20 * POP_PER)) --size 4K \
		--from "bench@$DOMAIN" --to "$rcpt20"
	mb_once "$t/fill-big" smtp --port "$p" --concurrency 1 --messages 1 --size "$BIG" \
		--from "bench@$DOMAIN" --to "big@$DOMAIN" --timeout 120000
}
log "filling mailboxes"
fill ours "$P_SMTP"
mb_once "ours/fill-list-$LIST_TAG" smtp --port "$P_SMTP" --concurrency 50 --messages "$LIST_N" --size 1K \
	--from "bench@$DOMAIN" --to "list@$DOMAIN"
if [ $compare = 1 ]; then
	fill postfix "$P_POSTFIX"
	# One real delivery as the template, then copies: Postfix would take
	# minutes for 100,000 messages, and STAT/LIST only care how many there are.
	mb_once "postfix/fill-list-1" smtp --port "$P_POSTFIX" --concurrency 1 --messages 1 --size 1K \
		--from "bench@$DOMAIN" --to "list@$DOMAIN"
	postfix_drain
	/usr/bin/python3 - "$tmp/vmail/$DOMAIN/list" "$LIST_N" <<'PY'
import os, shutil, sys, time
box, total = sys.argv[1], int(sys.argv[2])
new = os.path.join(box, "new")
template = os.path.join(new, os.listdir(new)[0])
size = os.path.getsize(template)
now = int(time.time())
for i in range(1, total):
    shutil.copyfile(template, os.path.join(new, f"{now}.M{i}P0.bench,S={size}"))
PY
	chown -R nobody:nogroup "$tmp/vmail"
	dovecot -c "$tmp/dovecot/dovecot.conf" || die "dovecot did not start (see $tmp/dovecot/dovecot.log)"
	dovecot_on=1
	wait_port "$P_DOVECOT" dovecot
fi

# ---------------------------------------------------------------- POP3
pop3_targets=("ours:$P_POP3")
[ $compare = 1 ] && pop3_targets+=("dovecot:$P_DOVECOT")
# pop3_scenario NAME ARGS...: one unrecorded pass per target first (Dovecot
# builds its index on first access; both then read from a warm page cache),
# then REPS rounds over the targets.
pop3_scenario() {
	local name=$1 t
	shift
	for t in "${pop3_targets[@]}"; do
		"$MB" pop3 --port "${t#*:}" "$@" --quiet >/dev/null || true
	done
	for _ in $(seq 1 "$REPS"); do
		for t in "${pop3_targets[@]}"; do
			mb_once "${t%%:*}/$name" pop3 --port "${t#*:}" "$@"
		done
	done
}
for tls in none stls; do
	flag=()
	[ $tls = stls ] && flag=(--stls)
	pop3_scenario "pop3-1x5k-$tls" --user "pop1x@$DOMAIN:$PW" "${flag[@]}"
	pop3_scenario "pop3-20x-$tls" --concurrency 20 --users "$tmp/users20" "${flag[@]}"
	pop3_scenario "pop3-big-$tls" --user "big@$DOMAIN:$PW" "${flag[@]}"
done
# The large mailbox: first access of each server recorded on its own.
for t in "${pop3_targets[@]}"; do
	mb_once "${t%%:*}/list-$LIST_TAG-first" pop3 --port "${t#*:}" --user "list@$DOMAIN:$PW" --list-only \
		--timeout 120000
done
for _ in $(seq 1 "$REPS"); do
	for t in "${pop3_targets[@]}"; do
		mb_once "${t%%:*}/list-$LIST_TAG" pop3 --port "${t#*:}" --user "list@$DOMAIN:$PW" --list-only \
			--timeout 120000
	done
done
fi # want pop3

# ---------------------------------------------------------------- outbound
# Outbound delivery: N messages submitted to a sender that relays them to our
# smtpd above (domain far.test) over SMTP with STARTTLS; timed from the first
# submission until the receiver has stored the last one. The sender is a
# second installation of ours (routes = far.test=...), or Postfix
# (transport_maps to the same receiver), both at 20 connections per
# destination (Postfix's default_destination_concurrency_limit).
if want outbound; then
	ctl domain add far.test >/dev/null
	echo "$PW" | ctl user add sink@far.test --password-stdin >/dev/null
	out=$tmp/out
	mkdir -p "$out/spool"
	cat > "$out/mail.conf" <<CONF
# The sending installation of bench/run.sh's outbound loads.
db = $out/mail.db
tmpdir = $out/spool
hostname = out.bench.test
smtp_listen =
submission_listen = 127.0.0.1:$P_OUT
smtps_listen =
allow_plaintext_auth = yes
max_connections = 20000
max_connections_per_ip = 20000
routes = far.test=127.0.0.1:$P_SMTP
outbound_connections_per_destination = 20
CONF
	octl() { "$build/mailctl/mailctl" -c "$out/mail.conf" "$@"; }
	octl db migrate >/dev/null
	octl domain add out.test >/dev/null
	echo "$PW" | octl user add sender@out.test --password-stdin >/dev/null
	"$build/smtpd/smtpd" -c "$out/mail.conf" 2>>"$tmp/out-smtpd.log" &
	out_pid=$!
	wait_port "$P_OUT" "sending smtpd"
	stored_count() {
		/usr/bin/python3 - "$tmp/mail.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=30)
print(db.execute("SELECT count(*) FROM mailbox_entries e JOIN users u ON u.id = e.user_id"
                 " WHERE u.address = 'sink@far.test'").fetchone()[0])
PY
	}
	# drain_wait LABEL BEFORE T0: waits until the receiver holds N_OUT more messages than
	# BEFORE, and records the rate since T0.
	drain_wait() {
		local label=$1 before=$2 t0=$3 t1 n
		for _ in $(seq 1 6000); do
			n=$(stored_count)
			[ $((n - before)) -ge "$N_OUT" ] && break
			sleep 0.1
		done
		t1=$(date +%s.%N)
		awk -v l="$label" -v m="$N_OUT" -v got=$((n - before)) -v t0="$t0" -v t1="$t1" 'BEGIN {
			secs = t1 - t0
			printf "{\"tool\":\"run.sh\",\"proto\":\"outbound\",\"label\":\"%s\",\"messages\":%d,\"delivered\":%d,\"msgs_per_s\":%.1f,\"seconds\":%.3f,\"errors\":%d}\n",
				l, m, got, got / secs, secs, got < m }' >> "$results"
		log "$label: $((n - before)) of $N_OUT stored in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
	}
	# outbound_once LABEL ARGS...: submit N_OUT messages with mailbench, wait
	# for the receiver to hold them all, record the rate.
	outbound_once() {
		local label=$1 before t0
		shift
		before=$(stored_count)
		t0=$(date +%s.%N)
		"$MB" smtp --concurrency 20 --messages "$N_OUT" --size 4K --to sink@far.test "$@" \
			--label "$label-submit" >> "$results" || log "warning: $label: submission errors"
		drain_wait "$label" "$before" "$t0"
	}
	# ours_drain: N_OUT messages queued while the route leads nowhere, then
	# a restart with the real route and `queue retry all`: the runner alone.
	ours_drain() {
		local before
		stop_pid "$out_pid"
		sed -i "s|^routes = .*|routes = far.test=127.0.0.1:$P_DEAD|" "$out/mail.conf"
		"$build/smtpd/smtpd" -c "$out/mail.conf" 2>>"$tmp/out-smtpd.log" &
		out_pid=$!
		wait_port "$P_OUT" "sending smtpd"
		"$MB" smtp --concurrency 20 --messages "$N_OUT" --size 4K --to sink@far.test --port "$P_OUT" \
			--auth "sender@out.test:$PW" --from sender@out.test --quiet >/dev/null ||
			log "warning: drain fill: submission errors"
		for _ in $(seq 1 600); do
			[ "$(octl queue list | grep -c 'attempts=0')" = 0 ] && break
			sleep 0.1
		done
		stop_pid "$out_pid"
		sed -i "s|^routes = .*|routes = far.test=127.0.0.1:$P_SMTP|" "$out/mail.conf"
		octl queue retry all >/dev/null
		before=$(stored_count)
		local t0
		t0=$(date +%s.%N)
		"$build/smtpd/smtpd" -c "$out/mail.conf" 2>>"$tmp/out-smtpd.log" &
		out_pid=$!
		drain_wait ours/outbound-drain-4k "$before" "$t0"
	}
	# postfix_drain_run: the same with Postfix's deferred queue and `postqueue -f`.
	postfix_drain_run() {
		local before t0 pf=(-c "$tmp/postfix/etc")
		postconf "${pf[@]}" -e "defer_transports = smtp"
		postfix "${pf[@]}" reload >/dev/null 2>&1
		sleep 1
		"$MB" smtp --concurrency 20 --messages "$N_OUT" --size 4K --to sink@far.test --port "$P_POSTFIX" \
			--from "bench@$DOMAIN" --quiet >/dev/null || log "warning: Postfix drain fill: errors"
		for _ in $(seq 1 1200); do
			[ -z "$(find "$tmp/postfix/spool/incoming" "$tmp/postfix/spool/active" \
				"$tmp/postfix/spool/maildrop" -type f 2>/dev/null | head -1)" ] && break
			sleep 0.1
		done
		postconf "${pf[@]}" -e "defer_transports ="
		postfix "${pf[@]}" reload >/dev/null 2>&1
		sleep 1
		before=$(stored_count)
		t0=$(date +%s.%N)
		postqueue "${pf[@]}" -f
		drain_wait postfix/outbound-drain-4k "$before" "$t0"
	}
	for _ in $(seq 1 "$REPS"); do
		outbound_once ours/outbound-c20-4k --port "$P_OUT" --auth "sender@out.test:$PW" \
			--from sender@out.test
		if [ $compare = 1 ]; then
			outbound_once postfix/outbound-c20-4k --port "$P_POSTFIX" --from "bench@$DOMAIN"
		fi
		ours_drain
		[ $compare = 1 ] && postfix_drain_run
	done
	stop_pid "$out_pid"
	out_pid=""
fi

# ---------------------------------------------------------------- idle memory
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
# idle_runs DAEMON CONNECTIONS PORT TLS: a fresh daemon per repetition, so memory
# freed by the previous run and kept by malloc cannot hide the new sessions' cost.
idle_runs() {
	local daemon=$1 k=$2 port=$3 tls=$4 flag=() pid before after greeted
	[ "$tls" = tls ] && flag=(--tls)
	for _ in $(seq 1 "$REPS"); do
		if [ "$daemon" = smtpd ]; then
			stop_pid "$smtpd_pid"; start_smtpd; pid=$smtpd_pid
		else
			stop_pid "$pop3d_pid"; start_pop3d; pid=$pop3d_pid
		fi
		sleep 0.5
		before=$(pss_kb "$pid")
		"$MB" idle --port "$port" --connections "$k" "${flag[@]}" --deadline 300 \
			>"$tmp/idle.json" 2>"$tmp/idle.err" &
		idle_pid=$!
		for _ in $(seq 1 1200); do
			grep -q '^mailbench idle: ready' "$tmp/idle.err" && break
			kill -0 "$idle_pid" 2>/dev/null || break
			sleep 0.1
		done
		# Idle means idle for a while: TLS sessions give their record buffers'
		# pages back after a full second without traffic (tls_conn_trim).
		sleep 3
		after=$(pss_kb "$pid")
		stop_pid "$idle_pid"
		idle_pid=""
		greeted=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline() or "{}").get("messages", 0))' < "$tmp/idle.json")
		printf '{"tool":"run.sh","proto":"idle-mem","label":"ours/idle-%s-%s-%s","connections":%s,"greeted":%s,"pss_before_kb":%s,"pss_after_kb":%s,"bytes_per_conn":%s}\n' \
			"$k" "$daemon" "$tls" "$k" "$greeted" "$before" "$after" $(((after - before) * 1024 / k)) >> "$results"
		log "idle $daemon $k $tls: PSS $before -> $after KiB, $greeted greeted, $(((after - before) * 1024 / k)) B/connection"
	done
}
want idle && for k in $IDLE_COUNTS; do
	idle_runs smtpd "$k" "$P_SMTP" none
	idle_runs pop3d "$k" "$P_POP3" none
done
if want idle; then
	idle_runs smtpd 1000 "$P_SMTPS" tls
	idle_runs pop3d 1000 "$P_POP3S" tls
fi

# ---------------------------------------------------------------- report
printf '{"tool":"run.sh","proto":"loadavg_end","loadavg":"%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$results"
md=${results%.jsonl}.md
/usr/bin/python3 "$src/bench/report.py" "$results" > "$md"
cat "$md"
log "results: $results and $md"
