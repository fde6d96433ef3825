"""smtpd with real SMTP clients: Python's smtplib, curl and swaks, over the
MX, submission (STARTTLS) and smtps (implicit TLS) listeners. Every message
is looked up in the store afterwards by a unique subject."""

import shutil
import smtplib
import subprocess
import uuid

import pytest

from smtptest import (ALIAS, USERS, Session, client_tls_context, smtp_close, smtp_install,
                      stored)

ALICE = "alice@example.test"
BOB = "bob@example.test"
REMOTE = "carol@remote.test"


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install()
    yield inst
    smtp_close(inst)


def unique(tag):
    return "%s-%s" % (tag, uuid.uuid4().hex[:12])


def message(subject, body="Hello.\r\n", sender=ALICE, to=BOB):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s"
            % (sender, to, subject, subject, body))


def find(inst, mailbox, subject):
    """The stored messages of `mailbox` whose Subject is `subject`."""
    want = ("Subject: %s\r\n" % subject).encode()
    return [m for m in stored(inst.db).get(mailbox, []) if want in m]


def find_queued(inst, recipient, subject):
    want = ("Subject: %s\r\n" % subject).encode()
    return [q for q in stored(inst.db)["queue"] if q[1] == recipient and want in q[2]]


# ---- smtplib ---------------------------------------------------------------

def test_mx_plain_delivery(inst):
    subject = unique("mx")
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=10) as smtp:
        code, ehlo = smtp.ehlo("client.remote.test")
        assert code == 250
        for keyword in (b"PIPELINING", b"SIZE 26214400", b"8BITMIME", b"ENHANCEDSTATUSCODES",
                        b"CHUNKING", b"SMTPUTF8", b"STARTTLS"):
            assert keyword in ehlo.split(b"\n")
        assert b"AUTH" not in ehlo  # never on the MX listener
        refused = smtp.sendmail("someone@remote.test", [BOB], message(subject, sender="x@r.test"))
        assert refused == {}
    [m] = find(inst, BOB, subject)
    assert m.startswith(b"Return-Path: <someone@remote.test>\r\nReceived: from client.remote.test"
                        b" ([127.0.0.1])\r\n\tby mx.example.test with ESMTP id ")
    assert m.endswith(b"\r\n\r\nHello.\r\n")


def test_submission_starttls_auth_plain(inst):
    subject = unique("sub")
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=10) as smtp:
        smtp.ehlo("laptop.test")
        assert not smtp.has_extn("auth")  # no AUTH before TLS
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("laptop.test")
        assert smtp.has_extn("auth") and not smtp.has_extn("starttls")
        assert smtp.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        smtp.login(ALICE, USERS[ALICE])  # picks PLAIN
        assert smtp.sendmail(ALICE, [BOB, REMOTE], message(subject, to=BOB)) == {}
    [m] = find(inst, BOB, subject)
    # received_auth_header = no (the default): the login is not named.
    assert b"with ESMTPSA id" in m and b"authenticated as" not in m
    assert b"\t(TLSv1." in m
    [(sender, _, _)] = find_queued(inst, REMOTE, subject)
    assert sender == ALICE


def test_submission_auth_login_and_alias_sender(inst):
    subject = unique("login")
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("laptop.test")
        smtp.user, smtp.password = ALICE, USERS[ALICE]
        code, _ = smtp.auth("LOGIN", smtp.auth_login, initial_response_ok=False)
        assert code == 235
        assert smtp.sendmail(ALIAS, [BOB], message(subject, sender=ALIAS)) == {}
    [m] = find(inst, BOB, subject)
    assert m.startswith(b"Return-Path: <sales@example.test>\r\n")


def test_smtps_implicit_tls(inst):
    subject = unique("smtps")
    with smtplib.SMTP_SSL("127.0.0.1", inst.port("smtps"), timeout=10,
                          context=client_tls_context()) as smtp:
        smtp.ehlo("laptop.test")
        assert smtp.has_extn("auth") and not smtp.has_extn("starttls")
        smtp.login(BOB, USERS[BOB])
        assert smtp.sendmail(BOB, [ALICE], message(subject, sender=BOB, to=ALICE)) == {}
    [m] = find(inst, ALICE, subject)
    assert b"with ESMTPSA" in m


