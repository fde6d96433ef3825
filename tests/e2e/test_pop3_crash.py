"""SIGKILL of pop3d during QUIT's UPDATE. The delete is one transaction, so
afterwards either every message the session marked is gone or none is, and
the database passes `mailctl db check`.

To kill pop3d inside the delete transaction, the test-only hook
MAILTEST_STORE_STALL_COMMIT=N:MS (store/include/store.h) holds the Nth commit of the
process open for MS milliseconds, after its writes and right before COMMIT.
The commits of a pop3d here: 1 the lease at login, 2 the delete (with its
lease check) at QUIT, 3 the release."""

import random
import time

from mailtest import writers_busy
from pop3lib import Pop3, deliver, entry_ids, message, new_user, pop3_install

MESSAGES = 5
MARKED = (1, 3, 4)  # message numbers the session deletes


def db_check(inst):
    check = inst.mailctl("db", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def quit_and_kill(inst, stall, wait):
    """Starts pop3d with commit 2 stalled as `stall` ("2:MS"), logs a fresh
    user in, marks MARKED, sends QUIT, calls wait(), then SIGKILLs pop3d.
    Returns the mailbox entries before and after."""
    user = new_user(inst)
    ids = [deliver(inst, user, message(i)) for i in range(MESSAGES)]
    proc = inst.start("pop3d", env={"MAILTEST_STORE_STALL_COMMIT": stall})
    try:
        p = Pop3(inst.port("pop3"))
        assert p.login(user).startswith(b"+OK maildrop has %d messages" % MESSAGES)
        for n in MARKED:
            assert p.cmd("DELE %d" % n) == b"+OK message %d deleted\r\n" % n
        p.send("QUIT\r\n")
        wait(p)
    finally:
        proc.kill()
        proc.wait()
    p.close()
    return ids, entry_ids(inst, user)


def test_kill_inside_the_delete_transaction_deletes_nothing():
    with pop3_install(allow_plaintext_auth="yes") as inst:
        def in_delete(p):
            # UPDATE has begun, and the write lock stays held: the stalled
            # commit 2.
            deadline = time.monotonic() + 20
            while "to=UPDATE" not in inst.log("pop3d"):
                assert time.monotonic() < deadline, "pop3d never entered UPDATE"
                time.sleep(0.02)
            held = 0
            while held < 3:
                assert time.monotonic() < deadline, "the delete never held the write lock"
                held = held + 1 if writers_busy(inst.db) else 0
                time.sleep(0.1)

        before, after = quit_and_kill(inst, "2:30000", in_delete)
        assert after == before
        db_check(inst)


def test_kill_at_random_points_of_the_update():
    """The stall is short, so a kill lands before, inside or after the
    delete: all marked messages go or none does, whichever it was."""
    rng = random.Random()
    outcomes = []
    with pop3_install(allow_plaintext_auth="yes") as inst:
        for _ in range(6):
            delay = rng.uniform(0, 0.5)
            before, after = quit_and_kill(inst, "2:250", lambda p: time.sleep(delay))
            kept = [before[i] for i in range(MESSAGES) if i + 1 not in MARKED]
            assert after in (before, kept), "partial delete after a kill %.2f s into QUIT: " \
                "%r of %r" % (delay, after, before)
            outcomes.append("none" if after == before else "all")
            db_check(inst)
    print("deleted after each kill: %s" % outcomes)
