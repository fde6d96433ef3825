"""smtpd's error paths, byte for byte: sequence and syntax errors, limits,
relay attempts, AUTH failures, STARTTLS injection, DATA smuggling, BDAT,
the error limit, the idle timeout, shutdown and store failures.

Replies carry enhanced status codes (RFC 3463) only after EHLO (RFC 2034);
after HELO, before any greeting and right after STARTTLS they do not."""

import base64
import signal
import socket
import time

import pytest

from smtptest import (USERS, Session, client_tls_context, smtp_close, smtp_install,
                      stored)

ALICE = "alice@example.test"
BOB = "bob@example.test"
HOST = "mx.example.test"
MAX_SIZE = 2048


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install(max_message_size=MAX_SIZE, auth_failure_delay_ms=200)
    yield inst
    smtp_close(inst)


def connect(inst, listener="smtp", ehlo=True):
    s = Session(inst.port(listener))
    s.expect(None, "220 %s ESMTP ready" % HOST)
    if ehlo:
        s.expect("EHLO client.test", "250-%s\r\n250-PIPELINING" % HOST)
    return s


def b64(data):
    return base64.b64encode(data.encode()).decode()


def login(s, user=ALICE, password=None):
    s.expect("AUTH PLAIN " + b64("\0%s\0%s" % (user, password or USERS[user])),
             "235 2.7.0 Authentication successful")


def submission(inst, authenticated=False):
    """A submission session after STARTTLS and EHLO (and AUTH)."""
    s = connect(inst, "submission")
    s.expect("STARTTLS", "220 2.0.0 Ready to start TLS")
    s.starttls()
    s.expect("EHLO client.test", "250-%s" % HOST)
    if authenticated:
        login(s)
    return s


def mailbox_has(inst, mailbox, needle):
    return [m for m in stored(inst.db).get(mailbox, []) if needle in m]


# ---- sequence and syntax ---------------------------------------------------

def test_no_enhanced_codes_before_ehlo_and_after_helo(inst):
    with connect(inst, ehlo=False) as s:
        s.expect("MAIL FROM:<a@remote.test>", "503 Error: send HELO/EHLO first")
        s.expect("RCPT TO:<bob@example.test>", "503 Error: send HELO/EHLO first")
        s.expect("DATA", "503 Error: send HELO/EHLO first")
        s.expect("HELO client.test", "250 %s" % HOST)
        s.expect("MAIL FROM:<a@remote.test>", "250 Ok")
        s.expect("RCPT TO:<bob@example.test>", "250 Ok")
        s.expect("RSET", "250 Ok")
        s.expect("NOOP", "250 Ok")
        s.expect("QUIT", "221 Bye")
        assert s.closed()


SEQUENCE = [
    ("RCPT TO:<bob@example.test>", "503 5.5.1 Error: need MAIL command"),
    ("DATA", "503 5.5.1 Error: need MAIL command"),
    ("MAIL FROM:<a@remote.test>", "250 2.1.0 Ok"),
    ("DATA", "503 5.5.1 Error: need RCPT command"),
    ("MAIL FROM:<a@remote.test>", "503 5.5.1 Error: nested MAIL command"),
    ("RCPT TO:<nobody@example.test>",
     "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown"),
    ("DATA", "554 5.5.1 Error: no valid recipients"),
    ("RSET", "250 2.0.0 Ok"),
    ("AUTH PLAIN", "503 5.5.1 Error: authentication not enabled"),
    ("STARTTLS x", "501 5.5.4"),
    ("VRFY bob", "252 2.5.2 "),
    ("EXPN staff", "502 5.5.1 Error: command not implemented"),
    ("HELP", "214 2.0.0 "),
    ("NOOP", "250 2.0.0 Ok"),
    ("FOO bar", "500 5.5.1 "),
    ("VRFY", "501 5.5.4 "),
    ("DATA now", "501 5.5.4 "),
    ("EHLO", "501 5.5.4 "),
    ("NOOP \x01", "500 5.5.2 "),
    ("QUIT", "221 2.0.0 Bye"),
]


def test_sequence_and_syntax_replies(inst):
    with connect(inst) as s:
        for line, want in SEQUENCE:
            s.expect(line, want)
        assert s.closed()


