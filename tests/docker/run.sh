#!/usr/bin/env bash
# The docker test: builds the image (docker/Dockerfile) and drives the compose
# stack (docker/compose.yaml) the way an operator would, with clients nobody
# here wrote (swaks, curl, openssl s_client, Python's poplib):
#   - domain and user made with the one-shot mailctl service;
#   - mail in over plain MX and over submission with STARTTLS + AUTH;
#   - fetched with curl over STLS; TLS 1.3 on smtps (Debian 13's mbedTLS 3.6);
#   - /healthz, /metrics (promtool when present) and Docker's health status;
#   - no daemon runs as root;
#   - smtpd and pop3d scaled to 2: mail in through both smtpd replicas, and a
#     maildrop open on one pop3d replica is [IN-USE] on the other;
#   - SIGTERM drains every daemon (exit 0) and mail survives `down` + `up`;
#   - the same on PostgreSQL (compose.postgres.yaml, the postgres image built
#     from Debian's packages): 2 + 2 replicas on one database, mail in through
#     each smtpd and out through each pop3d, [IN-USE] across them, a restart
#     of postgres that the daemons ride out by themselves losing nothing,
#     mail kept in the volume across `down` + `up`, and gone after `down -v`.
# Installs docker.io, docker-compose and debootstrap if missing and starts
# dockerd if none runs. Without a registry, the Debian 13 base is made with
# debootstrap from this machine's apt mirror and kept as mail-test/debian:trixie
# (the cache between runs). Where no Docker daemon can run (inside a container
# without privileges), it says SKIPPED and why, and exits 0.
# Usage: tests/docker/run.sh [--keep]   (--keep leaves the stack up on failure)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
keep=no
[ "${1:-}" = --keep ] && keep=yes
work=${TMPDIR:-/tmp}/mail-docker-test
mkdir -p "$work"
log=$work/run.log
: >"$log"
SECONDS=0

say() { echo "docker-test: $*"; }
fail() {
	say "FAILED: $*"
	say "last lines of $log:"
	tail -n 40 "$log" | sed 's/^/  /'
	exit 1
}
skip() {
	echo "SKIPPED: docker test: $*"
	exit 0
}

