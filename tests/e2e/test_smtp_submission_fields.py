"""Date: and Message-ID: on submitted mail, seen the way users see it:
sent with Python's smtplib (STARTTLS + AUTH on submission, implicit TLS on
smtps, nothing on the MX) or a byte-exact BDAT session, and fetched with
poplib. smtpd adds each field only when an authenticated client's message
lacks it (RFC 6409 8.2, 8.3), at the end of the header section, and
leaves every other octet of the message as sent; on the MX it adds
nothing. The added octets are stored and counted in the POP3 size, but
not against max_message_size, like the Received: trace on top.
(test_smtp_headers.py reads the same from the database.)"""

import base64
import datetime
import email.parser
import email.policy
import email.utils
import poplib
import re
import smtplib

import pytest

from smtptest import USERS, Session, client_tls_context, smtp_close, smtp_install

ALICE = "alice@example.test"
BOB = "bob@example.test"
HOST = "mx.example.test"
MAX_SIZE = 4096
# The fields smtpd adds, whole lines; group 1 is the date, 2 the queue id.
ADDED_RE = (rb"Date: ([^\r\n]+)\r\n"
            rb"Message-ID: <\d{14}\.(\d+)\.[0-9a-f]{16}@mx\.example\.test>\r\n")
# Return-Path and Received, which smtpd puts on top of every message.
TRACE_RE = rb"Return-Path: <[^>]*>\r\nReceived: (?:[^\r]*\r\n\t)*[^\r]*\r\n"


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install(max_message_size=MAX_SIZE)
    try:
        inst.pop3d = inst.start("pop3d")
    except BaseException:
        smtp_close(inst)
        raise
    yield inst
    try:
        assert inst.stop(inst.pop3d) == 0
    finally:
        smtp_close(inst)


def fetch(inst, user=BOB):
    """Every message in user's mailbox through poplib over pop3s, deleted
    after: [(bytes as served, the size LIST announced)]."""
    pop = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"), context=client_tls_context(),
                          timeout=10)
    try:
        pop.user(user)
        pop.pass_(USERS[user])
        _, listing, _ = pop.list()
        out = []
        for entry in listing:
            num, size = entry.split()
            _, lines, _ = pop.retr(int(num))
            out.append((b"\r\n".join(lines) + b"\r\n", int(size)))
            pop.dele(int(num))
    finally:
        pop.quit()
    return out


def fetch_one(inst, user=BOB):
    [(m, size)] = fetch(inst, user)
    assert size == len(m), (size, len(m))  # the stored size counts every octet served
    return m


def smtp_client(inst, listener):
    """smtplib, logged in as alice on the submission listeners."""
    if listener == "smtps":
        smtp = smtplib.SMTP_SSL("127.0.0.1", inst.port("smtps"), context=client_tls_context(),
                                timeout=10)
    else:
        smtp = smtplib.SMTP("127.0.0.1", inst.port(listener), timeout=10)
    smtp.ehlo("laptop.test")
    if listener == "submission":
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("laptop.test")
    if listener != "smtp":
        smtp.login(ALICE, USERS[ALICE])
    return smtp


def send(inst, data, listener="submission", sender=ALICE):
    """One message to bob; returns its queue id."""
    with smtp_client(inst, listener) as smtp:
        assert smtp.mail(sender)[0] == 250
        assert smtp.rcpt(BOB)[0] == 250
        code, reply = smtp.data(data)
    assert code == 250, reply
    m = re.fullmatch(rb"2\.0\.0 Ok: queued as (\d+)", reply)
    assert m, reply
    return m.group(1)


def strip_trace(m):
    """The message without smtpd's Return-Path and Received on top."""
    trace = re.match(TRACE_RE, m)
    assert trace, m
    return m[trace.end():]


def check_added(stored, sent, qid):
    """stored is sent with Date and Message-ID added right before the end of
    its header section, and nothing else changed; returns the Date value."""
    head, sep, body = sent.partition(b"\r\n\r\n")
    got = re.fullmatch(re.escape(head + b"\r\n") + ADDED_RE + re.escape(b"\r\n" + body),
                       strip_trace(stored), re.S)
    assert got and sep, stored
    assert got.group(2) == qid  # unique in the store; the random part beyond it
    return got.group(1).decode()


def check_date(value):
    when = email.utils.parsedate_to_datetime(value)
    assert when.tzinfo is not None, value  # an RFC 5322 zone, not "-0000"
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 300, value


BARE = (b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
        b"Subject: bare %s\r\nX-Folded: one\r\n\ttwo\r\n\r\n"
        b"Date: not a header, this is the body\r\nMessage-ID: <body@text>\r\n\r\nbye\r\n")


@pytest.mark.parametrize("listener", ["submission", "smtps"])
def test_both_added_once(inst, listener):
    sent = BARE.replace(b"%s", listener.encode())
    qid = send(inst, sent, listener)
    m = fetch_one(inst)
    check_date(check_added(m, sent, qid))
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(m)
    assert len(msg.get_all("Date")) == 1 and len(msg.get_all("Message-ID")) == 1
    assert re.fullmatch(r"<\d{14}\.%s\.[0-9a-f]{16}@%s>" % (qid.decode(), re.escape(HOST)),
                        msg["Message-ID"]), msg["Message-ID"]
    assert msg["Date"].datetime == email.utils.parsedate_to_datetime(msg["Date"])


