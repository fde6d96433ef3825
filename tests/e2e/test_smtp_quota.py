"""Mailbox quotas in smtpd, byte for byte (`mailctl user quota`).

- RCPT to a mailbox at or over its quota: 452 4.2.2 (RFC 3463 X.2.2), a
  temporary refusal, so the sender keeps the message and retries. An alias
  with a full mailbox among its destinations is refused as a whole.
- A message that would take any recipient's mailbox past its quota,
  checked inside the commit: 452 4.2.2 after DATA or BDAT LAST, and the
  message is stored for nobody, since after DATA there is one reply for all
  recipients (RFC 5321 4.1.1.4). The sender retries the whole message.
- A message larger than a recipient mailbox's whole quota, which would not
  fit even in that mailbox emptied: 552 5.2.2 after DATA or BDAT LAST,
  stored for nobody, since no retry can ever succeed.
- MAIL FROM ... SIZE= (RFC 1870): at RCPT, a mailbox whose whole quota is
  smaller than the declared size gets 552 5.2.2 and one with less room left
  than it 452 4.2.2 (RFC 1870 6.4, per-recipient refusal on the size).
- Two sessions racing for the last room in a mailbox: exactly one wins.

Quotas count the stored form (trace header fields included), as POP3
serves it and `mailctl user show` reports it."""

import itertools
import re
import smtplib
import threading

import pytest

from smtptest import Session, smtp_close, smtp_install, stored

ALICE = "alice@example.test"
BOB = "bob@example.test"
HOST = "mx.example.test"
FULL_AT_RCPT = "452 4.2.2 <%s>: Recipient address rejected: Mailbox full"
FULL_AT_DATA = "452 4.2.2 Mailbox full, try again later"
OVER_AT_RCPT = "552 5.2.2 <%s>: Recipient address rejected: Message size exceeds the mailbox's quota"
NO_ROOM_AT_RCPT = ("452 4.2.2 <%s>: Recipient address rejected: Mailbox has no room for a "
                   "message of this size")
OVER_AT_DATA = "552 5.2.2 Error: message size exceeds the quota of a recipient's mailbox"


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


_users = itertools.count(1)


def fresh_user(inst, quota=None):
    """A new user with an empty mailbox (and a quota, if given)."""
    user = "u%d@example.test" % next(_users)
    inst.add_user(user, "secret")
    if quota is not None:
        set_quota(inst, user, quota)
    return user


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
        s.expect("RSET", "250 ")
        # Larger than the whole quota of an empty mailbox.
        ivy = fresh_user(inst, 1000)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % ivy, "250 Ok")
        s.expect("DATA", "354 ")
        s.send(body("after helo 3", 2000) + ".\r\n")
        assert s.line() == "552 Error: message size exceeds the quota of a recipient's mailbox\r\n"


def test_message_that_would_pass_the_quota_is_deferred_for_everyone(inst):
    """The message fits the whole quota, only not the room left now: 452."""
    dave = fresh_user(inst, 10000)
    alice_before = usage(inst, ALICE)
    with session(inst) as s:
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % dave, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("first", 5000) + ".", "250 2.0.0 Ok: queued as ")
        used, n = usage(inst, dave)
        assert 4500 < used < 6000 and n == 1

        # Room left, so RCPT passes; the 5 KB message does not fit.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5 Ok")
        s.expect("RCPT TO:<%s>" % dave, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.send(body("big", 5000) + ".\r\n")
        assert s.line() == FULL_AT_DATA + "\r\n"
        # Stored for nobody: alice's copy would be a duplicate on the retry.
        assert usage(inst, dave) == (used, n)
        assert usage(inst, ALICE) == alice_before
        assert count(inst, ALICE, "big") == 0

        # BDAT LAST ends the same way.
        data = body("big chunks", 5000).encode()
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % dave, "250 ")
        s.send(b"BDAT %d\r\n" % 1000 + data[:1000])
        assert s.line() == "250 2.0.0 Ok: 1000 octets received\r\n"
        s.send(b"BDAT %d LAST\r\n" % (len(data) - 1000) + data[1000:])
        assert s.line() == FULL_AT_DATA + "\r\n"

        # The session goes on, and a message that fits is stored.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % dave, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("small", 200) + ".", "250 2.0.0 Ok: queued as ")
        s.expect("QUIT", "221 ")
    assert count(inst, dave, "small") == 1
    assert count(inst, dave, "big") == 0 and count(inst, dave, "big chunks") == 0
    assert usage(inst, dave)[0] <= 10000
    assert inst.mailctl("db", "check", check=False).returncode == 0


