"""End-to-end tests of mailctl: the real program on a real database, as an
operator (or a script) would run it.

Password hashes are made and checked with the system's libxcrypt through
ctypes, the library the store verifies them with. A few tests reach into
the SQLite file with Python's sqlite3 module to create what mailctl cannot
(stored messages, queue rows) or to damage it on purpose; they follow the
schema in store/store_schema.c.
"""

import ctypes
import os
import pty
import re
import select
import signal
import sqlite3
import ssl
import stat
import subprocess
import termios
import time

import pytest

from mailtest import ON_PG, Db, sqlite_only

DOMAIN = "example.test"
ALICE = "alice@example.test"


# ---- helpers ---------------------------------------------------------------

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                    ctypes.c_int]
_libcrypt.crypt_checksalt.argtypes = [ctypes.c_char_p]


def make_hash(password, prefix):
    """A crypt(3) hash of password with a fresh salt of method prefix ("$6$")."""
    # The lowest bcrypt cost keeps the test fast; the others' default is cheap.
    count = 4 if prefix.startswith("$2") else 0
    salt = _libcrypt.crypt_gensalt(prefix.encode(), count, None, 0)
    return _libcrypt.crypt(password.encode(), salt).decode()


def computes(prefix):
    """Whether libxcrypt computes the method: current (0) or legacy (3), not
    disabled (2)."""
    return _libcrypt.crypt_checksalt(prefix.encode() + b"saltsalt$") in (0, 3)


def verifies(password, hash_):
    out = _libcrypt.crypt(password.encode(), hash_.encode())
    return out is not None and out.decode() == hash_


def ok(res):
    assert res.rc == 0, "exit %d, stderr: %s" % (res.rc, res.err)
    return res


def fails(res, rc, message):
    """The command failed with `rc` and one stderr line containing message."""
    assert res.rc == rc, "exit %d (wanted %d), stdout: %s stderr: %s" % (
        res.rc, rc, res.out, res.err)
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailctl: "), res.err
    assert message in lines[0], res.err
    return res


def show(mailctl, address):
    """`user show` as a dict."""
    res = ok(mailctl("user", "show", address))
    return dict(line.split(": ", 1) for line in res.out.splitlines())


def add_user(mailctl, address, password="secret"):
    ok(mailctl("user", "add", address, "--password-stdin", stdin=password + "\n"))


@pytest.fixture
def domain(mailctl):
    ok(mailctl("domain", "add", DOMAIN))
    return DOMAIN


def db_connect(mail_dir):
    conn = Db(mail_dir.db)
    if not conn.pg:
        conn.sql("PRAGMA foreign_keys = ON")  # PostgreSQL checks them always
    return conn


def store_message(mail_dir, address, chunks):
    """Stores a message body (list of bytes chunks) in address's mailbox
    directly in the database, as store_deliver would. Returns the message id
    and the mailbox entry id."""
    size = sum(len(c) for c in chunks)
    with db_connect(mail_dir) as conn, conn.transaction():
        user_id = conn.one("SELECT id FROM users WHERE address = ?", address)
        msg = conn.one("INSERT INTO messages (size, created) VALUES (?, 0) RETURNING id", size)
        for seq, data in enumerate(chunks):
            conn.sql("INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)",
                     msg, seq, data)
        entry = conn.one("INSERT INTO mailbox_entries (user_id, message_id, size, created)"
                         " VALUES (?, ?, ?, 0) RETURNING id", user_id, msg, size)
    return msg, entry


def queue_message(mail_dir, sender, recipients, message_ids=None):
    """Queues a body for remote recipients directly in the database; returns
    the queue ids (and appends the message's id to message_ids)."""
    body = b"Subject: hi\r\n\r\nhello\r\n"
    ids = []
    with db_connect(mail_dir) as conn, conn.transaction():
        msg = conn.one("INSERT INTO messages (size, created) VALUES (?, 0) RETURNING id",
                       len(body))
        if message_ids is not None:
            message_ids.append(msg)
        conn.sql("INSERT INTO message_chunks (message_id, seq, data) VALUES (?, 0, ?)",
                 msg, body)
        for rcpt in recipients:
            ids.append(conn.one(
                "INSERT INTO queue (message_id, sender, recipient, created, next_attempt)"
                " VALUES (?, ?, ?, 0, 4000000000) RETURNING id", msg, sender, rcpt))
    return ids


# ---- help, usage, config ---------------------------------------------------

def test_help_lists_every_group(mailctl):
    for flag in ("--help", "-h"):
        res = ok(mailctl(flag, config=False))
        for cmd in ("domain add", "user add", "user import", "alias add", "mailbox list",
                    "queue retry", "cert selfsigned", "db check"):
            assert cmd in res.out
        assert "Exit status" in res.out
    assert ok(mailctl("help", "user")).out == ok(mailctl("user", "--help")).out


def test_group_and_command_help(mailctl):
    res = ok(mailctl("user", "--help"))
    assert "user import FILE" in res.out and "FILE:LINE" in res.out
    assert "domain add" not in res.out
    res = ok(mailctl("user", "add", "--help"))
    assert res.out.startswith("usage: mailctl [-c FILE] user add ADDRESS [--password-stdin]")
    res = ok(mailctl("--version", config=False))
    assert re.match(r"mailctl \(mail\) \d+\.\d+\.\d+\n$", res.out)


