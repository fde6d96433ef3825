"""A login while the store cannot answer: both daemons go through one login
check (common/login.c), so both give a temporary error, never a verdict on
the password, count no failure against the client, and serve the login
again once the store is back."""

import base64

from mailtest import sql
from pop3lib import ALICE, PASSWORD, Pop3, pop3_install
from smtptest import USERS, Session, smtp_close, smtp_install


def break_users(db):
    """The user lookup now fails on every handle (its table is gone)."""
    sql(db, "ALTER TABLE users RENAME TO users_away")


def mend_users(db):
    sql(db, "ALTER TABLE users_away RENAME TO users")


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def test_smtp_auth_during_a_store_failure():
    inst = smtp_install(tls=False, allow_plaintext_auth="yes", auth_failure_delay_ms=0)
    user, password = next(iter(USERS.items()))
    try:
        break_users(inst.db)
        with Session(inst.port("submission")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            s.expect("AUTH PLAIN " + plain(user, password),
                     "454 4.7.0 Temporary authentication failure")
        log = inst.log("smtpd")
        assert "event=auth_error" in log and "event=auth_failed" not in log
        mend_users(inst.db)
        with Session(inst.port("submission")) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client.test", "250-")
            s.expect("AUTH PLAIN " + plain(user, password), "235 2.7.0 ")
    finally:
        smtp_close(inst)


def test_pop3_login_during_a_store_failure():
    with pop3_install() as inst:
        inst.config["allow_plaintext_auth"] = "yes"
        inst.write_config()
        pop3d = inst.start("pop3d")
        break_users(inst.db)
        p = Pop3(inst.port("pop3"))
        assert p.cmd("USER " + ALICE).startswith(b"+OK")
        assert p.cmd("PASS " + PASSWORD).startswith(b"-ERR [SYS/")
        log = inst.log("pop3d")
        assert "event=auth_error" in log and "event=auth_failed" not in log
        mend_users(inst.db)
        assert p.login().startswith(b"+OK maildrop has ")
        assert p.cmd("QUIT").startswith(b"+OK")
        assert inst.stop(pop3d) == 0
