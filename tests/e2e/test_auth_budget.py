"""Password guessing across connections from one address meets the
per-address failure budget (common/authlimit.h) in both daemons: failures
beyond the free ones are answered ever later, the failure that uses up the
budget locks the address out (a temporary error, no password checked, even
a correct one), the lockout ends by itself, and a well-behaved client from
another address logs in normally throughout, even while the locked-out
address hammers away.

The guesser connects from 127.0.0.2, the good client from 127.0.0.1 (Linux
routes all of 127.0.0.0/8 to the loopback)."""

import base64
import threading
import time

from pop3lib import ALICE, PASSWORD, Pop3, pop3_install
from smtptest import USERS, Session, smtp_close, smtp_install

BASE_MS = 50     # auth_failure_delay_ms
FREE = 5         # AUTHLIMIT_FREE_FAILURES
BUDGET = 8       # auth_failure_budget
LOCKOUT = 4      # auth_lockout, seconds
PER_CONN = 3     # max_auth_failures
CONFIG = dict(allow_plaintext_auth="yes", auth_failure_delay_ms=BASE_MS,
              auth_failure_budget=BUDGET, auth_lockout=LOCKOUT, max_auth_failures=PER_CONN,
              auth_failure_decay=3600)  # nothing is forgotten during a test
ATTACKER, GOOD = "127.0.0.2", "127.0.0.1"


def delay_s(failure):
    """The least time the answer to the address's nth failure takes."""
    return BASE_MS * 2 ** max(0, failure - FREE) / 1000.0


def timed(fn, *args):
    start = time.monotonic()
    out = fn(*args)
    return out, time.monotonic() - start


class Lockout:
    """When the lockout runs, as far as the client can tell: it starts after
    the last failure was sent and before its answer arrived."""

    def __init__(self):
        self.sent = self.answered = None

    def surely_locked(self):
        """True while the lockout certainly still runs."""
        return time.monotonic() < self.sent + LOCKOUT

    def wait_end(self):
        time.sleep(max(0.0, self.answered + LOCKOUT + 0.1 - time.monotonic()))


def hammer(attempt, lockout, seconds=1.0):
    """Runs attempt() from 4 threads for `seconds`; returns the threads and
    the replies that arrived while the lockout surely ran."""
    replies, lock = [], threading.Lock()
    stop = time.monotonic() + seconds

    def loop():
        while time.monotonic() < stop:
            r = attempt()
            if lockout.surely_locked():
                with lock:
                    replies.append(r)

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    return threads, replies


# ---- SMTP AUTH -------------------------------------------------------------