@pytest.mark.parametrize("args, message", [
    ([], "no command given"),
    (["-x"], "unknown option '-x'"),
    (["frob"], "unknown command 'frob'"),
    (["user"], "missing subcommand"),
    (["user", "frob"], "unknown subcommand 'frob'"),
    (["domain", "add"], "missing argument"),
    (["domain", "add", "a.test", "b.test"], "too many arguments"),
    (["domain", "add", "bad domain"], "invalid domain 'bad domain': not a domain name"),
    (["user", "add", "alice@example.test", "--bogus"], "unknown option '--bogus'"),
    (["user", "add", "no-at-sign", "--password-stdin"], "invalid address 'no-at-sign'"),
    (["user", "add", "@example.test"], "invalid address"),
    (["user", "quota", "alice@example.test", "10X"], "invalid quota '10X'"),
    (["user", "quota", "alice@example.test", "-1"], "unknown option '-1'"),
    (["user", "quota", "alice@example.test", "9223372036854775808"], "invalid quota"),
    (["user", "quota", "alice@example.test", "8388608T"], "invalid quota"),
    (["user", "quota", "alice@example.test"], "missing argument"),
    (["user", "quota", "no-at-sign", "1M"], "invalid address 'no-at-sign'"),
    (["queue", "retry", "abc"], "invalid queue id 'abc'"),
    (["queue", "delete", "0"], "invalid queue id '0'"),
    (["cert", "selfsigned", "--days"], "option needs a value"),
    (["cert", "selfsigned", "--force=yes"], "option takes no value"),
    (["help", "frob"], "unknown command 'frob'"),
])
def test_usage_errors_exit_2(mailctl, mail_dir, args, message):
    fails(mailctl(*args), 2, message)
    assert not mail_dir.db_exists()


def test_unknown_config_key_names_file_and_line(mailctl, mail_dir):
    mail_dir.write_config(no_such_key="1")
    res = fails(mailctl("domain", "list"), 2, "no_such_key")
    assert "%s:3:" % mail_dir.conf in res.err


def test_missing_config_file_is_a_config_error(mailctl, mail_dir):
    res = mailctl("-c", mail_dir.path("nope.conf"), "domain", "list", config=False)
    fails(res, 2, "nope.conf")


def test_mail_db_environment_selects_the_database(mailctl, mail_dir):
    db = mail_dir.path("other.db")
    ok(mailctl("domain", "add", DOMAIN, config=False, env={"MAIL_DB": str(db)}))
    assert db.exists()
    assert ok(mailctl("domain", "list", config=False, env={"MAIL_DB": str(db)})).out == \
        DOMAIN + "\n"
    # The environment overrides the config file too.
    assert ok(mailctl("domain", "list", env={"MAIL_DB": str(db)})).out == DOMAIN + "\n"


# ---- domains -----------------------------------------------------------------

def test_domain_add_list_del(mailctl):
    ok(mailctl("domain", "add", DOMAIN))
    ok(mailctl("domain", "add", "Other.TEST"))
    assert sorted(ok(mailctl("domain", "list")).out.split()) == ["example.test", "other.test"]
    fails(mailctl("domain", "add", DOMAIN), 1, "domain 'example.test' already exists")
    fails(mailctl("domain", "add", "EXAMPLE.test"), 1, "already exists")
    ok(mailctl("domain", "del", "other.test"))
    assert ok(mailctl("domain", "list")).out == "example.test\n"
    fails(mailctl("domain", "del", "other.test"), 1, "'other.test' is not a local domain")


def test_domain_with_users_or_aliases_cannot_be_deleted(mailctl, domain):
    add_user(mailctl, ALICE)
    fails(mailctl("domain", "del", domain), 1, "still has users or aliases")
    ok(mailctl("user", "del", ALICE))
    ok(mailctl("alias", "add", "info@" + domain, "someone@remote.test"))
    fails(mailctl("domain", "del", domain), 1, "still has users or aliases")
    ok(mailctl("alias", "del", "info@" + domain, "someone@remote.test"))
    ok(mailctl("domain", "del", domain))
    assert ok(mailctl("domain", "list")).out == ""


def test_read_commands_never_create_the_database(mailctl, mail_dir):
    # On PostgreSQL the database is there, empty: they make no schema in it.
    want = ("the database has no mail schema: run `mailctl db migrate`" if ON_PG else
            "%s: no such database file (mailctl db migrate creates it)" % mail_dir.db)
    for args in (["domain", "list"], ["user", "list"], ["queue", "list"], ["db", "check"]):
        fails(mailctl(*args), 1, want)
    assert not mail_dir.db_exists()


# ---- users -------------------------------------------------------------------

def test_user_add_show_list(mailctl, domain):
    add_user(mailctl, ALICE, "correct horse")
    info = show(mailctl, ALICE)
    assert info["address"] == ALICE
    assert info["hash"].startswith("$y$")
    assert verifies("correct horse", info["hash"])
    assert not verifies("wrong", info["hash"])
    assert info["disabled"] == "no"
    add_user(mailctl, "bob@" + domain)
    assert sorted(ok(mailctl("user", "list")).out.split()) == [ALICE, "bob@" + domain]
    assert sorted(ok(mailctl("user", "list", domain)).out.split()) == [ALICE, "bob@" + domain]


def test_user_add_failures(mailctl, domain):
    add_user(mailctl, ALICE)
    fails(mailctl("user", "add", ALICE, "--password-stdin", stdin="x\n"), 1,
          "user 'alice@example.test' already exists")
    fails(mailctl("user", "add", "bob@elsewhere.test", "--password-stdin", stdin="x\n"), 1,
          "mailctl: user add: domain 'elsewhere.test' is not a local domain")
    ok(mailctl("alias", "add", "carol@" + domain, ALICE))
    fails(mailctl("user", "add", "carol@" + domain, "--password-stdin", stdin="x\n"), 1,
          "already exists as a user or an alias")
    assert ok(mailctl("user", "list")).out == ALICE + "\n"


@pytest.mark.parametrize("stdin, rc, message", [
    ("\n", 2, "empty password"),
    ("", 2, "no password on standard input"),
    ("a\0b\n", 2, "NUL byte"),
    ("x" * 1025 + "\n", 2, "password longer than 1024 octets"),
])
def test_password_stdin_errors(mailctl, domain, stdin, rc, message):
    fails(mailctl("user", "add", ALICE, "--password-stdin", stdin=stdin), rc, message)
    assert ok(mailctl("user", "list")).out == ""


def test_password_stdin_reads_exactly_one_line(mailctl, domain):
    ok(mailctl("user", "add", ALICE, "--password-stdin", stdin="pass word\r\nsecond line\n"))
    assert verifies("pass word", show(mailctl, ALICE)["hash"])


