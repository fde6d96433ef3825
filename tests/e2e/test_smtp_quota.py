"""Mailbox quotas in smtpd, byte for byte (`mailctl user quota`).

- RCPT to a mailbox at or over its quota: 452 4.2.2 (RFC 3463 X.2.2), a
  temporary refusal, so the sender keeps the message and retries. An alias
  with a full mailbox among its destinations is refused as a whole.
- A message that would take any recipient's mailbox past its quota,
  checked inside the commit: 452 4.2.2 after DATA or BDAT LAST, and the
  message is stored for nobody, since after DATA there is one reply for all
  recipients (RFC 5321 4.1.1.4). The sender retries the whole message.
- Two sessions racing for the last room in a mailbox: exactly one wins.

Quotas count the stored form (trace header fields included), as POP3
serves it and `mailctl user show` reports it."""

import re
import threading

import pytest

from smtptest import Session, smtp_close, smtp_install, stored

ALICE = "alice@example.test"
BOB = "bob@example.test"
HOST = "mx.example.test"
FULL_AT_RCPT = "452 4.2.2 <%s>: Recipient address rejected: Mailbox full"
FULL_AT_DATA = "452 4.2.2 Mailbox full, try again later"


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install(tls=False)
    yield inst
    smtp_close(inst)


@pytest.fixture(autouse=True)
def no_quotas(inst):
    yield
    for user in (ALICE, BOB):
        inst.mailctl("user", "quota", user, "unlimited")


def usage(inst, user):
    info = dict(line.split(": ", 1)
                for line in inst.mailctl("user", "show", user).stdout.splitlines())
    return int(info["used"]), int(info["messages"])


def set_quota(inst, user, octets):
    inst.mailctl("user", "quota", user, str(octets))


def session(inst, helo="EHLO"):
    s = Session(inst.port("smtp"))
    s.expect(None, "220 %s ESMTP ready" % HOST)
    s.expect("%s client.test" % helo, "250")
    return s


def body(subject, size):
    """A message of about `size` octets."""
    head = "Subject: %s\r\n\r\n" % subject
    return head + ("q" * 78 + "\r\n") * max(1, (size - len(head)) // 80)


def count(inst, user, subject):
    return sum(1 for m in stored(inst.db).get(user, []) if b"Subject: %s\r\n" % subject.encode()
               in m)


def test_rcpt_to_a_full_mailbox_is_452(inst):
    with session(inst) as s:
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("fills bob", 500) + ".", "250 2.0.0 Ok: queued as ")
        used, _ = usage(inst, BOB)
        set_quota(inst, BOB, used)  # exactly full: nothing more fits

        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.send("RCPT TO:<%s>\r\n" % BOB)
        assert s.line() == FULL_AT_RCPT % BOB + "\r\n"
        # The other recipient of the same message is not affected.
        s.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.expect(body("to alice only", 300) + ".", "250 2.0.0 Ok: queued as ")
        assert count(inst, ALICE, "to alice only") == 1
        assert count(inst, BOB, "to alice only") == 0

        # Over quota (lowered below what the mailbox holds): the same.
        set_quota(inst, BOB, used // 2)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.send("RCPT TO:<%s>\r\n" % BOB)
        assert s.line() == FULL_AT_RCPT % BOB + "\r\n"
        # With every recipient refused, DATA has none (RFC 2920 3.1).
        s.send("DATA\r\n")
        assert s.line() == "554 5.5.1 Error: no valid recipients\r\n"
        s.expect("RSET", "250 ")

        # An alias with a full mailbox among its destinations: refused whole.
        inst.mailctl("alias", "add", "team@example.test", ALICE)
        inst.mailctl("alias", "add", "team@example.test", BOB)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.send("RCPT TO:<team@example.test>\r\n")
        assert s.line() == FULL_AT_RCPT % "team@example.test" + "\r\n"
        s.expect("RSET", "250 ")

        # Room again: the sender's retry goes through.
        set_quota(inst, BOB, used + 100000)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<team@example.test>", "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.expect(body("team", 300) + ".", "250 2.0.0 Ok: queued as ")
        s.expect("QUIT", "221 ")
    assert count(inst, ALICE, "team") == 1 and count(inst, BOB, "team") == 1
    inst.mailctl("alias", "del", "team@example.test", ALICE)
    inst.mailctl("alias", "del", "team@example.test", BOB)
    assert re.search(r"event=rcpt_refused to=team@example.test reason=mailbox_full "
                     r"mailbox=bob@example.test ", inst.log("smtpd"))


def test_after_helo_the_replies_have_no_enhanced_code(inst):
    """RFC 2034: enhanced status codes only after EHLO."""
    with session(inst, helo="HELO") as s:
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("after helo", 300) + ".", "250 Ok: queued as ")
        used, _ = usage(inst, BOB)
        set_quota(inst, BOB, used + 1)  # room for one octet: RCPT passes, DATA does not
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 Ok")
        s.expect("DATA", "354 ")
        s.send(body("after helo 2", 300) + ".\r\n")
        assert s.line() == "452 Mailbox full, try again later\r\n"
        set_quota(inst, BOB, used)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.send("RCPT TO:<%s>\r\n" % BOB)
        assert s.line() == "452 <%s>: Recipient address rejected: Mailbox full\r\n" % BOB


