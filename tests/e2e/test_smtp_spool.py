"""Large message bodies and the event loop.

A body over the store's 256 KiB in-memory limit is spilled to an unlinked
temporary file in `tmpdir` as it arrives. All of that file work (creating
the file, every write, the close that frees its blocks) must run off
smtpd's loop thread, so that one write stalled by the disk cannot stall
every session (smtpd/smtp_spool.h). Here:

- under strace, the loop thread (the process's main thread) makes no
  system call on the spool directory or on a spill file while a 20 MB DATA
  and a 20 MB BDAT message arrive, one is abandoned by RSET and one by a
  dropped connection; worker threads do all of it;
- while a spill is held in flight (MAILTEST_STORE_SPILL_GATE, store/include/store.h),
  another session goes through a whole transaction, and the big messages
  then round-trip byte for byte through POP3;
- a client that disconnects while a spill is in flight, or between
  spills, leaves no file and no open descriptor behind, and smtpd goes on;
- a spill that fails (no such directory; a full tmpfs: ENOSPC) is answered
  451 4.3.0 after the end of the body, as it always was, the session goes
  on, and every acknowledged message is stored.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from mailtest import BUILD_DIR, wait_port
from pop3lib import Pop3, unstuff
from smtptest import USERS, Session, smtp_close, smtp_install, stored

ALICE, BOB = sorted(USERS)
BIG = 20 * 1024 * 1024
# Seconds a client waits for a reply about a big message: its commit
# (20 MB into SQLite, under strace or the sanitizers) can take a while.
BIG_TIMEOUT = 300


# ---- helpers ------------------------------------------------------------------

def wait_for(cond, what, timeout=60.0):
    """Polls cond() until it is true; fails with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def spool_install(spool_dir=None, start=True, env=None, **config):
    """smtp_install with tmpdir in a directory of its own (<dir>/spool, or
    spool_dir), so that a test can see what is in it."""
    inst = smtp_install(tls=False, start=False, allow_plaintext_auth="yes", **config)
    inst.spool = spool_dir or os.path.join(inst.dir, "spool")
    if spool_dir is None:
        os.mkdir(inst.spool)
    inst.config["tmpdir"] = inst.spool
    inst.write_config()
    inst.gate = os.path.join(inst.dir, "gate")
    if start:
        inst.smtpd = inst.start("smtpd", env=env)
    return inst


def sessions_open(inst):
    """Sessions smtpd has started and not yet ended, from its log (the
    listeners' start-up probes included)."""
    log = inst.log("smtpd")
    return log.count("event=session_start") - log.count("event=session_end")


def spill_fds(pid, spool):
    """{descriptor path: file size} of the files of process pid in spool."""
    out = {}
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        path = os.path.join(fd_dir, fd)
        try:
            target = os.readlink(path)
            if target.startswith(spool + "/"):
                out[path] = os.stat(path).st_size
        except FileNotFoundError:
            pass  # closed meanwhile
    return out