def test_password_prompt_needs_a_terminal(mailctl, domain):
    # stdin is /dev/null here, not a terminal: fail at once instead of hanging.
    fails(mailctl("user", "add", ALICE), 2, "not a terminal; use --password-stdin")
    fails(mailctl("user", "add", ALICE, stdin="secret\n"), 2, "not a terminal")


def test_user_passwd(mailctl, domain):
    add_user(mailctl, ALICE, "old")
    before = show(mailctl, ALICE)["hash"]
    ok(mailctl("user", "passwd", ALICE, "--password-stdin", stdin="new\n"))
    after = show(mailctl, ALICE)["hash"]
    assert after != before and verifies("new", after) and not verifies("old", after)
    fails(mailctl("user", "passwd", "nobody@" + domain, "--password-stdin", stdin="x\n"), 1,
          "no such user 'nobody@example.test'")


def test_user_quota_and_usage(mailctl, mail_dir, domain):
    add_user(mailctl, ALICE)
    info = show(mailctl, ALICE)
    assert (info["quota"], info["used"], info["messages"]) == ("unlimited", "0", "0")
    assert list(info) == ["address", "hash", "disabled", "quota", "used", "messages"]
    for arg, octets in (("1000", "1000"), ("2K", "2048"), ("3m", "3145728"),
                        ("1G", "1073741824"), ("9223372036854775807", "9223372036854775807")):
        assert ok(mailctl("user", "quota", ALICE, arg)).out == ""
        assert show(mailctl, ALICE)["quota"] == octets
    store_message(mail_dir, ALICE, [b"x" * 1000, b"y" * 234])
    store_message(mail_dir, ALICE, [b"z" * 10])
    info = show(mailctl, ALICE)
    assert (info["used"], info["messages"]) == ("1244", "2")
    # The domain is case-insensitive, as for every address.
    ok(mailctl("user", "quota", "alice@EXAMPLE.test", "0"))
    assert show(mailctl, ALICE)["quota"] == "unlimited"
    ok(mailctl("user", "quota", ALICE, "5K"))
    ok(mailctl("user", "quota", ALICE, "unlimited"))
    assert show(mailctl, ALICE)["quota"] == "unlimited"
    fails(mailctl("user", "quota", "nobody@" + domain, "1M"), 1,
          "no such user 'nobody@example.test'")
    ok(mailctl("db", "check"))


def test_user_disable_enable(mailctl, domain):
    add_user(mailctl, ALICE)
    ok(mailctl("user", "disable", ALICE))
    assert ok(mailctl("user", "list")).out == ALICE + " disabled\n"
    assert show(mailctl, ALICE)["disabled"] == "yes"
    ok(mailctl("user", "enable", ALICE))
    assert ok(mailctl("user", "list")).out == ALICE + "\n"
    fails(mailctl("user", "disable", "nobody@" + domain), 1, "no such user")


def test_user_del_removes_the_mailbox(mailctl, mail_dir, domain):
    add_user(mailctl, ALICE)
    store_message(mail_dir, ALICE, [b"Subject: x\r\n\r\nbody\r\n"])
    ok(mailctl("user", "del", ALICE))
    assert ok(mailctl("user", "list")).out == ""
    fails(mailctl("user", "del", ALICE), 1, "no such user 'alice@example.test'")
    fails(mailctl("mailbox", "list", ALICE), 1, "no such user")
    with db_connect(mail_dir) as conn:
        assert conn.one("SELECT count(*) FROM mailbox_entries") == 0


# ---- the password prompt on a terminal ---------------------------------------

class Terminal:
    """mailctl on a pseudo-terminal of its own (its controlling /dev/tty)."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""

    def expect(self, text, timeout=20.0):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, "no %r on the terminal; got %r" % (text, self.seen)
            if select.select([self.fd], [], [], left)[0]:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    data = b""
                assert data, "terminal closed before %r; got %r" % (text, self.seen)
                self.seen += data

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout=20.0):
        """Reads the rest of the output and returns the exit status (minus
        the signal number when a signal ended the program)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    os.kill(self.pid, signal.SIGKILL)
                    pytest.fail("mailctl did not exit; terminal: %r" % self.seen)
                if not select.select([self.fd], [], [], left)[0]:
                    continue
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # EIO: the child is gone
                    break
                if not data:
                    break
                self.seen += data
        finally:
            _, status = os.waitpid(self.pid, 0)
            # On Linux the master side reads the terminal's settings as the
            # program left them.
            self.echo = bool(termios.tcgetattr(self.fd)[3] & termios.ECHO)
            os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


@pytest.fixture
def prompt_run(binary, program_env, mail_dir):
    """prompt_run(args) -> Terminal running mailctl -c <conf> args."""
    def start(args):
        argv = [str(binary("mailctl")), "-c", str(mail_dir.conf)] + args
        return Terminal(argv, program_env())
    return start


def test_password_prompt_without_echo(prompt_run, mailctl, domain):
    add_user(mailctl, ALICE, "old")
    before = show(mailctl, ALICE)["hash"]

    term = prompt_run(["user", "passwd", ALICE])
    term.expect("New password for %s: " % ALICE)
    term.send("typed secret\n")
    term.expect("Retype new password: ")
    term.send("typed secret\n")
    assert term.wait() == 0, term.seen
    assert b"typed secret" not in term.seen  # echo was off
    assert term.echo                         # and is on again

    after = show(mailctl, ALICE)["hash"]
    assert after != before and verifies("typed secret", after)


def test_password_prompt_mismatch(prompt_run, mailctl, domain):
    term = prompt_run(["user", "add", ALICE])
    term.expect("New password")
    term.send("one\n")
    term.expect("Retype new password: ")
    term.send("two\n")
    assert term.wait() == 2
    assert b"mailctl: user add: passwords do not match" in term.seen
    assert ok(mailctl("user", "list")).out == ""


