"""The daemons' loop-side reads fall back to the thread pool.

smtpd resolves RCPT and pop3d reads messages of up to 64 KiB on the event
loop, through a store handle that never waits for a lock
(STORE_OPEN_NOWAIT): when it cannot answer at once, the same work goes to
the pool, whose handles wait. MAILTEST_STORE_NOWAIT_BUSY=1 (store/include/store.h)
makes every statement on such a handle fail as a locked database would,
so every one of those reads takes the fallback here; the answers must be
exactly the ones the loop would have given. (On PostgreSQL no handle may
serve the loop, so every read goes to the pool anyway: e2e-pg/ checks the
same answers.)
"""

import smtplib

from pop3lib import PASSWORD, Pop3, unstuff
from smtptest import ALIAS, smtp_close, smtp_install, stored

BUSY = {"MAILTEST_STORE_NOWAIT_BUSY": "1"}


def test_rcpt_and_retr_through_the_pool():
    inst = smtp_install(env=BUSY, allow_plaintext_auth="yes")
    try:
        inst.add_user("carol@example.test", PASSWORD)
        small = b"Subject: small\r\n\r\n" + b"line\r\n" * 100
        large = b"Subject: large\r\n\r\n" + (b"x" * 78 + b"\r\n") * 2000  # 160 KB
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as c:
            c.ehlo("client.test")
            # A user, an alias (to alice) and an unknown user, in one envelope.
            refused = c.sendmail("sender@remote.test",
                                 ["carol@example.test", ALIAS, "nobody@example.test"], small)
            assert list(refused) == ["nobody@example.test"]
            assert refused["nobody@example.test"][0] == 550
            c.sendmail("sender@remote.test", ["carol@example.test"], large)
        boxes = stored(inst.db)
        assert len(boxes["carol@example.test"]) == 2 and len(boxes["alice@example.test"]) == 1

        # The quota checks at RCPT, on the size smtplib declares (SIZE=).
        used = sum(len(m) for m in boxes["carol@example.test"])
        inst.mailctl("user", "quota", "carol@example.test", str(used + 1000))
        medium = b"Subject: medium\r\n\r\n" + b"line\r\n" * 300
        huge = b"Subject: huge\r\n\r\n" + (b"x" * 78 + b"\r\n") * 2500  # 200 KB
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as c:
            for msg, want in ((medium, (452, b"4.2.2 <carol@example.test>: Recipient address "
                                              b"rejected: Mailbox has no room for a message "
                                              b"of this size")),
                              (huge, (552, b"5.2.2 <carol@example.test>: Recipient address "
                                           b"rejected: Message size exceeds the mailbox's "
                                           b"quota"))):
                refused = c.sendmail("sender@remote.test", ["carol@example.test", ALIAS], msg)
                assert refused == {"carol@example.test": want}
        inst.mailctl("user", "quota", "carol@example.test", "unlimited")
        boxes = stored(inst.db)
        assert len(boxes["carol@example.test"]) == 2 and len(boxes["alice@example.test"]) == 3

        pop3d = inst.start("pop3d", env=BUSY)
        p = Pop3(inst.port("pop3"))
        assert p.login("carol@example.test").startswith(b"+OK")
        for n, want in ((1, small), (2, large)):
            assert p.cmd("RETR %d" % n).startswith(b"+OK")
            assert unstuff(p.multi()).endswith(want)
            assert p.cmd("TOP %d 0" % n).startswith(b"+OK")
            assert b"Subject: " in unstuff(p.multi())
        assert p.cmd("QUIT").startswith(b"+OK")
        p.close()
        assert inst.stop(pop3d) == 0
        assert " level=error " not in inst.log("pop3d")
        assert " level=error " not in inst.log("smtpd")
    finally:
        smtp_close(inst)