PARAMETERS = [
    ("MAIL FROM:<a@remote.test> FOO=bar", "555 5.5.4 "),
    ("MAIL FROM:<a@remote.test> BODY=BINARYMIME", "555 5.5.4 "),
    # AUTH= belongs to the AUTH extension, which the MX listener does not offer.
    ("MAIL FROM:<a@remote.test> AUTH=<>", "555 5.5.4 "),
    ("MAIL FROM:<a@remote.test> SIZE=%d" % (MAX_SIZE + 1),
     "552 5.3.4 Error: message size exceeds fixed limit"),
    ("MAIL FROM:<a@remote.test> SIZE=99999999999999999999999", "501 5.5.4 "),
    ("MAIL FROM:a@remote.test", "501 5."),
    ("MAIL FROM:<a@remote.test> SIZE=%d BODY=8BITMIME SMTPUTF8" % MAX_SIZE, "250 2.1.0 Ok"),
    ("RCPT TO:<bob@example.test> NOTIFY=NEVER", "555 5.5.4 "),
    ("RCPT TO:<>", "553 5.1.3 "),
    ("RSET", "250 2.0.0 Ok"),
    ("MAIL FROM:<a@remote.test>", "250 2.1.0 Ok"),
    ("RCPT TO:<b\xf6b@example.test>", "553 5.6.7 "),  # UTF-8 without SMTPUTF8 on MAIL
]


def test_mail_and_rcpt_parameters(inst):
    with connect(inst) as s:
        for line, want in PARAMETERS:
            if isinstance(line, str) and "\xf6" in line:
                line = line.encode("utf-8")
            s.expect(line, want)


def test_line_too_long(inst):
    with connect(inst) as s:
        # RFC 5321 4.5.3.1.4: 512 octets with CRLF.
        s.expect("NOOP " + "x" * 505, "250 2.0.0 Ok")
        s.expect("NOOP " + "x" * 506, "500 5.5.2 ")
        # Longer than any line we buffer (the AUTH limit, RFC 4954 4).
        s.expect("NOOP " + "x" * 20000, "500 5.5.2 ")
        s.expect("NOOP", "250 2.0.0 Ok")


# ---- relaying --------------------------------------------------------------

RELAY = [
    ("<carol@remote.test>", "554 5.7.1 <carol@remote.test>: Relay access denied"),
    # Percent hack and bang path: the local part is taken literally.
    ("<carol%remote.test@example.test>", "550 5.1.1 "),
    ("<remote.test!carol@example.test>", "550 5.1.1 "),
    # Source route: ignored (RFC 5321 C), so it is a remote address.
    ("<@example.test:carol@remote.test>", "554 5.7.1 <carol@remote.test>: Relay access denied"),
    ('<"carol@remote.test"@example.test>', "550 5.1.1 "),
    ("<carol@[127.0.0.1]>", "554 5.7.1 "),
    ("<carol@[IPv6:::1]>", "554 5.7.1 "),
    ("<nobody@example.test>", "550 5.1.1 <nobody@example.test>: Recipient address rejected"),
]


