"""pop3d maildrop semantics: exclusive access through store leases (within one
process and across processes, expiry after a crash, renewal), the login
snapshot, deletion only in the UPDATE state (never on a drop, a timeout, a
shutdown or a failed commit), and streaming a 50 MB message with flat memory.

MAILTEST_POP3_LEASE_TTL (a test-only environment variable, see pop3d/pop3.h)
shortens the lease so expiry can be watched in seconds."""

import hashlib
import os
import signal
import socket
import subprocess
import time

import pytest

from mailtest import binary, free_port, wait_port, writers_held
from pop3lib import (PASSWORD, Pop3, big_body, deliver, entry_ids, message, new_user,
                     pop3_install, rss_kib, running_pop3d, sanitized, unstuff, wait_login)

IN_USE = b"-ERR [IN-USE] maildrop is in use by another session\r\n"
SHUTDOWN = b"-ERR [SYS/TEMP] server shutting down\r\n"


@pytest.fixture(scope="module")
def inst():
    with running_pop3d(allow_plaintext_auth="yes") as inst:
        yield inst


def maildrop(inst, n):
    user = new_user(inst)
    ids = [deliver(inst, user, message(i + 1)) for i in range(n)]
    return user, ids


def start_second_pop3d(inst, env=None):
    """Another pop3d process on the same database, on ports of its own."""
    port = free_port()
    log = open(os.path.join(inst.dir, "pop3d-2.log"), "ab")
    proc = subprocess.Popen(
        [binary("pop3d"), "-c", inst.conf], stdout=log, stderr=log,
        env=dict(os.environ, MAIL_POP3_LISTEN="127.0.0.1:%d" % port, MAIL_POP3S_LISTEN="",
                 **(env or {})))
    log.close()
    inst.procs.append(proc)
    wait_port(port, proc=proc)
    return proc, port


def test_second_session_gets_in_use(inst):
    user, ids = maildrop(inst, 2)
    first = Pop3(inst.port("pop3"))
    assert first.login(user).startswith(b"+OK maildrop has 2 messages")
    second = Pop3(inst.port("pop3"))
    assert second.login(user) == IN_USE
    # Refused, not logged in: still in AUTHORIZATION and usable.
    assert second.cmd("STAT") == b"-ERR STAT not valid in the AUTHORIZATION state\r\n"
    # Over implicit TLS too.
    tls = Pop3(inst.port("pop3s"), tls=True)
    assert tls.login(user) == IN_USE
    # QUIT releases the lease before it answers: the next login succeeds at once.
    assert first.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"
    assert second.login(user).startswith(b"+OK maildrop has 2 messages")


def test_in_use_across_processes(inst):
    user, ids = maildrop(inst, 1)
    proc, port = start_second_pop3d(inst)
    try:
        a = Pop3(inst.port("pop3"))
        assert a.login(user).startswith(b"+OK")
        b = Pop3(port)
        assert b.login(user) == IN_USE
        assert a.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
        assert a.cmd("QUIT") == b"+OK 1 messages deleted; signing off\r\n"
        assert b.login(user) == b"+OK maildrop has 0 messages (0 octets)\r\n"
        assert b.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"
    finally:
        assert inst.stop(proc) == 0
    assert entry_ids(inst, user) == []


