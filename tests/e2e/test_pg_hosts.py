"""Two "hosts" on one PostgreSQL database: each an Install of its own (its
own directory, config, certificate and ports) whose db is the same URI, as
two machines behind a balancer would be. Mail accepted by one host's smtpd
is fetched through the other's pop3d; a maildrop open on one host is
[IN-USE] on the other; while the database is down, sessions get temporary
errors and /healthz says 503, and service comes back by itself; a database
restart and a kill -9 of smtpd in the middle of load lose no message that
got its 250."""
import http.client
import os
import poplib
import signal
import smtplib
import threading
import time

import pytest

from mailtest import Install, free_port


@pytest.fixture
def hosts(cluster):
    """Hosts A and B on a database of their own, emptied for each test."""
    db = cluster.new_database("hosts_%d" % os.getpid())
    config = dict(tls=False, db=db, allow_plaintext_auth="yes",
                  metrics_listen="127.0.0.1:%d" % free_port())
    a = Install(**config)
    b = Install(**dict(config, metrics_listen="127.0.0.1:%d" % free_port()))
    try:
        a.add_user("alice@example.test", "secret")
        a.add_user("bob@example.test", "secret")
        yield a, b
    finally:
        a.close()
        b.close()


def send(inst, rcpt, subject):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
        s.sendmail("carol@remote.test", [rcpt], "Subject: %s\r\n\r\ncross-host\r\n" % subject)


def login(inst, user="alice@example.test"):
    p = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=30)
    p.user(user)
    p.pass_("secret")
    return p


def subjects(inst, user="alice@example.test"):
    """Every message's Subject in the user's maildrop, read through inst."""
    p = login(inst, user)
    try:
        count = p.stat()[0]
        found = []
        for i in range(1, count + 1):
            head = p.top(i, 0)[1]
            found.append(next(l for l in head if l.startswith(b"Subject: "))[9:].decode())
        return found
    finally:
        p.quit()


def healthz(inst):
    port = int(inst.config["metrics_listen"].rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/healthz")
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def raw_reply(sock_file):
    lines = []
    while True:
        line = sock_file.readline().decode()
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "".join(lines)


def test_mail_in_on_one_host_out_on_the_other_and_the_lock_across(hosts):
    a, b = hosts
    a.start("smtpd")
    b.start("smtpd")
    a.start("pop3d")
    b.start("pop3d")
    send(a, "alice@example.test", "via A")
    send(b, "alice@example.test", "via B")
    assert subjects(b) == ["via A", "via B"]

    # The maildrop lease lives in the database: a session on A makes B's
    # answer [IN-USE], and B's pop3d deletes what A's session saw once A quit.
    pop = login(a)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        login(b)
    pop.dele(1)
    pop.quit()
    assert subjects(b) == ["via B"]
    assert a.mailctl("db", "check").returncode == 0


def test_database_outage_gives_temporary_errors_and_service_resumes(hosts, cluster):
    a, _ = hosts
    a.start("smtpd")
    a.start("pop3d")
    send(a, "alice@example.test", "before")
    assert healthz(a)[0] == 200

    cluster.stop()
    try:
        status, body = healthz(a)
        assert status == 503, body
        # smtpd: the recipient cannot be looked up, or the message cannot be
        # stored: either way a temporary reply, never a 5xx that bounces it.
        with smtplib.SMTP("127.0.0.1", a.port("smtp"), timeout=30) as s:
            s.ehlo("client.test")
            s.mail("carol@remote.test")
            code, text = s.rcpt("alice@example.test")
            assert code == 451 and text.startswith(b"4.3.0"), (code, text)
        # pop3d: the login cannot be checked: [SYS/TEMP], the client retries.
        p = poplib.POP3("127.0.0.1", a.port("pop3"), timeout=30)
        p.user("alice@example.test")
        with pytest.raises(poplib.error_proto, match=r"\[SYS/TEMP\]"):
            p.pass_("secret")
        p.close()
    finally:
        cluster.start()

    # Back by itself, with no restart of either daemon.
    deadline = time.monotonic() + 60
    while healthz(a)[0] != 200:
        assert time.monotonic() < deadline, "healthz stayed 503 after the database came back"
        time.sleep(0.2)
    send(a, "alice@example.test", "after")
    assert subjects(a) == ["before", "after"]


class Load:
    """Sender threads sending to both hosts' smtpd until stopped. Every
    message has its own subject; the ones that got 250 are acknowledged,
    the others (a temporary error, a dropped connection) may or may not
    have been stored, as SMTP allows."""

    def __init__(self, installs, rcpts, threads=6):
        self.installs = installs
        self.rcpts = rcpts
        self.acked = set()
        self.failed = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,)) for n in range(threads)]

    def run(self, n):
        seq = 0
        while not self.stop.is_set():
            inst = self.installs[(n + seq) % len(self.installs)]
            rcpt = self.rcpts[seq % len(self.rcpts)]
            subject = "t%d-m%d" % (n, seq)
            seq += 1
            try:
                send(inst, rcpt, subject)
            except (smtplib.SMTPException, OSError):
                with self.lock:
                    self.failed += 1
                time.sleep(0.05)
                continue
            with self.lock:
                self.acked.add((rcpt, subject))

    def count(self):
        with self.lock:
            return len(self.acked)

    def wait_for(self, more, timeout=120):
        """Waits until `more` further messages were acknowledged."""
        target = self.count() + more
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, "load made no progress"
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def assert_nothing_acknowledged_lost(load, reader):
    print("acknowledged %d, failed %d" % (len(load.acked), load.failed))
    for rcpt in load.rcpts:
        stored = subjects(reader, rcpt)
        # Each message is stored once: a retry after a lost reply is a new
        # subject here, so a duplicate would be a store bug.
        assert len(stored) == len(set(stored)), "a message stored twice for %s" % rcpt
        missing = {s for r, s in load.acked if r == rcpt} - set(stored)
        assert not missing, "acknowledged but lost for %s: %s" % (rcpt, sorted(missing)[:10])


def test_database_restart_under_load_loses_nothing_acknowledged(hosts, cluster):
    a, b = hosts
    a.start("smtpd")
    b.start("smtpd")
    b.start("pop3d")
    rcpts = ["alice@example.test", "bob@example.test"]
    with Load([a, b], rcpts) as load:
        load.wait_for(50)
        cluster.restart()
        load.wait_for(50)
        cluster.restart()
        load.wait_for(50)
    assert_nothing_acknowledged_lost(load, b)
    assert a.mailctl("db", "check").returncode == 0


def test_kill_9_of_one_smtpd_under_load_loses_nothing_acknowledged(hosts):
    a, b = hosts
    smtpd_a = a.start("smtpd")
    b.start("smtpd")
    b.start("pop3d")
    rcpts = ["alice@example.test", "bob@example.test"]
    with Load([a, b], rcpts) as load:
        for _ in range(2):
            load.wait_for(60)
            smtpd_a.send_signal(signal.SIGKILL)
            smtpd_a.wait()
            load.wait_for(30)  # host B goes on alone meanwhile
            smtpd_a = a.start("smtpd")
        load.wait_for(30)
    assert_nothing_acknowledged_lost(load, b)
    assert a.mailctl("db", "check").returncode == 0