def body_blocks(seed):
    """A few ~1 MB blocks of CRLF text: lines of 0 to 998 octets, some
    starting with "." or "..", some empty."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(4):
        lines, size = [], 0
        while size < 1024 * 1024:
            kind = rng.random()
            n = rng.randrange(0, 999) if kind < 0.1 else rng.randrange(0, 100)
            line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz .,-0123456789")
                           for _ in range(min(n, 60)))
            line = (line * (n // max(len(line), 1) + 1))[:n]
            if kind > 0.93:
                line = "." + line[1:] if line else "."
            elif kind > 0.90:
                line = ".." + line
            lines.append(line.encode() + b"\r\n")
            size += len(lines[-1])
        blocks.append(b"".join(lines))
    return blocks


def big_message(size, seed):
    """An RFC 5322 message of at least `size` octets, CRLF lines, stored form."""
    blocks = body_blocks(seed)
    parts = [b"From: big@remote.test\r\nTo: %s\r\nSubject: big %d\r\n\r\n"
             % (ALICE.encode(), seed)]
    total, n = len(parts[0]), 0
    while total < size:
        part = b"block %d\r\n" % n + blocks[n % len(blocks)]
        parts.append(part)
        total += len(part)
        n += 1
    return b"".join(parts)


def dot_stuff(body):
    """The DATA wire form of a stored body, with its terminator."""
    return re.sub(rb"(?m)^\.", b"..", body) + b".\r\n"


def send_data(s, rcpt, body):
    s.expect("MAIL FROM:<big@remote.test>", "250 ")
    s.expect("RCPT TO:<%s>" % rcpt, "250 ")
    s.expect("DATA", "354 ")
    s.send(dot_stuff(body))
    return s.reply()


def send_bdat(s, rcpt, body, chunk=3 * 1024 * 1024 + 1):
    s.expect("MAIL FROM:<big@remote.test>", "250 ")
    s.expect("RCPT TO:<%s>" % rcpt, "250 ")
    for off in range(0, len(body), chunk):
        piece = body[off:off + chunk]
        last = off + chunk >= len(body)
        s.send(b"BDAT %d%s\r\n" % (len(piece), b" LAST" if last else b"") + piece)
        reply = s.reply()
        if last or not reply.startswith("250 "):
            return reply
    raise AssertionError("empty body")


def small_transaction(port, rcpt=BOB, subject="small"):
    """A whole session with one small message; returns its final reply."""
    with Session(port, timeout=60) as s:
        s.expect(None, "220 ")
        s.expect("EHLO other.test", "250-")
        s.expect("MAIL FROM:<other@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % rcpt, "250 ")
        s.expect("DATA", "354 ")
        s.send("Subject: %s\r\n\r\nhello\r\n.\r\n" % subject)
        reply = s.reply()
        s.expect("QUIT", "221 ")
        return reply


def in_thread(fn, *args):
    """Runs fn(*args) in a thread; returns (thread, result list)."""
    result = []

    def run():
        try:
            result.append(fn(*args))
        except BaseException as e:  # reported by the caller
            result.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, result


def joined(t, result):
    t.join(timeout=300)
    assert not t.is_alive(), "the sender never finished"
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def is_stored_form(got, body):
    """got is body with the trace header fields smtpd prepends."""
    assert got.endswith(body), "body differs (got %d octets, sent %d)" % (len(got), len(body))
    trace = got[:len(got) - len(body)]
    assert trace.startswith(b"Return-Path: <big@remote.test>\r\nReceived: "), trace[:200]
    return True


def retr(p, n):
    """RETR n on a logged-in Pop3, read efficiently; returns the unstuffed message."""
    p.send(b"RETR %d\r\n" % n)
    buf = bytearray(p.buf)
    p.buf = b""
    start = 0
    while True:
        end = buf.find(b"\r\n.\r\n", start)
        if end >= 0:
            break
        start = max(0, len(buf) - 4)
        chunk = p.sock.recv(1 << 20)
        assert chunk, "connection closed inside RETR"
        buf += chunk
    first, _, rest = bytes(buf[:end + 5]).partition(b"\r\n")
    assert first.startswith(b"+OK"), first
    p.buf = bytes(buf[end + 5:])
    return unstuff(rest)


# ---- the loop thread does no file work ----------------------------------------

def strace_unusable():
    """Why strace cannot watch smtpd here, or None."""
    if shutil.which("strace") is None:
        return "strace is not installed (scripts/deps.sh test installs it)"
    probe = subprocess.run(["strace", "-f", "-o", "/dev/null", "true"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        return "strace cannot trace here: " + (probe.stderr.strip() or "exit %d" % probe.returncode)
    return None


def child_of(ppid):
    """The pid of the one child process of ppid."""
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    # "pid (comm) state ppid ...": comm may hold spaces.
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        return int(name)
            except (OSError, IndexError, ValueError):
                pass
    raise AssertionError("process %d has no child" % ppid)


def test_loop_thread_does_no_spool_io():
    """strace -ff writes one file per thread; -y names the file behind every
    descriptor. The main thread runs the loop: none of its system calls may
    name the spool directory or a file in it."""
    why = strace_unusable()
    if why:
        pytest.skip(why)
    inst = spool_install(start=False)
    try:
        trace = os.path.join(inst.dir, "trace")
        log = open(os.path.join(inst.dir, "smtpd.log"), "ab")
        # LeakSanitizer cannot work under ptrace; the other tests check leaks.
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, ASAN_OPTIONS=(asan + ":" if asan else "") + "detect_leaks=0")
        tracer = subprocess.Popen(
            ["strace", "-ff", "-qq", "-y", "-e", "trace=%file,%desc", "-o", trace,
             os.path.join(BUILD_DIR, "smtpd", "smtpd"), "-c", inst.conf],
            stdout=log, stderr=log, env=env)
        log.close()
        inst.procs.append(tracer)
        wait_port(inst.port("smtp"), proc=tracer)
        pid = child_of(tracer.pid)

        data_body, bdat_body = big_message(BIG, 1), big_message(BIG, 2)
        with Session(inst.port("smtp"), timeout=BIG_TIMEOUT) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            assert send_data(s, ALICE, data_body).startswith("250 2.0.0 Ok")
            assert send_bdat(s, ALICE, bdat_body).startswith("250 2.0.0 Ok")
            # A spilled transaction abandoned by RSET: its file is closed.
            s.expect("MAIL FROM:<big@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % ALICE, "250 ")
            s.send(b"BDAT 1000000\r\n" + data_body[:1000000])
            s.expect(None, "250 2.0.0 Ok: 1000000 octets")
            s.expect("RSET", "250 ")
            # And one abandoned by a client that hangs up in the middle.
            with Session(inst.port("smtp"), timeout=BIG_TIMEOUT) as gone:
                gone.expect(None, "220 ")
                gone.expect("EHLO gone.test", "250-")
                gone.expect("MAIL FROM:<big@remote.test>", "250 ")
                gone.expect("RCPT TO:<%s>" % ALICE, "250 ")
                gone.expect("DATA", "354 ")
                gone.send(dot_stuff(data_body)[:2000000])
            wait_for(lambda: sessions_open(inst) == 1, "the hung-up session to end")
            wait_for(lambda: not spill_fds(pid, inst.spool), "the spill files to be closed")
            s.expect("QUIT", "221 ")
        os.kill(pid, signal.SIGTERM)
        assert tracer.wait(timeout=60) == 0
        log_text = inst.log("smtpd")
        assert "Sanitizer" not in log_text and "runtime error" not in log_text, log_text[-4000:]

        threads = {}
        for name in os.listdir(inst.dir):
            if name.startswith("trace."):
                with open(os.path.join(inst.dir, name), errors="replace") as f:
                    threads[int(name.split(".")[1])] = f.read().splitlines()
        assert pid in threads, sorted(threads)
        assert any(re.match(r"epoll_p?wait\(", ln) for ln in threads[pid]), "not the loop thread"
        on_loop = [ln for ln in threads[pid] if inst.spool in ln]
        assert not on_loop, "file work on the loop thread:\n" + "\n".join(on_loop[:20])
        off_loop = [ln for tid, lines in threads.items() if tid != pid
                    for ln in lines if inst.spool in ln]
        for call in ("openat(", "write(", "close("):
            assert any(ln.startswith(call) for ln in off_loop), \
                "no %s on a spill file in any thread: is the test watching?" % call
        print("%d system calls on spill files, all off the loop thread" % len(off_loop))

        assert os.listdir(inst.spool) == []
        got = stored(inst.db)[ALICE]
        assert len(got) == 2
        assert is_stored_form(got[0], data_body) and is_stored_form(got[1], bdat_body)
    finally:
        inst.smtpd = None
        smtp_close(inst)


# ---- other sessions go on while a spill is in flight ---------------------------

def hold_spill_and_check(inst, send, rcpt, body):
    """Sends a big message with the spill gate shut: once the spill is in
    flight (its file open and still empty), another session runs a whole
    transaction; then the gate opens and the big message is acknowledged.
    Returns the small message's subject."""
    pid = inst.smtpd.pid
    if os.path.exists(inst.gate):
        os.unlink(inst.gate)

    def big():
        with Session(inst.port("smtp"), timeout=BIG_TIMEOUT) as s:
            s.expect(None, "220 ")
            s.expect("EHLO big.test", "250-")
            reply = send(s, rcpt, body)
            s.expect("QUIT", "221 ")
            return reply

    t, result = in_thread(big)
    wait_for(lambda: 0 in spill_fds(pid, inst.spool).values(), "a spill in flight")
    held = spill_fds(pid, inst.spool)
    subject = "while-%s" % send.__name__
    assert small_transaction(inst.port("smtp"), subject=subject).startswith("250 2.0.0 Ok")
    # Still held: the whole transaction ran while the spill's write waited.
    assert spill_fds(pid, inst.spool) == held, "the spill went on before the gate opened"
    open(inst.gate, "w").close()
    assert joined(t, result).startswith("250 2.0.0 Ok")
    return subject


