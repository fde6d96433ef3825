"""Store failures injected into the real daemons.

MAILTEST_STORE_FAIL_COMMIT=N (store/include/store.h) makes the Nth commit of a process
fail after its writes, as a full disk or a failed sync would. A failed
commit is answered with a temporary error, leaves nothing half-written
(`mailctl db check` is clean, no mailbox holds a piece of the message) and
the session goes on. MAILTEST_STORE_FAIL_COMMIT=N:retry fails it with
STORE_ERETRY (a lost PostgreSQL connection, a deadlock), and the store's own
retry of it too: temporary as well, for smtpd, pop3d and mailctl alike. The simplest cases are in test_smtp_errors.py
(test_store_failure_keeps_nothing) and test_pop3_maildrop.py
(test_failed_delete_deletes_nothing); here: a failing group commit under
concurrent senders, BDAT and spooled messages, a login whose lease commit
fails, and a real full disk (a small tmpfs, when the test may mount one).
"""

import os
import shutil
import subprocess
import threading

import pytest

import mailtest
from mailtest import sqlite_only
from pop3lib import ALICE, Pop3, deliver, entry_ids, message, pop3_install
from smtptest import Session, smtp_close, smtp_install, stored

RCPTS = ("alice@example.test", "bob@example.test")
SPILL = 300 * 1024  # over the store's 256 KiB in-memory threshold: spooled to tmpdir


def db_check(inst):
    check = inst.mailctl("db", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def subjects(inst):
    """{mailbox: [Subject of each stored message]}."""
    out = {}
    for mailbox in RCPTS:
        for m in stored(inst.db).get(mailbox, []):
            out.setdefault(mailbox, []).append(
                m.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0].decode())
    return out