def test_relay_attempts_refused(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<spammer@remote.test>", "250 2.1.0 Ok")
        for rcpt, want in RELAY:
            s.expect("RCPT TO:%s" % rcpt, want)
        s.expect("DATA", "554 5.5.1 Error: no valid recipients")
    assert not [q for q in stored(inst.db)["queue"] if q[0] == "spammer@remote.test"]


def test_null_sender_and_postmaster_on_mx(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<postmaster>", "250 2.1.5 Ok")
        s.expect("RCPT TO:<Postmaster@example.test>", "250 2.1.5 Ok")
        s.expect("DATA", "354 ")
        s.expect("Subject: bounce-to-postmaster\r\n\r\nbounce\r\n.", "250 2.0.0 Ok: queued as ")
    [m] = mailbox_has(inst, ALICE, b"Subject: bounce-to-postmaster\r\n")
    assert m.startswith(b"Return-Path: <>\r\n")


# ---- submission and AUTH -----------------------------------------------------

def test_submission_before_tls(inst):
    with connect(inst, "submission", ehlo=False) as s:
        reply = s.expect("EHLO client.test", "250-%s" % HOST)
        assert "STARTTLS" in reply and "AUTH" not in reply
        s.expect("MAIL FROM:<alice@example.test>", "530 5.7.0 Authentication required")
        s.expect("AUTH PLAIN " + b64("\0%s\0%s" % (ALICE, USERS[ALICE])),
                 "538 5.7.11 Encryption required for requested authentication mechanism")


def test_auth_exchange_errors_and_failure_cap(inst):
    with submission(inst) as s:
        s.expect("AUTH CRAM-MD5", "504 5.5.4 ")
        s.expect("AUTH PLAIN", "334 ")
        s.expect("*", "501 5.0.0 Authentication cancelled")
        s.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
        s.expect("!!!!", "501 5.5.2 ")
        s.expect("AUTH LOGIN " + b64(ALICE), "334 UGFzc3dvcmQ6")
        s.expect("*", "501 5.0.0 Authentication cancelled")
        s.expect("AUTH PLAIN", "334 ")
        s.expect("A" * 13000, "500 5.5.6 Authentication exchange line is too long")
        start = time.monotonic()
        # authzid must be the user itself (failure 1) ...
        s.expect("AUTH PLAIN " + b64("%s\0%s\0%s" % (BOB, ALICE, USERS[ALICE])),
                 "535 5.7.8 Error: authentication credentials invalid")
        assert time.monotonic() - start >= 0.15  # auth_failure_delay_ms = 200, less timer slack
        # ... a wrong password (failure 2), an unknown user (failure 3: the cap).
        s.expect("AUTH PLAIN " + b64("\0%s\0wrong" % ALICE), "535 5.7.8 ")
        s.expect("AUTH LOGIN", "334 VXNlcm5hbWU6")
        s.expect(b64("nobody@example.test"), "334 UGFzc3dvcmQ6")
        s.expect(b64("whatever"),
                 "421 4.7.0 %s Error: too many authentication failures" % HOST)
        assert s.closed()


def test_auth_sender_rules(inst):
    with submission(inst) as s:
        s.expect("MAIL FROM:<alice@example.test>", "530 5.7.0 Authentication required")
        login(s)
        s.expect("AUTH PLAIN " + b64("\0%s\0%s" % (ALICE, USERS[ALICE])),
                 "503 5.5.1 Error: already authenticated")
        s.expect("MAIL FROM:<bob@example.test>", "553 5.7.1 ")
        s.expect("MAIL FROM:<someone@remote.test>", "553 5.7.1 ")
        s.expect("MAIL FROM:<>", "553 5.7.1 ")
        s.expect("MAIL FROM:<sales@example.test> AUTH=<>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<carol@remote.test>", "250 2.1.5 Ok")  # relaying, authenticated
        s.expect("RSET", "250 2.0.0 Ok")
        s.expect("MAIL FROM:<alice@EXAMPLE.test>", "250 2.1.0 Ok")  # domains are case-blind


def test_refusals_whole_lines(inst):
    """Refusals come from one table (smtpd/smtp_refusal.c): its shape may
    change, the bytes on the wire may not. Whole replies here, for the
    ones the other tests check by prefix only."""
    def exact(s, line, want):
        s.send(line + "\r\n")
        got = s.reply()
        assert got == want, "after %r: got %r, want %r" % (line, got, want)

    with connect(inst) as s:
        exact(s, "MAIL FROM:<a@remote.test>", "250 2.1.0 Ok")
        exact(s, "STARTTLS", "503 5.5.1 Error: MAIL transaction in progress")
        exact(s, "RCPT TO:<carol@remote.test>", "554 5.7.1 <carol@remote.test>: Relay access denied")
        # The address quoted as parsed: local part as sent, domain in lower case.
        exact(s, "RCPT TO:<Nobody@Example.test>",
              "550 5.1.1 <Nobody@example.test>: Recipient address rejected: User unknown")
    with submission(inst, authenticated=True) as s:
        exact(s, "MAIL FROM:<bob@example.test>",
              "553 5.7.1 Error: sender address not owned by the authenticated user")
        exact(s, "MAIL FROM:<>", "553 5.7.1 Error: null sender not allowed for authenticated users")


# ---- STARTTLS ----------------------------------------------------------------

def test_starttls_injection_and_second_starttls(inst):
    with connect(inst, "submission") as s:
        # RSET must die with the plaintext buffer (RFC 3207 5, CVE-2011-0411).
        s.send("STARTTLS\r\nRSET\r\n")
        s.expect(None, "220 2.0.0 Ready to start TLS")
        s.starttls()
        # No EHLO yet after the upgrade: no enhanced codes, and the first
        # reply we see is to this NOOP, not to the injected RSET.
        s.expect("NOOP", "250 Ok")
        s.expect("MAIL FROM:<alice@example.test>", "503 Error: send HELO/EHLO first")
        s.expect("EHLO client.test", "250-%s" % HOST)
        s.expect("STARTTLS", "503 5.5.1 Error: TLS already active")


def test_starttls_on_smtps_refused(inst):
    with Session(inst.port("smtps")) as s:
        s.sock = client_tls_context().wrap_socket(s.sock)
        s.expect(None, "220 %s" % HOST)
        reply = s.expect("EHLO client.test", "250-")
        assert "STARTTLS" not in reply and "AUTH PLAIN LOGIN" in reply
        s.expect("STARTTLS", "503 5.5.1 Error: TLS already active")


# ---- DATA ------------------------------------------------------------------------

SMUGGLING = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\r\n.\r\r\n",
             b"\r\n.\x00\r\n", b"\r\n .\r\n"]


@pytest.mark.parametrize("variant", SMUGGLING, ids=[repr(v) for v in SMUGGLING])
def test_data_smuggling(inst, variant):
    tag = ("smuggle-%d" % SMUGGLING.index(variant)).encode()
    evil = b"evil-" + tag
    with connect(inst) as s:
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        s.expect("DATA", "354 ")
        s.send(b"Subject: " + tag + b"\r\n\r\nbefore" + variant +
               b"MAIL FROM:<" + evil + b"@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nx\r\n.\r\n")
        s.expect(None, "250 2.0.0 Ok: queued as ")
        # Had the data ended early, this would be the reply to the smuggled MAIL.
        s.expect("QUIT", "221 2.0.0 Bye")
    msgs = stored(inst.db)[BOB]
    [m] = [m for m in msgs if b"Subject: " + tag + b"\r\n" in m]
    assert b"MAIL FROM:<" + evil + b"@remote.test>\r\n" in m
    assert not [m for m in msgs if m.startswith(b"Return-Path: <" + evil)]


def test_data_line_endings_and_dot_unstuffing(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        s.expect("DATA", "354 ")
        s.send(b"Subject: endings\n\nbare lf\nbare cr\rcrlf\r\n..dot\r\n.\r\n")
        s.expect(None, "250 2.0.0 Ok")
    [m] = mailbox_has(inst, BOB, b"Subject: endings\r\n")
    assert m.endswith(b"\r\nSubject: endings\r\n\r\nbare lf\r\nbare cr\r\ncrlf\r\n.dot\r\n")


def test_data_too_big(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        s.expect("DATA", "354 ")
        s.send("Subject: too-big\r\n\r\n" + ("x" * 70 + "\r\n") * 40 + ".\r\nNOOP\r\n")
        s.expect(None, "552 5.3.4 Error: message size exceeds fixed limit")
        s.expect(None, "250 2.0.0 Ok")  # the NOOP after the terminator
        s.expect("RCPT TO:<bob@example.test>", "503 5.5.1 Error: need MAIL command")
    assert not mailbox_has(inst, BOB, b"Subject: too-big\r\n")


# ---- BDAT --------------------------------------------------------------------------

def test_bdat_chunks(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        s.send(b"BDAT 29\r\nSubject: bdat-chunks\r\n\r\nhello")
        s.expect(None, "250 2.0.0 Ok: 29 octets")
        s.expect("RCPT TO:<alice@example.test>", "503 5.5.1 Error: RCPT after BDAT")
        s.expect("DATA", "503 5.5.1 Error: DATA after BDAT")
        s.send(b"BDAT 8\r\n\nworld\r\n")
        s.expect(None, "250 2.0.0 Ok: ")
        s.expect("BDAT 0 LAST", "250 2.0.0 Ok: queued as ")
    [m] = mailbox_has(inst, BOB, b"Subject: bdat-chunks\r\n")
    assert m.endswith(b"\r\nSubject: bdat-chunks\r\n\r\nhello\r\nworld\r\n")


def test_bdat_refused_chunks_are_still_read(inst):
    commands = b"NOOP\r\n" * 10  # 60 octets that must never run as commands
    with connect(inst, ehlo=False) as s:
        s.chunk(b"BDAT 60\r\n" + commands, "503 Error: send HELO/EHLO first")
        s.expect("EHLO client.test", "250-")
        s.chunk(b"BDAT 60 LAST\r\n" + commands, "503 5.5.1 Error: need MAIL command")
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.chunk(b"BDAT 60\r\n" + commands, "503 5.5.1 Error: need RCPT command")
        s.expect("RCPT TO:<nobody@example.test>", "550 ")
        s.chunk(b"BDAT 60\r\n" + commands, "554 5.5.1 Error: no valid recipients")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        big = (b"NOOP\r\n" * 600)[:MAX_SIZE + 100]
        s.chunk(b"BDAT %d LAST\r\n" % len(big) + big,
                "552 5.3.4 Error: message size exceeds fixed limit")
        s.expect("NOOP", "250 2.0.0 Ok")
        # Over the limit across chunks.
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.expect("RCPT TO:<bob@example.test>", "250 ")
        s.chunk(b"BDAT 2000\r\n" + b"y" * 2000, "250 2.0.0 Ok: 2000 octets")
        s.chunk(b"BDAT 100 LAST\r\n" + b"y" * 100, "552 5.3.4 ")
        s.expect("NOOP", "250 2.0.0 Ok")


def test_bdat_bad_size_hangs_up(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<a@remote.test>", "250 ")
        s.expect("BDAT ten", "501 5.5.4 ")
        assert s.closed()


# ---- limits on the connection ------------------------------------------------------

def test_too_many_errors(inst):
    with connect(inst) as s:
        for _ in range(19):
            s.expect("FOO", "500 5.5.1 ")
        start = time.monotonic()
        s.expect("FOO", "500 5.5.1 ")
        assert time.monotonic() - start >= 0.2  # past the soft limit, errors are slowed
        s.expect(None, "421 4.7.0 %s Error: too many errors" % HOST)
        assert s.closed()


def test_error_limits_are_configurable():
    inst = smtp_install(tls=False, soft_error_limit=0, hard_error_limit=3, error_delay_ms=0)
    try:
        with connect(inst) as s:
            s.expect("FOO", "500 5.5.1 ")
            s.expect("MAIL FROM:<a@remote.test>", "250 ")
            s.expect("RCPT TO:<nobody@example.test>", "550 5.1.1 ")
            s.expect("BAR", "500 5.5.1 ")
            s.expect(None, "421 4.7.0 %s Error: too many errors" % HOST)
            assert s.closed()
    finally:
        smtp_close(inst)


def test_idle_timeout():
    inst = smtp_install(tls=False, idle_timeout=2)
    try:
        with connect(inst) as s:
            start = time.monotonic()
            s.expect(None, "421 4.4.2 %s Error: timeout exceeded" % HOST)
            assert 1.5 < time.monotonic() - start < 5
            assert s.closed()
    finally:
        smtp_close(inst)


def test_shutdown_finishes_data_then_421():
    inst = smtp_install(tls=False)
    try:
        idle = connect(inst)
        busy = connect(inst)
        busy.expect("MAIL FROM:<a@remote.test>", "250 ")
        busy.expect("RCPT TO:<bob@example.test>", "250 ")
        # The 354 says the session is in DATA: SIGTERM must let it finish,
        # whether or not the first half has been read yet.
        busy.expect("DATA", "354 ")
        busy.send("Subject: during-shutdown\r\n\r\nfirst half\r\n")
        inst.smtpd.send_signal(signal.SIGTERM)
        idle.expect(None, "421 4.3.2 %s Service shutting down" % HOST)
        assert idle.closed()
        idle.close()
        busy.send("second half\r\n.\r\n")
        busy.expect(None, "250 2.0.0 Ok: queued as ")
        busy.expect(None, "421 4.3.2 ")
        assert busy.closed()
        busy.close()
        assert inst.smtpd.wait(timeout=10) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", inst.port("smtp")), timeout=1)
        [m] = mailbox_has(inst, BOB, b"Subject: during-shutdown\r\n")
        assert m.endswith(b"first half\r\nsecond half\r\n")
    finally:
        smtp_close(inst)


def test_store_failure_keeps_nothing():
    # The first commit fails after its writes (store.h test hook).
    inst = smtp_install(tls=False, env={"MAILTEST_STORE_FAIL_COMMIT": "1"})
    try:
        with connect(inst) as s:
            for subject, want in (("fails", "451 4.3.0 "), ("works", "250 2.0.0 Ok")):
                s.expect("MAIL FROM:<a@remote.test>", "250 ")
                s.expect("RCPT TO:<bob@example.test>", "250 ")
                s.expect("DATA", "354 ")
                s.expect("Subject: commit-%s\r\n\r\nbody\r\n." % subject, want)
        assert not mailbox_has(inst, BOB, b"Subject: commit-fails\r\n")
        assert mailbox_has(inst, BOB, b"Subject: commit-works\r\n")
    finally:
        smtp_close(inst)
