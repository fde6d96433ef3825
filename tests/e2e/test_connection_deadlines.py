"""Deadlines that keep clients from holding connections, against the real
daemons (docs/SECURITY.md, "Clients that hold connections"):
login_timeout for clients that keep talking but never log in (on smtpd's
MX listener: never start a mail transaction), handshake_timeout for TLS
clients that never finish, and stress mode near max_connections. The
mechanisms are unit-tested in tests/unit/test_conn*.c; this checks that
each daemon says when a client has logged in, and what clients see."""

import base64
import select
import socket
import time

from mailtest import Raw
from pop3lib import Pop3, new_user, running_pop3d
from smtptest import USERS, Session, smtp_close, smtp_install

ALICE = "alice@example.test"
TIMEOUT = "421 4.4.2 mx.example.test Error: timeout exceeded"


def session(inst, listener, ehlo=True):
    s = Session(inst.port(listener))
    s.expect(None, "220 ")
    if ehlo:
        s.expect("EHLO client.test", "250-")
    return s


def keep_busy(s, command, ok, limit=5.0):
    """Sends `command` every 0.2 s while the reply starts with `ok`; returns
    the first other reply (b"" / "" when the server just closed) and the
    seconds since the call. Fails after `limit` seconds."""
    start = time.monotonic()
    while True:
        assert time.monotonic() - start < limit, "still served after %.1f s" % limit
        try:
            s.send(command + "\r\n")
        except OSError:
            pass  # closed: the reply before the close is still to be read
        reply = s.reply() if isinstance(s, Session) else s.bline()
        if not reply.startswith(ok):
            return reply, time.monotonic() - start
        time.sleep(0.2)


def test_smtp_login_timeout():
    inst = smtp_install(tls=False, login_timeout=1, allow_plaintext_auth="yes")
    try:
        mx = session(inst, "smtp")
        mail = session(inst, "smtp")
        mail.expect("MAIL FROM:<someone@remote.test>", "250 ")
        sub = session(inst, "submission")
        plain = base64.b64encode(("\0%s\0%s" % (ALICE, USERS[ALICE])).encode()).decode()
        sub.expect("AUTH PLAIN " + plain, "235 ")
        anon = session(inst, "submission")
        # Busy, but no transaction (MX) and no login (submission): cut.
        reply, seconds = keep_busy(mx, "NOOP", "250 ")
        assert reply == TIMEOUT and seconds >= 0.7
        assert mx.closed()
        reply, _ = keep_busy(anon, "NOOP", "250 ")
        assert reply == TIMEOUT
        assert anon.closed()
        mx.close()
        anon.close()
        # Past the same deadline, the others are served.
        mail.expect("RCPT TO:<bob@example.test>", "250 ")
        mail.expect("DATA", "354 ")
        mail.expect("Subject: after the login deadline\r\n\r\nbody\r\n.", "250 2.0.0 Ok")
        mail.expect("QUIT", "221 ")
        mail.close()
        sub.expect("MAIL FROM:<%s>" % ALICE, "250 ")
        sub.expect("QUIT", "221 ")
        sub.close()
        assert inst.log("smtpd").count("event=login_timeout ") == 2
    finally:
        smtp_close(inst)


def test_smtp_handshake_timeout():
    inst = smtp_install(handshake_timeout=1)
    try:
        start = time.monotonic()
        silent = Raw(inst.port("smtps"), timeout=5)  # never sends a ClientHello
        starttls = session(inst, "submission")
        starttls.expect("STARTTLS", "220 ")           # and never starts
        assert silent.closed() and starttls.closed()
        assert time.monotonic() - start >= 0.9
        silent.close()
        starttls.close()
        assert inst.log("smtpd").count("reason=tls_handshake_timeout") == 2
    finally:
        smtp_close(inst)


def test_pop3_login_timeout():
    with running_pop3d(allow_plaintext_auth="yes", login_timeout=1, handshake_timeout=1) as inst:
        user = new_user(inst)
        start = time.monotonic()
        logged_in = Pop3(inst.port("pop3"))
        assert logged_in.login(user).startswith(b"+OK")
        silent_tls = Raw(inst.port("pop3s"), timeout=5)
        busy = Pop3(inst.port("pop3"))
        # RFC 1939 3: the autologout closes without a response.
        reply, seconds = keep_busy(busy, "USER " + user, b"+OK")
        assert reply == b"" and time.monotonic() - start >= 0.9
        assert silent_tls.closed()
        busy.close()
        silent_tls.close()
        assert logged_in.cmd("STAT") == b"+OK 0 0\r\n"
        assert logged_in.cmd("QUIT").startswith(b"+OK")
        logged_in.close()
        log = inst.log("pop3d")
        assert log.count("event=login_timeout ") == 1
        assert log.count("reason=tls_handshake_timeout") == 1


def readable(sessions):
    """The sessions among `sessions` with input waiting."""
    ready, _, _ = select.select([s.sock for s in sessions], [], [], 0.2)
    return [s for s in sessions if s.sock in ready]


def test_smtp_stress_mode():
    """max_connections 10: stress mode from 8 connections until below 7.
    Seven idle clients and a busy one: idle clients are cut after
    stress_idle_timeout (1 s, not idle_timeout's 300 s) until the count is
    below 7; the busy one is served throughout, the other idle ones keep
    the long timeout afterwards."""
    inst = smtp_install(tls=False, max_connections=10, stress_idle_timeout=1)
    try:
        idle = [session(inst, "smtp") for _ in range(7)]
        busy = session(inst, "smtp")
        start, cut = time.monotonic(), []
        while time.monotonic() - start < 2.5:
            busy.expect("NOOP", "250 ")
            for s in readable([s for s in idle if s not in cut]):
                assert s.reply() == TIMEOUT
                assert s.closed()
                s.close()
                cut.append(s)
        assert len(cut) == 2
        for s in idle:
            if s not in cut:
                s.expect("NOOP", "250 ")
                s.expect("QUIT", "221 ")
                s.close()
        busy.expect("QUIT", "221 ")
        busy.close()
        log = inst.log("smtpd")
        assert "event=stress server=smtpd state=on connections=8" in log
        assert "event=stress server=smtpd state=off connections=6" in log
    finally:
        smtp_close(inst)
