"""mailctl db copy: an installation filled through smtpd moves from SQLite to
PostgreSQL and back, and POP3 clients notice nothing: UIDL, LIST and RETR
answer the same for every user on each copy, new mail on the copy gets ids
of its own, and `mailctl db check` is clean on each target. Copying into a
database that holds anything, from an out-of-date source, or a copy that
fails half-way, leaves the target as it was. The PostgreSQL side runs on a
throwaway cluster from tests/tools/pgcluster.sh."""
import os
import poplib
import re
import smtplib
import sqlite3
import subprocess
import time

import pytest

import mailtest
from mailtest import Install, binary


USERS = {"alice@example.test": "alice-pw", "bob@example.test": "bob-pw",
         "carol@other.test": "carol-pw"}


def install(**config):
    return Install(tls=False, allow_plaintext_auth="yes", **config)


def mailctl(db, *args, env=None):
    """mailctl on the database db (MAIL_DB), with extra environment."""
    return subprocess.run([binary("mailctl"), *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, MAIL_DB=db, **(env or {})))


def copy(src, dst, env=None):
    return mailctl(src, "db", "copy", "--from", src, "--to", dst, env=env)


def deliver(inst, sender, rcpts, subject):
    """One message through the MX listener; returns its queue id."""
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
        s.ehlo()
        s.mail(sender)
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        code, reply = s.data("Subject: %s\r\nFrom: <%s>\r\n\r\n%s\r\n" %
                             (subject, sender, ("body of %s\r\n" % subject) * 20))
    assert code == 250, reply
    return int(re.search(rb"queued as (\d+)", reply).group(1))


def submit_remote(inst, subject):
    """alice sends to a remote address with DSN parameters (RFC 3461): a
    queue row, deferred after its first attempt (no DNS answers)."""
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30) as s:
        s.login("alice@example.test", USERS["alice@example.test"])
        assert s.mail("alice@example.test", ["RET=HDRS", "ENVID=env-1"])[0] == 250
        assert s.rcpt("far@remote.test", ["NOTIFY=FAILURE,DELAY",
                                          "ORCPT=rfc822;far@remote.test"])[0] == 250
        code, reply = s.data("Subject: %s\r\nFrom: <alice@example.test>\r\n\r\nout\r\n"
                             % subject)
    assert code == 250, reply


def pop3_view(inst):
    """What each user's POP3 client sees: LIST, UIDL and every message."""
    view = {}
    for user, password in USERS.items():
        p = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=30)
        p.user(user)
        p.pass_(password)
        listing = p.list()[1]
        uidl = p.uidl()[1]
        bodies = [p.retr(i + 1)[1] for i in range(len(listing))]
        p.quit()  # no DELE: nothing changes
        view[user] = {"list": listing, "uidl": uidl, "retr": bodies}
    return view


def uids(view):
    return {line.split()[1] for v in view.values() for line in v["uidl"]}


def admin_view(inst):
    """What mailctl shows of the installation (the queue without leases)."""
    out = {}
    for args in (["domain", "list"], ["user", "list"], ["alias", "list"], ["queue", "list"],
                 ["dkim", "show", "example.test"]):
        out[" ".join(args)] = inst.mailctl(*args).stdout
    for user in list(USERS) + ["dave@other.test"]:
        out["show " + user] = inst.mailctl("user", "show", user).stdout
        out["mailbox " + user] = inst.mailctl("mailbox", "list", user).stdout
    return out


def check_clean(inst):
    res = inst.mailctl("db", "check", check=False)
    assert res.returncode == 0 and res.stdout.endswith(": ok\n"), res.stdout + res.stderr


def stop_all(inst):
    for p in inst.procs:
        if p.poll() is None:
            assert inst.stop(p) == 0


