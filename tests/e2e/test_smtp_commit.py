"""What smtpd counts and logs when a commit's result arrives after its
client has left: the message is stored all the same, so it is counted
(the `stats` line smtpd logs at exit) and logged with client=gone, which is
where a duplicate comes from when the client sends it again.

MAILTEST_STORE_STALL_COMMIT=1:MS (store/include/store.h) holds the process's first
commit open for MS milliseconds, long enough for the client to leave first."""

import re
import socket
import time

import pytest

from mailtest import writers_busy
from smtptest import Session, smtp_close, smtp_install, stored

BOB = "bob@example.test"


def stats(log):
    """The counters of the `stats` line smtpd logs when it stops."""
    m = re.search(r" event=stats (.*)$", log, re.M)
    assert m, "no stats line in:\n" + log[-2000:]
    return {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def wait_for(cond, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def wait_stored(inst, mailbox, n, timeout=20):
    deadline = time.monotonic() + timeout
    while len(stored(inst.db).get(mailbox, [])) < n:
        assert time.monotonic() < deadline, "the message was never stored"
        time.sleep(0.05)


def test_message_stored_after_client_left_is_counted():
    inst = smtp_install(tls=False, env={"MAILTEST_STORE_STALL_COMMIT": "1:2000"})
    try:
        body = "Subject: left early\r\n\r\nhello\r\n"
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            s.expect("MAIL FROM:<sender@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % BOB, "250 ")
            s.expect("DATA", "354 ")
            s.send(body + ".\r\n")
            # The commit has the message (and stalls); the client gives up
            # before the reply, with an RST.
            wait_for(lambda: writers_busy(inst.db), "the commit never started")
            s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        wait_stored(inst, BOB, 1)
        # And one more the ordinary way, so both paths add up.
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            s.expect("MAIL FROM:<sender@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % BOB, "250 ")
            s.expect("DATA", "354 ")
            s.expect(body + ".", "250 2.0.0 Ok: queued as ")
            s.expect("QUIT", "221 ")
        assert inst.stop(inst.smtpd) == 0
        log = inst.log("smtpd")
        counted = stats(log)
        assert counted["messages"] == 2, log[-2000:]
        assert counted["bytes"] == 2 * len(body), log[-2000:]
        assert counted["batches"] == 2, log[-2000:]
        assert re.search(r" event=accepted id=\S+ size=%d batch=1 client=gone" % len(body), log), \
            log[-2000:]
        assert len(stored(inst.db)[BOB]) == 2
    finally:
        smtp_close(inst)


@pytest.mark.parametrize("reason", ["mailbox_full", "over_quota"])
def test_quota_refusal_after_client_left_is_logged_and_counted(reason):
    """A commit refused by a quota after its client has left is logged and
    counted as the reply it would have had (commit_refused with the
    reason: 452 4.2.2 mailbox_full when the mailbox has no room now, 552
    5.2.2 over_quota when the message is larger than the whole quota), not
    as a failed commit."""
    body = "Subject: too big for bob\r\n\r\n" + ("q" * 78 + "\r\n") * 10
    # The refused commit stalls; for mailbox_full a first one fills the mailbox.
    stall = "2:2000" if reason == "mailbox_full" else "1:2000"
    inst = smtp_install(tls=False, env={"MAILTEST_STORE_STALL_COMMIT": stall})
    try:
        if reason == "mailbox_full":
            with Session(inst.port("smtp")) as s:
                s.expect(None, "220 ")
                s.expect("EHLO client.test", "250-")
                s.expect("MAIL FROM:<sender@remote.test>", "250 ")
                s.expect("RCPT TO:<%s>" % BOB, "250 ")
                s.expect("DATA", "354 ")
                s.expect(body + ".", "250 2.0.0 Ok: queued as ")
            used = sum(len(m) for m in stored(inst.db)[BOB])
            inst.mailctl("user", "quota", BOB, str(used + 100))  # room at RCPT, not for the message
        else:
            inst.mailctl("user", "quota", BOB, "100")  # smaller than the message
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            s.expect("MAIL FROM:<sender@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % BOB, "250 ")
            s.expect("DATA", "354 ")
            s.send(body + ".\r\n")
            wait_for(lambda: writers_busy(inst.db), "the commit never started")
            s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        wait_for(lambda: "client=gone" in inst.log("smtpd"), "the commit's result")
        assert inst.stop(inst.smtpd) == 0
        log = inst.log("smtpd")
        assert re.search(r" event=commit_refused id=\S+ reason=%s size=%d client=gone\n"
                         % (reason, len(body)), log), log[-2000:]
        assert "event=commit_failed" not in log and " level=error " not in log, log[-2000:]
        assert stats(log)["rejections"] == 1, log[-2000:]
        assert 'name=smtp_rejections_total{reason="%s"} value=1\n' % reason in log, log[-2000:]
        assert len(stored(inst.db).get(BOB, [])) == (1 if reason == "mailbox_full" else 0)
    finally:
        smtp_close(inst)