def test_dropped_connection_deletes_nothing(inst):
    user, ids = maildrop(inst, 3)
    p = Pop3(inst.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 3 messages")
    for n in (1, 2, 3):
        assert p.cmd("DELE %d" % n) == b"+OK message %d deleted\r\n" % n
    p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    p.close()  # an RST, as from a crashed client
    p, r = wait_login(inst.port("pop3"), user)
    assert r.startswith(b"+OK maildrop has 3 messages")
    assert entry_ids(inst, user) == ids


def test_snapshot_and_uidl_are_stable(inst):
    user, ids = maildrop(inst, 2)
    p = Pop3(inst.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 2 messages")
    # Mail arriving during the session is not part of it (RFC 1939 5).
    late = deliver(inst, user, message(3))
    assert p.cmd("STAT") == b"+OK 2 %d\r\n" % (2 * len(message(1)))
    assert p.cmd("LIST 3") == b"-ERR no such message\r\n"
    assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
    assert p.cmd("QUIT") == b"+OK 1 messages deleted; signing off\r\n"
    p = Pop3(inst.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 2 messages")
    assert p.cmd("UIDL") == b"+OK unique-id listing follows\r\n"
    assert p.multi() == b"1 %d\r\n2 %d\r\n.\r\n" % (ids[1], late)
    assert late > ids[1]


def test_idle_timeout_closes_without_update():
    with pop3_install(allow_plaintext_auth="yes", idle_timeout=1) as inst:
        inst.start("pop3d")
        user, ids = maildrop(inst, 2)
        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK")
        assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
        # RFC 1939 3: no UPDATE and no response, just the close.
        p.sock.settimeout(5)
        t = time.monotonic()
        assert p.sock.recv(100) == b""
        assert 0.8 <= time.monotonic() - t < 4
        assert entry_ids(inst, user) == ids
        p, r = wait_login(inst.port("pop3"), user)
        assert r.startswith(b"+OK maildrop has 2 messages")


def test_slow_retr_is_not_idle():
    """The idle timer measures inactivity: a client still reading a RETR
    for longer than idle_timeout keeps its session."""
    with running_pop3d(allow_plaintext_auth="yes", idle_timeout=1) as inst:
        user = new_user(inst)
        body = big_body(3 * 1024 * 1024)
        deliver(inst, user, body)
        p = Pop3(inst.port("pop3"))
        p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        assert p.login(user).startswith(b"+OK")
        p.send("RETR 1\r\n")
        data = bytearray()
        t = time.monotonic()
        while not data.endswith(b"\r\n.\r\n"):
            chunk = p.sock.recv(64 * 1024)
            assert chunk, "closed after %.1f s" % (time.monotonic() - t)
            data += chunk
            time.sleep(0.06)
        assert time.monotonic() - t > 2.0
        assert unstuff(bytes(data).split(b"\r\n", 1)[1]) == body
        assert p.closed()  # and idle afterwards: closed without a word


def test_shutdown_closes_sessions_without_deleting():
    with pop3_install(allow_plaintext_auth="yes") as inst:
        proc = inst.start("pop3d")
        user, ids = maildrop(inst, 2)
        idle = Pop3(inst.port("pop3"))
        busy = Pop3(inst.port("pop3"))
        assert busy.login(user).startswith(b"+OK")
        assert busy.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
        proc.send_signal(signal.SIGTERM)
        assert idle.bline() == SHUTDOWN
        assert busy.bline() == SHUTDOWN
        assert idle.closed() and busy.closed()
        assert proc.wait(timeout=30) == 0
        assert entry_ids(inst, user) == ids


def test_failed_delete_deletes_nothing():
    """A failing commit in UPDATE is -ERR [SYS/TEMP] and leaves the maildrop
    whole. Commits in this pop3d: 1 lease, 2 the delete (with its lease check)."""
    with pop3_install(allow_plaintext_auth="yes") as inst:
        user, ids = maildrop(inst, 2)
        inst.start("pop3d", env={"MAILTEST_STORE_FAIL_COMMIT": "2"})
        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK")
        assert p.cmd("DELE 2") == b"+OK message 2 deleted\r\n"
        assert p.cmd("QUIT") == b"-ERR [SYS/TEMP] deleting failed; nothing deleted\r\n"
        assert p.closed()
        assert entry_ids(inst, user) == ids
        # The lease was released all the same.
        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK maildrop has 2 messages")


LEASE_LOST = b"-ERR [SYS/TEMP] maildrop lock lost; nothing deleted\r\n"


def lease_owner(inst, user):
    rows = inst.sql("SELECT owner FROM pop3_locks WHERE mailbox = ?", user)
    return rows[0][0] if rows else None


def test_quit_after_lease_taken_over_deletes_nothing(inst):
    """Another host took the maildrop (our lease expired while, say, the
    database was unreachable): QUIT deletes nothing, says so with
    [SYS/TEMP] (RFC 3206), and leaves the new owner's lease alone."""
    user, ids = maildrop(inst, 3)
    p = Pop3(inst.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 3 messages")
    assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
    assert p.cmd("DELE 3") == b"+OK message 3 deleted\r\n"
    inst.sql("UPDATE pop3_locks SET owner = 'otherhost:1:1:1' WHERE mailbox = ?", user)
    assert p.cmd("QUIT") == LEASE_LOST
    assert p.closed()
    assert entry_ids(inst, user) == ids
    assert lease_owner(inst, user) == "otherhost:1:1:1"
    assert "pop3_lease_lost" in inst.log("pop3d")


def test_drop_during_update_deletes_before_anyone_else_looks():
    """A client that sends QUIT and drops at once: UPDATE still deletes what
    it marked, and the lease is released only after the delete (by the
    UPDATE job, not by the session's close), so a second session waits for
    the delete's write lock or gets [IN-USE] until then, and never sees a
    maildrop whose messages are about to vanish. The test holds the write
    lock while the client quits and resets, so that the UPDATE job and
    anything the close might start wait for the lock together; a release
    from the close could win it and leave the delete a lease it no longer
    holds. Twenty rounds, each of which must delete (without the guard in
    pop3_mailbox_close some round of ten or so keeps both messages)."""
    ROUNDS = 20
    with pop3_install(allow_plaintext_auth="yes") as inst:
        inst.start("pop3d")
        for round_ in range(ROUNDS):
            user, ids = maildrop(inst, 2)
            p = Pop3(inst.port("pop3"))
            assert p.login(user).startswith(b"+OK maildrop has 2 messages")
            assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
            with writers_held(inst.db):
                log = inst.log("pop3d")
                updates = log.count(" to=UPDATE")
                gone = log.count("event=disconnect")
                p.send("QUIT\r\n")
                wait_for(lambda: inst.log("pop3d").count(" to=UPDATE") > updates,
                         "pop3d to enter UPDATE")
                # An RST: pop3d reads on while the job waits, and sees the
                # client go during UPDATE.
                p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                p.close()
                wait_for(lambda: inst.log("pop3d").count("event=disconnect") > gone,
                         "pop3d to see the reset")
            while True:
                q = Pop3(inst.port("pop3"))
                r = q.login(user)
                if r != IN_USE:
                    break
                q.close()
                time.sleep(0.05)
            assert r == b"+OK maildrop has 1 messages (%d octets)\r\n" % len(message(2)), \
                "round %d: %r" % (round_, r)
            assert entry_ids(inst, user) == ids[1:]
            assert q.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"
            q.close()
        log = inst.log("pop3d")
        assert log.count("event=pop3_update deleted=1 client=gone\n") == ROUNDS, log[-3000:]


def wait_for(cond, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def test_lease_expires_after_kill9():
    ttl = 3
    with pop3_install(allow_plaintext_auth="yes") as inst:
        env = {"MAILTEST_POP3_LEASE_TTL": str(ttl)}
        proc = inst.start("pop3d", env=env)
        user, ids = maildrop(inst, 1)
        other, _ = maildrop(inst, 1)

        # A second maildrop held by the same process when it dies.
        keeper = Pop3(inst.port("pop3"))
        assert keeper.login(other).startswith(b"+OK")

        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK")
        assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
        proc.kill()
        proc.wait()

        proc2, port = start_second_pop3d(inst, env=env)
        q = Pop3(port)
        assert q.login(user) == IN_USE
        t = time.monotonic()
        while True:
            q = Pop3(port)
            r = q.login(user)
            if r != IN_USE:
                break
            assert time.monotonic() - t < ttl + 5, "the dead lease never expired"
            time.sleep(0.25)
        assert r == b"+OK maildrop has 1 messages (%d octets)\r\n" % len(message(1))
        assert entry_ids(inst, user) == ids
        # The other dead session's lease expires the same way.
        q2, r = wait_login(port, other, timeout=ttl + 5)
        assert r.startswith(b"+OK")
        assert inst.stop(proc2) == 0


def lease_and_clock(inst):
    """(expires, now) of the only maildrop lease, on the database clock."""
    with inst.connect() as db:
        [row] = db.sql("SELECT expires, %s FROM pop3_locks" % db.now)
        return row


def test_lease_renewal_keeps_maildrop():
    ttl = 3
    with pop3_install(allow_plaintext_auth="yes") as inst:
        inst.start("pop3d", env={"MAILTEST_POP3_LEASE_TTL": str(ttl)})
        user, _ = maildrop(inst, 1)
        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK")
        # Until the first lease would have expired and it has been renewed.
        first, _ = lease_and_clock(inst)
        deadline = time.monotonic() + 3 * ttl
        while True:
            expires, now = lease_and_clock(inst)
            if expires > first and now > first:
                break
            assert time.monotonic() < deadline, "lease never renewed (expires %d)" % expires
            time.sleep(0.1)
        assert Pop3(inst.port("pop3")).login(user) == IN_USE
        assert p.cmd("NOOP") == b"+OK\r\n"
        assert p.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"


def test_large_message_slow_reader_keeps_memory_flat(inst):
    body = big_body(50 * 1024 * 1024)
    user = new_user(inst)
    deliver(inst, user, body)
    env = {}
    if sanitized():
        # ASan's quarantine (256 MB by default) holds freed buffers; a small
        # one keeps the measurement about pop3d, not about ASan.
        opts = os.environ.get("ASAN_OPTIONS")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "quarantine_size_mb=16"
    proc, port = start_second_pop3d(inst, env=env)
    pid = proc.pid

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(30)
    sock.recv(4096)  # greeting
    sock.sendall(b"USER %s\r\nPASS %s\r\n" % (user.encode(), PASSWORD.encode()))
    got = b""
    while got.count(b"\r\n") < 2:
        got += sock.recv(4096)
    assert got.split(b"\r\n")[1].startswith(b"+OK maildrop has 1 messages")

    if sanitized():
        # ASan's allocator keeps freed blocks per size class and in its
        # quarantine: RSS climbs to a plateau (about 65 MB here) that does not
        # depend on the message size. Reach it first, then measure.
        sock.sendall(b"RETR 1\r\n")
        tail = bytearray()
        while not tail.endswith(b"\r\n.\r\n"):
            tail = tail[-8:] + sock.recv(1024 * 1024)

    before = rss_kib(pid)
    sock.sendall(b"RETR 1\r\n")
    data = bytearray()
    peak = before
    # Slowly: about 4 MB/s for two seconds, far below what pop3d can produce.
    t = time.monotonic()
    while time.monotonic() - t < 2.0:
        data += sock.recv(16 * 1024)
        time.sleep(0.004)
        peak = max(peak, rss_kib(pid))
    # Then the rest as fast as we can.
    while not data.endswith(b"\r\n.\r\n"):
        chunk = sock.recv(1024 * 1024)
        assert chunk, "connection closed before the end of the message"
        data += chunk
        if len(data) % (8 << 20) < len(chunk):
            peak = max(peak, rss_kib(pid))
    growth = (peak - before) / 1024
    print("pop3d RSS before %d KiB, peak %d KiB, growth %.1f MiB" % (before, peak, growth))
    assert growth < 30, "pop3d grew by %.1f MiB streaming 50 MB" % growth

    head, rest = bytes(data).split(b"\r\n", 1)
    assert head == b"+OK %d octets" % len(body)
    assert hashlib.sha256(unstuff(rest)).digest() == hashlib.sha256(body).digest()
    sock.sendall(b"QUIT\r\n")
    sock.close()
    assert inst.stop(proc) == 0



def test_damaged_message_is_sys_perm():
    """RFC 3206 4: a message the store finds damaged needs the administrator:
    [SYS/PERM]; the session itself goes on and other messages are served."""
    with pop3_install(allow_plaintext_auth="yes") as inst:
        inst.start("pop3d")
        user, ids = maildrop(inst, 2)
        # A chunk longer than its message says: the reader refuses to overrun.
        inst.sql("UPDATE message_chunks SET data = ? WHERE message_id = "
                 "(SELECT message_id FROM mailbox_entries WHERE id = ?)", bytes(100000), ids[0])
        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK maildrop has 2 messages")
        assert p.cmd("RETR 1") == b"-ERR [SYS/PERM] cannot read the message\r\n"
        assert p.cmd("NOOP") == b"+OK\r\n"
        assert p.cmd("RETR 2") == b"+OK %d octets\r\n" % len(message(2))
        assert unstuff(p.multi()) == message(2)
        assert p.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"