def test_message_larger_than_the_whole_quota_is_552(inst):
    """It would not fit even in the emptied mailbox: refused for good, for
    every recipient, after DATA and after BDAT LAST alike."""
    carol = fresh_user(inst, 3000)
    alice_before = usage(inst, ALICE)
    refused = r"event=commit_refused id=\d+ reason=over_quota size=\d+"
    refused_before = len(re.findall(refused, inst.log("smtpd")))
    queue_before = len(stored(inst.db)["queue"])
    with session(inst) as s:
        # The mailbox is empty, so RCPT (no SIZE=) passes.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5 Ok")
        s.expect("RCPT TO:<%s>" % carol, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.send(body("too big", 5000) + ".\r\n")
        assert s.line() == OVER_AT_DATA + "\r\n"
        assert usage(inst, carol) == (0, 0)
        assert usage(inst, ALICE) == alice_before

        data = body("too big chunks", 5000).encode()
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % carol, "250 ")
        s.send(b"BDAT %d\r\n" % 1000 + data[:1000])
        assert s.line() == "250 2.0.0 Ok: 1000 octets received\r\n"
        s.send(b"BDAT %d LAST\r\n" % (len(data) - 1000) + data[1000:])
        assert s.line() == OVER_AT_DATA + "\r\n"
        # BDAT LAST as the only chunk: the same.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % carol, "250 ")
        s.send(b"BDAT %d LAST\r\n" % len(data) + data)
        assert s.line() == OVER_AT_DATA + "\r\n"

        # Permanent wins over full, whatever the order of the recipients:
        # dave has room for neither now, carol never for this one.
        dave = fresh_user(inst, 8000)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % dave, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("dave's first", 5000) + ".", "250 2.0.0 Ok: queued as ")
        for order in ((dave, carol), (carol, dave)):
            s.expect("MAIL FROM:<sender@remote.test>", "250 ")
            for rcpt in order:
                s.expect("RCPT TO:<%s>" % rcpt, "250 2.1.5 Ok")
            s.expect("DATA", "354 ")
            s.send(body("both", 5000) + ".\r\n")
            assert s.line() == OVER_AT_DATA + "\r\n"
        # dave alone: the same message only waits for room.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % dave, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.send(body("both", 5000) + ".\r\n")
        assert s.line() == FULL_AT_DATA + "\r\n"

        # A message within the quota still gets in.
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % carol, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("fits", 1000) + ".", "250 2.0.0 Ok: queued as ")
        s.expect("QUIT", "221 ")
    assert usage(inst, carol)[1] == 1 and count(inst, carol, "fits") == 1
    assert usage(inst, dave)[1] == 1
    assert usage(inst, ALICE) == alice_before
    assert len(stored(inst.db)["queue"]) == queue_before
    assert inst.mailctl("db", "check", check=False).returncode == 0
    assert len(re.findall(refused, inst.log("smtpd"))) == refused_before + 5


def test_message_larger_than_the_quota_of_a_forwarding_alias_member(inst):
    """An alias that reaches a small mailbox and a remote address: neither
    gets the message (nothing is queued), since the reply is one for all."""
    carol = fresh_user(inst, 2000)
    inst.mailctl("alias", "add", "fwd@example.test", carol)
    inst.mailctl("alias", "add", "fwd@example.test", "far@remote.test")
    queue_before = len(stored(inst.db)["queue"])
    try:
        with session(inst) as s:
            s.expect("MAIL FROM:<sender@remote.test>", "250 ")
            s.expect("RCPT TO:<fwd@example.test>", "250 2.1.5 Ok")
            s.expect("DATA", "354 ")
            s.send(body("forwarded", 4000) + ".\r\n")
            assert s.line() == OVER_AT_DATA + "\r\n"
            s.expect("QUIT", "221 ")
    finally:
        inst.mailctl("alias", "del", "fwd@example.test", carol)
        inst.mailctl("alias", "del", "fwd@example.test", "far@remote.test")
    assert usage(inst, carol) == (0, 0)
    assert len(stored(inst.db)["queue"]) == queue_before


