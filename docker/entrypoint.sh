#!/bin/bash
# Entrypoint of the mail image (docker/Dockerfile).
#   smtpd | pop3d      makes a self-signed certificate on first start when none
#                      is mounted, then runs the daemon in the foreground
#   mailctl ARGS...    the admin tool (compose's one-shot `mailctl` service)
#   healthcheck        exits 0 when this container's GET /healthz answers 200
#   anything else      runs as given
# Settings come from MAIL_* variables (see the README's configuration table).
set -euo pipefail

# Only when both files are missing: a mounted certificate is never replaced,
# and half a pair is left for the daemon to report.
make_certificate() {
	local cert=${MAIL_TLS_CERT:-} key=${MAIL_TLS_KEY:-}
	[ -n "$cert" ] && [ -n "$key" ] || return 0
	if [ -e "$cert" ] || [ -e "$key" ]; then
		return 0
	fi
	# Replicas starting together on one volume must not interleave their
	# renames (one's key with another's certificate): one makes the pair
	# while the others wait, then find it.
	exec 9>"$(dirname "$cert")/.selfsigned.lock"
	flock 9
	if [ ! -e "$cert" ] && [ ! -e "$key" ]; then
		local host=${MAIL_HOSTNAME:-}
		[ -n "$host" ] || host=$(hostname)
		mailctl cert selfsigned --host "$host" --cert "$cert" --key "$key"
		echo "mail-entrypoint: made a self-signed certificate for $host in $cert" >&2
	fi
	exec 9>&-
}

# GET /healthz on the first metrics_listen address, with bash's /dev/tcp, so
# the image needs no HTTP client.
healthcheck() {
	local listen=${MAIL_METRICS_LISTEN%%,*}
	[ -n "$listen" ] || { echo "metrics_listen is empty: nothing to check" >&2; return 1; }
	local port=${listen##*:} status
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	read -r -t 4 status <&3
	echo "$status"
	[[ $status == "HTTP/1."?" 200 "* ]]
}

case ${1:-} in
smtpd | pop3d)
	make_certificate
	exec "$@"
	;;
healthcheck)
	healthcheck
	;;
*)
	exec "$@"
	;;
esac