def test_password_prompt_restores_echo_on_interrupt(prompt_run, domain):
    term = prompt_run(["user", "add", ALICE])
    term.expect("New password")
    term.send("\x03")  # ^C: SIGINT from the terminal
    assert term.wait() == -signal.SIGINT  # killed by it,
    assert term.echo                      # after putting echo back


# ---- import ------------------------------------------------------------------

def test_import_dovecot_passwd_file(mailctl, mail_dir, domain):
    h6 = make_hash("pw-alice", "$6$")
    h2b = make_hash("pw-bob", "$2b$")
    h5 = make_hash("pw-ivan", "$5$")
    h2y = "$2y$" + make_hash("pw-judy", "$2b$")[4:]
    hy = make_hash("pw-kim", "$y$")
    lines = [
        "# exported from dovecot",                                              # 1
        "",                                                                     # 2
        "alice@example.test:{SHA512-CRYPT}%s:1000:1000::/home/alice::" % h6,    # 3
        "bob@example.test:{BLF-CRYPT}%s" % h2b,                                 # 4
        "carol@example.test:%s::::::userdb_quota_rule=*:storage=1G" % h6,       # 5 bare
        "dave@example.test:{PLAIN}secret:1000:1000::::",                        # 6
        "erin@example.test:{CRAM-MD5}0123456789abcdef:::",                      # 7
        "frank@other.test:{SHA512-CRYPT}%s" % h6,                               # 8
        "gina@example.test:{SHA512-CRYPT}%s" % h2b,                             # 9
        "noatsign:{CRYPT}%s" % h6,                                              # 10
        "harry@example.test:plaintext",                                         # 11
        "ivan@example.test:{SHA256-CRYPT}%s" % h5,                              # 12
        "judy@example.test:{blf-crypt}%s\r" % h2y,                              # 13
        "   # indented comment",                                                # 14
        "alice@example.test:{SHA512-CRYPT}%s" % make_hash("x", "$6$"),          # 15 exists
        "kim@example.test:{CRYPT}%s" % hy,                                      # 16
        "leo@example.test:{SHA512-CRYPT}$6$broken",                             # 17
        "mia@example.test",                                                     # 18
        "ALICE@example.test:{SHA512-CRYPT}%s" % h6,                             # 19 exists
        "a..b@example.test:{SHA512-CRYPT}%s" % h6,                              # 20
    ]
    path = mail_dir.path("passwd")
    path.write_text("\n".join(lines) + "\n")

    res = mailctl("user", "import", str(path))
    assert res.rc == 1, res
    errors = res.err.splitlines()
    # sha256-crypt imports (and logs in: test_import_login.py) wherever
    # libxcrypt still computes it, legacy or not; only a build that
    # disables it altogether refuses it.
    sha256_ok = computes("$5$")
    failed = [6, 7, 8, 9, 10, 11, 17, 18, 20] + ([] if sha256_ok else [12])
    assert errors[-1] == "mailctl: user import: %d lines of %s failed" % (len(failed), path)
    bad = {int(e.split(":")[1]): e for e in errors[:-1]}
    assert sorted(bad) == sorted(failed), res.err
    assert "scheme PLAIN cannot be imported" in bad[6]
    assert "scheme CRAM-MD5 cannot be imported" in bad[7]
    assert "domain 'other.test' is not a local domain" in bad[8]
    assert "does not match its scheme SHA512-CRYPT" in bad[9]
    assert "invalid address 'noatsign'" in bad[10]
    assert "not a crypt(3) hash" in bad[11]
    assert "not a crypt(3) hash the daemons can verify" in bad[17]
    if not sha256_ok:
        assert "cannot verify" in bad[12]
    assert "no password field" in bad[18]
    assert all(e.startswith("%s:" % path) for e in errors[:-1])
    assert "%s:15: 'alice@example.test' already exists, left unchanged" % path in res.out
    assert "%s:19: 'ALICE@example.test' already exists as 'alice@example.test', left unchanged" \
        % path in res.out
    assert "invalid address 'a..b@example.test'" in bad[20]
    users = {u: p for u, p in [("alice", h6), ("bob", h2b), ("carol", h6), ("judy", h2y),
                               ("kim", hy)] + ([("ivan", h5)] if sha256_ok else [])}
    assert res.out.splitlines()[-1] == \
        "imported %d, skipped 2 (already exist), failed %d" % (len(users), len(failed))

    assert sorted(ok(mailctl("user", "list")).out.split()) == \
        sorted(u + "@example.test" for u in users)
    for user, hash_ in users.items():
        assert show(mailctl, user + "@example.test")["hash"] == hash_
    assert verifies("pw-alice", h6) and verifies("pw-judy", h2y)


def test_import_clean_file_from_stdin(mailctl, domain):
    text = "alice@example.test:{SHA512-CRYPT}%s\n" % make_hash("a", "$6$")
    res = ok(mailctl("user", "import", "-", stdin=text))
    assert res.out == "imported 1, skipped 0 (already exist), failed 0\n"
    # Importing again changes nothing and is not an error.
    res = ok(mailctl("user", "import", "-", stdin=text))
    assert res.out.endswith("imported 0, skipped 1 (already exist), failed 0\n")


def test_import_missing_file(mailctl, mail_dir):
    fails(mailctl("user", "import", str(mail_dir.path("nope"))), 1, "No such file")


# ---- aliases -----------------------------------------------------------------