def test_copy_sqlite_to_postgresql_and_back(cluster):
    src = install()
    pg = back = None
    try:
        for user, password in USERS.items():
            src.add_user(user, password)
        src.mailctl("alias", "add", "postmaster@example.test", "alice@example.test")
        for target in ("alice@example.test", "bob@example.test", "carol@other.test"):
            src.mailctl("alias", "add", "team@example.test", target)
        src.mailctl("user", "quota", "bob@example.test", "5M")
        src.add_user("dave@other.test", "dave-pw")
        src.mailctl("user", "disable", "dave@other.test")
        src.mailctl("dkim", "generate", "example.test")
        src.start("smtpd")
        src.start("pop3d")
        ids = [deliver(src, "x@sender.test", ["alice@example.test"], "one"),
               deliver(src, "x@sender.test", ["alice@example.test", "bob@example.test",
                                              "carol@other.test"], "all three"),
               deliver(src, "x@sender.test", ["team@example.test"], "to the team"),
               deliver(src, "x@sender.test", ["bob@example.test"], "bob alone"),
               deliver(src, "x@sender.test", ["postmaster@example.test"], "postmaster")]
        submit_remote(src, "far away")
        # Bob deletes his first message: a gap in his unique ids.
        p = poplib.POP3("127.0.0.1", src.port("pop3"), timeout=30)
        p.user("bob@example.test")
        p.pass_(USERS["bob@example.test"])
        p.dele(1)
        p.quit()
        # The remote recipient's first attempt fails at once (no DNS
        # answers): wait until the queue row records it.
        deadline = time.monotonic() + 60
        while "attempts=1" not in src.mailctl("queue", "list").stdout:
            assert time.monotonic() < deadline, src.mailctl("queue", "list").stdout
            time.sleep(0.1)
        before = pop3_view(src)
        assert [len(v["list"]) for v in before.values()] == [4, 2, 2]
        stop_all(src)  # a copy is a snapshot: switch over with the daemons stopped
        admin = admin_view(src)
        assert "attempts=1" in admin["queue list"] and "far@remote.test" in admin["queue list"]

        # SQLite -> PostgreSQL: an empty database gets the schema.
        res = copy(src.db, cluster.uri)
        assert res.returncode == 0, res.stderr
        assert re.fullmatch(r"copied 2 domains, 4 users, 4 aliases, 1 DKIM key, 6 messages"
                            r" \(\d+ bytes\) in 8 mailbox entries, 1 queued delivery\n",
                            res.stdout), res.stdout
        pg = install(db=cluster.uri)  # its `db migrate` finds the schema current
        check_clean(pg)
        assert admin_view(pg) == admin
        pg.start("pop3d")
        assert pop3_view(pg) == before

        # New mail on PostgreSQL: ids above every id the source gave out.
        pg.start("smtpd")
        new_id = deliver(pg, "x@sender.test", ["team@example.test"], "after the move")
        assert new_id > max(ids)
        after = pop3_view(pg)
        assert uids(after) > uids(before)
        for user in USERS:
            assert after[user]["uidl"][:-1] == before[user]["uidl"]
            assert after[user]["retr"][:-1] == before[user]["retr"]
            assert int(after[user]["uidl"][-1].split()[1]) > max(int(u) for u in uids(before))
        stop_all(pg)
        check_clean(pg)
        admin_pg = admin_view(pg)

        # A target that holds anything is refused, and left as it is.
        res = copy(src.db, cluster.uri)
        assert res.returncode == 1
        assert "target: not empty (table domains has rows)" in res.stderr
        assert res.stderr.count("\n") == 1
        assert admin_view(pg) == admin_pg

        # PostgreSQL -> a new SQLite file (here: a fresh install's empty schema).
        back = install()
        res = copy(cluster.uri, back.db)
        assert res.returncode == 0, res.stderr
        assert "7 messages" in res.stdout
        check_clean(back)
        assert admin_view(back) == admin_pg
        back.start("pop3d")
        assert pop3_view(back) == after
        back.start("smtpd")
        assert deliver(back, "x@sender.test", ["carol@other.test"], "home again") > new_id
        stop_all(back)
        check_clean(back)
        res = copy(cluster.uri, back.db)
        assert res.returncode == 1 and "not empty" in res.stderr
    finally:
        for inst in (back, pg, src):
            if inst is not None:
                inst.close()


def test_refusals_and_usage(tmp_path):
    inst = install()
    try:
        inst.add_user("alice@example.test", "pw")
        missing = str(tmp_path / "new.db")

        res = mailctl(inst.db, "db", "copy", "--from", inst.db)
        assert res.returncode == 2 and "missing option --to" in res.stderr
        res = mailctl(inst.db, "db", "copy", "--to", missing)
        assert res.returncode == 2 and "missing option --from" in res.stderr
        res = copy(inst.db, inst.db)
        assert res.returncode == 2 and "name the same database" in res.stderr
        res = copy(str(tmp_path / "nothing.db"), missing)
        assert res.returncode == 1
        assert "source: %s: no such database file" % (tmp_path / "nothing.db") in res.stderr
        assert not os.path.exists(missing)

        # An out-of-date source: migrate it first. The target is not created.
        old = str(tmp_path / "old.db")
        assert mailctl(old, "domain", "add", "old.test").returncode == 0
        conn = sqlite3.connect(old)
        conn.execute("PRAGMA user_version = 4")
        conn.close()
        res = copy(old, missing)
        assert res.returncode == 1
        assert "source: %s: database schema version 4 is older" % old in res.stderr
        assert "run `mailctl db migrate`" in res.stderr
        assert not os.path.exists(missing)

        # An out-of-date target is not upgraded: refused as it is.
        res = copy(inst.db, old)
        assert res.returncode == 1 and "target: " in res.stderr and "older" in res.stderr
        conn = sqlite3.connect(old)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        conn.close()

        # A target that is not ours at all.
        foreign = str(tmp_path / "foreign.db")
        conn = sqlite3.connect(foreign)
        conn.execute("CREATE TABLE t (x)")
        conn.close()
        res = copy(inst.db, foreign)
        assert res.returncode == 1 and "not a mail database" in res.stderr

        res = mailctl(inst.db, "db", "--help")
        assert "db copy --from DB --to DB" in res.stdout
    finally:
        inst.close()


def test_failed_copy_leaves_the_target_empty(tmp_path):
    if not mailtest.test_hooks_built():
        pytest.skip("this build has no test hooks (cmake -DMAIL_TEST_HOOKS=ON)")
    inst = install()
    try:
        inst.add_user("alice@example.test", "pw")
        target = str(tmp_path / "target.db")
        # Commit 1 gives the new file its schema, commit 2 is the copy's.
        res = copy(inst.db, target, env={"MAILTEST_STORE_FAIL_COMMIT": "2"})
        assert res.returncode == 1
        assert "target: commit: failed by MAILTEST_STORE_FAIL_COMMIT (nothing was copied)" \
            in res.stderr
        conn = sqlite3.connect(target)
        assert conn.execute("SELECT COUNT(*) FROM domains").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0
        conn.close()
        # Empty again: the same copy simply runs again.
        res = copy(inst.db, target)
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("copied 1 domain, 1 user, 0 aliases, 0 DKIM keys,")
    finally:
        inst.close()
