"""smtpd under abusive clients: connection floods past max_connections_per_ip
and max_connections, clients that trickle a byte a second or say nothing,
a client that pipelines a flood of commands and never reads the replies,
and huge pipelined bursts. Throughout, well-behaved clients are served.

Clients come from several loopback addresses (Linux routes all of
127.0.0.0/8 to lo; mailtest.Raw's `source`), so the per-address limit can
be hit by one "address" while others are not."""

import random
import socket
import time

import pytest

from pop3lib import rss_kib, sanitized
from smtptest import Session, smtp_close, smtp_install, stored

PER_IP = 4
TOTAL = 12
IDLE = 2
REJECT = "421 4.7.0 Too many connections, try later"


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install(tls=False, max_connections=TOTAL, max_connections_per_ip=PER_IP,
                        idle_timeout=IDLE)
    yield inst
    smtp_close(inst)


def connect(inst, source="127.0.0.1", ehlo=True):
    s = Session(inst.port("smtp"), source=source)
    s.expect(None, "220 ")
    if ehlo:
        s.expect("EHLO client.test", "250-")
    return s


def transaction(inst, source="127.0.0.1", subject="hello"):
    """A well-behaved client's whole session; returns its duration in seconds."""
    start = time.monotonic()
    with connect(inst, source) as s:
        s.expect("MAIL FROM:<someone@remote.test>", "250 ")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        s.expect("DATA", "354 ")
        s.expect("Subject: %s\r\n\r\nbody\r\n." % subject, "250 2.0.0 Ok")
        s.expect("QUIT", "221 ")
    return time.monotonic() - start


def refused(inst, source):
    """A connection over a limit: the reject line, then the close."""
    with Session(inst.port("smtp"), source=source) as s:
        assert s.reply() == REJECT
        assert s.closed()


def served_again(inst, source, timeout=5.0):
    """Closed connections are counted down asynchronously: retries until
    `source` gets its greeting again."""
    deadline = time.monotonic() + timeout
    while True:
        with Session(inst.port("smtp"), source=source) as s:
            reply = s.reply()
            if reply.startswith("220 "):
                s.expect("QUIT", "221 ")
                return
        assert reply == REJECT and time.monotonic() < deadline, reply
        time.sleep(0.05)


def test_flood_from_one_address(inst):
    flood = [connect(inst, "127.0.0.2", ehlo=False) for _ in range(PER_IP)]
    try:
        for _ in range(20):
            refused(inst, "127.0.0.2")
        # The global limit is not exhausted: other addresses are served.
        assert transaction(inst, "127.0.0.1", "during-ip-flood") < 5
        for s in flood:
            s.expect("NOOP", "250 ")  # the flood's own sessions still work
    finally:
        for s in flood:
            s.close()
    served_again(inst, "127.0.0.2")


