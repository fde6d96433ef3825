"""Delivery through a smarthost (relay_host): b's submission listener,
with STARTTLS and AUTH (relay_auth_user, relay_auth_password_file), and
the TLS policies: `verify` refuses b's self-signed certificate, `none`
never sends the password."""

import os

from outbound import (ALICE, BOB, PASSWORD, Pair, mailbox, message, queue, queue_rows,
                      start_smtpd, submit, wait_for)


def relay_pair(tls, password=PASSWORD):
    pair = Pair(start_b=False)
    a, b = pair.a, pair.b
    # On b, the relay login is alice@a.test (a.test is b's too, so she may
    # send as herself): the smarthost checks the sender like any submission.
    b.add_user(ALICE, PASSWORD)
    start_smtpd(b)
    pwfile = os.path.join(a.dir, "relay.pw")
    with open(pwfile, "w") as f:
        f.write(password + "\n")
    os.chmod(pwfile, 0o600)
    a.stop(a.smtpd)
    a.config.update(routes="", relay_host="127.0.0.1:%d" % b.port("submission"), relay_tls=tls,
                    relay_auth_user=ALICE, relay_auth_password_file=pwfile)
    a.write_config()
    a.smtpd = start_smtpd(a)
    return pair


def test_smarthost_with_auth():
    with relay_pair("encrypt") as (a, b):
        submit(a, [BOB], message("via the smarthost"))
        got = wait_for(lambda: mailbox(b, BOB), what="delivery through the relay")[0]
        assert b"ESMTPSA" in got  # b saw TLS and AUTH
        wait_for(lambda: not queue(a), what="a's queue to empty")


def test_wrong_relay_password_defers():
    with relay_pair("encrypt", password="not-the-password") as (a, b):
        submit(a, [BOB], message("bad login"))
        row = wait_for(lambda: [r for r in queue_rows(a) if "attempts=1" in r],
                       what="a deferred attempt")[0]
        assert "AUTH" in row and "535" in row
        assert mailbox(b, BOB) == []


def test_verify_refuses_a_self_signed_certificate():
    with relay_pair("verify") as (a, b):
        submit(a, [BOB], message("unverified"))
        row = wait_for(lambda: [r for r in queue_rows(a) if "attempts=1" in r],
                       what="a deferred attempt")[0]
        assert "could not be verified" in row
        assert mailbox(b, BOB) == []


def test_no_tls_never_sends_the_password():
    with relay_pair("none") as (a, b):
        submit(a, [BOB], message("in the clear"))
        row = wait_for(lambda: [r for r in queue_rows(a) if "attempts=1" in r],
                       what="a deferred attempt")[0]
        assert "no TLS, so no AUTH" in row
        assert "event=auth" not in b.log("smtpd")  # b never saw an AUTH command