def test_sessions_go_on_while_spilling_and_big_messages_round_trip():
    inst = spool_install(start=False)
    try:
        inst.smtpd = inst.start("smtpd", env={"MAILTEST_STORE_SPILL_GATE": inst.gate})
        data_body, bdat_body = big_message(BIG, 3), big_message(BIG, 4)
        subjects = [hold_spill_and_check(inst, send_data, ALICE, data_body),
                    hold_spill_and_check(inst, send_bdat, ALICE, bdat_body)]
        wait_for(lambda: not spill_fds(inst.smtpd.pid, inst.spool), "the spill files to close")
        assert os.listdir(inst.spool) == []

        inst.start("pop3d")
        p = Pop3(inst.port("pop3"), timeout=60)
        assert p.cmd("USER " + ALICE).startswith(b"+OK")
        assert p.cmd("PASS " + USERS[ALICE]).startswith(b"+OK maildrop has 2 messages")
        assert is_stored_form(retr(p, 1), data_body)
        assert is_stored_form(retr(p, 2), bdat_body)
        assert p.cmd("QUIT").startswith(b"+OK")
        small = [m.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
                 for m in stored(inst.db)[BOB]]
        assert small == subjects
    finally:
        smtp_close(inst)


# ---- a client that leaves in the middle ---------------------------------------