def test_declared_size_is_checked_at_rcpt(inst):
    """RFC 1870 6.4: with SIZE= at MAIL, a RCPT is refused on the declared
    size: 552 5.2.2 when no retry can make it fit, 452 4.2.2 when it only
    does not fit now."""
    gina = fresh_user(inst)
    with session(inst) as s:
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % gina, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("gina's first", 1000) + ".", "250 2.0.0 Ok: queued as ")
        used, _ = usage(inst, gina)
        quota = used + 2000
        set_quota(inst, gina, quota)
        room = quota - used

        def rcpt(size, rcpt, want):
            s.expect("MAIL FROM:<sender@remote.test> SIZE=%d" % size, "250 2.1.0 Ok")
            s.send("RCPT TO:<%s>\r\n" % rcpt)
            assert s.line() == want + "\r\n", (size, rcpt)
            s.expect("RSET", "250 ")

        rcpt(quota + 1, gina, OVER_AT_RCPT % gina)
        rcpt(10 * 1024 * 1024, gina, OVER_AT_RCPT % gina)
        rcpt(quota, gina, NO_ROOM_AT_RCPT % gina)     # fits once emptied
        rcpt(room + 1, gina, NO_ROOM_AT_RCPT % gina)
        rcpt(room, gina, "250 2.1.5 Ok")              # exactly the room left
        rcpt(0, gina, "250 2.1.5 Ok")                 # SIZE=0 declares nothing
        rcpt(10 * 1024 * 1024, BOB, "250 2.1.5 Ok")   # no quota: only max_message_size

        # An alias with such a mailbox among its destinations is refused
        # whole, and permanent wins over full: jay's mailbox, first among
        # the alias's destinations, is full, gina's quota too small.
        jay = fresh_user(inst)
        s.expect("MAIL FROM:<sender@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % jay, "250 ")
        s.expect("DATA", "354 ")
        s.expect(body("jay's first", 2 * quota) + ".", "250 2.0.0 Ok: queued as ")
        set_quota(inst, jay, usage(inst, jay)[0])
        inst.mailctl("alias", "add", "duo@example.test", jay)
        inst.mailctl("alias", "add", "duo@example.test", gina)
        try:
            rcpt(quota + 1, "duo@example.test", OVER_AT_RCPT % "duo@example.test")
            rcpt(room + 1, "duo@example.test", NO_ROOM_AT_RCPT % "duo@example.test")
            set_quota(inst, jay, "unlimited")
            rcpt(room, "duo@example.test", "250 2.1.5 Ok")
        finally:
            inst.mailctl("alias", "del", "duo@example.test", jay)
            inst.mailctl("alias", "del", "duo@example.test", gina)

        # The transaction goes on for the others; with all refused, DATA
        # has no recipients (RFC 2920 3.1).
        s.expect("MAIL FROM:<sender@remote.test> SIZE=%d" % (quota + 1), "250 ")
        s.send("RCPT TO:<%s>\r\n" % gina)
        assert s.line() == OVER_AT_RCPT % gina + "\r\n"
        s.send("DATA\r\n")
        assert s.line() == "554 5.5.1 Error: no valid recipients\r\n"
        s.expect("RSET", "250 ")
        s.expect("MAIL FROM:<sender@remote.test> SIZE=%d" % (quota + 1), "250 ")
        s.send("RCPT TO:<%s>\r\n" % gina)
        assert s.line() == OVER_AT_RCPT % gina + "\r\n"
        s.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.expect(body("declared big", 3000) + ".", "250 2.0.0 Ok: queued as ")

        # A size declared too small passes RCPT; the commit still refuses
        # the real message (RFC 1870 6.3: it is larger than declared).
        s.expect("MAIL FROM:<sender@remote.test> SIZE=100", "250 ")
        s.expect("RCPT TO:<%s>" % gina, "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.send(body("understated", quota + 100) + ".\r\n")
        assert s.line() == OVER_AT_DATA + "\r\n"
        s.expect("QUIT", "221 ")
    assert count(inst, ALICE, "declared big") == 1
    assert count(inst, gina, "declared big") == 0 and usage(inst, gina) == (used, 1)
    log = inst.log("smtpd")
    assert re.search(r"event=rcpt_refused to=%s reason=over_quota mailbox=%s size=%d "
                     % (re.escape(gina), re.escape(gina), quota + 1), log)
    assert re.search(r"event=rcpt_refused to=duo@example.test reason=over_quota mailbox=%s "
                     % re.escape(gina), log)
    assert re.search(r"event=rcpt_refused to=duo@example.test reason=mailbox_full mailbox=%s "
                     % re.escape(jay), log)
    assert re.search(r"event=rcpt_refused to=%s reason=mailbox_full mailbox=%s size=%d "
                     % (re.escape(gina), re.escape(gina), room + 1), log)


def test_smtplib_declares_the_size_and_gets_the_refusal_at_rcpt(inst):
    """A real client: smtplib sends SIZE= when the server offers it, and
    reports the per-recipient refusals."""
    hana = fresh_user(inst, 2000)
    msg = body("smtplib", 5000)
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("sender@remote.test", [hana], msg)
        code, text = e.value.recipients[hana]
        assert (code, text) == (552, ("5.2.2 <%s>: Recipient address rejected: Message size "
                                      "exceeds the mailbox's quota" % hana).encode())
        # One recipient refused, the other served.
        assert c.sendmail("sender@remote.test", [hana, ALICE], msg) == {
            hana: (552, text)}
        set_quota(inst, hana, 7000)
        c.sendmail("sender@remote.test", [hana], msg)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            c.sendmail("sender@remote.test", [hana], msg)
        assert e.value.recipients[hana] == (
            452, ("4.2.2 <%s>: Recipient address rejected: Mailbox has no room for a message "
                  "of this size" % hana).encode())
    assert count(inst, ALICE, "smtplib") == 1
    assert count(inst, hana, "smtplib") == 1


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
