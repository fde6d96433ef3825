"""pop3d protocol behaviour, byte for byte: greeting, CAPA, every error path
of the AUTHORIZATION and TRANSACTION states, AUTH PLAIN, STLS, pipelining,
line limits. Clients are raw sockets (pop3lib.Pop3) so every reply is
checked exactly as sent."""

import base64
import time

import pytest

from pop3lib import (ALICE, PASSWORD, Pop3, deliver, entry_ids, message, new_user, pop3_install,
                     running_pop3d, unstuff)

GREETING = b"+OK mx.example.test POP3 server ready\r\n"
CAPA_TAIL = b"AUTH-RESP-CODE\r\nEXPIRE NEVER\r\nIMPLEMENTATION mail-pop3d\r\n.\r\n"


@pytest.fixture(scope="module")
def plain():
    """pop3d with plaintext login allowed (allow_plaintext_auth = yes)."""
    with running_pop3d(allow_plaintext_auth="yes") as inst:
        yield inst


@pytest.fixture(scope="module")
def strict():
    """pop3d with the default policy: no login before TLS."""
    with running_pop3d() as inst:
        yield inst


def maildrop(inst, bodies):
    """A fresh user whose mailbox holds `bodies`; returns (address, entry ids)."""
    user = new_user(inst)
    ids = [deliver(inst, user, b) for b in bodies]
    return user, ids


def plain_b64(authzid, authcid, password):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, authcid, password)).encode()).decode()


# ---- greeting and CAPA ------------------------------------------------------

def test_greeting_has_no_apop_timestamp(plain):
    p = Pop3(plain.port("pop3"))
    assert p.greeting == GREETING
    assert b"<" not in p.greeting
    assert p.cmd("APOP %s 0123456789abcdef0123456789abcdef" % ALICE) == b"-ERR unknown command\r\n"


def test_capa_plaintext_allowed(plain):
    p = Pop3(plain.port("pop3"))
    assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
    assert p.multi() == (b"TOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSASL PLAIN\r\n"
                         b"STLS\r\n" + CAPA_TAIL)


def test_capa_before_and_after_stls(strict):
    """RFC 2595 4: before TLS, with plaintext login refused, USER and SASL are
    not advertised; after STLS they are, and STLS is not."""
    p = Pop3(strict.port("pop3"))
    assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
    assert p.multi() == b"TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSTLS\r\n" + CAPA_TAIL
    p.stls()
    assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
    assert p.multi() == (b"TOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSASL PLAIN\r\n"
                         + CAPA_TAIL)
    assert p.cmd("STLS") == b"-ERR TLS is already active\r\n"


def test_capa_implicit_tls_and_transaction(strict):
    user, _ = maildrop(strict, [message(1)])
    p = Pop3(strict.port("pop3s"), tls=True)
    assert p.greeting == GREETING
    assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
    assert p.multi() == (b"TOP\r\nUSER\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSASL PLAIN\r\n"
                         + CAPA_TAIL)
    assert p.login(user).startswith(b"+OK maildrop has 1 messages")
    # Login mechanisms and STLS belong to AUTHORIZATION only (RFC 2449 6).
    assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
    assert p.multi() == b"TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n" + CAPA_TAIL


# ---- plaintext login refused -------------------------------------------------

def test_plaintext_login_refused(strict):
    """RFC 3206 5: [AUTH] covers an attempt to authenticate in violation of
    policy, which a password in the clear is when allow_plaintext_auth = no."""
    refused = (b"-ERR [AUTH] plaintext authentication disallowed on an unencrypted "
               b"connection; use STLS\r\n")
    p = Pop3(strict.port("pop3"))
    assert p.cmd("USER " + ALICE) == refused
    assert p.cmd("PASS " + PASSWORD) == refused
    assert p.cmd("AUTH PLAIN " + plain_b64("", ALICE, PASSWORD)) == refused
    assert p.cmd("AUTH PLAIN") == refused
    assert p.cmd("AUTH") == refused
    # Still usable, and fine once TLS is up.
    p.stls()
    assert p.login().startswith(b"+OK maildrop has ")
    assert p.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"


