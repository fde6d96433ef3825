"""smtpd, pop3d and mailctl on the PostgreSQL backend (db = postgresql://),
with a throwaway cluster from tests/tools/pgcluster.sh: mail in with
smtplib, out and deleted with poplib, the maildrop lock across sessions,
and a database restart in the middle that no client notices and that loses
nothing acknowledged."""
import poplib
import smtplib

import pytest

from mailtest import Install


def send(inst, subject):
    with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
        s.sendmail("bob@remote.test", ["alice@example.test"],
                   "Subject: %s\r\n\r\nover PostgreSQL\r\n" % subject)


def login(inst):
    p = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=30)
    p.user("alice@example.test")
    p.pass_("secret")
    return p


def subjects(pop):
    count = pop.stat()[0]
    return [next(l for l in pop.retr(i)[1] if l.startswith(b"Subject: ")).decode()[9:]
            for i in range(1, count + 1)]


def test_daemons_on_postgresql_through_a_restart(cluster):
    uri = cluster.uri
    inst = Install(tls=False, db=uri, allow_plaintext_auth="yes")
    try:
        assert "schema version 5" in inst.mailctl("db", "migrate").stdout
        inst.add_user("alice@example.test", "secret")
        inst.start("smtpd")
        inst.start("pop3d")
        for n in range(3):
            send(inst, "before %d" % n)
        pop = login(inst)
        assert subjects(pop) == ["before 0", "before 1", "before 2"]
        # The maildrop lock is in the database: a second session is refused.
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            login(inst)
        pop.dele(1)
        pop.quit()

        cluster.restart()
        for n in range(2):
            send(inst, "after %d" % n)  # smtplib raises on anything but 250
        pop = login(inst)
        assert subjects(pop) == ["before 1", "before 2", "after 0", "after 1"]
        pop.quit()
        assert inst.mailctl("db", "check").returncode == 0
    finally:
        inst.close()
