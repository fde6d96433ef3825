"""Running on PostgreSQL in production (tests/tools/pgcluster.sh's
throwaway cluster): smtpd keeps at most db_connections pooled connections
(plus its committer's and its queue wake-ups') under many concurrent
sessions; db_password_file logs in a password-authenticated role without
the password reaching a command line or a log, PGPASSFILE still works,
and a bad or unprotected file is a clear error; and a queue row that one
smtpd accepts, or that `mailctl queue retry` makes due, is sent at once
by the queue runner of another smtpd on the same database (LISTEN/NOTIFY),
long before its next scan."""
import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from mailtest import Install, binary, free_port
from outbound import BOB, close, mailbox, make_install, start_second_smtpd, start_smtpd, \
    wait_for

HERE = os.path.dirname(os.path.abspath(__file__))


# The scan interval of the wake-up tests' runners: nothing they send can
# have been found by a scan, which comes an hour after their start.
SCAN_S = 3600
# How long a delivery may take before the test gives up: far below
# SCAN_S and below the first retry of a deferred row (smtp_retry.h:
# at least 262 s), so only a wake-up can explain one that arrives.
DELIVERY_S = 120


def connections(cluster, db):
    return int(cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'" % db))


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        page = r.read().decode()
    return {line.split(" ")[0]: float(line.split(" ")[1])
            for line in page.splitlines() if line and not line.startswith("#")}


def stop_clean(inst, proc, name="smtpd"):
    rc = inst.stop(proc)
    log = inst.log(name)
    assert rc == 0 and "Sanitizer" not in log and "runtime error" not in log, \
        "%s exited %d:\n%s" % (name, rc, log[-4000:])


# ---- the pool ------------------------------------------------------------------

SESSIONS = 20
MESSAGES = 3
POOL = 3
# smtpd's connections besides the pool: its committers' (2 on PostgreSQL)
# and its queue wake-ups' (db_connections' help text).
EXTRAS = 3


def test_concurrent_sessions_stay_within_db_connections(cluster):
    uri = cluster.new_database("pool")
    mport = free_port()
    # All from 127.0.0.1: more than the default per-address limit may be open.
    inst = Install(tls=False, db=uri, db_connections=POOL, metrics_listen="127.0.0.1:%d" % mport,
                   max_connections_per_ip=SESSIONS * 2)
    try:
        inst.add_user("alice@example.test", "secret")
        smtpd = inst.start("smtpd")
        errors, seen = [], []
        done = threading.Event()

        def watch():
            while not done.is_set():
                seen.append(connections(cluster, "pool"))
                time.sleep(0.02)

        def session(n):
            try:
                with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=60) as s:
                    for m in range(MESSAGES):
                        s.sendmail("bob@remote.test", ["alice@example.test"],
                                   "Subject: %d.%d\r\n\r\nconcurrently\r\n" % (n, m))
            except Exception as e:  # reported below, with the others
                errors.append(repr(e))

        watcher = threading.Thread(target=watch)
        watcher.start()
        clients = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        samples = metrics(mport)
        done.set()
        watcher.join()
        seen.append(connections(cluster, "pool"))

        assert errors == []
        stored = int(cluster.psql("SELECT count(*) FROM mailbox_entries", db="pool"))
        assert stored == SESSIONS * MESSAGES
        assert max(seen) <= POOL + EXTRAS, seen
        assert samples["smtp_db_connections_max"] == POOL
        assert 1 <= samples["smtp_db_connections_open"] <= POOL
        assert samples["smtp_db_connection_wait_timeouts_total"] == 0
        stop_clean(inst, smtpd)
        # Every connection goes with the process.
        wait_for(lambda: connections(cluster, "pool") == 0, what="smtpd's connections to close")
    finally:
        inst.close()


# ---- db_password_file ----------------------------------------------------------

PASSWORD = "Pg-secret 42!"


@pytest.fixture(scope="module")
def password_role(cluster):
    """A role that must log in with a password (scram-sha-256), ahead of
    the cluster's trust lines, and its database."""
    cluster.psql("CREATE ROLE mailpw LOGIN PASSWORD '%s'" % PASSWORD)
    hba = os.path.join(cluster.dir, "data", "pg_hba.conf")
    with open(hba) as f:
        lines = f.read()
    with open(hba, "w") as f:
        f.write("host all mailpw 127.0.0.1/32 scram-sha-256\n" + lines)
    cluster.psql("SELECT pg_reload_conf()")
    return cluster.new_database("pwdb", owner="mailpw")


