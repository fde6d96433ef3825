"""pop3d with real clients: Python's poplib (plaintext, STLS, implicit TLS,
AUTH PLAIN), curl (pop3:// with --ssl-reqd, pop3s://, DELE) and fetchmail
pulling a mailbox the way users do, deleting or keeping by UIDL."""

import base64
import os
import poplib
import ssl
import subprocess

import pytest

from pop3lib import PASSWORD, deliver, entry_ids, message, new_user, pop3_install, running_pop3d


@pytest.fixture(scope="module")
def inst():
    """pop3d with the default policy: login needs TLS (STLS or pop3s)."""
    with running_pop3d() as inst:
        yield inst


def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def maildrop(inst, bodies):
    user = new_user(inst)
    return user, [deliver(inst, user, b) for b in bodies]


def check_session(pop, user, bodies, ids):
    """The whole TRANSACTION repertoire through poplib."""
    assert pop.stat() == (len(bodies), sum(map(len, bodies)))
    resp, listing, _ = pop.list()
    assert listing == [b"%d %d" % (i + 1, len(b)) for i, b in enumerate(bodies)]
    assert pop.list(2) == b"+OK 2 %d" % len(bodies[1])
    resp, uids, _ = pop.uidl()
    assert uids == [b"%d %d" % (i + 1, e) for i, e in enumerate(ids)]
    resp, lines, octets = pop.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == bodies[0]
    resp, lines, _ = pop.top(2, 0)
    assert b"\r\n".join(lines) + b"\r\n" == bodies[1].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    assert pop.dele(1).startswith(b"+OK")
    assert pop.rset().startswith(b"+OK")
    assert pop.dele(2).startswith(b"+OK")
    assert pop.noop() == b"+OK"
    assert pop.quit().startswith(b"+OK 1 messages deleted")


def test_poplib_plaintext_user_pass():
    with pop3_install(allow_plaintext_auth="yes") as inst:
        inst.start("pop3d")
        bodies = [message(1), message(2, ".leading dot\r\n")]
        user, ids = maildrop(inst, bodies)
        pop = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=10)
        assert set(pop.capa()) >= {"TOP", "USER", "UIDL", "RESP-CODES", "PIPELINING", "SASL"}
        assert pop.user(user) == b"+OK send PASS"
        assert pop.pass_(PASSWORD).startswith(b"+OK maildrop has 2 messages")
        check_session(pop, user, bodies, ids)
        assert entry_ids(inst, user) == [ids[0]]


def test_poplib_stls(inst):
    bodies = [message(1), message(2)]
    user, ids = maildrop(inst, bodies)
    pop = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=10)
    assert "USER" not in pop.capa()
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.user(user)
    pop.stls(tls_context())
    assert "USER" in pop.capa()
    pop.user(user)
    assert pop.pass_(PASSWORD).startswith(b"+OK")
    check_session(pop, user, bodies, ids)
    assert entry_ids(inst, user) == [ids[0]]


def test_poplib_implicit_tls_and_auth_plain(inst):
    bodies = [message(1), message(2)]
    user, ids = maildrop(inst, bodies)
    pop = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"), context=tls_context(), timeout=10)
    assert pop.capa()["SASL"] == ["PLAIN"]
    # poplib has no AUTH helper: the RFC 5034 exchange by hand, with the
    # continuation form ("+ " then the response).
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + PASSWORD.encode())
    pop._putcmd("AUTH PLAIN")
    assert pop._getline()[0] == b"+ "
    assert pop._shortcmd(token.decode()).startswith(b"+OK maildrop has 2 messages")
    check_session(pop, user, bodies, ids)


def test_poplib_wrong_password(inst):
    pop = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"), context=tls_context(), timeout=10)
    pop.user("alice@example.test")
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] authentication failed"):
        pop.pass_("wrong")


def curl(*args, check=True):
    p = subprocess.run(["curl", "-sS", "-k", "--max-time", "20", *args], capture_output=True,
                       timeout=30)
    if check:
        assert p.returncode == 0, p.stderr.decode()
    return p