def test_message_ids_are_unique(inst):
    ids = set()
    for n in range(3):
        send(inst, b"Subject: unique %d\r\n\r\nx\r\n" % n)
    for m, _ in fetch(inst):
        [mid] = re.findall(rb"\r\nMessage-ID: (<[^>]+>)\r\n", m)
        ids.add(mid)
    assert len(ids) == 3, ids


@pytest.mark.parametrize("sent", [
    b"Subject: both\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <own@laptop>\r\n"
    b"\r\nbody\r\n",
    b"message-id: <lower@laptop>\r\nSubject: lower\r\ndate: Thu, 1 Jan 2026 00:00:00 +0100\r\n"
    b"\r\nbody\r\n",
    b"MESSAGE-ID:\r\n <folded@laptop>\r\nDATE:\r\n\tThu, 1 Jan 2026 00:00:00 +0000\r\n\r\nx\r\n",
    b"Subject: no body\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-Id: <nb@laptop>\r\n",
], ids=["both", "lower-case", "folded", "no-body"])
def test_present_fields_leave_the_message_unchanged(inst, sent):
    send(inst, sent)
    assert strip_trace(fetch_one(inst)) == sent


def test_only_the_missing_one_is_added(inst):
    sent = b"Subject: has id\r\nmessage-id: <lower@laptop>\r\n\r\nbody\r\n"
    send(inst, sent)
    m = strip_trace(fetch_one(inst))
    got = re.fullmatch(rb"Subject: has id\r\nmessage-id: <lower@laptop>\r\n"
                       rb"Date: ([^\r\n]+)\r\n\r\nbody\r\n", m)
    assert got, m
    check_date(got.group(1).decode())


def test_nothing_added_on_the_mx(inst):
    sent = BARE.replace(b"%s", b"mx")
    send(inst, sent, "smtp", sender="far@remote.test")
    m = fetch_one(inst)
    assert m.startswith(b"Return-Path: <far@remote.test>\r\nReceived: ")
    assert b" with ESMTP id " in m
    assert strip_trace(m) == sent


def bdat_session(inst):
    s = Session(inst.port("submission"))
    s.expect(None, "220 ")
    s.expect("EHLO laptop.test", "250-")
    s.expect("STARTTLS", "220 ")
    s.starttls()
    s.expect("EHLO laptop.test", "250-")
    token = base64.b64encode(("\0%s\0%s" % (ALICE, USERS[ALICE])).encode()).decode()
    s.expect("AUTH PLAIN " + token, "235 ")
    s.expect("MAIL FROM:<%s>" % ALICE, "250 ")
    s.expect("RCPT TO:<%s>" % BOB, "250 ")
    return s


def send_chunks(inst, chunks):
    """One message in BDAT chunks, the last with LAST; returns its queue id."""
    with bdat_session(inst) as s:
        for c in chunks[:-1]:
            s.chunk(b"BDAT %d\r\n" % len(c) + c, "250 2.0.0 Ok: ")
        reply = s.chunk(b"BDAT %d LAST\r\n" % len(chunks[-1]) + chunks[-1],
                        "250 2.0.0 Ok: queued as ")
        s.expect("QUIT", "221 ")
    return re.fullmatch(r"250 2\.0\.0 Ok: queued as (\d+)", reply).group(1).encode()


def test_bdat_split_inside_the_names(inst):
    # The chunks cut the field names, the CRLF and the empty line.
    present = [b"Subject: bdat present\r\nMess", b"age-I", b"D: <own@laptop>\r\nda",
               b"te: Thu, 1 Jan 2026 00:00:00 +0000\r", b"\n\r", b"\nbody\r\n"]
    send_chunks(inst, present)
    assert strip_trace(fetch_one(inst)) == b"".join(present)

    missing = [b"Subject: bdat missing\r\nX-Mess", b"age-ID: <not@it>\r\nX-Dat", b"e: no\r",
               b"\n", b"\r\nDate: body\r\n", b""]
    qid = send_chunks(inst, missing)
    check_date(check_added(fetch_one(inst), b"".join(missing), qid))


def test_bdat_headers_only_without_line_end(inst):
    # No empty line, no body, not even a last CRLF: the stored form gets its
    # CRLF (smtp_data.h), then the fields.
    qid = send_chunks(inst, [b"Subject: bdat open\r\nTo: bob@exa", b"mple.test"])
    m = strip_trace(fetch_one(inst))
    got = re.fullmatch(rb"Subject: bdat open\r\nTo: bob@example\.test\r\n" + ADDED_RE, m)
    assert got and got.group(2) == qid, m


def test_added_octets_not_counted_against_max_message_size(inst):
    # Exactly max_message_size octets from the client: accepted, and stored
    # with the trace and the added fields on top of them.
    body = (b"x" * 78 + b"\r\n") * 60
    sent = b"Subject: at the limit\r\n\r\n" + body
    sent = sent[:MAX_SIZE - 2] + b"\r\n"
    assert len(sent) == MAX_SIZE
    qid = send(inst, sent)
    m = fetch_one(inst)
    check_added(m, sent, qid)
    assert len(m) > MAX_SIZE + 100
    # One octet more is too big, with or without the fields to add.
    with smtp_client(inst, "submission") as smtp:
        smtp.mail(ALICE)
        smtp.rcpt(BOB)
        code, reply = smtp.data(sent[:-2] + b"y\r\n")
    assert (code, reply) == (552, b"5.3.4 Error: message size exceeds fixed limit")
    assert fetch(inst) == []