def start_big(inst, bdat, size=3 * 1024 * 1024):
    """A session that has sent `size` octets of a big message, not all of it."""
    body = big_message(size, 5)
    s = Session(inst.port("smtp"), timeout=BIG_TIMEOUT)
    s.expect(None, "220 ")
    s.expect("EHLO gone.test", "250-")
    s.expect("MAIL FROM:<big@remote.test>", "250 ")
    s.expect("RCPT TO:<%s>" % ALICE, "250 ")
    if bdat:
        s.send(b"BDAT %d LAST\r\n" % (len(body) + 1000) + body)
    else:
        s.expect("DATA", "354 ")
        s.send(dot_stuff(body)[:-3])
    return s


def gate(inst, open_):
    if open_:
        open(inst.gate, "w").close()
    elif os.path.exists(inst.gate):
        os.unlink(inst.gate)


def abandon(inst, bdat, wait_in_flight):
    """A client sends 3 MB of a big message and hangs up: with a spill held
    in flight until smtpd has seen the end of the input, or without waiting
    for anything."""
    pid = inst.smtpd.pid
    wait_for(lambda: sessions_open(inst) == 0, "the earlier sessions to end")
    gate(inst, not wait_in_flight)
    s = start_big(inst, bdat)
    if wait_in_flight:
        wait_for(lambda: 0 in spill_fds(pid, inst.spool).values(), "a spill in flight")
    s.close()
    if wait_in_flight:
        # Input waits for the spill, the end of it too: the session is still
        # there, the job owns the delivery and its file.
        assert sessions_open(inst) == 1 and len(spill_fds(pid, inst.spool)) == 1
        gate(inst, True)
    wait_for(lambda: sessions_open(inst) == 0, "the hung-up session to end")
    wait_for(lambda: not spill_fds(pid, inst.spool), "the spill file to be closed")
    assert os.listdir(inst.spool) == []


def test_disconnect_mid_spill_leaves_nothing():
    inst = spool_install(start=False)
    try:
        inst.smtpd = inst.start("smtpd", env={"MAILTEST_STORE_SPILL_GATE": inst.gate})
        for bdat in (False, True):
            abandon(inst, bdat, wait_in_flight=False)
            abandon(inst, bdat, wait_in_flight=True)
        # smtpd goes on, and stored none of the abandoned messages.
        body = big_message(1024 * 1024, 6)
        with Session(inst.port("smtp"), timeout=BIG_TIMEOUT) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            assert send_data(s, ALICE, body).startswith("250 2.0.0 Ok")
            s.expect("QUIT", "221 ")
        got = stored(inst.db)
        assert len(got[ALICE]) == 1 and is_stored_form(got[ALICE][0], body)
        wait_for(lambda: not spill_fds(inst.smtpd.pid, inst.spool), "the spill file to close")
        assert " level=error " not in inst.log("smtpd")
    finally:
        smtp_close(inst)