def test_8bit_and_smtputf8(inst):
    subject_8bit = unique("8bit")
    subject_utf8 = unique("utf8")
    body = "Grüße, ça va? — ✓\r\n"
    sender = "dörte@exämple-remote.test"
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=10) as smtp:
        smtp.ehlo("client.test")
        msg = message(subject_8bit, body=body, sender="x@remote.test").encode("utf-8")
        assert smtp.sendmail("x@remote.test", [BOB], msg, mail_options=["BODY=8BITMIME"]) == {}
        msg = message(subject_utf8, body=body, sender=sender).encode("utf-8")
        assert smtp.sendmail(sender, [BOB], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
        # A UTF-8 address needs SMTPUTF8 (RFC 6531 3.5) ...
        code, _ = smtp.mail(sender)
        assert code == 553
        # ... and with it, an unknown UTF-8 local user is simply unknown.
        smtp.rset()
        assert smtp.mail(sender, ["SMTPUTF8"])[0] == 250
        assert smtp.rcpt("jösé@example.test")[0] == 550
        smtp.rset()
    [m] = find(inst, BOB, subject_8bit)
    assert m.endswith(body.encode("utf-8"))
    [m] = find(inst, BOB, subject_utf8)
    assert m.startswith(("Return-Path: <%s>\r\n" % sender).encode("utf-8"))
    assert b"with UTF8SMTP id" in m


def test_one_hundred_recipients_then_452(inst):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=10) as smtp:
        smtp.ehlo("client.test")
        assert smtp.mail("x@remote.test")[0] == 250
        for i in range(100):
            assert smtp.rcpt(BOB if i % 2 else ALICE)[0] == 250
        code, text = smtp.rcpt(BOB)
        assert (code, text) == (452, b"4.5.3 Error: too many recipients")
        smtp.rset()


def test_raw_pipelining(inst):
    subject = unique("pipe")
    with Session(inst.port("smtp")) as s:
        s.expect(None, "220 ")
        s.expect("EHLO client.test", "250-")
        s.send("MAIL FROM:<x@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               "RCPT TO:<nobody@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        assert s.reply() == "250 2.1.0 Ok"
        assert s.reply() == "250 2.1.5 Ok"
        assert s.reply().startswith("550 5.1.1 <nobody@example.test>")
        assert s.reply() == "250 2.1.5 Ok"
        assert s.reply() == "354 End data with <CR><LF>.<CR><LF>"
        s.send(message(subject) + ".\r\nMAIL FROM:<y@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               "BDAT 5 LAST\r\nhelloQUIT\r\n")
        assert s.reply().startswith("250 2.0.0 Ok: queued as ")
        assert s.reply() == "250 2.1.0 Ok"
        assert s.reply() == "250 2.1.5 Ok"
        assert s.reply().startswith("250 2.0.0 Ok: queued as ")
        assert s.reply() == "221 2.0.0 Bye"
    assert len(find(inst, BOB, subject)) == 1
    assert len(find(inst, ALICE, subject)) == 1
    # The BDAT message: trace fields, the empty line before a body without
    # fields, then the chunk with its last line ended (RFC 3030).
    assert any(m.startswith(b"Return-Path: <y@remote.test>\r\n") and
               m.endswith(b" +0000\r\n\r\nhello\r\n")
               for m in stored(inst.db)[BOB])


# ---- curl --------------------------------------------------------------------

def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_curl_submission(inst, tmp_path, scheme):
    subject = unique("curl-" + scheme)
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(subject).encode())
    port = inst.port("submission" if scheme == "smtp" else "smtps")
    p = run(["curl", "-sS", "-k", "--ssl-reqd", "-u", "%s:%s" % (ALICE, USERS[ALICE]),
             "--mail-from", ALICE, "--mail-rcpt", BOB, "-T", str(eml),
             "%s://127.0.0.1:%d" % (scheme, port)])
    assert p.returncode == 0, p.stderr
    assert len(find(inst, BOB, subject)) == 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_mx(inst, tmp_path):
    subject = unique("curl-mx")
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(subject).encode())
    p = run(["curl", "-sS", "--mail-from", "x@remote.test", "--mail-rcpt", BOB, "-T", str(eml),
             "smtp://127.0.0.1:%d" % inst.port("smtp")])
    assert p.returncode == 0, p.stderr
    assert len(find(inst, BOB, subject)) == 1


# ---- swaks -------------------------------------------------------------------

SWAKS_CASES = {
    "plain": ("smtp", []),
    "pipeline": ("smtp", ["--pipeline"]),
    "starttls-auth": ("submission", ["-tls", "-a", "PLAIN", "-au", ALICE, "-ap", USERS[ALICE]]),
    "starttls-auth-login": ("submission", ["-tls", "-a", "LOGIN", "-au", ALICE,
                                           "-ap", USERS[ALICE], "--pipeline"]),
    "tls-on-connect": ("smtps", ["--tls-on-connect", "-a", "PLAIN", "-au", ALICE,
                                 "-ap", USERS[ALICE]]),
}


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks not installed")
@pytest.mark.parametrize("case", sorted(SWAKS_CASES))
def test_swaks(inst, case):
    listener, extra = SWAKS_CASES[case]
    subject = unique("swaks-" + case)
    sender = ALICE if listener != "smtp" else "x@remote.test"
    p = run(["swaks", "-s", "127.0.0.1", "-p", str(inst.port(listener)), "-f", sender, "-t", BOB,
             "--helo", "client.test", "--header", "Subject: %s" % subject] + extra)
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(find(inst, BOB, subject)) == 1