def test_alias_add_list_del(mailctl, domain):
    add_user(mailctl, ALICE)
    ok(mailctl("domain", "add", "other.test"))
    ok(mailctl("alias", "add", "postmaster@" + domain, ALICE))
    ok(mailctl("alias", "add", "postmaster@" + domain, "ops@remote.test"))
    ok(mailctl("alias", "add", "info@other.test", ALICE))
    listing = ok(mailctl("alias", "list")).out.splitlines()
    assert sorted(listing) == ["info@other.test -> alice@example.test",
                               "postmaster@example.test -> alice@example.test",
                               "postmaster@example.test -> ops@remote.test"]
    assert ok(mailctl("alias", "list", "other.test")).out == \
        "info@other.test -> alice@example.test\n"

    fails(mailctl("alias", "add", "postmaster@" + domain, ALICE), 1, "already exists")
    fails(mailctl("alias", "add", "x@remote.test", ALICE), 1,
          "domain 'remote.test' is not a local domain")
    fails(mailctl("alias", "add", ALICE, "ops@remote.test"), 1, "is a user, not an alias")
    fails(mailctl("alias", "add", "x@" + domain, "bad address"), 2, "invalid")

    ok(mailctl("alias", "del", "postmaster@" + domain, "ops@remote.test"))
    fails(mailctl("alias", "del", "postmaster@" + domain, "ops@remote.test"), 1, "no alias")
    assert ok(mailctl("alias", "list", domain)).out == \
        "postmaster@example.test -> alice@example.test\n"


# ---- addresses: one validator, case, postmaster, loops (issue 10) -------------

LOCAL_65 = "l" * 65 + "@example.test"
LABEL_70 = "a@" + "d" * 70 + ".example.test"


@pytest.mark.parametrize("address", [
    "a..b@example.test", "a.@example.test", ".a@example.test", 'a"b@example.test',
    LOCAL_65, LABEL_70, "a b@example.test", "a@b@example.test", "alice@example.test.",
    "alice@-example.test", "alice@[300.0.0.1]",
])
def test_addresses_smtp_refuses_are_usage_errors(mailctl, mail_dir, address):
    ok(mailctl("domain", "add", DOMAIN))
    fails(mailctl("user", "add", address, "--password-stdin", stdin="x\n"), 2,
          "invalid address '%s'" % address)
    fails(mailctl("alias", "add", address, ALICE), 2, "invalid address")
    fails(mailctl("alias", "add", "info@" + DOMAIN, address), 2, "invalid address")
    assert ok(mailctl("user", "list")).out == ""
    assert ok(mailctl("alias", "list")).out == ""


@pytest.mark.parametrize("domain_name, message", [
    ("d" * 70 + ".test", "too long"),
    ("a..b.test", "not a domain name"),
    ("a-.test", "not a domain name"),
    ("a_b.test", "not a domain name"),
    ("a.test.", "not a domain name"),
    ("[192.0.2.1]", "an address literal cannot be a local domain"),
    ("b\u00fccher.test", "use the A-label (xn--) form"),
])
def test_domains_smtp_refuses_are_usage_errors(mailctl, mail_dir, domain_name, message):
    fails(mailctl("domain", "add", domain_name), 2, message)
    assert not mail_dir.db_exists()


def test_addresses_smtp_accepts_are_storable(mailctl, domain):
    """Quoted local parts, the longest local part and label, UTF-8."""
    longest = "l" * 64 + "@" + "d" * 63 + "." + DOMAIN
    ok(mailctl("domain", "add", "d" * 63 + "." + DOMAIN))
    for address in ('"a b"@example.test', '"a@b"@example.test', "l" * 64 + "@example.test",
                    longest, "j\u00fcrgen@example.test", "a+b=c@example.test"):
        add_user(mailctl, address)
    # Stored in the SMTP parser's canonical form: "john"@ is john@.
    add_user(mailctl, '"john"@example.test')
    users = ok(mailctl("user", "list")).out.splitlines()
    assert '"a b"@example.test' in users and '"a@b"@example.test' in users
    assert "john@example.test" in users and longest in users
    assert show(mailctl, '"A B"@example.test')["address"] == '"a b"@example.test'
    ok(mailctl("alias", "add", "q@example.test", '"a@b"@example.test'))
    ok(mailctl("user", "del", '"a@b"@example.test'))
    # An address literal is an address, just never a local one.
    ok(mailctl("alias", "add", "lit@example.test", "x@[192.0.2.1]"))
    fails(mailctl("user", "add", "x@[192.0.2.1]", "--password-stdin", stdin="x\n"), 1,
          "domain '[192.0.2.1]' is not a local domain")


def test_addresses_differing_only_by_case(mailctl, domain):
    add_user(mailctl, ALICE, "pw")
    fails(mailctl("user", "add", "Alice@example.test", "--password-stdin", stdin="x\n"), 1,
          "user 'Alice@example.test' already exists as 'alice@example.test' "
          "(addresses match without regard to case)")
    fails(mailctl("user", "add", "ALICE@example.test", "--password-stdin", stdin="x\n"), 1,
          "already exists as 'alice@example.test'")
    assert ok(mailctl("user", "list")).out == ALICE + "\n"
    # Every command finds the user in any case; the spelling is kept.
    assert show(mailctl, "ALICE@Example.Test")["address"] == ALICE
    ok(mailctl("user", "passwd", "Alice@example.test", "--password-stdin", stdin="new\n"))
    assert verifies("new", show(mailctl, ALICE)["hash"])
    ok(mailctl("user", "disable", "aLICE@example.test"))
    assert ok(mailctl("user", "list")).out == ALICE + " disabled\n"
    ok(mailctl("user", "enable", "ALICE@example.test"))
    assert ok(mailctl("mailbox", "list", "ALICE@example.test")).out == \
        "total: 0 messages, 0 octets\n"
    # Aliases: an alias cannot take a user's address in another case, and
    # a second spelling of an alias adds a target to the same alias.
    fails(mailctl("alias", "add", "Alice@example.test", "x@remote.test"), 1,
          "'Alice@example.test' is a user, not an alias: it is 'alice@example.test'")
    ok(mailctl("alias", "add", "Team@example.test", ALICE))
    fails(mailctl("alias", "add", "TEAM@example.test", "ALICE@example.test"), 1,
          "alias Team@example.test -> ALICE@example.test already exists")
    fails(mailctl("user", "add", "team@example.test", "--password-stdin", stdin="x\n"), 1,
          "already exists as a user or an alias: team@example.test is an alias")
    ok(mailctl("alias", "del", "TEAM@example.test", "Alice@Example.test"))
    assert ok(mailctl("alias", "list")).out == ""
    ok(mailctl("user", "del", "Alice@EXAMPLE.test"))
    assert ok(mailctl("user", "list")).out == ""


