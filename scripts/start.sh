#!/usr/bin/env bash
# Quick start: installs missing build dependencies, builds, and runs smtpd and
# pop3d in the foreground on unprivileged loopback ports, with a SQLite file,
# a self-signed certificate and a demo user, all under ./run/. Ctrl-C stops both.
# Environment: MAIL_* variables override any config key (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release -j "$(nproc)" >/dev/null
bin=build/release
mkdir -p run
conf=run/mail.conf
if [ ! -f "$conf" ]; then
  cat > "$conf" <<CONF
# Written by scripts/start.sh; edit freely. Keys: see README.md.
db = $PWD/run/mail.db
hostname = localhost
tls_cert = $PWD/run/cert.pem
tls_key = $PWD/run/key.pem
CONF
fi
ctl() { "$bin/mailctl/mailctl" -c "$conf" "$@"; }
[ -f run/cert.pem ] || ctl cert selfsigned --host localhost --cert run/cert.pem --key run/key.pem
ctl db migrate >/dev/null
ctl domain list | grep -qx example.test || ctl domain add example.test
if ! ctl user list example.test | grep -qx demo@example.test; then
  printf 'demo\n' | ctl user add demo@example.test --password-stdin
fi
cat <<MSG
mail is running (Ctrl-C stops it). Demo user: demo@example.test, password: demo
  SMTP (MX)           127.0.0.1:2525   STARTTLS
  submission          127.0.0.1:2587   STARTTLS, AUTH required
  submissions (TLS)   127.0.0.1:2465
  POP3                127.0.0.1:2110   STLS
  POP3S (TLS)         127.0.0.1:2995
Admin: $bin/mailctl/mailctl -c $conf --help
MSG
"$bin/smtpd/smtpd" -c "$conf" &
smtpd=$!
"$bin/pop3d/pop3d" -c "$conf" &
pop3d=$!
trap 'kill -TERM $smtpd $pop3d 2>/dev/null || true' INT TERM
# If either daemon stops, stop the other one too.
wait -n $smtpd $pop3d || true
kill -TERM $smtpd $pop3d 2>/dev/null || true
wait
