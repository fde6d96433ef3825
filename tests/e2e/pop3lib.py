"""Helpers for the pop3d end-to-end tests (test_pop3_*.py).

- deliver(): puts a message into a mailbox. smtpd is not used on purpose:
  the POP3 tests must not depend on it. It writes the rows the store's
  schema (store/store_schema.c) defines, exactly as store_deliver()
  would: one messages row, the body in 64 KiB message_chunks rows, one
  mailbox_entries row (whose trigger counts it in mailbox_usage). Swap this one function for
  SMTP delivery once that is the better seam.
- Pop3: a byte-exact POP3 client on top of mailtest.Raw.
- pop3_install(): an Install with a domain and users, ready for pop3d.
"""

import contextlib
import itertools
import os
import ssl
import time

from mailtest import Install, Raw

DOMAIN = "example.test"
ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORD = "Secret-pw 1"

CHUNK = 64 * 1024  # STORE__CHUNK_SIZE


def deliver(inst, address, body):
    """Stores `body` (bytes, CRLF lines, no dot-stuffing) in the mailbox of
    `address`; returns the mailbox entry id, i.e. the POP3 UIDL."""
    if isinstance(body, str):
        body = body.encode()
    with inst.connect() as db, db.transaction():
        if not db.pg:
            db.sql("PRAGMA foreign_keys = ON")  # PostgreSQL checks them always
        user_id = db.one("SELECT id FROM users WHERE address = ?", address)
        msg_id = db.one("INSERT INTO messages (size, created) VALUES (?, %s) RETURNING id"
                        % db.now, len(body))
        for seq, off in enumerate(range(0, len(body), CHUNK)):
            db.sql("INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)",
                   msg_id, seq, body[off:off + CHUNK])
        return db.one("INSERT INTO mailbox_entries (user_id, message_id, size, created) "
                      "VALUES (?, ?, ?, %s) RETURNING id" % db.now, user_id, msg_id, len(body))


def entry_ids(inst, address):
    """The mailbox's entry ids, oldest first, straight from the database."""
    return [r[0] for r in inst.sql(
        "SELECT e.id FROM mailbox_entries e JOIN users u ON u.id = e.user_id "
        "WHERE u.address = ? ORDER BY e.id", address)]


def message(n, extra_body=""):
    """A small CRLF message numbered n."""
    return ("From: sender@example.net\r\nTo: %s\r\nSubject: message %d\r\n\r\n"
            "Body of message %d.\r\n%s" % (ALICE, n, n, extra_body)).encode()


def big_body(size):
    """About `size` octets of CRLF text, some lines starting with dots."""
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy\r\n"
    block = (b"Subject: big\r\n\r\n" + (line * 50 + b".dot line\r\n..\r\n") * 20)
    return block * (size // len(block))


def pop3_install(users=(ALICE, BOB), **config):
    """An Install with example.test and the given users (password PASSWORD).
    Login failures are not delayed unless the test asks."""
    config.setdefault("auth_failure_delay_ms", 0)
    inst = Install(**config)
    try:
        inst.mailctl("db", "migrate")
        for u in users:
            inst.add_user(u, PASSWORD)
    except BaseException:
        inst.close()
        raise
    return inst


@contextlib.contextmanager
def running_pop3d(**config):
    """pop3_install(**config) with pop3d started. At the end pop3d must stop
    cleanly on SIGTERM (exit 0, which under ASan also means no leaks) and
    must have logged no error."""
    with pop3_install(**config) as inst:
        inst.start("pop3d")
        yield inst
        assert inst.stop(inst.procs[0]) == 0
        assert " level=error " not in inst.log("pop3d")


_user_numbers = itertools.count(1)


def new_user(inst, name="user"):
    """Adds a fresh user (password PASSWORD) so tests sharing one pop3d
    never see each other's mailboxes; returns the address."""
    address = "%s%d@%s" % (name, next(_user_numbers), DOMAIN)
    inst.add_user(address, PASSWORD)
    return address


class Pop3(Raw):
    """A byte-exact POP3 session. Lines are returned as bytes with CRLF."""

    def __init__(self, port, timeout=10.0, tls=False, source=None):
        super().__init__(port, timeout, source)
        if tls:
            self.starttls_wrap()
        self.greeting = self.bline()

    def starttls_wrap(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        assert self.buf == b"", "unread plaintext before the handshake: %r" % self.buf
        self.sock = ctx.wrap_socket(self.sock)

    def bline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out + b"\r\n"

    def cmd(self, line):
        """Sends one command, returns the first reply line (bytes)."""
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.bline()

    def multi(self):
        """Reads the rest of a multi-line response up to and including ".\\r\\n"."""
        out = b""
        while True:
            ln = self.bline()
            if not ln:
                raise EOFError("connection closed inside a multi-line response")
            out += ln
            if ln == b".\r\n":
                return out

    def login(self, user=ALICE, password=PASSWORD):
        assert self.cmd("USER " + user) == b"+OK send PASS\r\n"
        return self.cmd("PASS " + password)

    def stls(self):
        assert self.cmd("STLS") == b"+OK begin TLS negotiation\r\n"
        self.starttls_wrap()


def unstuff(multi):
    """The message body of a RETR/TOP response (without the +OK line)."""
    assert multi.endswith(b".\r\n")
    lines = multi[:-3].split(b"\r\n")
    return b"\r\n".join(ln[1:] if ln.startswith(b".") else ln for ln in lines)


def wait_login(port, user=ALICE, timeout=10.0, **kw):
    """Logs in, retrying while the maildrop is [IN-USE] (a previous session's
    lease is released off-loop right after its connection closes)."""
    deadline = time.monotonic() + timeout
    while True:
        p = Pop3(port, **kw)
        r = p.login(user)
        if r.startswith(b"+OK") or not r.startswith(b"-ERR [IN-USE]") \
                or time.monotonic() > deadline:
            return p, r
        p.close()
        time.sleep(0.05)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for %d" % pid)


def sanitized():
    """True when this build uses the sanitizers (slower, more memory)."""
    cache = os.path.join(os.environ.get("MAIL_BUILD_DIR", ""), "CMakeCache.txt")
    try:
        with open(cache) as f:
            return "MAIL_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