def test_stls_injection_is_discarded(strict):
    """RFC 2595 / CVE-2011-0411: a command sent in the same packet as STLS
    must not be executed after the handshake."""
    p = Pop3(strict.port("pop3"))
    p.send("STLS\r\nUSER %s\r\n" % ALICE)
    assert p.bline() == b"+OK begin TLS negotiation\r\n"
    p.starttls_wrap()
    # Had the USER been processed, PASS would be answered by a login attempt.
    assert p.cmd("PASS " + PASSWORD) == b"-ERR send USER first\r\n"
    assert p.cmd("NOOP") == b"-ERR NOOP not valid in the AUTHORIZATION state\r\n"


def test_stls_unavailable_without_certificate():
    with pop3_install(tls=False, allow_plaintext_auth="yes") as inst:
        inst.start("pop3d")
        p = Pop3(inst.port("pop3"))
        assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
        assert b"STLS\r\n" not in p.multi()
        assert p.cmd("STLS") == b"-ERR TLS is not available\r\n"
        assert p.cmd("QUIT") == b"+OK signing off\r\n"
        assert p.closed()


# ---- AUTHORIZATION errors ---------------------------------------------------

def test_authorization_state_errors(plain):
    p = Pop3(plain.port("pop3"))
    for verb in ("STAT", "LIST", "UIDL", "RETR 1", "TOP 1 1", "DELE 1", "RSET", "NOOP"):
        assert p.cmd(verb) == ("-ERR %s not valid in the AUTHORIZATION state\r\n"
                               % verb.split()[0]).encode()
    assert p.cmd("PASS " + PASSWORD) == b"-ERR send USER first\r\n"
    assert p.cmd("USER") == b"-ERR wrong number of arguments for USER\r\n"
    assert p.cmd("USER a b") == b"-ERR wrong number of arguments for USER\r\n"
    assert p.cmd("USER " + "a" * 300) == b"-ERR invalid user name\r\n"
    assert p.cmd("PASS") == b"-ERR wrong number of arguments for PASS\r\n"
    assert p.cmd("FOO") == b"-ERR unknown command\r\n"
    assert p.cmd("") == b"-ERR unknown command\r\n"
    assert p.cmd("RETRIEVE 1") == b"-ERR unknown command\r\n"
    assert p.cmd("CAPA extra") == b"-ERR wrong number of arguments for CAPA\r\n"
    # Verbs are case-insensitive (RFC 1939 3) and the session still works.
    assert p.cmd("user " + ALICE) == b"+OK send PASS\r\n"
    assert p.cmd("pass " + PASSWORD).startswith(b"+OK maildrop has ")


def test_wrong_password_unknown_and_disabled_users_look_alike(plain):
    disabled = new_user(plain)
    plain.mailctl("user", "disable", disabled)
    p = Pop3(plain.port("pop3"))
    failed = b"-ERR [AUTH] authentication failed\r\n"
    assert p.login(ALICE, "wrong") == failed
    assert p.login("nobody@example.test", PASSWORD) == failed
    p = Pop3(plain.port("pop3"))
    assert p.login(disabled, PASSWORD) == failed
    assert p.login("not-an-address", PASSWORD) == failed


def test_line_too_long_keeps_session(plain):
    p = Pop3(plain.port("pop3"))
    assert p.cmd("NOOP " + "x" * 3000) == b"-ERR line too long\r\n"
    assert p.cmd("CAPA") == b"+OK capability list follows\r\n"
    p.multi()
    # Up to 1024 octets is accepted (SASL responses are long).
    assert p.cmd("USER " + "a" * 1000) == b"-ERR invalid user name\r\n"
    assert p.login().startswith(b"+OK maildrop has ")
    assert p.cmd("STAT " + "1" * 2000) == b"-ERR line too long\r\n"
    assert p.cmd("NOOP") == b"+OK\r\n"


def test_too_many_errors_hang_up(plain):
    # The defaults: beyond 10 errors each -ERR waits 250 ms, the 20th is the last.
    p = Pop3(plain.port("pop3"))
    p.send(b"BAD\r\n" * 25)
    for _ in range(10):
        assert p.bline() == b"-ERR unknown command\r\n"
    start = time.monotonic()
    assert p.bline() == b"-ERR unknown command\r\n"
    assert time.monotonic() - start >= 0.2  # past the soft limit, errors are slowed
    for _ in range(9):
        assert p.bline() == b"-ERR unknown command\r\n"
    assert p.bline() == b"-ERR too many errors, closing connection\r\n"
    assert p.closed()