@pytest.mark.parametrize("bdat", [False, True], ids=["data", "bdat"])
def test_session_torn_down_with_spill_in_flight(bdat):
    """The shutdown deadline tears a session down while its spill's write is
    held: the job's result finds no session and frees the delivery (its
    file closed once, off the loop); smtpd then exits with everything
    freed (the sanitizer build checks for leaks and use after free)."""
    inst = spool_install(start=False, shutdown_timeout=1)
    try:
        inst.smtpd = inst.start("smtpd", env={"MAILTEST_STORE_SPILL_GATE": inst.gate})
        pid = inst.smtpd.pid
        s = start_big(inst, bdat)
        wait_for(lambda: 0 in spill_fds(pid, inst.spool).values(), "a spill in flight")
        inst.smtpd.send_signal(signal.SIGTERM)
        wait_for(lambda: "event=shutdown_deadline" in inst.log("smtpd"), "the shutdown deadline")
        wait_for(lambda: sessions_open(inst) == 0, "the session to be torn down")
        assert len(spill_fds(pid, inst.spool)) == 1 and inst.smtpd.poll() is None
        gate(inst, True)
        assert inst.smtpd.wait(timeout=60) == 1  # forced: some session had to be closed
        s.close()
        log = inst.log("smtpd")
        assert "event=spill_dropped" in log
        assert "Sanitizer" not in log and "runtime error" not in log, log[-4000:]
        assert os.listdir(inst.spool) == []
        assert stored(inst.db).get(ALICE, []) == []
    finally:
        inst.smtpd = None
        smtp_close(inst)


# ---- failing spills ---------------------------------------------------------------

def refused_then_small_ok(inst, port, size):
    """A big DATA and a big BDAT message both get 451 4.3.0 after their
    last octet; the same session then stores a small message."""
    body = big_message(size, 7)
    with Session(port, timeout=BIG_TIMEOUT) as s:
        s.expect(None, "220 ")
        s.expect("EHLO client.test", "250-")
        assert send_data(s, ALICE, body).startswith("451 4.3.0 ")
        assert send_bdat(s, ALICE, body, chunk=len(body)).startswith("451 4.3.0 ")
        # A BDAT chunk whose spill failed is answered 451 at once; the
        # transaction is over.
        s.expect("MAIL FROM:<big@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % ALICE, "250 ")
        s.send(b"BDAT %d\r\n" % len(body) + body)
        s.expect(None, "451 4.3.0 ")
        s.send(b"BDAT 3 LAST\r\nabc")
        s.expect(None, "503 5.5.1 ")
        s.expect("MAIL FROM:<small@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % ALICE, "250 ")
        s.expect("DATA", "354 ")
        s.send("Subject: small\r\n\r\nstill works\r\n.\r\n")
        s.expect(None, "250 2.0.0 Ok")
        s.expect("QUIT", "221 ")


def test_spill_without_directory_is_temporary():
    inst = spool_install(spool_dir="/nonexistent/mail-spool")
    try:
        refused_then_small_ok(inst, inst.port("smtp"), 2 * 1024 * 1024)
        got = stored(inst.db)
        assert len(got[ALICE]) == 1 and got[ALICE][0].endswith(b"still works\r\n")
        log = inst.log("smtpd")
        assert "event=spill_failed" in log and "No such file or directory" in log
    finally:
        smtp_close(inst)


def mount_tmpfs(path, size):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                           path], capture_output=True).returncode == 0