def test_flood_past_the_global_limit(inst):
    # TOTAL connections from TOTAL / 3 addresses, each under PER_IP.
    flood = [connect(inst, "127.0.1.%d" % (i % (TOTAL // 3) + 1), ehlo=False)
             for i in range(TOTAL)]
    try:
        for i in range(20):
            refused(inst, "127.0.2.%d" % (i + 1))
        refused(inst, "127.0.0.1")
    finally:
        for s in flood:
            s.close()
    served_again(inst, "127.0.0.1")
    assert transaction(inst, "127.0.0.1", "after-global-flood") < 5


def test_trickling_and_silent_clients(inst):
    """Three clients send one byte a second; one sends nothing. Others are
    served at full speed meanwhile; the silent one hits the idle timeout,
    while the tricklers' every byte restarts theirs (docs/SECURITY.md)."""
    silent = connect(inst, "127.0.0.20", ehlo=False)
    tricklers = [connect(inst, "127.0.0.%d" % (21 + i), ehlo=False) for i in range(3)]
    line = b"NOOP\r\n"
    worst = 0.0
    for i in range(len(line)):
        tick = time.monotonic()
        for t in tricklers:
            t.send(line[i:i + 1])
        worst = max(worst, transaction(inst, "127.0.0.1", "during-trickle-%d" % i))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    for t in tricklers:
        t.expect(None, "250 Ok")  # no EHLO, so no enhanced status code
        t.expect("QUIT", "221 ")
        t.close()
    # Long past IDLE: the silent client was told and dropped.
    assert silent.reply() == "421 mx.example.test Error: timeout exceeded"
    assert silent.closed()
    silent.close()
    assert worst < 2.0, "a normal session took %.2f s beside the tricklers" % worst


def test_client_that_never_reads(inst):
    """A flood of pipelined VRFYs (each answered with ~90 octets) from a
    client that reads nothing: smtpd stops reading it once its replies back
    up, its memory stays flat, everyone else is served, and the idle
    timeout still ends the session."""
    pid = inst.smtpd.pid
    timeouts = inst.log("smtpd").count("event=timeout ")
    before = rss_kib(pid)
    hog = socket.socket()
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
    hog.bind(("127.0.0.30", 0))
    hog.connect(("127.0.0.1", inst.port("smtp")))
    try:
        # 24 MB in, 270 MB of replies: more than any socket buffers hold.
        burst = b"VRFY x\r\n" * (3 << 20)
        hog.setblocking(False)
        sent, stalled_since = 0, None
        while sent < len(burst):
            try:
                sent += hog.send(burst[sent:sent + 65536])
                stalled_since = None
            except BlockingIOError:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 1.0:
                    break  # smtpd stopped reading us: backpressure
                time.sleep(0.01)
        assert sent < len(burst), "smtpd read all %d octets without our reading" % sent
        peak = rss_kib(pid)
        assert transaction(inst, "127.0.0.1", "beside-the-hog") < 5
        growth = (max(peak, rss_kib(pid)) - before) / 1024
        print("hog sent %d of %d octets; smtpd grew %.1f MiB" % (sent, len(burst), growth))
        assert growth < (64 if sanitized() else 16), "smtpd grew by %.1f MiB" % growth

        # Replies that do not move make the client idle: once it reads, it
        # gets the replies smtpd had queued, in order, then the 421.
        deadline = time.monotonic() + 2 * IDLE + 5
        while inst.log("smtpd").count("event=timeout ") == timeouts:
            assert time.monotonic() < deadline, "the hog was never timed out"
            time.sleep(0.1)
        hog.setblocking(True)
        hog.settimeout(10)
        data = bytearray()
        while True:
            chunk = hog.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        # (No EHLO: no enhanced status codes.)
        lines = bytes(data).split(b"\r\n")
        assert lines[-2:] == [b"421 mx.example.test Error: timeout exceeded", b""], lines[-3:]
        assert lines[0] == b"220 mx.example.test ESMTP ready"
        assert set(lines[1:-2]) == {b"252 Cannot VRFY user, but will accept message and attempt "
                                    b"delivery"}
        assert len(lines) - 3 < sent // 8
    finally:
        hog.close()
    served_again(inst, "127.0.0.30")


def test_huge_pipelined_burst_answered_in_order(inst):
    """Thousands of commands in one send (RFC 2920): every one answered, in order."""
    replies = {"NOOP": "250 2.0.0 Ok", "RSET": "250 2.0.0 Ok",
               "VRFY bob": "252 2.5.2 ", "FOO": "500 5.5.1 ", "HELP": "214 2.0.0 "}
    rng = random.Random(5321)
    # A few unknown commands, well under the error limit.
    commands = [rng.choice(("NOOP", "RSET", "VRFY bob", "HELP")) for _ in range(4000)]
    for i in rng.sample(range(len(commands)), 5):
        commands[i] = "FOO"
    with connect(inst) as s:
        s.send("".join(c + "\r\n" for c in commands) + "QUIT\r\n")
        for i, c in enumerate(commands):
            got = s.reply()
            assert got.startswith(replies[c]), "reply %d to %r: %r" % (i, c, got)
        s.expect(None, "221 ")
        assert s.closed()
    assert len(stored(inst.db).get("bob@example.test", [])) >= 1
