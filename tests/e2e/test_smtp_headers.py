"""What smtpd does to the header section of a message, byte for byte:
Bcc and Resent-Bcc dropped on submission, a client's Return-Path dropped
everywhere, the login not named in Received: unless received_auth_header,
Date and Message-ID added to submitted mail that lacks them, mail loops
refused at max_hops Received: fields; and the queue id, the same in the
250 reply, the log, Received: and `mailctl queue list`, unique across
restarts and processes."""

import base64
import email.parser
import email.policy
import re
import smtplib
import threading

import pytest

from mailtest import writers_held
from smtptest import (USERS, Session, client_tls_context, smtp_close, smtp_install,
                      stored)

ALICE = "alice@example.test"
BOB = "bob@example.test"
HOST = "mx.example.test"
REMOTE = "far@remote.test"
DATE_RE = rb"Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|" \
          rb"Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000\r\n"


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install()
    yield inst
    smtp_close(inst)


def connect(inst, listener="smtp"):
    s = Session(inst.port(listener))
    s.expect(None, "220 %s ESMTP ready" % HOST)
    s.expect("EHLO client.test", "250-%s" % HOST)
    return s


def submission(inst, user=ALICE):
    """A submission session after STARTTLS, EHLO and AUTH."""
    s = connect(inst, "submission")
    s.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
    s.starttls()
    s.expect("EHLO laptop.test", "250-%s" % HOST)
    token = base64.b64encode(("\0%s\0%s" % (user, USERS[user])).encode()).decode()
    s.expect("AUTH PLAIN " + token, "235 2.7.0 Authentication successful")
    return s


def send(s, sender, rcpts, data, want="250 2.0.0 Ok: queued as "):
    """MAIL, RCPT..., DATA with `data` (bytes, up to but without the final
    ".\\r\\n"); returns the reply to the end of data."""
    s.expect("MAIL FROM:<%s>" % sender, "250 ")
    for r in rcpts:
        s.expect("RCPT TO:<%s>" % r, "250 ")
    s.expect("DATA", "354 ")
    s.send(data + b".\r\n")
    return s.expect(None, want)


def queue_id(reply):
    m = re.fullmatch(r"250 2\.0\.0 Ok: queued as (\d+)", reply)
    assert m, reply
    return m.group(1)


def message(inst, mailbox, tag):
    [m] = [m for m in stored(inst.db).get(mailbox, []) if tag in m]
    return m


def header(m):
    return m.split(b"\r\n\r\n", 1)[0] + b"\r\n"


# ---- Bcc -----------------------------------------------------------------------

def test_bcc_dropped_on_submission(inst):
    with submission(inst) as s:
        send(s, ALICE, [BOB, "carol@other.test", "dave@other.test"],
             b"From: <alice@example.test>\r\nTo: <bob@example.test>\r\n"
             b"Bcc: carol@other.test,\r\n\tdave@other.test\r\nSubject: bcc-sub\r\n"
             b"resent-bcc : erin@other.test\r\n"
             b"Date: Fri, 27 Nov 2026 09:00:00 +0000\r\nMessage-ID: <bcc-sub@laptop>\r\n"
             b"\r\nBcc: this line is text\r\n")
    m = message(inst, BOB, b"Subject: bcc-sub\r\n")
    assert m.endswith(b"\r\nFrom: <alice@example.test>\r\nTo: <bob@example.test>\r\n"
                      b"Subject: bcc-sub\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n"
                      b"Message-ID: <bcc-sub@laptop>\r\n\r\nBcc: this line is text\r\n"), m
    assert b"carol" not in m and b"dave" not in m and b"erin" not in m
    # The blind copies still reach their recipients (queued for relay), without the field.
    for _, rcpt, body in stored(inst.db)["queue"]:
        if b"Subject: bcc-sub\r\n" in body:
            assert rcpt in ("carol@other.test", "dave@other.test") and b"carol" not in body


def test_bcc_dropped_by_smtplib_sendmail(inst):
    raw = (b"From: alice@example.test\r\nTo: bob@example.test\r\nBcc: carol@other.test\r\n"
           b"Subject: bcc-smtplib\r\n\r\nHello.\r\n")
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.login(ALICE, USERS[ALICE])
        assert smtp.sendmail(ALICE, [BOB], raw) == {}
    m = message(inst, BOB, b"Subject: bcc-smtplib\r\n")
    assert b"Bcc" not in m and b"carol" not in m


