"""pop3d under abusive clients: a connection flood past
max_connections_per_ip, clients that trickle a byte a second or say
nothing, a client that pipelines RETRs of a large message and never reads,
and huge pipelined bursts. Throughout, well-behaved clients are served.

Clients come from several loopback addresses (mailtest.Raw's `source`).
The global max_connections limit is the same code in common/server.c and
is flooded in test_abuse_smtp.py."""

import random
import time

import pytest

from pop3lib import (Pop3, deliver, message, new_user, rss_kib, running_pop3d, sanitized,
                     unstuff)

PER_IP = 4
IDLE = 2
REJECT = b"-ERR [SYS/TEMP] too many connections, try again later\r\n"


@pytest.fixture(scope="module")
def inst():
    with running_pop3d(allow_plaintext_auth="yes", max_connections_per_ip=PER_IP,
                       idle_timeout=IDLE) as inst:
        yield inst


def good_client(inst, user, source="127.0.0.1"):
    """A well-behaved session: login, STAT, RETR 1, QUIT. Returns its duration."""
    start = time.monotonic()
    p = Pop3(inst.port("pop3"), source=source)
    assert p.greeting.startswith(b"+OK")
    assert p.login(user).startswith(b"+OK maildrop has 1 messages")
    assert p.cmd("STAT").startswith(b"+OK 1 ")
    assert p.cmd("RETR 1").startswith(b"+OK")
    assert unstuff(p.multi()) == message(1)
    assert p.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"
    p.close()
    return time.monotonic() - start


def mailbox(inst, n=1):
    user = new_user(inst)
    for i in range(n):
        deliver(inst, user, message(i + 1))
    return user


