"""The durability contract under a crash: several clients send concurrently,
smtpd is killed with SIGKILL at a random moment, and every message that got
its 250 is in the store afterwards, which passes `mailctl db check`. Several
rounds on one database, each with a fresh smtpd: a kill can land anywhere in
a DATA, a group commit or its sync, and recovery from one crash must leave a
database the next smtpd and the next crash can build on."""

import random
import threading
import time

from smtptest import Session, smtp_install, stored

CLIENTS = 6
ROUNDS = 5
RUN_SECONDS = (0.2, 1.2)  # each round's time before the kill, drawn at random


def send_until_killed(port, rnd, client, acked, lock):
    """Sends messages over one connection until the server disappears;
    records the subject of each message acknowledged with 250. Every
    tenth message is over 256 KiB, so it is spooled to a file as it arrives."""
    try:
        with Session(port) as s:
            s.expect(None, "220 ")
            s.expect("EHLO client%d.test" % client, "250-")
            for n in range(100000):
                subject = "crash-%d-%d-%d" % (rnd, client, n)
                size = 300 * 1024 if n % 10 == 9 else (n % 50) * 20
                rcpts = ["bob@example.test"] + (["alice@example.test"] if n % 3 == 0 else [])
                # One pipelined group (RFC 2920), then the body.
                s.send("MAIL FROM:<c%d@remote.test>\r\n" % client +
                       "".join("RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n")
                for _ in range(1 + len(rcpts)):
                    s.expect(None, "250 ")
                s.expect(None, "354 ")
                s.send("Subject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s\r\n.\r\n"
                       % (subject, subject, ("x" * 98 + "\r\n") * (size // 100)))
                s.expect(None, "250 2.0.0 Ok: queued as ")
                with lock:
                    acked.append((subject, rcpts))
    except (OSError, AssertionError):
        return  # killed: whatever was not acknowledged may be lost


def check_acked(inst, acked):
    """The database passes db check and holds every acknowledged delivery."""
    # Opening the database read-write recovers it from its WAL first.
    check = inst.mailctl("db", "check", check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    contents = stored(inst.db)
    subjects = {}
    for mailbox in ("bob@example.test", "alice@example.test"):
        for m in contents.get(mailbox, []):
            subject = m.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            subjects.setdefault(mailbox, set()).add(subject)
    missing = [(subject, r) for subject, rcpts in acked for r in rcpts
               if subject not in subjects.get(r, set())]
    assert not missing, "%d acknowledged deliveries lost, e.g. %r" % (len(missing), missing[:5])


def test_sigkill_loses_no_acknowledged_message():
    rng = random.Random()
    inst = smtp_install(tls=False)
    try:
        acked, lock = [], threading.Lock()
        for rnd in range(ROUNDS):
            if rnd > 0:
                inst.smtpd = inst.start("smtpd")
            threads = [threading.Thread(target=send_until_killed,
                                        args=(inst.port("smtp"), rnd, i, acked, lock))
                       for i in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(*RUN_SECONDS))
            inst.smtpd.kill()
            inst.smtpd.wait()
            for t in threads:
                t.join(timeout=30)
            assert not any(t.is_alive() for t in threads)
            with lock:
                check_acked(inst, list(acked))
                print("round %d: %d acknowledged messages so far, all stored" % (rnd, len(acked)))
        assert len(acked) >= CLIENTS, "too few messages before the kills to test anything"
    finally:
        inst.close()