def test_alias_targets_loops_and_depth(mailctl, domain):
    add_user(mailctl, ALICE)
    # A local target must exist (in any case, or without its extension) ...
    fails(mailctl("alias", "add", "loop1@example.test", "loop2@example.test"), 1,
          "loop2@example.test is neither a user nor an alias: add it first, or use --force")
    ok(mailctl("alias", "add", "info@example.test", "ALICE@example.test"))
    ok(mailctl("alias", "add", "news@example.test", "alice+news@example.test"))
    ok(mailctl("alias", "add", "ext@example.test", "nobody@remote.test"))
    # ... unless forced; loops never.
    ok(mailctl("alias", "add", "loop1@example.test", "loop2@example.test", "--force"))
    fails(mailctl("alias", "add", "loop2@example.test", "loop1@example.test"), 1,
          "alias loop: loop1@example.test leads back to loop2@example.test")
    fails(mailctl("alias", "add", "--force", "loop2@example.test", "Loop1@example.test"), 1,
          "alias loop")
    fails(mailctl("alias", "add", "self@example.test", "SELF@example.test", "--force"), 1,
          "an alias cannot point at itself")
    # Resolution follows 8 aliases: c1 -> ... -> c8 -> alice is the longest chain.
    for i in range(8, 0, -1):
        ok(mailctl("alias", "add", "c%d@example.test" % i,
                   ALICE if i == 8 else "c%d@example.test" % (i + 1)))
    fails(mailctl("alias", "add", "c0@example.test", "c1@example.test"), 1,
          "alias chain too deep: c0@example.test -> c1@example.test would make a chain of 9 "
          "aliases (at most 8)")
    assert "loop2" not in ok(mailctl("alias", "list")).out.split(" -> ")[0]


def test_alias_target_extension_needs_a_delimiter(mailctl, mail_dir, domain):
    add_user(mailctl, ALICE)
    mail_dir.write_config(recipient_delimiter="")
    fails(mailctl("alias", "add", "news@example.test", "alice+news@example.test"), 1,
          "alice+news@example.test is neither a user nor an alias")
    mail_dir.write_config(recipient_delimiter="-")
    ok(mailctl("alias", "add", "news@example.test", "alice-news@example.test"))


def test_domain_add_says_where_postmaster_goes(mailctl, mail_dir):
    res = ok(mailctl("domain", "add", "Example.TEST"))
    assert res.out == ("mail to postmaster@example.test is refused until you add an alias (or "
                       "set postmaster_address):\n"
                       "  mailctl alias add postmaster@example.test ADDRESS\n")
    mail_dir.write_config(postmaster_address="ops@example.net")
    res = ok(mailctl("domain", "add", "other.test"))
    assert res.out == ("postmaster@other.test goes to postmaster_address ops@example.net; to "
                       "send it elsewhere:\n  mailctl alias add postmaster@other.test ADDRESS\n")
    mail_dir.write_config(postmaster_address="not an address")
    fails(mailctl("domain", "add", "third.test"), 2,
          "postmaster_address 'not an address': address syntax error")
    res = mailctl("domain", "--help")
    assert "postmaster_address" in res.out


def test_password_of_spaces_accepted_empty_refused(mailctl, domain):
    add_user(mailctl, ALICE, " ")
    assert verifies(" ", show(mailctl, ALICE)["hash"])
    assert not verifies("", show(mailctl, ALICE)["hash"])
    fails(mailctl("user", "passwd", ALICE, "--password-stdin", stdin="\n"), 2, "empty password")
    fails(mailctl("user", "add", "bob@example.test", "--password-stdin", stdin="\r\n"), 2,
          "empty password")


# Schema 1 as released (store/store_schema.c, migration 1), for upgrades.
SCHEMA_V1 = """
CREATE TABLE domains (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE users (id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains (id),
  address TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  quota INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
CREATE INDEX users_domain ON users (domain_id);
CREATE TABLE aliases (id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains (id),
  address TEXT NOT NULL, target TEXT NOT NULL, UNIQUE (address, target));
CREATE INDEX aliases_domain ON aliases (domain_id);
CREATE INDEX aliases_target ON aliases (target);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL,
  created INTEGER NOT NULL);
CREATE TABLE message_chunks (message_id INTEGER NOT NULL REFERENCES messages (id),
  seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (message_id, seq));
CREATE TABLE mailbox_entries (id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id),
  message_id INTEGER NOT NULL REFERENCES messages (id), size INTEGER NOT NULL,
  created INTEGER NOT NULL);
CREATE INDEX mailbox_entries_user ON mailbox_entries (user_id, id);
CREATE INDEX mailbox_entries_message ON mailbox_entries (message_id);
CREATE TABLE pop3_locks (mailbox TEXT PRIMARY KEY, owner TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL REFERENCES messages (id), sender TEXT NOT NULL,
  recipient TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
  next_attempt INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0, lease_owner TEXT,
  lease_until INTEGER, last_error TEXT NOT NULL DEFAULT '');
CREATE INDEX queue_due ON queue (state, next_attempt);
CREATE INDEX queue_message ON queue (message_id);
PRAGMA application_id = 1296124236;
PRAGMA user_version = 1;
"""