def served_again(inst, source, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        p = Pop3(inst.port("pop3"), source=source)
        try:
            if p.greeting.startswith(b"+OK"):
                assert p.cmd("QUIT").startswith(b"+OK")
                return
            assert p.greeting == REJECT and time.monotonic() < deadline, p.greeting
        finally:
            p.close()
        time.sleep(0.05)


def test_flood_from_one_address(inst):
    user = mailbox(inst)
    flood = [Pop3(inst.port("pop3"), source="127.0.0.2") for _ in range(PER_IP)]
    try:
        assert all(p.greeting.startswith(b"+OK") for p in flood)
        for _ in range(20):
            p = Pop3(inst.port("pop3"), source="127.0.0.2")
            assert p.greeting == REJECT
            assert p.closed()
            p.close()
        assert good_client(inst, user) < 5
    finally:
        for p in flood:
            p.close()
    served_again(inst, "127.0.0.2")


def test_trickling_and_silent_clients(inst):
    user = mailbox(inst)
    silent = Pop3(inst.port("pop3"), source="127.0.0.20")
    tricklers = [Pop3(inst.port("pop3"), source="127.0.0.%d" % (21 + i)) for i in range(3)]
    line = b"NOOP\r\n"
    worst = 0.0
    for i in range(len(line)):
        tick = time.monotonic()
        for t in tricklers:
            t.send(line[i:i + 1])
        worst = max(worst, good_client(inst, user))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    for t in tricklers:
        # NOOP is a TRANSACTION command: refused, but answered, after 6 s.
        assert t.bline().startswith(b"-ERR")
        assert t.cmd("QUIT").startswith(b"+OK")
        t.close()
    # RFC 1939 3: the autologout timer closes without a response.
    assert silent.bline() == b""
    silent.close()
    assert worst < 2.0, "a normal session took %.2f s beside the tricklers" % worst


def read_retr(p, size):
    """The rest of a RETR response of a `size`-octet body without dot lines,
    read in bulk (Pop3.multi is line by line); returns the body and leaves
    what follows in p.buf."""
    data = bytearray(p.buf)
    while data.find(b"\r\n.\r\n", max(0, size - 8)) < 0:
        chunk = p.sock.recv(1 << 20)
        assert chunk, "connection closed inside the RETR"
        data += chunk
    end = data.find(b"\r\n.\r\n", max(0, size - 8)) + 2
    p.buf = bytes(data[end + 3:])
    return bytes(data[:end])


def test_client_that_never_reads(inst):
    """Pipelined RETRs of a 4 MB message, never read: pop3d streams only as
    fast as the client reads, so its memory stays flat while others are
    served, and the idle timeout still drops the client."""
    big = (b"Subject: big\r\n\r\n" + b"y" * 1000 + b"\r\n") * 4000
    hog_user = new_user(inst)
    deliver(inst, hog_user, big)
    user = mailbox(inst)
    pid = inst.procs[0].pid

    hog = Pop3(inst.port("pop3"), source="127.0.0.30")
    try:
        assert hog.login(hog_user).startswith(b"+OK maildrop has 1 messages")
        if sanitized():
            # Warm ASan's allocator up with one whole RETR (see test_pop3_maildrop.py).
            assert hog.cmd("RETR 1").startswith(b"+OK")
            assert read_retr(hog, len(big)) == big
        timeouts = inst.log("pop3d").count("event=pop3_timeout ")
        before = rss_kib(pid)
        hog.send(b"RETR 1\r\n" * 100)  # 400 MB of output
        peak = before
        worst = 0.0
        for _ in range(5):
            time.sleep(0.3)
            peak = max(peak, rss_kib(pid))
            worst = max(worst, good_client(inst, user))
        growth = (peak - before) / 1024
        print("pop3d RSS before %d KiB, peak %d KiB" % (before, peak))
        assert growth < (64 if sanitized() else 16), "pop3d grew by %.1f MiB" % growth
        # ASan's slower loop on a loaded 2-core machine needs more room.
        limit = 5.0 if sanitized() else 2.0
        assert worst < limit, "a normal session took %.2f s beside the hog" % worst

        # A client whose output does not move is idle: pop3d closes it (after
        # what it had queued), having produced a small part of the 400 MB.
        deadline = time.monotonic() + 4 * IDLE + 5
        while inst.log("pop3d").count("event=pop3_timeout ") == timeouts:
            assert time.monotonic() < deadline, "the hog was never timed out"
            time.sleep(0.1)
        data = bytearray(hog.buf)
        while True:
            chunk = hog.sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        hog.close()
        assert data.startswith(b"+OK ") and len(data) < 10 * len(big), len(data)
        print("the hog got %d octets before pop3d dropped it" % len(data))
    finally:
        # After a failure above, a hog left connected would hold pop3d's shutdown
        # for shutdown_timeout and hide the failure behind a teardown timeout.
        hog.close()


def test_huge_pipelined_burst_answered_in_order(inst):
    user = mailbox(inst, 3)
    p = Pop3(inst.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 3 messages")
    size = len(message(1))
    uidl = {}
    for n in (1, 2, 3):
        uidl[n] = p.cmd("UIDL %d" % n)
    replies = {"NOOP": b"+OK\r\n", "STAT": b"+OK 3 %d\r\n" % (3 * size),
               "LIST 2": b"+OK 2 %d\r\n" % size, "UIDL 3": uidl[3],
               "LIST 9": b"-ERR no such message\r\n"}
    rng = random.Random(1939)
    commands = [rng.choice(("NOOP", "STAT", "LIST 2", "UIDL 3")) for _ in range(3000)]
    for i in rng.sample(range(len(commands)), 10):  # a few errors, under hard_error_limit
        commands[i] = "LIST 9"
    p.send("".join(c + "\r\n" for c in commands) + "QUIT\r\n")
    for i, c in enumerate(commands):
        got = p.bline()
        assert got == replies[c], "reply %d to %r: %r" % (i, c, got)
    assert p.bline() == b"+OK 0 messages deleted; signing off\r\n"
    assert p.closed()