def test_bcc_kept_on_mx(inst):
    # Mail from other servers is theirs: a Bcc: they left in is not ours to edit.
    with connect(inst) as s:
        send(s, "x@remote.test", [BOB], b"Bcc: bob@example.test\r\nSubject: bcc-mx\r\n\r\nx\r\n")
    assert b"\r\nBcc: bob@example.test\r\nSubject: bcc-mx\r\n" in \
        message(inst, BOB, b"Subject: bcc-mx\r\n")


# ---- Return-Path -----------------------------------------------------------------

@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_client_return_path_dropped(inst, listener):
    tag = ("Subject: rp-%s\r\n" % listener).encode()
    data = (b"Return-Path: <ceo@example.test>\r\n" + tag +
            b"RETURN-PATH:\r\n <ceo@example.test>\r\n\r\nReturn-Path: <text@x>\r\n")
    sender = ALICE if listener == "submission" else "x@remote.test"
    s = submission(inst) if listener == "submission" else connect(inst)
    with s:
        send(s, sender, [BOB], data)
    m = message(inst, BOB, tag)
    assert m.startswith(b"Return-Path: <%s>\r\nReceived: " % sender.encode())
    assert m.count(b"Return-Path") == 2 and m.endswith(b"\r\n\r\nReturn-Path: <text@x>\r\n")
    assert b"ceo@" not in m and b"RETURN-PATH" not in m


# ---- Received on submission --------------------------------------------------------

def test_received_does_not_name_the_login(inst):
    with submission(inst) as s:
        send(s, "sales@example.test", [BOB], b"Subject: role\r\n\r\nx\r\n")
    m = message(inst, BOB, b"Subject: role\r\n")
    received = m.split(b"\r\nSubject: role")[0]
    assert re.match(rb"Return-Path: <sales@example\.test>\r\nReceived: from laptop\.test "
                    rb"\(\[127\.0\.0\.1\]\)\r\n\tby mx\.example\.test with ESMTPSA id \d+\r\n"
                    rb"\t\(TLSv1\.[23] [^)]+\)\r\n\tfor <bob@example\.test>; ", received), received
    assert b"alice" not in received


def test_received_auth_header_yes_names_the_login():
    inst = smtp_install(received_auth_header="yes")
    try:
        with submission(inst) as s:
            send(s, "sales@example.test", [BOB], b"Subject: named\r\n\r\nx\r\n")
        m = message(inst, BOB, b"Subject: named\r\n")
        assert b" with ESMTPSA id " in m
        assert b"\r\n\t(authenticated as alice@example.test)\r\n\tfor <bob@example.test>; " in m
    finally:
        smtp_close(inst)


# ---- Date and Message-ID -------------------------------------------------------------

def test_missing_date_and_message_id_added_on_submission(inst):
    with submission(inst) as s:
        reply = send(s, ALICE, [BOB], b"From: <alice@example.test>\r\nSubject: bare\r\n\r\nhi\r\n")
    qid = queue_id(reply).encode()
    m = message(inst, BOB, b"Subject: bare\r\n")
    # At the end of the header section, right before the empty line.
    got = re.search(rb"\r\nFrom: <alice@example\.test>\r\nSubject: bare\r\n(Date: [^\r]*\r\n)"
                    rb"Message-ID: <(\d{14})\.(\d+)\.([0-9a-f]{16})@mx\.example\.test>\r\n"
                    rb"\r\nhi\r\n$", m)
    assert got, m
    assert re.fullmatch(DATE_RE, got.group(1)), got.group(1)
    assert got.group(3) == qid  # the queue id: unique in the store


def test_present_date_and_message_id_kept(inst):
    with submission(inst) as s:
        send(s, ALICE, [BOB], b"Subject: dated\r\ndate: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
                              b"\r\nhi\r\n")
    h = header(message(inst, BOB, b"Subject: dated\r\n"))
    assert h.count(b"ate: ") == 1 and b"\r\ndate: Thu, 1 Jan 2026 00:00:00 +0000\r\n" in h
    assert re.search(rb"\r\nMessage-ID: <\d{14}\.\d+\.[0-9a-f]{16}@mx\.example\.test>\r\n$", h)
    with submission(inst) as s:
        send(s, ALICE, [BOB], b"Subject: has-id\r\nMESSAGE-ID: <own@laptop>\r\n\r\nhi\r\n")
    h = header(message(inst, BOB, b"Subject: has-id\r\n"))
    assert h.lower().count(b"message-id:") == 1 and re.search(DATE_RE + rb"$", h)


