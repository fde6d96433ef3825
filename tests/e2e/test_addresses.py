"""Addresses the way users and other servers expect, byte for byte (issue 10):
local parts without regard to case in RCPT, AUTH, USER and sender ownership;
recipient extensions (recipient_delimiter); quoted local parts that the SMTP
parser accepts are stored, never a 451; postmaster goes to its alias or
postmaster_address, never to whoever came first; an alias loop says so;
POP3 PASS takes the rest of the line."""

import base64

import pytest

from mailtest import Install
from pop3lib import Pop3
from smtptest import USERS, Session, smtp_close, smtp_install, stored

ALICE = "alice@example.test"
BOB = "bob@example.test"
EXACT = "bob+exact@example.test"   # a user whose own name has a delimiter in it
SPACE = "space@example.test"       # password: one space
SPACES = "spaces@example.test"     # password with spaces inside and around
HOST = "mx.example.test"


def raw_alias(inst, source, target):
    """An alias row as an older program could write it: mailctl now
    refuses loops (test_mailctl.py), resolution must still catch them."""
    inst.sql("INSERT INTO aliases (domain_id, address, target, address_key, target_key)"
             " SELECT id, ?, ?, lower(?), lower(?) FROM domains"
             " WHERE name = 'example.test'", source, target, source, target)


@pytest.fixture(scope="module")
def inst():
    inst = smtp_install(start=False, allow_plaintext_auth="yes", auth_failure_delay_ms=0)
    try:
        inst.mailctl("domain", "add", "third.test")
        inst.add_user(EXACT, "exact-secret")
        inst.add_user(SPACE, " ")
        inst.add_user(SPACES, "  two  spaces ")
        raw_alias(inst, "loop1@example.test", "loop2@example.test")
        raw_alias(inst, "loop2@example.test", "LOOP1@example.test")
        inst.smtpd = inst.start("smtpd")
        inst.pop3d = inst.start("pop3d")
    except BaseException:
        inst.close()
        raise
    yield inst
    assert inst.stop(inst.pop3d) == 0
    assert " level=error " not in inst.log("pop3d")
    smtp_close(inst)


def connect(inst, listener="smtp"):
    s = Session(inst.port(listener))
    s.expect(None, "220 %s ESMTP ready" % HOST)
    s.expect("EHLO client.test", "250-%s" % HOST)
    return s