@sqlite_only("an upgrade from schema 1; the PostgreSQL backend starts at schema 5 (pg_schema.c)")
def test_db_migrate_reports_case_conflicts(mailctl, mail_dir):
    """A schema 1 database where mailctl made three mailboxes of one name."""
    conn = sqlite3.connect(mail_dir.db)
    conn.executescript(SCHEMA_V1)
    with conn:
        conn.execute("INSERT INTO domains (id, name) VALUES (1, 'example.test')")
        for uid, address in ((1, "alice@example.test"), (2, "Alice@example.test"),
                             (3, "ALICE@example.test"), (4, "bob@example.test"),
                             (5, "a..b@example.test")):
            conn.execute("INSERT INTO users (id, domain_id, address, hash, created)"
                         " VALUES (?, 1, ?, ?, 0)", (uid, address, make_hash("pw%d" % uid, "$6$")))
        conn.execute("INSERT INTO aliases (domain_id, address, target)"
                     " VALUES (1, 'Sales@example.test', 'bob@example.test')")
        conn.execute("INSERT INTO aliases (domain_id, address, target)"
                     " VALUES (1, 'sales@example.test', 'alice@example.test')")
    conn.close()
    store_message(mail_dir, "Alice@example.test", [b"kept"])
    fails(mailctl("user", "list"), 1, "run `mailctl db migrate`")

    res = fails(mailctl("db", "migrate"), 1,
                "mailctl: db migrate: 3 address conflicts to resolve (see `mailctl db --help`)")
    assert res.out == (
        "%s: schema version 5\n"
        "conflict: users differ only by case: alice@example.test Alice@example.test "
        "ALICE@example.test (each takes mail and logins under its own spelling, other "
        "spellings go to alice@example.test)\n"
        "conflict: aliases differ only by case: sales@example.test Sales@example.test (each "
        "keeps its own targets, other spellings go to sales@example.test)\n"
        "conflict: user a..b@example.test is not a valid address (address syntax error): no "
        "mail can reach it\n" % mail_dir.db)
    res = mailctl("db", "check")
    assert res.rc == 1 and res.out.count("problem: ") == 3, res
    # Nothing merged: each spelling is its own user with its own mail.
    assert ok(mailctl("user", "list")).out.split() == [
        "ALICE@example.test", "Alice@example.test", "a..b@example.test", "alice@example.test",
        "bob@example.test"]
    assert ok(mailctl("mailbox", "list", "Alice@example.test")).out.endswith(
        "total: 1 message, 4 octets\n")
    assert ok(mailctl("mailbox", "list", "aLiCe@example.test")).out == \
        "total: 0 messages, 0 octets\n"
    assert verifies("pw3", show(mailctl, "ALICE@example.test")["hash"])
    # What the rules now refuse can still be named to look at or remove it,
    # never added.
    assert verifies("pw5", show(mailctl, "a..b@example.test")["hash"])
    ok(mailctl("user", "disable", "a..b@example.test"))
    ok(mailctl("mailbox", "list", "a..b@example.test"))
    fails(mailctl("user", "add", "a..b@example.test", "--password-stdin", stdin="x\n"), 2,
          "invalid address")
    ok(mailctl("user", "del", "a..b@example.test"))
    # Resolved by removing the extra spellings, named exactly.
    ok(mailctl("user", "del", "ALICE@example.test"))
    ok(mailctl("user", "del", "alice@example.test"))
    ok(mailctl("alias", "del", "Sales@example.test", "bob@example.test"))
    assert ok(mailctl("db", "migrate")).out == "%s: schema version 5\n" % mail_dir.db
    assert ok(mailctl("db", "check")).out == "%s: ok\n" % mail_dir.db
    assert show(mailctl, "alice@example.test")["address"] == "Alice@example.test"


# ---- mailboxes ---------------------------------------------------------------

def test_mailbox_list(mailctl, mail_dir, domain):
    add_user(mailctl, ALICE)
    assert ok(mailctl("mailbox", "list", ALICE)).out == "total: 0 messages, 0 octets\n"
    fails(mailctl("mailbox", "list", "nobody@" + domain), 1,
          "no such user 'nobody@example.test'")

    _, first = store_message(mail_dir, ALICE, [b"a" * 100, b"b" * 20])
    _, second = store_message(mail_dir, ALICE, [b"c" * 7])
    assert ok(mailctl("mailbox", "list", ALICE)).out == (
        "1 %d 120\n2 %d 7\ntotal: 2 messages, 127 octets\n" % (first, second))


# ---- queue -------------------------------------------------------------------

def test_queue_empty(mailctl):
    ok(mailctl("db", "migrate"))
    assert ok(mailctl("queue", "list")).out == "total: 0\n"
    fails(mailctl("queue", "retry", "42"), 1, "no queue item 42")
    fails(mailctl("queue", "delete", "42"), 1, "no queue item 42")
    ok(mailctl("queue", "retry", "all"))
    ok(mailctl("queue", "delete", "all"))


def test_queue_list_retry_delete(mailctl, mail_dir):
    ok(mailctl("db", "migrate"))
    msgs = []
    a, b = queue_message(mail_dir, "alice@example.test", ["x@remote.test", "y@remote.test"],
                         msgs)
    bounce, = queue_message(mail_dir, "", ["z@remote.test"], msgs)  # null reverse-path
    with db_connect(mail_dir) as conn:
        conn.sql("UPDATE queue SET attempts = 3, state = 1, last_error = ? WHERE id = ?",
                 "550 no\x1b[31m such user", b)

    lines = ok(mailctl("queue", "list")).out.splitlines()
    assert lines[-1] == "total: 3"
    # msg= is the message's queue id (smtpd's "250 ... queued as"), shared by its rows.
    assert re.fullmatch(r"%d pending msg=%d attempts=0 next=2096-\S+Z from=alice@example.test "
                        r"to=x@remote.test" % (a, msgs[0]), lines[0]), lines[0]
    assert lines[1].startswith("%d failed msg=%d attempts=3 " % (b, msgs[0]))
    # The remote server's text is escaped: no raw escape byte reaches the terminal.
    assert 'error="550 no\\x1b[31m such user"' in lines[1]
    assert "\x1b" not in lines[1]
    assert lines[2].startswith("%d pending msg=%d attempts=0 " % (bounce, msgs[1]))
    assert " from=<> to=z@remote.test" in lines[2]

    ok(mailctl("queue", "retry", str(b)))
    assert "%d pending" % b in ok(mailctl("queue", "list")).out
    ok(mailctl("queue", "delete", str(a)))
    assert ok(mailctl("queue", "list")).out.splitlines()[-1] == "total: 2"
    ok(mailctl("queue", "delete", "all"))
    assert ok(mailctl("queue", "list")).out == "total: 0\n"


