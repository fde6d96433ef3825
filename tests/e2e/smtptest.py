"""Helpers shared by the smtpd end-to-end tests (test_smtp_*.py).

    inst = smtp_install(max_message_size=2048)    # users, alias, running smtpd
    with Session(inst.port("smtp")) as s:
        s.expect(None, "220 ")                    # the greeting
        s.expect("EHLO client.test", "250 ")      # last line of the reply
    stored(inst.db)["bob@example.test"]           # bodies as POP3 would serve them
    smtp_close(inst)                              # SIGTERM, exit 0, clean log
"""

import ssl

from mailtest import Db, Install, Raw, wait_port

DOMAIN = "example.test"
USERS = {
    "alice@example.test": "alice-secret",
    "bob@example.test": "bob-secret",
}
# alice may also send as this alias.
ALIAS = "sales@example.test"


def smtp_install(start=True, env=None, **config):
    """An Install with the USERS, ALIAS -> alice, postmaster -> alice, and
    (unless start=False) a running smtpd. The caller ends it with smtp_close()."""
    inst = Install(**config)
    try:
        inst.mailctl("db", "migrate")  # creates the database
        for address, password in USERS.items():
            inst.add_user(address, password)
        inst.mailctl("alias", "add", ALIAS, "alice@example.test")
        inst.mailctl("alias", "add", "postmaster@example.test", "alice@example.test")
        if start:
            inst.smtpd = inst.start("smtpd", env=env)
            # start() waits for the first listener only; the others are bound
            # right after it.
            for listener in ("submission", "smtps"):
                if inst.config.get(listener + "_listen"):
                    wait_port(inst.port(listener), proc=inst.smtpd)
    except BaseException:
        inst.close()
        raise
    return inst


def smtp_close(inst):
    """Stops smtpd with SIGTERM and checks it exits 0 with a clean log (under
    the sanitizers a leak or a UB report makes that fail), then removes
    the installation."""
    try:
        if getattr(inst, "smtpd", None) is not None:
            rc = inst.stop(inst.smtpd)  # or its status, if it has exited already
            log = inst.log("smtpd")
            assert rc == 0 and "Sanitizer" not in log and "runtime error" not in log, \
                "smtpd exited %d:\n%s" % (rc, log[-4000:])
    finally:
        inst.close()


def client_tls_context():
    """TLS client context for our self-signed test certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def stored(db):
    """Everything smtpd committed, read from the database (a SQLite path or
    a postgresql:// URI):
    {"mailbox address": [message bytes, oldest first], ...,
     "queue": [(sender, recipient, message bytes), ...]}."""
    with Db(db) as con:
        def body(message_id):
            rows = con.sql("SELECT data FROM message_chunks WHERE message_id = ? "
                           "ORDER BY seq", message_id)
            return b"".join(r[0] for r in rows)

        out = {}
        for address, message_id in con.sql(
                "SELECT u.address, e.message_id FROM mailbox_entries e "
                "JOIN users u ON u.id = e.user_id ORDER BY e.id"):
            out.setdefault(address, []).append(body(message_id))
        out["queue"] = [(sender, rcpt, body(mid)) for sender, rcpt, mid in con.sql(
            "SELECT sender, recipient, message_id FROM queue ORDER BY id")]
        return out


class Session(Raw):
    """A byte-exact SMTP client: send lines, check replies."""

    def reply(self):
        """The next whole reply, lines joined with CRLF (without the last CRLF)."""
        return "\r\n".join(self.smtp_reply())

    def expect(self, line, want):
        """Sends `line` + CRLF (unless None) and checks that the reply (all its
        lines joined by CRLF) starts with `want`. Returns the reply."""
        if line is not None:
            self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        got = self.reply()
        assert got.startswith(want), "after %r: got %r, want %r..." % (line, got, want)
        return got

    def chunk(self, data, want):
        """Sends `data` exactly as given (a BDAT command and its chunk) and
        checks the reply like expect()."""
        self.send(data)
        return self.expect(None, want)

    def starttls(self):
        """Upgrades the socket after a 220 to STARTTLS."""
        self.sock = client_tls_context().wrap_socket(self.sock)
        self.buf = b""