def secret_file(inst, name, text, mode=0o600):
    path = os.path.join(inst.dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def smtpd_fails(inst):
    """Runs smtpd to its exit, which must be 1 (it cannot start); its log."""
    p = subprocess.run([binary("smtpd"), "-c", inst.conf], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1, p.stderr
    return p.stderr


def no_password_anywhere(inst):
    """Not in any process's command line, nor in a log of the install."""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert PASSWORD not in ps
    for name in os.listdir(inst.dir):
        if name.endswith(".log"):
            assert PASSWORD not in inst.log(name[:-4]), name


def test_db_password_file(cluster, password_role):
    uri = password_role
    # The install's first `db migrate` needs the password: a file given from the start.
    tmp = tempfile.mkdtemp(prefix="mail-pgpw-")
    good = os.path.join(tmp, "db.password")
    with open(good, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(good, 0o600)
    inst = Install(tls=False, db=uri, db_password_file=good)
    try:
        inst.add_user("alice@example.test", "secret")
        smtpd = inst.start("smtpd")
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
            s.sendmail("bob@remote.test", ["alice@example.test"], "Subject: pw\r\n\r\nin\r\n")
        assert cluster.psql("SELECT count(*) FROM mailbox_entries", db="pwdb") == "1"
        no_password_anywhere(inst)
        with open("/proc/%d/environ" % smtpd.pid, "rb") as f:
            assert PASSWORD.encode() not in f.read()
        stop_clean(inst, smtpd)

        # A wrong password: mailctl and smtpd say so, and stop.
        inst.config["db_password_file"] = secret_file(inst, "wrong", "not-it\n")
        inst.write_config()
        p = inst.mailctl("domain", "list", check=False)
        assert p.returncode == 1
        assert 'password authentication failed for user "mailpw"' in p.stderr
        log = smtpd_fails(inst)
        assert 'password authentication failed for user "mailpw"' in log
        assert PASSWORD not in log and "not-it" not in log

        # A file others may read is refused before anything is tried.
        inst.config["db_password_file"] = secret_file(inst, "open", PASSWORD + "\n", 0o644)
        inst.write_config()
        p = inst.mailctl("domain", "list", check=False)
        assert p.returncode == 1
        assert "others may read or change it (mode 0644)" in p.stderr
        assert "others may read or change it" in smtpd_fails(inst)

        # Missing, and empty.
        inst.config["db_password_file"] = os.path.join(inst.dir, "missing")
        inst.write_config()
        p = inst.mailctl("domain", "list", check=False)
        assert p.returncode == 1 and "No such file or directory" in p.stderr
        inst.config["db_password_file"] = secret_file(inst, "empty", "")
        inst.write_config()
        p = inst.mailctl("domain", "list", check=False)
        assert p.returncode == 1 and ": empty" in p.stderr

        # No password at all: libpq says it needed one.
        del inst.config["db_password_file"]
        inst.write_config()
        p = inst.mailctl("domain", "list", check=False)
        assert p.returncode == 1 and "no password supplied" in p.stderr

        # libpq's own PGPASSFILE still works.
        passfile = secret_file(inst, "pgpass", "127.0.0.1:%d:pwdb:mailpw:%s\n"
                               % (cluster.port, PASSWORD))
        env = dict(os.environ, PGPASSFILE=passfile)
        p = subprocess.run([binary("mailctl"), "-c", inst.conf, "domain", "list"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "example.test" in p.stdout
        smtpd = inst.start("smtpd", env={"PGPASSFILE": passfile})
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
            s.sendmail("bob@remote.test", ["alice@example.test"], "Subject: pw\r\n\r\nin\r\n")
        assert cluster.psql("SELECT count(*) FROM mailbox_entries", db="pwdb") == "2"
        stop_clean(inst, smtpd)
        no_password_anywhere(inst)
    finally:
        inst.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_db_copy_logs_in_with_db_password_file(cluster, password_role):
    """`mailctl db copy` to the configured database uses its
    db_password_file, so the password never needs to be in the URI."""
    src = Install(tls=False)
    dst = None
    try:
        src.add_user("alice@example.test", "secret")
        uri = cluster.new_database("pwcopy", owner="mailpw")
        good = secret_file(src, "db.password", PASSWORD + "\n")
        dst = Install(tls=False, db=uri, db_password_file=good)
        p = dst.mailctl("db", "copy", "--from", src.db, "--to", uri)
        assert p.stdout.startswith("copied 1 domain, 1 user"), p.stdout
        assert "example.test" in dst.mailctl("domain", "list").stdout
        # Without the file, the same copy cannot log in.
        del dst.config["db_password_file"]
        dst.write_config()
        p = dst.mailctl("db", "copy", "--from", src.db, "--to", uri, check=False)
        assert p.returncode == 1 and "no password supplied" in p.stderr, p.stderr
        assert PASSWORD not in p.stderr + p.stdout
    finally:
        src.close()
        if dst is not None:
            dst.close()


# ---- queue wake-ups ---------------------------------------------------------------

def queue_rows(cluster, db):
    out = cluster.psql("SELECT attempts FROM queue ORDER BY id", db=db)
    return [int(x) for x in out.split()] if out else []


def test_another_smtpd_sends_at_once(cluster):
    """smtpd A accepts mail for a remote recipient with its own runner off
    (MAILTEST_QUEUE_RUNNER); smtpd B, on the same database, sends it at
    once; then, while the next hop is down, B's attempt is deferred, and
    `mailctl queue retry` has B send it at once when it is back up."""
    receiver = make_install("mx.b.test", "b.test", BOB)
    uri = cluster.new_database("wakeup")
    a = Install(tls=False, db=uri, hostname="mx.a.test", queue_scan_interval=SCAN_S,
                routes="b.test=127.0.0.1:%d" % receiver.port("smtp"))
    try:
        a.mailctl("domain", "add", "a.test")
        # Forwarding the operator set up: anyone may send to it over MX.
        a.mailctl("alias", "add", "fwd@a.test", BOB)
        a.smtpd = a.start("smtpd", env={"MAILTEST_QUEUE_RUNNER": "off"})
        wait_for(lambda: "event=queue_runner_off" in a.log("smtpd"), what="A without a runner")
        b = start_second_smtpd(a)
        # B listens before A accepts: nothing comes to B by its first scan.
        wait_for(lambda: "event=queue_wakeup_listening" in a.log("smtpd2"),
                 what="B to listen for wake-ups")

        with smtplib.SMTP("127.0.0.1", a.port("smtp"), timeout=30) as s:
            s.sendmail("carol@remote.test", ["fwd@a.test"], "Subject: first\r\n\r\nnow\r\n")
        got = wait_for(lambda: mailbox(receiver, BOB), timeout=DELIVERY_S,
                       what="B to send A's mail")
        assert b"Subject: first" in got[0]
        wait_for(lambda: "status=sent" in a.log("smtpd2"), what="B to log its delivery")
        wait_for(lambda: queue_rows(cluster, "wakeup") == [], what="the row to go")

        # The next hop is down: B tries at once and defers (5 minutes at least).
        receiver.stop(receiver.smtpd)
        with smtplib.SMTP("127.0.0.1", a.port("smtp"), timeout=30) as s:
            s.sendmail("carol@remote.test", ["fwd@a.test"], "Subject: second\r\n\r\nlater\r\n")
        wait_for(lambda: queue_rows(cluster, "wakeup") == [1], timeout=DELIVERY_S,
                 what="B's first attempt to fail")
        start_smtpd(receiver)
        a.mailctl("queue", "retry", "all")
        got = wait_for(lambda: len(mailbox(receiver, BOB)) == 2 and mailbox(receiver, BOB),
                       timeout=DELIVERY_S, what="the retry to be sent")
        assert b"Subject: second" in got[1]
        assert "event=queue_claim" not in a.log("smtpd")  # A never looked

        stop_clean(a, b, "smtpd2")
        stop_clean(a, a.smtpd)
    finally:
        a.close()
        close(receiver)


def test_runner_listens_again_after_a_restart(cluster):
    """The wake-ups' connection dies with the server; the runner makes it
    again, and a wake-up after that still arrives."""
    receiver = make_install("mx.b.test", "b.test", BOB)
    uri = cluster.new_database("relisten")
    a = Install(tls=False, db=uri, hostname="mx.a.test", queue_scan_interval=SCAN_S,
                routes="b.test=127.0.0.1:%d" % receiver.port("smtp"))
    try:
        a.mailctl("domain", "add", "a.test")
        a.mailctl("alias", "add", "fwd@a.test", BOB)
        a.smtpd = a.start("smtpd", env={"MAILTEST_QUEUE_RUNNER": "off"})
        b = start_second_smtpd(a)
        wait_for(lambda: a.log("smtpd2").count("event=queue_wakeup_listening") == 1,
                 what="B to listen")
        # Only B's wake-up connection, which runs LISTEN and nothing else.
        cluster.psql("SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity"
                      " WHERE datname = 'relisten' AND query LIKE 'LISTEN%'")
        wait_for(lambda: "event=queue_wakeup_lost" in a.log("smtpd2"), what="B to notice")
        wait_for(lambda: a.log("smtpd2").count("event=queue_wakeup_listening") == 2,
                 what="B to listen again")
        with smtplib.SMTP("127.0.0.1", a.port("smtp"), timeout=30) as s:
            s.sendmail("carol@remote.test", ["fwd@a.test"], "Subject: again\r\n\r\nnow\r\n")
        got = wait_for(lambda: mailbox(receiver, BOB), timeout=DELIVERY_S,
                       what="B to send A's mail")
        assert b"Subject: again" in got[0]
        stop_clean(a, b, "smtpd2")
        stop_clean(a, a.smtpd)
    finally:
        a.close()
        close(receiver)