# ---- database ----------------------------------------------------------------

def test_db_migrate_is_idempotent(mailctl, mail_dir):
    first = ok(mailctl("db", "migrate")).out
    assert re.fullmatch(r"%s: schema version \d+\n" % re.escape(str(mail_dir.db)), first)
    assert ok(mailctl("db", "migrate")).out == first
    ok(mailctl("domain", "add", DOMAIN))
    assert ok(mailctl("db", "migrate")).out == first
    assert ok(mailctl("domain", "list")).out == DOMAIN + "\n"


def test_db_check_fresh_database(mailctl, mail_dir):
    ok(mailctl("db", "migrate"))
    assert ok(mailctl("db", "check")).out == "%s: ok\n" % mail_dir.db


def test_db_check_finds_a_missing_chunk(mailctl, mail_dir, domain):
    add_user(mailctl, ALICE)
    msg, _ = store_message(mail_dir, ALICE, [b"x" * 10, b"y" * 10, b"z" * 10])
    ok(mailctl("db", "check"))
    with db_connect(mail_dir) as conn:
        conn.sql("DELETE FROM message_chunks WHERE message_id = ? AND seq = 1", msg)
    res = mailctl("db", "check")
    assert res.rc == 1, res
    assert res.out.startswith("problem: ")
    assert re.fullmatch(r"mailctl: db check: .* \d+ problems? found\n", res.err), res.err


@sqlite_only("damaged pages of the database file; PostgreSQL checks its own pages")
def test_db_check_on_a_damaged_file(mailctl, mail_dir, domain):
    for i in range(50):
        ok(mailctl("alias", "add", "a%d@%s" % (i, domain), "x@remote.test"))
    ok(mailctl("db", "migrate"))  # a clean close checkpoints the WAL into the file
    data = bytearray(mail_dir.db.read_bytes())
    assert len(data) > 8192
    page = 4096
    data[page:len(data)] = b"\xa5" * (len(data) - page)  # every page but the header
    mail_dir.db.write_bytes(bytes(data))
    res = mailctl("db", "check")
    assert res.rc == 1, res
    assert res.err.startswith("mailctl: db check: "), res.err


# ---- certificates ------------------------------------------------------------

def openssl(*args):
    p = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_cert_selfsigned(mailctl, mail_dir):
    cert, key = mail_dir.path("cert.pem"), mail_dir.path("key.pem")
    res = ok(mailctl("cert", "selfsigned", "--host", "mx.example.test", "--cert", cert,
                     "--key", key, "--days", "30"))
    assert "mx.example.test" in res.out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert.stat().st_mode) == 0o644
    assert not mail_dir.db_exists()  # certificates do not touch the database

    # -text spells names "CN = x" up to OpenSSL 3.0 and "CN=x" from 3.5 on; RFC 2253 is stable.
    names = openssl("x509", "-in", cert, "-noout", "-subject", "-issuer", "-nameopt", "RFC2253")
    assert names.split() == ["subject=CN=mx.example.test", "issuer=CN=mx.example.test"]
    text = openssl("x509", "-in", cert, "-noout", "-text")
    assert "DNS:mx.example.test" in text
    assert "ecdsa-with-SHA256" in text and "prime256v1" in text
    enddate = openssl("x509", "-in", cert, "-noout", "-enddate").strip().split("=", 1)[1]
    end = ssl.cert_time_to_seconds(enddate)
    assert abs(end - (time.time() + 30 * 86400)) < 3600

    # The key is the certificate's, and a client trusting the certificate verifies it.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    assert "OK" in openssl("verify", "-CAfile", cert, cert)


def test_cert_selfsigned_keeps_existing_files_without_force(mailctl, mail_dir):
    cert, key = mail_dir.path("cert.pem"), mail_dir.path("key.pem")
    args = ["cert", "selfsigned", "--host", "mx.example.test", "--cert", cert, "--key", key]
    ok(mailctl(*args))
    old = cert.read_bytes(), key.read_bytes()
    fails(mailctl(*args), 1, "%s exists (use --force to replace it)" % cert)
    assert (cert.read_bytes(), key.read_bytes()) == old
    ok(mailctl(*args, "--force"))
    assert cert.read_bytes() != old[0] and key.read_bytes() != old[1]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in mail_dir.root.iterdir()) == ["cert.pem", "key.pem",
                                                               "mail.conf"]


def test_cert_selfsigned_defaults_from_config(mailctl, mail_dir):
    cert, key = mail_dir.path("c.pem"), mail_dir.path("k.pem")
    mail_dir.write_config(hostname="mail.example.test", tls_cert=cert, tls_key=key)
    ok(mailctl("cert", "selfsigned"))
    text = openssl("x509", "-in", cert, "-noout", "-text")
    assert "DNS:mail.example.test" in text
    assert "Not After" in text


def test_cert_selfsigned_ip_address(mailctl, mail_dir):
    cert, key = mail_dir.path("cert.pem"), mail_dir.path("key.pem")
    ok(mailctl("cert", "selfsigned", "--host", "127.0.0.1", "--cert", cert, "--key", key))
    assert "IP Address:127.0.0.1" in openssl("x509", "-in", cert, "-noout", "-text")


@pytest.mark.parametrize("args, message", [
    (["--host", "bad host"], "--host: invalid domain 'bad host': not a domain name"),
    (["--days", "0"], "--days must be a number from 1 to 36500"),
    (["--days", "36501"], "--days must be a number"),
    (["--key", "cert.pem"], "name the same file"),
])
def test_cert_selfsigned_usage_errors(mailctl, mail_dir, args, message):
    base = {"--host": "mx.example.test", "--cert": "cert.pem", "--key": "key.pem"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    fails(mailctl("cert", "selfsigned", *[x for kv in base.items() for x in kv]), 2, message)
    assert not mail_dir.path("cert.pem").exists()