def test_date_and_message_id_added_with_bdat_and_no_body(inst):
    # A message that is only a header section, without its empty line.
    with submission(inst) as s:
        s.expect("MAIL FROM:<%s>" % ALICE, "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 ")
        s.chunk(b"BDAT 18\r\nSubject: bdat-bare", "250 2.0.0 Ok: 18 octets")
        s.expect("BDAT 0 LAST", "250 2.0.0 Ok: queued as ")
    m = message(inst, BOB, b"Subject: bdat-bare\r\n")
    assert re.search(rb"\r\nSubject: bdat-bare\r\n" + DATE_RE +
                     rb"Message-ID: <[^>]+@mx\.example\.test>\r\n$", m), m


def test_nothing_added_on_mx(inst):
    with connect(inst) as s:
        send(s, "x@remote.test", [BOB], b"Subject: mx-bare\r\n\r\nhi\r\n")
    m = message(inst, BOB, b"Subject: mx-bare\r\n")
    assert b"\r\nDate:" not in m and b"Message-ID" not in m
    assert m.endswith(b" +0000\r\nSubject: mx-bare\r\n\r\nhi\r\n")


# ---- hop count -------------------------------------------------------------------------

# ---- A first line that is not a field --------------------------------------------

def parsed(m):
    return email.parser.BytesParser(policy=email.policy.compat32).parsebytes(m)


def test_non_field_first_line_cannot_smuggle_headers(inst):
    """A line that is not a field (an mbox "From " line) ends the header
    section; an empty line goes before it, so no reader takes what follows
    for header fields: not a second Return-Path, not 200 hops."""
    data = (b"From x@r.test Mon Jan 1 2026\r\nReturn-Path: <ceo@example.test>\r\n" +
            b"Received: from a by b; Mon, 1 Jan 2026 00:00:00 +0000\r\n" * 200 +
            b"Subject: smuggle-mx\r\n\r\nbody\r\n")
    with connect(inst) as s:
        send(s, "x@remote.test", [BOB], data)
    m = message(inst, BOB, b"Subject: smuggle-mx\r\n")
    assert b"for <bob@example.test>; " in m
    msg = parsed(m)
    assert msg.get_all("Return-Path") == ["<x@remote.test>"], msg.get_all("Return-Path")
    assert len(msg.get_all("Received")) == 1
    assert m.split(b"\r\n\r\n", 1)[1] == data, m


def test_non_field_first_line_on_submission(inst):
    with submission(inst) as s:
        send(s, ALICE, [BOB], b"From alice\r\nBcc: carol@other.test\r\nSubject: smuggle-sub\r\n"
             b"\r\nx\r\n")
    m = message(inst, BOB, b"Subject: smuggle-sub\r\n")
    msg = parsed(m)
    assert msg.get_all("Bcc") is None and msg.get_all("Subject") is None
    assert msg["Date"] and msg["Message-ID"]
    assert msg.get_payload() == "From alice\r\nBcc: carol@other.test\r\nSubject: smuggle-sub\r\n\r\nx\r\n"


def test_headerless_body_gets_an_empty_line(inst):
    with submission(inst) as s:
        send(s, ALICE, [BOB], b"just a body line headerless\r\nmore\r\n")
    m = message(inst, BOB, b"headerless")
    head, body = m.split(b"\r\n\r\n", 1)
    assert re.search(rb"\r\nDate: [^\r]+\r\nMessage-ID: <[^\r]+>$", head), head
    assert body == b"just a body line headerless\r\nmore\r\n"


def hops(n, tag):
    return b"".join(b"Received: from hop%d.test by hop%d.test; Fri, 27 Nov 2026 09:00:00 +0000\r\n"
                    % (i, i + 1) for i in range(n)) + b"Subject: " + tag + b"\r\n\r\nloop\r\n"


def test_max_hops_received_fields_accepted(inst):
    with connect(inst) as s:
        send(s, "x@remote.test", [BOB], hops(50, b"hops-50"))
    assert message(inst, BOB, b"Subject: hops-50\r\n").count(b"Received:") == 51


@pytest.mark.parametrize("n", [51, 200])
def test_too_many_hops_refused(inst, n):
    tag = b"hops-%d" % n
    with connect(inst) as s:
        send(s, "x@remote.test", [BOB], hops(n, tag), want="554 5.4.6 Error: too many hops")
        # The transaction is over; the session goes on.
        s.expect("RCPT TO:<%s>" % BOB, "503 5.5.1 Error: need MAIL command")
        s.expect("NOOP", "250 2.0.0 Ok")
    assert not [m for m in stored(inst.db)[BOB] if b"Subject: " + tag in m]
    assert "too_many_hops id=" in inst.log("smtpd")