def plain(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


def smtp_session(inst, source):
    s = Session(inst.port("submission"), source=source)
    s.expect(None, "220 ")
    s.expect("EHLO client.test", "250-")
    return s


def smtp_auth(s, password):
    return s.expect("AUTH PLAIN " + plain("alice@example.test", password), "")


def smtp_good_login(inst):
    """The good client's login; returns how long it took."""
    with smtp_session(inst, GOOD) as s:
        _, took = timed(smtp_auth, s, USERS["alice@example.test"])
        s.expect("QUIT", "221 ")
    return took


def test_smtp_auth_budget_across_connections():
    inst = smtp_install(tls=False, **CONFIG)
    lockout = Lockout()
    try:
        failure = 0
        # Three connections of guesses; each closes after PER_CONN failures.
        for conn in range(3):
            with smtp_session(inst, ATTACKER) as s:
                for attempt in range(PER_CONN):
                    if failure == BUDGET:
                        break
                    failure += 1
                    lockout.sent = time.monotonic()
                    reply, took = timed(smtp_auth, s, "guess-%d" % failure)
                    lockout.answered = time.monotonic()
                    want = "421 4.7.0 " if attempt == PER_CONN - 1 else "535 5.7.8 "
                    assert reply.startswith(want), (failure, reply)
                    assert took >= 0.9 * delay_s(failure), (failure, took)
                # The good client is not slowed by the guesser's delays.
                assert smtp_good_login(inst) < 2.0
                if failure == BUDGET:
                    # Locked out: refused before any check, and counted
                    # against the connection like a failure.
                    assert smtp_auth(s, "another-guess").startswith(
                        "421 4.7.0 mx.example.test Error: too many authentication failures")
        log = inst.log("smtpd")
        assert "event=auth_lockout ip=127.0.0.2 failures=%d" % BUDGET in log

        # Even the right password is refused from the locked-out address.
        with smtp_session(inst, ATTACKER) as s:
            assert smtp_auth(s, USERS["alice@example.test"]) == \
                "454 4.7.0 Error: too many failed logins from your address, try again later"

        # Four threads keep hammering; the good client still logs in.
        def attempt():
            with smtp_session(inst, ATTACKER) as s:
                return smtp_auth(s, "hammer")
        threads, replies = hammer(attempt, lockout)
        worst = max(smtp_good_login(inst) for _ in range(5))
        for t in threads:
            t.join()
        assert replies and all(r.startswith("454 4.7.0 ") for r in replies), replies[:5]
        assert worst < 2.0, "the good client's login took %.2f s" % worst
        # Refused attempts cost no password check: no new auth_failed events.
        assert inst.log("smtpd").count("event=auth_failed ") == BUDGET

        # After the lockout the right password works again...
        lockout.wait_end()
        with smtp_session(inst, ATTACKER) as s:
            assert smtp_auth(s, USERS["alice@example.test"]).startswith("235 2.7.0 ")
        # ...but the count has not decayed: the next failure pays the long
        # delay and locks the address again.
        with smtp_session(inst, ATTACKER) as s:
            reply, took = timed(smtp_auth, s, "after-lockout")
            assert reply.startswith("535 5.7.8 ") and took >= 0.9 * delay_s(BUDGET + 1)
            assert smtp_auth(s, "again").startswith("454 4.7.0 ")
    finally:
        smtp_close(inst)


# ---- POP3 USER/PASS and AUTH PLAIN ---------------------------------------------

FAILED = b"-ERR [AUTH] authentication failed\r\n"
FAILED_LAST = b"-ERR [AUTH] authentication failed; too many failures\r\n"
LOCKED = b"-ERR [SYS/TEMP] too many failed logins from your address, try again later\r\n"


def pop3_good_login(inst):
    start = time.monotonic()
    p = Pop3(inst.port("pop3"), source=GOOD)
    assert p.login().startswith(b"+OK maildrop has ")
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    return time.monotonic() - start


def test_pop3_auth_budget_across_connections():
    with pop3_install(**CONFIG) as inst:
        proc = inst.start("pop3d")
        lockout = Lockout()
        failure = 0
        for conn in range(3):
            p = Pop3(inst.port("pop3"), source=ATTACKER)
            for attempt in range(PER_CONN):
                if failure == BUDGET:
                    break
                failure += 1
                lockout.sent = time.monotonic()
                reply, took = timed(p.login, ALICE, "guess-%d" % failure)
                lockout.answered = time.monotonic()
                assert reply == (FAILED_LAST if attempt == PER_CONN - 1 else FAILED), \
                    (failure, reply)
                assert took >= 0.9 * delay_s(failure), (failure, took)
            assert pop3_good_login(inst) < 2.0
            if failure == BUDGET:
                assert p.login(ALICE, "another-guess") == \
                    b"-ERR [SYS/TEMP] too many failed logins from your address, " \
                    b"try again later; too many failures\r\n"
            p.close()
        assert "event=auth_lockout ip=127.0.0.2 failures=%d" % BUDGET in inst.log("pop3d")

        # Locked out: the right password too, and AUTH PLAIN as well as USER/PASS.
        p = Pop3(inst.port("pop3"), source=ATTACKER)
        assert p.login() == LOCKED
        assert p.cmd("AUTH PLAIN " + plain(ALICE, PASSWORD)) == LOCKED
        p.close()

        def attempt():
            q = Pop3(inst.port("pop3"), source=ATTACKER)
            try:
                return q.login(ALICE, "hammer")
            finally:
                q.close()
        threads, replies = hammer(attempt, lockout)
        worst = max(pop3_good_login(inst) for _ in range(5))
        for t in threads:
            t.join()
        assert replies and all(r == LOCKED for r in replies), replies[:5]
        assert worst < 2.0, "the good client's login took %.2f s" % worst
        assert inst.log("pop3d").count("event=auth_failed ") == BUDGET

        lockout.wait_end()
        p = Pop3(inst.port("pop3"), source=ATTACKER)
        assert p.login().startswith(b"+OK maildrop has ")
        assert p.cmd("QUIT").startswith(b"+OK")
        p.close()
        p = Pop3(inst.port("pop3"), source=ATTACKER)
        reply, took = timed(p.login, ALICE, "after-lockout")
        assert reply == FAILED and took >= 0.9 * delay_s(BUDGET + 1)
        assert p.login(ALICE, "again") == LOCKED
        p.close()
        assert inst.stop(proc) == 0
        log = inst.log("pop3d")
        assert " level=error " not in log and "Sanitizer" not in log