def plain(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def send(s, marker):
    s.expect("DATA", "354 ")
    s.expect("Subject: %s\r\n\r\n%s\r\n." % (marker, marker), "250 2.0.0 Ok: queued as ")


def mailbox_has(inst, mailbox, marker):
    return [m for m in stored(inst.db).get(mailbox, []) if marker.encode() in m]


# ---- case -------------------------------------------------------------------

def test_rcpt_matches_local_parts_without_case(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<Alice@example.test>", "250 2.1.5 Ok")
        s.expect("RCPT TO:<BOB@EXAMPLE.TEST>", "250 2.1.5 Ok")
        s.expect("RCPT TO:<SALES@Example.Test>", "250 2.1.5 Ok")  # alias -> alice
        s.expect("RCPT TO:<\"Bob\"@example.test>", "250 2.1.5 Ok")
        send(s, "marker-case")
    # Stored under the spelling the users were created with, once each.
    assert len(mailbox_has(inst, ALICE, "marker-case")) == 1
    assert len(mailbox_has(inst, BOB, "marker-case")) == 1
    [m] = mailbox_has(inst, ALICE, "marker-case")
    assert m.startswith(b"Return-Path: <someone@remote.test>\r\n")


def test_auth_login_name_without_case(inst):
    with connect(inst, "submission") as s:
        s.expect("AUTH PLAIN " + plain("Alice@example.test", USERS[ALICE]),
                 "235 2.7.0 Authentication successful")
    with connect(inst, "submission") as s:
        s.expect("AUTH PLAIN " + plain("ALICE@EXAMPLE.TEST", USERS[ALICE]),
                 "235 2.7.0 Authentication successful")
    # A login name that is no address at all names nobody: 535, never a 4xx.
    with connect(inst, "submission") as s:
        s.expect("AUTH PLAIN " + plain("alice", USERS[ALICE]),
                 "535 5.7.8 Error: authentication credentials invalid")
        s.expect("AUTH PLAIN " + plain("a..b@example.test", USERS[ALICE]),
                 "535 5.7.8 Error: authentication credentials invalid")


def test_sender_ownership_without_case_and_with_extensions(inst):
    with connect(inst, "submission") as s:
        s.expect("AUTH PLAIN " + plain("alice@example.test", USERS[ALICE]),
                 "235 2.7.0 Authentication successful")
        for sender in ("ALICE@example.test", "Alice@Example.Test", "alice+lists@example.test",
                       "Alice+Lists@example.test", "sales@example.test",
                       "Sales+Q3@EXAMPLE.test", "\"alice\"@example.test",
                       "\"alice+x\"@example.test"):
            s.expect("MAIL FROM:<%s>" % sender, "250 2.1.0 Ok")
            s.expect("RSET", "250 2.0.0 Ok")
        for sender in ("bob@example.test", "Bob+x@example.test", "alicex@example.test",
                       "+alice@example.test", "\"alice x\"@example.test",
                       "\"alice +x\"@example.test", "alice@remote.test"):
            s.expect("MAIL FROM:<%s>" % sender,
                     "553 5.7.1 Error: sender address not owned by the authenticated user")
        s.expect("MAIL FROM:<Alice+Tag@example.test>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<bob@example.test>", "250 2.1.5 Ok")
        send(s, "marker-sender-ext")
    [m] = mailbox_has(inst, BOB, "marker-sender-ext")
    assert m.startswith(b"Return-Path: <Alice+Tag@example.test>\r\n")


def test_pop3_user_without_case(inst):
    p = Pop3(inst.port("pop3"))
    assert p.cmd("USER Bob@example.test") == b"+OK send PASS\r\n"
    assert p.cmd("PASS " + USERS[BOB]).startswith(b"+OK maildrop has ")
    assert p.cmd("QUIT").startswith(b"+OK ")
    p.close()
    p = Pop3(inst.port("pop3"))
    assert p.cmd("AUTH PLAIN " + plain("BOB@EXAMPLE.TEST", USERS[BOB])) \
        .startswith(b"+OK maildrop has ")
    assert p.cmd("QUIT").startswith(b"+OK ")
    p.close()


# ---- recipient extensions ---------------------------------------------------

def test_rcpt_with_extension(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<alice+tag@example.test>", "250 2.1.5 Ok")
        s.expect("RCPT TO:<sales+news@example.test>", "250 2.1.5 Ok")  # alias base
        s.expect("RCPT TO:<bob+exact@example.test>", "250 2.1.5 Ok")   # a user itself
        s.expect("RCPT TO:<Bob+Other@example.test>", "250 2.1.5 Ok")   # bob
        s.expect("RCPT TO:<nobody+tag@example.test>",
                 "550 5.1.1 <nobody+tag@example.test>: Recipient address rejected: User unknown")
        s.expect("RCPT TO:<+tag@example.test>",
                 "550 5.1.1 <+tag@example.test>: Recipient address rejected: User unknown")
        s.expect("RCPT TO:<alice-tag@example.test>",
                 "550 5.1.1 <alice-tag@example.test>: Recipient address rejected: User unknown")
        send(s, "marker-extension")
    assert len(mailbox_has(inst, ALICE, "marker-extension")) == 1
    assert len(mailbox_has(inst, EXACT, "marker-extension")) == 1
    assert len(mailbox_has(inst, BOB, "marker-extension")) == 1


def test_recipient_delimiter_empty_disables_and_set_of_characters():
    for delimiter, want in (("", "550 5.1.1 "), ("-+", "250 2.1.5 Ok")):
        inst = smtp_install(recipient_delimiter=delimiter)
        try:
            with connect(inst) as s:
                s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
                s.expect("RCPT TO:<alice+tag@example.test>", want)
                s.expect("RCPT TO:<alice-tag@example.test>", want)
                s.expect("RCPT TO:<alice@example.test>", "250 2.1.5 Ok")
        finally:
            smtp_close(inst)


# ---- quoted local parts -----------------------------------------------------

def test_quoted_senders_are_stored_not_refused_with_451(inst):
    for sender in ('"a b"@r.test', '"a@b"@r.test', '"a\\\\b\\"c"@r.test'):
        with connect(inst) as s:
            s.expect("MAIL FROM:<%s>" % sender, "250 2.1.0 Ok")
            s.expect("RCPT TO:<bob@example.test>", "250 2.1.5 Ok")
            send(s, "marker-quoted %s" % sender)
        [m] = mailbox_has(inst, BOB, "marker-quoted %s" % sender)
        assert m.startswith(b"Return-Path: <%s>\r\n" % sender.encode())
    assert " level=error " not in inst.log("smtpd")


def test_quoted_recipients(inst):
    with connect(inst) as s:
        s.expect('MAIL FROM:<"x y"@r.test>', "250 2.1.0 Ok")
        s.expect('RCPT TO:<"a b"@example.test>',
                 '550 5.1.1 <"a b"@example.test>: Recipient address rejected: User unknown')
        s.expect('RCPT TO:<"a@b"@example.test>',
                 '550 5.1.1 <"a@b"@example.test>: Recipient address rejected: User unknown')
        s.expect('RCPT TO:<"alice"@example.test>', "250 2.1.5 Ok")
        s.expect("RSET", "250 2.0.0 Ok")


# ---- postmaster ---------------------------------------------------------------

def test_postmaster_of_a_domain_without_one_is_refused(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<postmaster@third.test>",
                 "550 5.1.1 <postmaster@third.test>: Recipient address rejected: User unknown")
        s.expect("RCPT TO:<PostMaster@Example.Test>", "250 2.1.5 Ok")
        # The bare form is the hostname's domain's: mx.example.test -> example.test.
        s.expect("RCPT TO:<postmaster>", "250 2.1.5 Ok")
        s.expect("RCPT TO:<POSTMASTER>", "250 2.1.5 Ok")
        send(s, "marker-postmaster")
    assert len(mailbox_has(inst, ALICE, "marker-postmaster")) == 1


def test_postmaster_address():
    inst = smtp_install(postmaster_address="Bob@example.test", start=False)
    try:
        inst.mailctl("domain", "add", "third.test")
        inst.smtpd = inst.start("smtpd")
        with connect(inst) as s:
            s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
            s.expect("RCPT TO:<postmaster@third.test>", "250 2.1.5 Ok")
            send(s, "marker-pm-third")
            s.expect("MAIL FROM:<>", "250 2.1.0 Ok")
            s.expect("RCPT TO:<postmaster@example.test>", "250 2.1.5 Ok")  # its own alias
            send(s, "marker-pm-own")
        assert len(mailbox_has(inst, BOB, "marker-pm-third")) == 1
        assert mailbox_has(inst, ALICE, "marker-pm-third") == []
        assert len(mailbox_has(inst, ALICE, "marker-pm-own")) == 1
    finally:
        smtp_close(inst)


def test_bare_postmaster_without_a_local_hostname_domain():
    inst = Install(allow_plaintext_auth="yes", hostname="mx.elsewhere.test")
    try:
        inst.add_user(ALICE, "x")
        inst.start("smtpd")
        with Session(inst.port("smtp")) as s:
            s.expect(None, "220 mx.elsewhere.test ESMTP ready")
            s.expect("EHLO client.test", "250-mx.elsewhere.test")
            s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
            s.expect("RCPT TO:<postmaster>",
                     "550 5.1.1 <postmaster>: Recipient address rejected: User unknown")
            s.expect("RCPT TO:<postmaster@example.test>",
                     "550 5.1.1 <postmaster@example.test>: Recipient address rejected: "
                     "User unknown")
            s.expect("QUIT", "221 2.0.0 Bye")
        assert inst.stop(inst.procs[0]) == 0
    finally:
        inst.close()


# ---- alias loops ----------------------------------------------------------------

def test_alias_loop_says_so(inst):
    with connect(inst) as s:
        s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
        s.expect("RCPT TO:<loop1@example.test>",
                 "550 5.4.6 <loop1@example.test>: Recipient address rejected: alias loop")
        s.expect("RCPT TO:<Loop2@example.test>",
                 "550 5.4.6 <Loop2@example.test>: Recipient address rejected: alias loop")
        s.expect("RCPT TO:<loop1+x@example.test>",
                 "550 5.4.6 <loop1+x@example.test>: Recipient address rejected: alias loop")
        s.expect("QUIT", "221 2.0.0 Bye")
    assert "reason=alias_loop" in inst.log("smtpd")


# ---- POP3 passwords -------------------------------------------------------------

@pytest.mark.parametrize("user, line", [
    (SPACE, b"PASS  "),                   # the password is one space
    (SPACES, b"PASS   two  spaces "),     # leading, inner and trailing spaces kept
    ("Space@Example.Test", b"PASS  "),
])
def test_pop3_pass_takes_the_rest_of_the_line(inst, user, line):
    p = Pop3(inst.port("pop3"))
    assert p.cmd("USER " + user) == b"+OK send PASS\r\n"
    assert p.cmd(line).startswith(b"+OK maildrop has ")
    assert p.cmd("QUIT").startswith(b"+OK ")
    p.close()


def test_pop3_pass_wrong_or_missing(inst):
    p = Pop3(inst.port("pop3"))
    assert p.cmd("USER " + SPACE) == b"+OK send PASS\r\n"
    # Nothing after PASS is no password: the USER stays.
    assert p.cmd("PASS") == b"-ERR wrong number of arguments for PASS\r\n"
    assert p.cmd("PASS ") == b"-ERR wrong number of arguments for PASS\r\n"
    assert p.cmd("PASS   ") == b"-ERR [AUTH] authentication failed\r\n"  # two spaces: wrong
    assert p.cmd("USER " + SPACES) == b"+OK send PASS\r\n"
    assert p.cmd("PASS two  spaces") == b"-ERR [AUTH] authentication failed\r\n"
    p.close()


# ---- a database with addresses that differ only by case -----------------------

def test_daemons_report_case_conflicts_and_keep_each_spelling():
    """Schema 1 let mailctl make Alice@ beside alice@; after the upgrade each
    spelling keeps its mailbox, others reach the lower-case one, and both
    daemons say at start what the operator has to resolve."""
    inst = smtp_install(start=False, allow_plaintext_auth="yes", auth_failure_delay_ms=0)
    try:
        # What the migration makes of such a pair (store_schema.c, version 2).
        inst.sql("INSERT INTO users (id, domain_id, address, hash, created, address_key,"
                 " case_conflict) SELECT 100, u.domain_id, 'Alice@example.test', u.hash,"
                 " 0, 'alice@example.test', 100 FROM users u"
                 " WHERE u.address = 'bob@example.test'")
        inst.smtpd = inst.start("smtpd")
        inst.pop3d = inst.start("pop3d")
        with connect(inst) as s:
            s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
            s.expect("RCPT TO:<Alice@example.test>", "250 2.1.5 Ok")
            send(s, "marker-exact")
            s.expect("MAIL FROM:<someone@remote.test>", "250 2.1.0 Ok")
            s.expect("RCPT TO:<ALICE@example.test>", "250 2.1.5 Ok")
            send(s, "marker-other")
        assert len(mailbox_has(inst, "Alice@example.test", "marker-exact")) == 1
        assert len(mailbox_has(inst, ALICE, "marker-other")) == 1
        assert mailbox_has(inst, ALICE, "marker-exact") == []
        # Alice logs in with bob's password (the hash copied above) to her own mailbox.
        p = Pop3(inst.port("pop3"))
        assert p.cmd("USER Alice@example.test") == b"+OK send PASS\r\n"
        assert p.cmd("PASS " + USERS[BOB]) == b"+OK maildrop has 1 messages (%d octets)\r\n" % \
            len(mailbox_has(inst, "Alice@example.test", "marker-exact")[0])
        p.cmd("QUIT")
        p.close()
        for program in ("smtpd", "pop3d"):
            assert ("level=warn event=address_problem problem=\"users differ only by "
                    "case: alice@example.test Alice@example.test") in inst.log(program)
        assert inst.stop(inst.pop3d) == 0
    finally:
        smtp_close(inst)