def test_too_many_hops_folded_and_any_case_bdat(inst):
    # Continuation lines are one field; the names compare without case.
    data = b"".join(b"rEcEiVeD: from a\r\n\tby b\r\n" for _ in range(51)) + b"\r\nx\r\n"
    with connect(inst) as s:
        s.expect("MAIL FROM:<x@remote.test>", "250 ")
        s.expect("RCPT TO:<%s>" % BOB, "250 ")
        # Refused at the end of the chunk that passes the limit, like a size overflow.
        s.chunk(b"BDAT %d\r\n" % len(data) + data, "554 5.4.6 Error: too many hops")
        s.chunk(b"BDAT 3 LAST\r\nabc", "503 5.5.1 Error: need MAIL command")
        s.expect("NOOP", "250 2.0.0 Ok")


def test_max_hops_config():
    inst = smtp_install(tls=False, max_hops=2)
    try:
        with connect(inst) as s:
            send(s, "x@remote.test", [BOB], hops(2, b"two"))
            send(s, "x@remote.test", [BOB], hops(3, b"three"),
                 want="554 5.4.6 Error: too many hops")
        assert [m for m in stored(inst.db)[BOB] if b"Subject: two\r\n" in m]
    finally:
        smtp_close(inst)


# ---- queue ids -----------------------------------------------------------------------

def test_queue_id_everywhere(inst):
    with connect(inst) as s:
        reply = send(s, "x@remote.test", [BOB], b"Subject: qid-local\r\n\r\nx\r\n")
    qid = queue_id(reply)
    m = message(inst, BOB, b"Subject: qid-local\r\n")
    assert re.search(rb"\r\n\tby mx\.example\.test with ESMTP id %s\r\n" % qid.encode(), m)
    assert re.search(r" event=accepted id=%s from=x@remote.test to=bob@example.test " % qid,
                     inst.log("smtpd"))
    # It is the message's id in the store.
    [(mid,)] = inst.sql("SELECT e.message_id FROM mailbox_entries e JOIN users u"
                        " ON u.id = e.user_id WHERE u.address = ? ORDER BY e.id DESC"
                        " LIMIT 1", BOB)
    assert str(mid) == qid

    # A relayed message: mailctl queue list shows it under the same id.
    with submission(inst) as s:
        reply = send(s, ALICE, [REMOTE, "other@remote.test"], b"Subject: qid-remote\r\n\r\nx\r\n")
    qid = queue_id(reply)
    out = inst.mailctl("queue", "list").stdout.splitlines()
    rows = [line for line in out if " msg=%s " % qid in line]
    assert len(rows) == 2, out
    assert " to=far@remote.test" in rows[0] and " to=other@remote.test" in rows[1]


def test_queue_ids_unique_across_restarts_and_processes():
    inst = smtp_install(tls=False)
    second = None
    try:
        ids = []

        def one(port, tag):
            with Session(port) as s:
                s.expect(None, "220 ")
                s.expect("EHLO client.test", "250-")
                ids.append(queue_id(send(s, "x@remote.test", [BOB], b"Subject: %s\r\n\r\nx\r\n"
                                         % tag)))

        one(inst.port("smtp"), b"r1")
        one(inst.port("smtp"), b"r2")
        assert inst.stop(inst.smtpd) == 0
        inst.smtpd = inst.start("smtpd")
        one(inst.port("smtp"), b"r3")
        # A second process on the same database (as replicas are), on other ports.
        second = smtp_install(start=False, tls=False)
        second.config["db"] = inst.db
        second.write_config()
        proc = second.start("smtpd")
        one(second.port("smtp"), b"p1")
        one(inst.port("smtp"), b"r4")
        one(second.port("smtp"), b"p2")
        assert second.stop(proc) == 0
        assert len(set(ids)) == len(ids) == 6, ids
        assert int(ids[0]) < int(ids[1]) < int(ids[2])  # restarts move on, never back
        rows = inst.sql("SELECT id FROM messages")
        assert sorted(int(m) for m in ids) == sorted(mid for (mid,) in rows)
    finally:
        if second is not None:
            second.close()
        smtp_close(inst)