def send(s, subject, size=0, bdat=False):
    """One message to both RCPTS; returns the final reply."""
    s.expect("MAIL FROM:<sender@remote.test>", "250 ")
    for r in RCPTS:
        s.expect("RCPT TO:<%s>" % r, "250 ")
    body = "Subject: %s\r\n\r\n%s" % (subject, ("x" * 78 + "\r\n") * (size // 80))
    if bdat:
        data = body.encode()
        s.send(b"BDAT %d LAST\r\n" % len(data) + data)
        return s.reply()
    s.expect("DATA", "354 ")
    s.send(body + ".\r\n")
    return s.reply()


def test_failing_group_commit_under_concurrent_senders():
    """Commit 3 fails: every message of that batch gets 451 and is stored
    nowhere; each of those sessions sends the message again and it is
    stored once; all the others are stored once."""
    inst = smtp_install(tls=False, env={"MAILTEST_STORE_FAIL_COMMIT": "3"})
    results, lock = [], threading.Lock()

    def sender(client):
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client%d.test" % client, "250-")
            for n in range(4):
                subject = "c%d-m%d" % (client, n)
                kw = {"size": SPILL if client == 0 else 1000, "bdat": client == 1}
                reply = send(s, subject, **kw)
                with lock:
                    results.append((subject, reply))
                if reply.startswith("451 "):
                    # The same session goes on: the retry is a new transaction.
                    reply = send(s, subject, **kw)
                    assert reply.startswith("250 2.0.0 Ok"), reply
                    with lock:
                        results.append((subject, reply))
            s.expect("QUIT", "221 ")

    try:
        threads = [threading.Thread(target=sender, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        failed = [subj for subj, r in results if r.startswith("451 4.3.0 ")]
        acked = [subj for subj, r in results if r.startswith("250 2.0.0 Ok")]
        assert failed, "no commit failed: %r" % results
        print("failed in the batch of commit 3: %s" % failed)
        assert len(acked) == 16, results
        db_check(inst)
        got = subjects(inst)
        for mailbox in RCPTS:
            # Every message exactly once per recipient: the failed attempt
            # left no entry behind, the retry made one.
            assert sorted(got[mailbox]) == sorted(acked), (mailbox, got[mailbox], failed)
        assert "commit_failed" in inst.log("smtpd")
    finally:
        smtp_close(inst)


def test_pop3_failed_lease_commit_at_login():
    """Commit 1 is the maildrop lease taken at login: -ERR [SYS/TEMP], the
    session stays in AUTHORIZATION and the next attempt works."""
    with pop3_install(allow_plaintext_auth="yes") as inst:
        ids = [deliver(inst, ALICE, message(i)) for i in range(3)]
        inst.start("pop3d", env={"MAILTEST_STORE_FAIL_COMMIT": "1"})
        p = Pop3(inst.port("pop3"))
        assert p.login() == b"-ERR [SYS/TEMP] cannot open the maildrop\r\n"
        assert p.login().startswith(b"+OK maildrop has 3 messages")
        assert p.cmd("DELE 2") == b"+OK message 2 deleted\r\n"
        assert p.cmd("QUIT") == b"+OK 1 messages deleted; signing off\r\n"
        assert entry_ids(inst, ALICE) == [ids[0], ids[2]]
        db_check(inst)


def test_pop3_failed_delete_of_every_message_then_retry():
    """Commits: 1 lease, 2 the delete with its lease check (fails), 3 release;
    the next session deletes for real."""
    with pop3_install(allow_plaintext_auth="yes") as inst:
        ids = [deliver(inst, ALICE, message(i)) for i in range(4)]
        inst.start("pop3d", env={"MAILTEST_STORE_FAIL_COMMIT": "2"})
        p = Pop3(inst.port("pop3"))
        assert p.login().startswith(b"+OK maildrop has 4 messages")
        for i in range(1, 5):
            assert p.cmd("DELE %d" % i).startswith(b"+OK")
        assert p.cmd("QUIT") == b"-ERR [SYS/TEMP] deleting failed; nothing deleted\r\n"
        assert p.closed()
        assert entry_ids(inst, ALICE) == ids
        db_check(inst)
        p = Pop3(inst.port("pop3"))
        assert p.login().startswith(b"+OK maildrop has 4 messages")
        for i in range(1, 5):
            assert p.cmd("DELE %d" % i).startswith(b"+OK")
        assert p.cmd("QUIT") == b"+OK 4 messages deleted; signing off\r\n"
        assert entry_ids(inst, ALICE) == []
        db_check(inst)
        assert inst.sql("SELECT COUNT(*) FROM messages") == [(0,)]


# ---- a real full disk --------------------------------------------------------

def test_smtp_retryable_commit_failure_is_451():
    """Commits 1 and 2 (the delivery and the store's retry of it) fail with
    STORE_ERETRY: 451 4.3.0, nothing stored; the next message is stored."""
    inst = smtp_install(tls=False, env={"MAILTEST_STORE_FAIL_COMMIT": "1:retry"})
    try:
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250")
            assert send(s, "retry-fails").startswith("451 4.3.0 ")
            assert send(s, "retry-works").startswith("250 2.0.0 Ok")
            s.expect("QUIT", "221 ")
        got = subjects(inst)
        for mailbox in RCPTS:
            assert got[mailbox] == ["retry-works"], got
        assert "temporary database failure" in inst.log("smtpd")
        db_check(inst)
    finally:
        smtp_close(inst)


def test_pop3_retryable_failures_are_sys_temp():
    """STORE_ERETRY at login (the lease: commits 1 and 2) and at QUIT (the
    delete: commits 2 and 3 of the next pop3d) is -ERR [SYS/TEMP]; nothing
    is deleted, and the next session works."""
    with pop3_install(allow_plaintext_auth="yes") as inst:
        ids = [deliver(inst, ALICE, message(i)) for i in range(2)]
        proc = inst.start("pop3d", env={"MAILTEST_STORE_FAIL_COMMIT": "1:retry"})
        p = Pop3(inst.port("pop3"))
        assert p.login() == b"-ERR [SYS/TEMP] cannot open the maildrop\r\n"
        assert p.login().startswith(b"+OK maildrop has 2 messages")
        assert p.cmd("QUIT").startswith(b"+OK")
        inst.stop(proc)
        inst.start("pop3d", env={"MAILTEST_STORE_FAIL_COMMIT": "2:retry"})
        p = Pop3(inst.port("pop3"))
        assert p.login().startswith(b"+OK maildrop has 2 messages")
        assert p.cmd("DELE 1").startswith(b"+OK")
        assert p.cmd("QUIT") == b"-ERR [SYS/TEMP] deleting failed; nothing deleted\r\n"
        assert entry_ids(inst, ALICE) == ids
        db_check(inst)


def test_mailctl_retryable_failure_says_run_again(monkeypatch):
    """An operator's write is not retried by the store: mailctl says that
    nothing was changed and the command may simply be run again (exit 1)."""
    with pop3_install() as inst:
        if not mailtest.test_hooks_built():
            pytest.skip("MAILTEST_STORE_FAIL_COMMIT: this build has no test hooks")
        monkeypatch.setenv("MAILTEST_STORE_FAIL_COMMIT", "1:retry")
        r = inst.mailctl("domain", "add", "new.test", check=False)
        assert r.returncode == 1, r
        assert "nothing was changed; run the command again" in r.stderr, r.stderr
        monkeypatch.delenv("MAILTEST_STORE_FAIL_COMMIT")
        assert "new.test" not in inst.mailctl("domain", "list").stdout.split()
        inst.mailctl("domain", "add", "new.test")


def mount_tmpfs(path, size):
    """Mounts a tmpfs of `size` at path. Returns None, or why it could not
    (the reason the test is skipped with: CI runs as root and runs it)."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (running as uid %d)" % os.geteuid()
    if shutil.which("mount") is None:
        return "no mount command (Debian package mount)"
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        # A container without CAP_SYS_ADMIN, for one.
        why = p.stderr.strip().splitlines()
        return "mount -t tmpfs failed: %s" % (why[0] if why else "exit %d" % p.returncode)
    return None


@sqlite_only("the database file on a full disk; PostgreSQL's files are the server's, "
             "whose full disk is its own (the store sees a failed statement, as in the "
             "other tests here)")
def test_smtp_disk_full_is_temporary():
    """The database on a 3 MiB tmpfs mostly taken by a ballast file: once the
    disk is full a message is refused with 451 (never a crash, never half
    stored); after the ballast goes, the same session's next message is
    stored, and every acknowledged message is there."""
    inst = smtp_install(tls=False, start=False)
    disk = os.path.join(inst.dir, "disk")
    os.mkdir(disk)
    why_not = mount_tmpfs(disk, "3m")
    if why_not is not None:
        inst.close()
        pytest.skip("the full-disk test did not run: " + why_not)
    try:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(inst.db + suffix):
                shutil.copy(inst.db + suffix, os.path.join(disk, "mail.db" + suffix))
        inst.db = inst.config["db"] = os.path.join(disk, "mail.db")
        inst.write_config()
        st = os.statvfs(disk)
        ballast = os.path.join(disk, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (st.f_bavail * st.f_frsize - 1024 * 1024))
        inst.smtpd = inst.start("smtpd")

        acked = []
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            for n in range(40):
                reply = send(s, "full-%d" % n, size=100 * 1024)
                if not reply.startswith("250 "):
                    break
                acked.append("full-%d" % n)
            assert reply.startswith("451 4.3.0 "), "the disk never filled up: %r" % reply
            assert acked, "the first message already failed"
            print("%d messages stored before the disk was full" % len(acked))
            s.expect("NOOP", "250 ")
            os.unlink(ballast)
            assert send(s, "after", size=100 * 1024).startswith("250 2.0.0 Ok")
            acked.append("after")
            s.expect("QUIT", "221 ")
        assert inst.smtpd.poll() is None
        db_check(inst)
        got = subjects(inst)
        for mailbox in RCPTS:
            assert got[mailbox] == acked
    finally:
        # smtpd holds files on the tmpfs: stop it, unmount, then clean up.
        if getattr(inst, "smtpd", None) is not None and inst.smtpd.poll() is None:
            inst.stop(inst.smtpd)
        subprocess.run(["umount", "-l", disk], capture_output=True)
        smtp_close(inst)