def test_curl_list_retrieve_delete(inst):
    bodies = [message(1), message(2), message(3)]
    user, ids = maildrop(inst, bodies)
    cred = "%s:%s" % (user, PASSWORD)
    url = "pop3://127.0.0.1:%d/" % inst.port("pop3")
    surl = "pop3s://127.0.0.1:%d/" % inst.port("pop3s")
    listing = b"".join(b"%d %d\r\n" % (i + 1, len(b)) for i, b in enumerate(bodies))
    assert curl("--ssl-reqd", "-u", cred, url).stdout == listing
    assert curl("-u", cred, surl).stdout == listing
    assert curl("--ssl-reqd", "-u", cred, url + "2").stdout == bodies[1]
    assert curl("-u", cred, surl + "3").stdout == bodies[2]
    # -I: DELE has a one-line answer, no body to transfer; curl then QUITs.
    curl("--ssl-reqd", "-u", cred, url, "-X", "DELE 1", "-I")
    assert entry_ids(inst, user) == ids[1:]
    # Without TLS the login is refused, so curl fails and nothing changes.
    assert curl("-u", cred, url, check=False).returncode != 0
    # A wrong password is a failure too.
    assert curl("-u", user + ":wrong", surl, check=False).returncode != 0
    assert entry_ids(inst, user) == ids[1:]


def run_fetchmail(inst, rc_lines, home):
    rc = os.path.join(home, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no syslog\nset no bouncemail\n" + "\n".join(rc_lines) + "\n")
    os.chmod(rc, 0o600)
    p = subprocess.run(["fetchmail", "-f", rc, "--nosyslog", "-v"], capture_output=True,
                       text=True, env=dict(os.environ, HOME=home), timeout=60)
    return p


def fetched(spool):
    if not os.path.exists(spool):
        return []
    with open(spool, "rb") as f:
        return [m for m in f.read().split(b"\0") if m]


def poll_lines(inst, user, home, port_key, server_opts, user_opts):
    """A poll entry delivering each message to <home>/spool through an MDA
    that ends it with a NUL, so the spool splits back into messages."""
    spool = os.path.join(home, "spool")
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write("#!/bin/sh\ncat >> '%s' && printf '\\000' >> '%s'\n" % (spool, spool))
    os.chmod(mda, 0o755)
    return ['poll 127.0.0.1 with proto POP3 port %d %s' % (inst.port(port_key), server_opts),
            '  user "%s" there with password "%s" is "root" here' % (user, PASSWORD),
            '  mda "%s" no sslcertck %s' % (mda, user_opts)], spool


def test_fetchmail_stls_fetches_and_deletes(inst, tmp_path):
    bodies = [message(1), message(2, ".dot\r\n")]
    user, ids = maildrop(inst, bodies)
    lines, spool = poll_lines(inst, user, str(tmp_path), "pop3", "", "sslproto tls1.2+")
    p = run_fetchmail(inst, lines, str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "STLS" in p.stdout + p.stderr
    got = fetched(spool)
    assert len(got) == 2
    for m, b in zip(got, bodies):
        # fetchmail adds its own Received: line and delivers LF line ends.
        assert m.endswith(b.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n"))
    assert entry_ids(inst, user) == []
    # Nothing left: fetchmail exits 1 ("no mail").
    assert run_fetchmail(inst, lines, str(tmp_path)).returncode == 1


def test_fetchmail_implicit_tls_keep_uidl(inst, tmp_path):
    user, ids = maildrop(inst, [message(1), message(2)])
    lines, spool = poll_lines(inst, user, str(tmp_path), "pop3s", "uidl", "ssl keep")
    p = run_fetchmail(inst, lines, str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    assert len(fetched(spool)) == 2
    assert entry_ids(inst, user) == ids
    # Seen UIDs are skipped; a new message is the only one fetched.
    assert run_fetchmail(inst, lines, str(tmp_path)).returncode == 1
    deliver(inst, user, message(3))
    p = run_fetchmail(inst, lines, str(tmp_path))
    assert p.returncode == 0, p.stdout + p.stderr
    got = fetched(spool)
    assert len(got) == 3 and got[2].endswith(b"Body of message 3.\n")