# --- Docker itself -----------------------------------------------------------
# An unprivileged container (such as a CI job's) can run no dockerd: say so
# before installing anything, unless a daemon's socket is at hand.
cap_eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
if [ ! -S /var/run/docker.sock ] && (((16#$cap_eff >> 21 & 1) == 0)); then
	skip "no CAP_SYS_ADMIN (an unprivileged container) and no Docker socket: dockerd cannot run here"
fi
want=()
command -v dockerd >/dev/null || want+=(docker.io)
command -v debootstrap >/dev/null || want+=(debootstrap)
command -v docker-compose >/dev/null || want+=(docker-compose)
for tool in swaks curl openssl python3; do command -v $tool >/dev/null || want+=($tool); done
if [ ${#want[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || skip "missing ${want[*]} and not root"
	say "installing ${want[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" \
		>>"$log" 2>&1 || skip "could not install ${want[*]} (see $log)"
fi
# A static newer client may be first on PATH; Debian's matches its daemon.
DOCKER=/usr/bin/docker
[ -x $DOCKER ] || DOCKER=docker
if ! $DOCKER info >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || skip "no Docker daemon runs and we are not root to start one"
	say "starting dockerd"
	(nohup dockerd >"$work/dockerd.log" 2>&1 &)
	for _ in $(seq 1 30); do $DOCKER info >/dev/null 2>&1 && break; sleep 1; done
	$DOCKER info >/dev/null 2>&1 ||
		skip "dockerd could not start here: $(tail -n 1 "$work/dockerd.log")"
fi
if command -v docker-compose >/dev/null; then
	compose_cmd=(docker-compose)
else
	compose_cmd=($DOCKER compose)
fi
say "using $("${compose_cmd[@]}" version 2>/dev/null | head -n 1)"

# --- The base image ------------------------------------------------------------
base=debian:trixie-slim
if ! $DOCKER image inspect "$base" >/dev/null 2>&1 &&
	! timeout 60 $DOCKER pull -q "$base" >>"$log" 2>&1; then
	base=mail-test/debian:trixie
	if ! $DOCKER image inspect "$base" >/dev/null 2>&1; then
		mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^\s*#' |
			grep -Eo 'https?://[^ ]+/debian\b' | head -n 1 || true)
		[ -n "$mirror" ] || fail "no registry and no Debian mirror in this machine's apt sources"
		say "no registry: making $base with debootstrap from $mirror (once; a few minutes)"
		rootfs=$work/rootfs
		rm -rf "$rootfs"
		debootstrap --variant=minbase trixie "$rootfs" "$mirror" >>"$log" 2>&1 ||
			fail "debootstrap trixie"
		printf 'deb %s trixie main\ndeb %s trixie-updates main\n' "$mirror" "$mirror" \
			>"$rootfs/etc/apt/sources.list"
		# What Debian's official images do: no apt caches in layers.
		rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
		tar -C "$rootfs" -c . | $DOCKER import -c 'CMD ["bash"]' - "$base" >>"$log" 2>&1 ||
			fail "docker import"
		rm -rf "$rootfs"
	fi
fi
say "base image $base"

# --- The stack -------------------------------------------------------------------
# Host ports of their own, so a local run of scripts/start.sh does not collide;
# two of each for the scaled replicas. Below the kernel's ephemeral range
# (32768 and up), where any outgoing connection on the machine may hold the
# port Docker picks, and Docker does not try another. On 127.0.0.1 only:
# Docker 20.10 picks a range's port for IPv4 and IPv6 apart, and once their
# choices differ (after a failed start), one replica's [::] listener holds
# the IPv4 port another replica is given.
export BASE_IMAGE=$base MAIL_IMAGE=mail-server:test
export PUBLISH_SMTP=127.0.0.1:12525-12526 PUBLISH_SUBMISSION=127.0.0.1:12587-12588
export PUBLISH_SMTPS=127.0.0.1:12465-12466
export PUBLISH_POP3=127.0.0.1:12110-12111 PUBLISH_POP3S=127.0.0.1:12995-12996
export PUBLISH_SMTPD_METRICS=12125-12126 PUBLISH_POP3D_METRICS=12080-12081
# The stack under test: the PostgreSQL stage below switches both.
project=mailtest-docker
files=(-f "$root/docker/compose.yaml")
compose() { "${compose_cmd[@]}" -p "$project" "${files[@]}" "$@"; }
teardown() {
	local rc=$?
	if [ $rc -ne 0 ] && [ $keep = yes ]; then
		say "stack left up (--keep): ${compose_cmd[*]} -p $project ${files[*]} down -v"
		return
	fi
	compose down -v --remove-orphans >>"$log" 2>&1 || true
}
trap teardown EXIT
compose down -v --remove-orphans >>"$log" 2>&1 || true

say "building the image"
compose build smtpd >>"$log" 2>&1 || fail "image build"
compose up -d >>"$log" 2>&1 || fail "compose up"

# host:port that replica N of SERVICE publishes for container port PORT.
published() {
	local hp
	hp=$(compose port --index="$3" "$1" "$2" 2>>"$log" | tail -n 1)
	[ -n "$hp" ] || fail "$1 #$3 publishes no port $2"
	echo "127.0.0.1:${hp##*:}"
}

# Waits until GET /healthz of replica N of SERVICE answers 200.
wait_healthy() {
	local url="http://$(published "$1" 8080 "$2")/healthz"
	for _ in $(seq 1 120); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ] && return 0
		sleep 0.5
	done
	compose logs --tail=30 "$1" >>"$log" 2>&1
	fail "$1 #$2: $url never answered 200"
}
wait_healthy smtpd 1
wait_healthy pop3d 1

ctl() { compose run --rm -T mailctl "$@" >>"$log" 2>&1; }
ctl domain add example.test || fail "mailctl domain add"
printf 'secret\n' | ctl user add alice@example.test --password-stdin || fail "mailctl user add"
ctl user list example.test || fail "mailctl user list"
say "domain and user made with the one-shot mailctl service"

mx=$(published smtpd 25 1)
submission=$(published smtpd 587 1)
send_mx() { # $1 server, $2 subject
	swaks --server "$1" --from sender@remote.test --to alice@example.test \
		--header "Subject: $2" --body "sent by the docker test" >>"$log" 2>&1
}
send_mx "$mx" "plain MX" || fail "swaks over plain MX to $mx"
swaks --server "$submission" -tls --auth PLAIN --auth-user alice@example.test \
	--auth-password secret --from alice@example.test --to alice@example.test \
	--header "Subject: submission" --body "submitted by the docker test" >>"$log" 2>&1 ||
	fail "swaks over submission with STARTTLS and AUTH to $submission"
say "mail in: plain MX and submission (STARTTLS + AUTH) with swaks"

pop3=$(published pop3d 110 1)
# curl over STLS (--ssl-reqd); the certificate is the self-signed one made at start.
pop3_list() { curl -s --ssl-reqd -k -u alice@example.test:secret "pop3://$1/"; }
listing=$(pop3_list "$pop3") || fail "curl over STLS to $pop3"
[ "$(printf '%s\n' "$listing" | grep -c .)" -eq 2 ] || fail "expected 2 messages, listed: $listing"
curl -s --ssl-reqd -k -u alice@example.test:secret "pop3://$pop3/2" | grep -q '^Subject: submission' ||
	fail "message 2 fetched over STLS is not the submitted one"
say "fetched with curl over STLS"

smtps=$(published smtpd 465 1)
handshake=$(openssl s_client -connect "$smtps" -tls1_3 -brief </dev/null 2>&1 || true)
echo "$handshake" >>"$log"
grep -q 'Protocol version: TLSv1.3' <<<"$handshake" || fail "no TLS 1.3 session on smtps"
say "TLS 1.3 session on smtps ($(grep -m1 'Ciphersuite' <<<"$handshake" | tr -d '\r'))"

# --- Metrics, health, users ----------------------------------------------------
for svc in smtpd pop3d; do
	metrics=$(curl -s "http://$(published $svc 8080 1)/metrics") || fail "$svc /metrics"
	if command -v promtool >/dev/null; then
		printf '%s\n' "$metrics" | promtool check metrics >>"$log" 2>&1 ||
			fail "$svc /metrics fails promtool check metrics"
	fi
	case $svc in
	smtpd) grep -q '^smtp_messages_total 2$' <<<"$metrics" || fail "smtp_messages_total is not 2" ;;
	pop3d) grep -q '^pop3_logins_total [1-9]' <<<"$metrics" || fail "pop3_logins_total is 0" ;;
	esac
done
say "/metrics of both daemons$(command -v promtool >/dev/null && echo ' pass promtool')"

for svc in smtpd pop3d; do
	cid=$(compose ps -q $svc | head -n 1)
	for _ in $(seq 1 60); do
		status=$($DOCKER inspect --format '{{.State.Health.Status}}' "$cid")
		[ "$status" = healthy ] && break
		sleep 1
	done
	[ "$status" = healthy ] || fail "$svc: Docker health status $status"
	# Every process of the container, as the host sees it: none may be uid 0.
	uids=$($DOCKER top "$cid" -eo pid,uid,args | tail -n +2)
	echo "$uids" >>"$log"
	if awk '$2 == 0' <<<"$uids" | grep -q .; then fail "$svc runs a process as root: $uids"; fi
done
say "both containers healthy; no process runs as root"

# --- Scaling -------------------------------------------------------------------
compose up -d --scale smtpd=2 --scale pop3d=2 >>"$log" 2>&1 || fail "scaling to 2 + 2"
wait_healthy smtpd 2
wait_healthy pop3d 2
send_mx "$(published smtpd 25 2)" "through the second smtpd" ||
	fail "swaks through the second smtpd replica"
"$root/tests/docker/pop3_replicas.py" "$(published pop3d 110 1)" "$(published pop3d 110 2)" --count 3 \
	>>"$log" 2>&1 ||
	fail "[IN-USE] across pop3d replicas"
say "scaled to 2 + 2: mail in through the second smtpd; [IN-USE] across pop3d replicas"

# --- Down and up again ---------------------------------------------------------
# SIGTERM reaches each daemon through init and it drains: exit status 0, not
# the 137 of a kill after the grace period.
compose stop >>"$log" 2>&1 || fail "compose stop"
exits=$($DOCKER ps -a --filter "label=com.docker.compose.project=$project" \
	--format '{{.Names}} {{.Status}}' | grep -v mailctl)
echo "$exits" >>"$log"
if grep -v 'Exited (0)' <<<"$exits" | grep -q .; then fail "not every daemon exited 0: $exits"; fi
compose down >>"$log" 2>&1 || fail "compose down"
compose up -d >>"$log" 2>&1 || fail "compose up after down"
wait_healthy pop3d 1
listing=$(pop3_list "$(published pop3d 110 1)") || fail "curl after down + up"
[ "$(printf '%s\n' "$listing" | grep -c .)" -eq 3 ] ||
	fail "after down + up, expected 3 messages, listed: $listing"
say "every daemon drained and exited 0 at stop; mail survives down + up"


# --- On PostgreSQL ---------------------------------------------------------------
# The same images over compose.postgres.yaml: the store is the postgres
# service's database, and every replica shares it.
compose down -v >>"$log" 2>&1 || fail "compose down -v" # frees the host ports
pg_started=$SECONDS
# The password file as an operator makes it (compose.postgres.yaml): readable
# by group 8, the mail group of both images, in a directory nobody else enters.
install -d -m 0700 "$work/secrets"
(umask 027 && openssl rand -hex 24 >"$work/secrets/db_password")
if ! chgrp 8 "$work/secrets/db_password" 2>>"$log"; then
	say "PostgreSQL stage SKIPPED: cannot give the password file group 8 (not root)"
	say "passed in ${SECONDS}s"
	exit 0
fi
export DB_PASSWORD_FILE=$work/secrets/db_password MAIL_POSTGRES_IMAGE=mail-postgres:test
project=mailtest-docker-pg
files+=(-f "$root/docker/compose.postgres.yaml")
compose down -v --remove-orphans >>"$log" 2>&1 || true

say "building the PostgreSQL image"
compose build postgres >>"$log" 2>&1 || fail "PostgreSQL image build"
compose up -d --scale smtpd=2 --scale pop3d=2 >>"$log" 2>&1 || fail "compose up on PostgreSQL"
for n in 1 2; do
	wait_healthy smtpd $n
	wait_healthy pop3d $n
done
uids=$($DOCKER top "$(compose ps -q postgres)" -eo pid,uid,args | tail -n +2)
echo "$uids" >>"$log"
if awk '$2 == 0' <<<"$uids" | grep -q .; then fail "postgres runs a process as root: $uids"; fi
ctl domain add example.test || fail "mailctl domain add on PostgreSQL"
printf 'secret\n' | ctl user add alice@example.test --password-stdin ||
	fail "mailctl user add on PostgreSQL"
say "on PostgreSQL, 2 + 2 replicas: domain and user made with the one-shot mailctl"

# Number of messages replica N of pop3d lists, over STLS.
pop3_count() { pop3_list "$(published pop3d 110 "$1")" | grep -c . || true; }
for n in 1 2; do
	send_mx "$(published smtpd 25 $n)" "through smtpd $n" || fail "swaks through smtpd #$n on PostgreSQL"
done
"$root/tests/docker/pop3_replicas.py" "$(published pop3d 110 1)" "$(published pop3d 110 2)" \
	--subjects "through smtpd 1" "through smtpd 2" >>"$log" 2>&1 ||
	fail "fetching through both pop3d replicas on PostgreSQL, [IN-USE] across them"
say "mail in through both smtpd replicas, out through both pop3d replicas; [IN-USE] across them"

# A database restart under the running daemons: they must connect again by
# themselves, without Docker restarting them. The first commands after it may
# meet a database still starting and get a temporary error (451, -ERR
# [SYS/TEMP]), which a real client retries: so do these, a bounded number of
# times.
retry() {
	for _ in $(seq 1 60); do
		"$@" && return 0
		sleep 1
	done
	return 1
}
daemons() {
	# shellcheck disable=SC2046 # one id per word
	$DOCKER inspect --format '{{.Name}} {{.RestartCount}} {{.State.StartedAt}}' \
		$(compose ps -q smtpd) $(compose ps -q pop3d)
}
before=$(daemons)
compose restart postgres >>"$log" 2>&1 || fail "compose restart postgres"
for n in 1 2; do
	retry send_mx "$(published smtpd 25 $n)" "after the restart, smtpd $n" ||
		fail "smtpd #$n takes no mail after the database restart"
done
count_is() { [ "$(pop3_count "$1")" -eq "$2" ]; }
for n in 1 2; do
	retry count_is $n 4 || fail "pop3d #$n does not list the 4 messages after the restart: $(pop3_count $n)"
done
after=$(daemons)
echo "$after" >>"$log"
[ "$before" = "$after" ] || fail "a daemon was restarted along with the database: $before / $after"
say "postgres restarted: every replica serves again by itself; nothing acknowledged is lost"

# --- Down and up again on PostgreSQL -----------------------------------------
compose down >>"$log" 2>&1 || fail "compose down on PostgreSQL"
compose up -d >>"$log" 2>&1 || fail "compose up on PostgreSQL after down"
wait_healthy pop3d 1
count_is 1 4 || fail "after down + up on PostgreSQL, pop3d lists $(pop3_count 1) messages, not 4"
compose down -v >>"$log" 2>&1 || fail "compose down -v on PostgreSQL"
if $DOCKER volume inspect "${project}_pgdata" >/dev/null 2>&1; then
	fail "down -v left the volume ${project}_pgdata"
fi
say "mail survives down + up in the volume pgdata; down -v removes it"
say "PostgreSQL stage in $((SECONDS - pg_started))s"

say "passed in ${SECONDS}s"