def test_error_limits_are_configurable():
    # Only plain -ERR (a client mistake) counts: [AUTH] failures have their own budget.
    with running_pop3d(allow_plaintext_auth="yes", soft_error_limit=0, hard_error_limit=3,
                       error_delay_ms=0) as inst:
        p = Pop3(inst.port("pop3"))
        assert p.cmd("USER %s" % ALICE).startswith(b"+OK")
        assert p.cmd("PASS wrong").startswith(b"-ERR [AUTH] ")
        assert p.cmd("STAT") == b"-ERR STAT not valid in the AUTHORIZATION state\r\n"
        assert p.cmd("BAD") == b"-ERR unknown command\r\n"
        p.send(b"LIST\r\n")
        assert p.bline() == b"-ERR LIST not valid in the AUTHORIZATION state\r\n"
        assert p.bline() == b"-ERR too many errors, closing connection\r\n"
        assert p.closed()


def test_bare_lf_refused_and_hangs_up(plain):
    # RFC 1939 3: commands end in CRLF. One reply for the whole bare-LF line,
    # nothing after it is read as a command.
    p = Pop3(plain.port("pop3"))
    p.send(b"USER %s\nPASS %s\r\n" % (ALICE.encode(), PASSWORD.encode()))
    assert p.bline() == b"-ERR bare LF received, lines must end in CRLF\r\n"
    assert p.closed()
    # In TRANSACTION: a "QUIT" ended by a bare LF is no QUIT, so nothing is deleted.
    user, ids = maildrop(plain, [b"Subject: keep\r\n\r\nx\r\n"])
    p = Pop3(plain.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has ")
    assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
    p.send(b"QUIT\n")
    assert p.bline() == b"-ERR bare LF received, lines must end in CRLF\r\n"
    assert p.closed()
    assert entry_ids(plain, user) == ids


# ---- AUTH PLAIN (RFC 5034) ------------------------------------------------------

def test_auth_plain(plain):
    user, _ = maildrop(plain, [message(1)])
    p = Pop3(plain.port("pop3"))
    assert p.cmd("AUTH") == b"+OK SASL mechanisms follow\r\n"
    assert p.multi() == b"PLAIN\r\n.\r\n"
    assert p.cmd("AUTH CRAM-MD5") == b"-ERR unsupported authentication mechanism\r\n"
    assert p.cmd("AUTH PLAIN") == b"+ \r\n"
    assert p.cmd("*") == b"-ERR authentication cancelled\r\n"
    assert p.cmd("AUTH PLAIN") == b"+ \r\n"
    assert p.cmd("!!!!") == b"-ERR invalid base64 in the SASL response\r\n"
    assert p.cmd("AUTH PLAIN !!!!") == b"-ERR invalid base64 in the SASL response\r\n"
    assert p.cmd("AUTH PLAIN") == b"+ \r\n"
    assert p.cmd("x" * 1500) == b"-ERR line too long\r\n"
    assert p.cmd("AUTH PLAIN =") == b"-ERR [AUTH] authentication failed\r\n"
    assert p.cmd("AUTH PLAIN " + plain_b64("", user, "wrong")) == \
        b"-ERR [AUTH] authentication failed\r\n"
    # Acting as another user (authzid) is refused even with the right password.
    p = Pop3(plain.port("pop3"))
    assert p.cmd("AUTH PLAIN " + plain_b64(ALICE, user, PASSWORD)) == \
        b"-ERR [AUTH] authentication failed\r\n"
    # Continuation form, with the authzid equal to the authcid.
    assert p.cmd("auth plain") == b"+ \r\n"
    assert p.cmd(plain_b64(user, user, PASSWORD)) == \
        b"+OK maildrop has 1 messages (%d octets)\r\n" % len(message(1))
    assert p.cmd("AUTH PLAIN") == b"-ERR AUTH not valid in the TRANSACTION state\r\n"


def test_auth_plain_initial_response(plain):
    user, _ = maildrop(plain, [])
    p = Pop3(plain.port("pop3"))
    assert p.cmd("AUTH PLAIN " + plain_b64("", user, PASSWORD)) == \
        b"+OK maildrop has 0 messages (0 octets)\r\n"


def test_failed_logins_are_delayed_and_limited():
    delay = 1.0
    with pop3_install(allow_plaintext_auth="yes", auth_failure_delay_ms=int(delay * 1000),
                      max_auth_failures=3) as inst:
        inst.start("pop3d")
        p = Pop3(inst.port("pop3"))
        for user in (ALICE, "ghost@example.test"):
            t = time.monotonic()
            assert p.login(user, "wrong") == b"-ERR [AUTH] authentication failed\r\n"
            assert time.monotonic() - t >= 0.98 * delay
        t = time.monotonic()
        assert p.cmd("AUTH PLAIN " + plain_b64("", ALICE, "wrong")) == \
            b"-ERR [AUTH] authentication failed; too many failures\r\n"
        assert time.monotonic() - t >= 0.98 * delay
        assert p.closed()
        # A correct password is not delayed (one hash check and one commit).
        p = Pop3(inst.port("pop3"))
        t = time.monotonic()
        assert p.login().startswith(b"+OK maildrop has ")
        assert time.monotonic() - t < 0.9 * delay
        log = inst.log("pop3d")
        assert PASSWORD not in log and "wrong" not in log
        assert plain_b64("", ALICE, "wrong") not in log


# ---- TRANSACTION ------------------------------------------------------------------

def test_transaction_commands(plain):
    bodies = [message(1), message(2, "more\r\n"), message(3)]
    user, ids = maildrop(plain, bodies)
    p = Pop3(plain.port("pop3"))
    total = sum(len(b) for b in bodies)
    assert p.login(user) == b"+OK maildrop has 3 messages (%d octets)\r\n" % total
    assert p.cmd("STAT") == b"+OK 3 %d\r\n" % total
    assert p.cmd("LIST") == b"+OK 3 messages (%d octets)\r\n" % total
    assert p.multi() == b"".join(b"%d %d\r\n" % (i + 1, len(b)) for i, b in enumerate(bodies)) \
        + b".\r\n"
    assert p.cmd("LIST 2") == b"+OK 2 %d\r\n" % len(bodies[1])
    assert p.cmd("UIDL") == b"+OK unique-id listing follows\r\n"
    assert p.multi() == b"".join(b"%d %d\r\n" % (i + 1, e) for i, e in enumerate(ids)) + b".\r\n"
    assert p.cmd("UIDL 3") == b"+OK 3 %d\r\n" % ids[2]
    assert p.cmd("RETR 2") == b"+OK %d octets\r\n" % len(bodies[1])
    assert unstuff(p.multi()) == bodies[1]
    assert p.cmd("NOOP") == b"+OK\r\n"
    assert p.cmd("DELE 2") == b"+OK message 2 deleted\r\n"
    rest = len(bodies[0]) + len(bodies[2])
    assert p.cmd("STAT") == b"+OK 2 %d\r\n" % rest
    assert p.cmd("LIST") == b"+OK 2 messages (%d octets)\r\n" % rest
    assert p.multi() == b"1 %d\r\n3 %d\r\n.\r\n" % (len(bodies[0]), len(bodies[2]))
    assert p.cmd("UIDL") == b"+OK unique-id listing follows\r\n"
    assert p.multi() == b"1 %d\r\n3 %d\r\n.\r\n" % (ids[0], ids[2])
    assert p.cmd("RSET") == b"+OK maildrop has 3 messages (%d octets)\r\n" % total
    assert p.cmd("RETR 2") == b"+OK %d octets\r\n" % len(bodies[1])
    p.multi()
    assert p.cmd("DELE 1") == b"+OK message 1 deleted\r\n"
    assert p.cmd("QUIT") == b"+OK 1 messages deleted; signing off\r\n"
    assert p.closed()
    assert entry_ids(plain, user) == ids[1:]


def test_message_number_errors(plain):
    """RFC 1939 5-7: every bad message number is -ERR and the session goes on."""
    user, _ = maildrop(plain, [message(1), message(2), message(3)])
    no_such = b"-ERR no such message\r\n"
    invalid = b"-ERR invalid message number\r\n"
    deleted = b"-ERR message is deleted\r\n"
    # One session per verb: ten errors each, under the hard error limit of 20.
    for verb in ("RETR", "LIST", "UIDL", "DELE"):
        p = Pop3(plain.port("pop3"))
        assert p.login(user).startswith(b"+OK maildrop has 3 messages")
        assert p.cmd("DELE 2") == b"+OK message 2 deleted\r\n"
        assert p.cmd(verb + " 0") == no_such
        assert p.cmd(verb + " 4") == no_such
        assert p.cmd(verb + " 99999999999999999999999") == no_such
        assert p.cmd(verb + " 18446744073709551617") == no_such
        assert p.cmd(verb + " -1") == invalid
        assert p.cmd(verb + " +1") == invalid
        assert p.cmd(verb + " abc") == invalid
        assert p.cmd(verb + " 1x") == invalid
        assert p.cmd(verb + " 2") == deleted
        assert p.cmd(verb + " 1 3") == ("-ERR wrong number of arguments for %s\r\n"
                                        % verb).encode()
        assert p.cmd("RSET").startswith(b"+OK")
        assert p.cmd("QUIT").startswith(b"+OK")
    # A fresh session counts its errors afresh.
    p = Pop3(plain.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 3 messages")
    assert p.cmd("DELE 2") == b"+OK message 2 deleted\r\n"
    assert p.cmd("QUIT") == b"+OK 1 messages deleted; signing off\r\n"
    p = Pop3(plain.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 2 messages")
    assert p.cmd("DELE 2") == b"+OK message 2 deleted\r\n"
    assert p.cmd("RETR") == b"-ERR wrong number of arguments for RETR\r\n"
    assert p.cmd("DELE") == b"-ERR wrong number of arguments for DELE\r\n"
    assert p.cmd("TOP 1") == b"-ERR wrong number of arguments for TOP\r\n"
    assert p.cmd("TOP 0 1") == no_such
    assert p.cmd("TOP 2 1") == deleted
    assert p.cmd("TOP x 1") == invalid
    assert p.cmd("TOP 1 -1") == b"-ERR invalid line count\r\n"
    assert p.cmd("TOP 1 x") == b"-ERR invalid line count\r\n"
    assert p.cmd("TOP 1 1 1") == b"-ERR wrong number of arguments for TOP\r\n"
    assert p.cmd("STAT 1") == b"-ERR wrong number of arguments for STAT\r\n"
    assert p.cmd("NOOP x") == b"-ERR wrong number of arguments for NOOP\r\n"
    for verb in ("USER x", "PASS x", "STLS", "AUTH PLAIN"):
        assert p.cmd(verb) == ("-ERR %s not valid in the TRANSACTION state\r\n"
                               % verb.split()[0]).encode()
    # Still usable.
    assert p.cmd("STAT") == b"+OK 1 %d\r\n" % len(message(1))
    assert p.cmd("RETR 1") == b"+OK %d octets\r\n" % len(message(1))
    assert unstuff(p.multi()) == message(1)
    assert p.cmd("RSET").startswith(b"+OK maildrop has 2 messages")


def test_empty_maildrop(plain):
    user, _ = maildrop(plain, [])
    p = Pop3(plain.port("pop3"))
    assert p.login(user) == b"+OK maildrop has 0 messages (0 octets)\r\n"
    assert p.cmd("STAT") == b"+OK 0 0\r\n"
    assert p.cmd("LIST") == b"+OK 0 messages (0 octets)\r\n"
    assert p.multi() == b".\r\n"
    assert p.cmd("UIDL") == b"+OK unique-id listing follows\r\n"
    assert p.multi() == b".\r\n"
    assert p.cmd("RETR 1") == b"-ERR no such message\r\n"
    assert p.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"


def test_retr_byte_stuffing_and_top(plain):
    body = (b"Subject: dots\r\nX-Header: 1\r\n\r\n"
            b".\r\n..two\r\n.three\r\nfour.\r\n\r\n.\r\nlast\r\n")
    odd = b"Subject: no final newline\r\n\r\nbody without CRLF"
    user, _ = maildrop(plain, [body, odd])
    p = Pop3(plain.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 2 messages")
    assert p.cmd("RETR 1") == b"+OK %d octets\r\n" % len(body)
    assert p.multi() == (b"Subject: dots\r\nX-Header: 1\r\n\r\n"
                         b"..\r\n...two\r\n..three\r\nfour.\r\n\r\n..\r\nlast\r\n.\r\n")
    assert p.cmd("TOP 1 0") == b"+OK top of message follows\r\n"
    assert p.multi() == b"Subject: dots\r\nX-Header: 1\r\n\r\n.\r\n"
    assert p.cmd("TOP 1 2") == b"+OK top of message follows\r\n"
    assert p.multi() == b"Subject: dots\r\nX-Header: 1\r\n\r\n..\r\n...two\r\n.\r\n"
    assert p.cmd("TOP 1 99999999999999999999999") == b"+OK top of message follows\r\n"
    assert unstuff(p.multi()) == body
    assert p.cmd("RETR 2") == b"+OK %d octets\r\n" % len(odd)
    assert p.multi() == odd + b"\r\n.\r\n"
    assert p.cmd("NOOP") == b"+OK\r\n"


def test_pipelining_answers_in_order(plain):
    bodies = [message(1), message(2)]
    user, ids = maildrop(plain, bodies)
    p = Pop3(plain.port("pop3"))
    # The login itself is asynchronous: STAT must wait for PASS to finish.
    p.send("CAPA\r\nUSER %s\r\nPASS %s\r\nSTAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nTOP 2 0\r\n"
           "DELE 1\r\nBOGUS\r\nRETR 1\r\nSTAT\r\nRSET\r\nLIST 1\r\nNOOP\r\nQUIT\r\n"
           % (user, PASSWORD))
    total = len(bodies[0]) + len(bodies[1])
    assert p.bline() == b"+OK capability list follows\r\n"
    p.multi()
    assert p.bline() == b"+OK send PASS\r\n"
    assert p.bline() == b"+OK maildrop has 2 messages (%d octets)\r\n" % total
    assert p.bline() == b"+OK 2 %d\r\n" % total
    assert p.bline() == b"+OK 2 messages (%d octets)\r\n" % total
    assert p.multi() == b"1 %d\r\n2 %d\r\n.\r\n" % (len(bodies[0]), len(bodies[1]))
    assert p.bline() == b"+OK 2 %d\r\n" % ids[1]
    assert p.bline() == b"+OK %d octets\r\n" % len(bodies[0])
    assert unstuff(p.multi()) == bodies[0]
    assert p.bline() == b"+OK top of message follows\r\n"
    assert p.multi() == bodies[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n.\r\n"
    assert p.bline() == b"+OK message 1 deleted\r\n"
    assert p.bline() == b"-ERR unknown command\r\n"
    assert p.bline() == b"-ERR message is deleted\r\n"
    assert p.bline() == b"+OK 1 %d\r\n" % len(bodies[1])
    assert p.bline() == b"+OK maildrop has 2 messages (%d octets)\r\n" % total
    assert p.bline() == b"+OK 1 %d\r\n" % len(bodies[0])
    assert p.bline() == b"+OK\r\n"
    assert p.bline() == b"+OK 0 messages deleted; signing off\r\n"
    assert p.closed()
    assert entry_ids(plain, user) == ids


def test_pipelined_retr_of_many_messages(plain):
    """Long pipelined output is throttled by the write queue, not buffered whole."""
    bodies = [message(i, "x" * 70 + "\r\n") * 30 for i in range(40)]
    user, _ = maildrop(plain, bodies)
    p = Pop3(plain.port("pop3"))
    assert p.login(user).startswith(b"+OK maildrop has 40 messages")
    p.send("".join("RETR %d\r\nLIST\r\n" % (i + 1) for i in range(40)))
    for i, b in enumerate(bodies):
        assert p.bline() == b"+OK %d octets\r\n" % len(b)
        assert unstuff(p.multi()) == b
        assert p.bline() == b"+OK 40 messages (%d octets)\r\n" % sum(map(len, bodies))
        assert len(p.multi().split(b"\r\n")) == 42