def test_spill_to_full_disk_is_temporary():
    """tmpdir on a 1 MiB tmpfs: a 600 KiB message fits and is stored; a
    3 MiB one hits ENOSPC and gets 451 4.3.0; once its file is closed the
    space is back and the next 600 KiB message is stored."""
    inst = spool_install(start=False)
    if not mount_tmpfs(inst.spool, "1m"):
        inst.close()
        pytest.skip("cannot mount a tmpfs for the spool here (needs root with CAP_SYS_ADMIN)")
    try:
        inst.smtpd = inst.start("smtpd")
        port = inst.port("smtp")
        fits = big_message(600 * 1024, 8)
        with Session(port, timeout=BIG_TIMEOUT) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            assert send_data(s, ALICE, fits).startswith("250 2.0.0 Ok")
        refused_then_small_ok(inst, port, 3 * 1024 * 1024)
        assert "No space left on device" in inst.log("smtpd")
        wait_for(lambda: not spill_fds(inst.smtpd.pid, inst.spool), "the spill files to close")
        with Session(port, timeout=BIG_TIMEOUT) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            assert send_bdat(s, ALICE, fits, chunk=100 * 1024).startswith("250 2.0.0 Ok")
            s.expect("QUIT", "221 ")
        got = stored(inst.db)[ALICE]
        assert len(got) == 3
        assert is_stored_form(got[0], fits) and is_stored_form(got[2], fits)
        assert got[1].endswith(b"still works\r\n")
    finally:
        if getattr(inst, "smtpd", None) is not None and inst.smtpd.poll() is None:
            inst.stop(inst.smtpd)
        subprocess.run(["umount", "-l", inst.spool], capture_output=True)
        smtp_close(inst)


# ---- abandoned spills and the connection limits ---------------------------------

REJECT = "421 4.7.0 Too many connections, try later"


def test_abandoned_spills_keep_their_connection_slots():
    """A session whose spill is still queued or running holds its message
    buffer (a bit over 256 KiB) even after the client has reset the
    connection. Such a connection keeps its place under max_connections
    until the job is done: otherwise connect, 300 KiB of DATA, reset in a
    loop piles up buffers without bound while the disk is slow. With the
    spill gate shut, MAX clients do that; smtpd then refuses the next one
    with 421 though no session is open, and serves again once the gate
    opens and the jobs end."""
    max_conn = 3
    inst = spool_install(start=False, max_connections=max_conn)
    try:
        inst.smtpd = inst.start("smtpd", env={"MAILTEST_STORE_SPILL_GATE": inst.gate})
        pid = inst.smtpd.pid
        gate(inst, False)
        wait_for(lambda: sessions_open(inst) == 0, "the start-up probes to end")
        for i in range(max_conn):
            s = Session(inst.port("smtp"), timeout=BIG_TIMEOUT)
            s.expect(None, "220 ")
            s.expect("EHLO gone.test", "250-")
            s.expect("MAIL FROM:<big@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % ALICE, "250 ")
            s.expect("DATA", "354 ")
            # 300 KiB: the spill starts near the end, and smtpd reads the
            # rest (below its input high water) and so sees the reset.
            s.send(b"Subject: abandoned\r\n\r\n" + (b"x" * 78 + b"\r\n") * 3840)
            # Its spill is running (held at the gate) ...
            wait_for(lambda: len(spill_fds(pid, inst.spool)) == i + 1, "spill %d in flight" % i)
            # ... when the client resets the connection.
            s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            s.close()
            wait_for(lambda: sessions_open(inst) == 0, "session %d to end" % i)
        for _ in range(3):
            with Session(inst.port("smtp")) as s:
                assert s.reply() == REJECT
                assert s.closed()
        assert len(spill_fds(pid, inst.spool)) == max_conn
        gate(inst, True)
        wait_for(lambda: not spill_fds(pid, inst.spool), "the abandoned spills to be freed")
        deadline = time.monotonic() + 60
        while True:
            with Session(inst.port("smtp")) as s:
                reply = s.reply()
                if reply.startswith("220 "):
                    s.expect("QUIT", "221 ")
                    break
            assert reply == REJECT and time.monotonic() < deadline, reply
            time.sleep(0.05)
        assert os.listdir(inst.spool) == []
        assert stored(inst.db).get(ALICE, []) == []
        log = inst.log("smtpd")
        assert log.count("event=spill_dropped") == max_conn
        assert " level=error " not in log
    finally:
        smtp_close(inst)