def test_message_that_would_pass_the_quota_is_deferred_for_everyone(inst):
    used, n = usage(inst, BOB)
    set_quota(inst, BOB, used + 2000)
    alice_before = usage(inst, ALICE)
    with session(inst) as s:
        # Room left, so RCPT passes; the 5 KB message does not fit.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5 Ok")
        s.expect("RCPT TO:<%s>" % BOB, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.send(body("big", 5000) + ".\r\n")
        assert s.line() == FULL_AT_DATA + "\r\n"
        # Stored for nobody: alice's copy would be a duplicate on the retry.
        assert usage(inst, BOB) == (used, n)
        assert usage(inst, ALICE) == alice_before
        assert count(inst, ALICE, "big") == 0

        # BDAT LAST ends the same way.
        data = body("big chunks", 5000).encode()
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 ")
        s.send(b"BDAT %d\r\n" % 1000 + data[:1000])
        assert s.line() == "250 2.0.0 Ok: 1000 octets received\r\n"
        s.send(b"BDAT %d LAST\r\n" % (len(data) - 1000) + data[1000:])
        assert s.line() == FULL_AT_DATA + "\r\n"

        # The session goes on, and a message that fits is stored.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("small", 200) + ".", "250 2.0.0 Ok: queued as ")
        s.expect("QUIT", "221 ")
    assert count(inst, BOB, "small") == 1
    assert count(inst, BOB, "big") == 0 and count(inst, BOB, "big chunks") == 0
    assert usage(inst, BOB)[0] <= used + 2000
    assert inst.mailctl("db", "check", check=False).returncode == 0


def test_two_sessions_race_for_the_last_room(inst):
    """Both pass RCPT; the commit lets exactly one of the two messages in."""
    used, n = usage(inst, BOB)
    set_quota(inst, BOB, used + 5000)  # room for one 3 KB message, not two
    ready = threading.Barrier(2)
    replies = []

    def sender(i):
        with session(inst) as s:
            s.expect("MAIL FROM:<sender@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % BOB, "250 2.1.5 Ok")
            s.expect("DATA", "354 ")
            ready.wait(timeout=30)
            s.send(body("race %d" % i, 3000) + ".\r\n")
            replies.append(s.line())

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r[:9] for r in replies) == ["250 2.0.0", "452 4.2.2"], replies
    assert FULL_AT_DATA + "\r\n" in replies
    assert usage(inst, BOB)[1] == n + 1
    assert usage(inst, BOB)[0] <= used + 5000
    assert count(inst, BOB, "race 0") + count(inst, BOB, "race 1") == 1