def test_queue_ids_when_the_pool_runs_dry():
    """With two ids per reservation, concurrent senders keep emptying the
    pool: sessions wait for the refill, and every message gets its own id."""
    inst = smtp_install(tls=False, env={"MAILTEST_QUEUEID_BLOCK": "2"})
    try:
        ids, lock = [], threading.Lock()

        def sender(client):
            with Session(inst.port("smtp")) as s:
                s.expect(None, "220 ")
                s.expect("EHLO c%d.test" % client, "250-")
                for n in range(10):
                    tag = b"dry-%d-%d" % (client, n)
                    if n % 2:
                        s.expect("MAIL FROM:<x@remote.test>", "250 ")
                        s.expect("RCPT TO:<%s>" % BOB, "250 ")
                        body = b"Subject: " + tag + b"\r\n\r\nx\r\n"
                        reply = s.chunk(b"BDAT %d LAST\r\n" % len(body) + body,
                                        "250 2.0.0 Ok: queued as ")
                    else:
                        reply = send(s, "x@remote.test", [BOB],
                                     b"Subject: " + tag + b"\r\n\r\nx\r\n")
                    with lock:
                        ids.append(queue_id(reply))

        threads = [threading.Thread(target=sender, args=(c,)) for c in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert len(ids) == 60 and len(set(ids)) == 60, ids
        assert len(stored(inst.db)[BOB]) == 60
        assert "event=queueid_wait" in inst.log("smtpd")  # the waiting path was taken
    finally:
        smtp_close(inst)


def test_queue_id_refill_failure_is_a_temporary_error():
    """While another process holds the write lock past the busy timeout, no
    ids can be reserved: a DATA that needs one gets 451, a BDAT has its
    chunk read and refused with 451; both work once the lock is gone."""
    inst = smtp_install(tls=False, env={"MAILTEST_QUEUEID_BLOCK": "1"})
    try:
        first, data, bdat = (connect(inst) for _ in range(3))
        for s in (first, data, bdat):
            s.expect("MAIL FROM:<x@remote.test>", "250 ")
            s.expect("RCPT TO:<%s>" % BOB, "250 ")
        with writers_held(inst.db):
            first.expect("DATA", "354 ")  # the last id; its refill now waits for the lock
            data.send(b"DATA\r\n")
            bdat.send(b"BDAT 5 LAST\r\nhello")
            assert data.reply() == "451 4.3.0 Error: local error in processing, try again later"
            assert bdat.reply() == "451 4.3.0 Error: local error in processing, try again later"
        assert "event=queueid_refill_failed" in inst.log("smtpd")
        # The DATA transaction is still there; the BDAT one is over.
        data.expect("DATA", "354 ")
        data.send(b"Subject: after-refill\r\n\r\nx\r\n.\r\n")
        data.expect(None, "250 2.0.0 Ok: queued as ")
        bdat.expect("RCPT TO:<%s>" % BOB, "503 5.5.1 Error: need MAIL command")
        first.send(b"Subject: before-refill\r\n\r\nx\r\n.\r\n")
        first.expect(None, "250 2.0.0 Ok: queued as ")
        for s in (first, data, bdat):
            s.expect("QUIT", "221 ")
            s.close()
    finally:
        smtp_close(inst)


# ---- bare LF in command lines ------------------------------------------------------------

def test_bare_lf_command_lines_refused():
    inst = smtp_install(tls=False)
    try:
        # Before EHLO: no enhanced status code (RFC 2034); one reply, then the end.
        s = Session(inst.port("smtp"))
        s.expect(None, "220 ")
        s.send(b"EHLO c\nMAIL FROM:<a@r>\nRCPT TO:<bob@example.test>\nRSET\r\n")
        assert s.reply() == "500 Error: bare <LF> received"
        assert s.closed()
        # After EHLO, pipelined: the commands before it are answered.
        s = Session(inst.port("smtp"))
        s.expect(None, "220 ")
        s.send(b"EHLO c\r\nNOOP\r\nNOOP\nQUIT\r\n")
        assert s.reply().startswith("250-%s\r\n" % HOST)
        assert s.reply() == "250 2.0.0 Ok"
        assert s.reply() == "500 5.5.2 Error: bare <LF> received"
        assert s.closed()
        # A bare CR inside a line is not a line end: the line is refused.
        with connect(inst) as s:
            s.expect(b"NOOP a\rb", "500 5.5.2 ")
            s.expect(b"NOOP", "250 2.0.0 Ok")
        # Message data is another matter: normalised, never an end (test_smtp_errors.py).
        assert "bare_lf state=init" in inst.log("smtpd")
    finally:
        smtp_close(inst)


def test_bare_lf_in_sasl_response_refused():
    inst = smtp_install(tls=False, allow_plaintext_auth="yes")
    try:
        s = Session(inst.port("submission"))
        s.expect(None, "220 ")
        s.expect("EHLO c", "250-")
        s.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
        s.send(base64.b64encode(ALICE.encode()) + b"\n")
        assert s.reply() == "500 5.5.2 Error: bare <LF> received"
        assert s.closed()
    finally:
        smtp_close(inst)
