"""Helpers shared by the end-to-end tests: a throw-away installation (config
file, database, certificate, users) and the real daemons started on free
loopback ports.

    with Install() as inst:
        inst.mailctl("domain", "add", "example.test")
        inst.add_user("alice@example.test", "secret")
        smtpd = inst.start("smtpd")
        smtp = smtplib.SMTP("127.0.0.1", inst.port("smtp"))
        inst.sql("SELECT count(*) FROM queue")        # [(0,)], on either backend

The backend is SQLite unless MAIL_TEST_BACKEND=postgresql (ctest's e2e-pg/
copies of these tests): then each Install gets a database of its own on
the cluster that MAIL_TEST_PG_ADMIN_URI reaches (as a role that may
CREATE DATABASE: tests/tools/pgcluster.sh makes one), dropped by close().
A test reads and writes the store's tables through Install.sql() and
connect(), which take SQLite's `?` placeholders on both backends.
"""

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

import pytest

BUILD_DIR = os.environ.get("MAIL_BUILD_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "plain"))


def test_hooks_built():
    """Whether this build compiled in the MAILTEST_* test hooks (the CMake
    option MAIL_TEST_HOOKS, which scripts/test.sh turns on)."""
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            cache = f.read()
    except OSError:
        return False
    return re.search(r"^MAIL_TEST_HOOKS:BOOL=(ON|1|YES|TRUE|Y)$", cache, re.M | re.I) is not None


def binary(name):
    """Path of one of the programs of this build."""
    return os.path.join(BUILD_DIR, name, name)


def free_port():
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, proc=None):
    """Waits until something accepts on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("daemon exited with %d before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError("nothing listens on port %d" % port)


# ---- the backend ------------------------------------------------------------

BACKEND = os.environ.get("MAIL_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgresql"):
    raise RuntimeError("MAIL_TEST_BACKEND=%s: sqlite or postgresql" % BACKEND)
ON_PG = BACKEND == "postgresql"

# The key of the PostgreSQL writers' advisory lock (store/postgresql/
# pg_driver.c STORE__PG_WRITER_LOCK): every write transaction holds it, in
# some mode, so an exclusive hold of it stops every writer, as SQLite's
# write lock does.
PG_WRITER_LOCK = 1296124236


def sqlite_only(reason):
    """Marks a test of SQLite itself (its file, its locks, its pages): on
    PostgreSQL it is skipped, saying why."""
    return pytest.mark.skipif(ON_PG, reason="SQLite only: " + reason)


def is_pg(db):
    return str(db).startswith(("postgresql://", "postgres://"))


def _pg_connect(uri):
    import psycopg2  # Debian's python3-psycopg2 (scripts/deps.sh test)
    conn = psycopg2.connect(uri)
    conn.autocommit = True
    return conn


def pg_admin(statement):
    """Runs one statement as the test cluster's admin role (on its database
    `mail`, not the one a statement may be about); returns the admin URI."""
    uri = os.environ.get("MAIL_TEST_PG_ADMIN_URI")
    if not uri:
        raise RuntimeError("MAIL_TEST_BACKEND=postgresql needs MAIL_TEST_PG_ADMIN_URI")
    conn = _pg_connect(uri)
    try:
        conn.cursor().execute(statement)
    finally:
        conn.close()
    return uri


def pg_create_database():
    """A new, empty database on the test cluster; returns its URI."""
    name = "e2e_" + secrets.token_hex(6)
    admin = urllib.parse.urlsplit(pg_admin("CREATE DATABASE " + name))
    return urllib.parse.urlunsplit(admin._replace(path="/" + name))


def pg_drop_database(uri):
    """Drops a database of pg_create_database(). FORCE ends the sessions a
    killed daemon may have left (the server notices a dead client only
    when it next talks to it), which would otherwise keep it in use."""
    statement = "DROP DATABASE IF EXISTS %s WITH (FORCE)" % pg_database_name(uri)
    try:
        pg_admin(statement)
    except Exception:  # a session that was starting as FORCE looked: once more
        time.sleep(1)
        pg_admin(statement)


def pg_database_name(uri):
    """The name of a database of pg_create_database(), safe to put in SQL."""
    name = urllib.parse.urlsplit(uri).path.lstrip("/")
    assert re.fullmatch(r"e2e_[0-9a-f]+", name), uri
    return name


class Db:
    """One connection to a store's database, SQLite file or postgresql://
    URI, for what the tests read and set up behind the programs' backs.
    Statements use `?` placeholders on both; rows are tuples, blobs bytes.
    Each statement is its own transaction unless inside transaction()."""

    def __init__(self, db, timeout=30):
        self.pg = is_pg(db)
        if self.pg:
            self.conn = _pg_connect(db)
            # The database's clock, as the store reads it (without the
            # daemons' MAILTEST_ clock offset).
            self.now = "mail_now()"
        else:
            self.conn = sqlite3.connect(str(db), timeout=timeout, isolation_level=None)
            self.now = "CAST(strftime('%s','now') AS INTEGER)"

    def sql(self, query, *params):
        """Runs one statement; returns its rows (none for most writes: use
        RETURNING for ids, which both backends have)."""
        if not self.pg:
            return self.conn.execute(query, params).fetchall()
        cur = self.conn.cursor()
        cur.execute(query.replace("%", "%%").replace("?", "%s"), params)
        rows = cur.fetchall() if cur.description is not None else []
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]

    def one(self, query, *params):
        """The first column of the only row."""
        [row] = self.sql(query, *params)
        return row[0]

    @contextlib.contextmanager
    def transaction(self):
        """Statements that commit together, with the write lock taken up
        front as the store's writers do (SQLite: BEGIN IMMEDIATE)."""
        if self.pg:
            self.sql("BEGIN")
            self.sql("SELECT pg_advisory_xact_lock(?)", PG_WRITER_LOCK)
        else:
            self.sql("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.sql("ROLLBACK")
            raise
        self.sql("COMMIT")

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sql(db, query, *params):
    """Db(db).sql(query, *params) on a connection of its own."""
    with Db(db) as conn:
        return conn.sql(query, *params)


def writers_busy(db):
    """True while some process holds the store's write lock (SQLite's, or
    PostgreSQL's writers' lock in any mode)."""
    if is_pg(db):
        with Db(db) as conn:
            if not conn.one("SELECT pg_try_advisory_lock(?)", PG_WRITER_LOCK):
                return True
            conn.sql("SELECT pg_advisory_unlock(?)", PG_WRITER_LOCK)
            return False
    con = sqlite3.connect(str(db), timeout=0, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        con.close()


@contextlib.contextmanager
def writers_held(db):
    """Holds the store's write lock until the block ends: every writer
    waits (or, past the store's busy timeout, fails as busy)."""
    with Db(db) as conn:
        if conn.pg:
            conn.sql("SELECT pg_advisory_lock(?)", PG_WRITER_LOCK)
            try:
                yield
            finally:
                conn.sql("SELECT pg_advisory_unlock(?)", PG_WRITER_LOCK)
        else:
            conn.sql("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.sql("ROLLBACK")


LISTEN_KEYS = ("smtp", "submission", "smtps", "pop3", "pop3s")


class Install:
    """A config file, database and certificate in a fresh directory, with
    every listener on its own free port. Extra config keys can be given
    as keyword arguments (allow_plaintext_auth="yes"); a db= given so is
    kept whatever the backend (test_pg_backend.py names its own)."""

    def __init__(self, tls=True, **config):
        self.dir = tempfile.mkdtemp(prefix="mail-e2e-")
        self.procs = []
        self.own_pg_db = None
        if ON_PG and "db" not in config:
            self.own_pg_db = self.db = pg_create_database()
        else:
            self.db = os.path.join(self.dir, "mail.db")
        try:
            self._setup(tls, config)
        except BaseException:
            self.close()
            raise

    def _setup(self, tls, config):
        self.ports = {k: free_port() for k in LISTEN_KEYS}
        self.config = {
            "db": self.db,
            "hostname": "mx.example.test",
            "log_level": "debug",
            "tmpdir": self.dir,
            # No test reaches the Internet: remote recipients' MX lookups fail
            # at once (nothing answers on the discard port), so their mail is
            # deferred and stays queued unless a test routes it somewhere.
            "dns_servers": "127.0.0.1:9",
        }
        for k in LISTEN_KEYS:
            self.config[k + "_listen"] = "127.0.0.1:%d" % self.ports[k]
        if tls:
            self.cert = os.path.join(self.dir, "cert.pem")
            self.key = os.path.join(self.dir, "key.pem")
            self.run_mailctl("cert", "selfsigned", "--host", "mx.example.test",
                             "--cert", self.cert, "--key", self.key)
            self.config["tls_cert"] = self.cert
            self.config["tls_key"] = self.key
        else:
            self.config["smtps_listen"] = ""
            self.config["pop3s_listen"] = ""
        self.config.update({k: str(v) for k, v in config.items()})
        self.db = self.config["db"]  # a test may give a postgresql:// URI
        self.write_config()
        self.mailctl("db", "migrate")

    def write_config(self):
        self.conf = os.path.join(self.dir, "mail.conf")
        with open(self.conf, "w") as f:
            for k, v in self.config.items():
                f.write("%s = %s\n" % (k, v))

    def port(self, listener):
        return self.ports[listener]

    def run_mailctl(self, *args, stdin=None, check=True):
        """Runs mailctl with this install's config; returns CompletedProcess."""
        conf = ["-c", self.conf] if hasattr(self, "conf") else []
        env = dict(os.environ, MAIL_DB=self.db)
        p = subprocess.run([binary("mailctl"), *conf, *args], input=stdin, env=env,
                           capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError("mailctl %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                                 p.stderr))
        return p

    mailctl = run_mailctl

    def sql(self, query, *params):
        """Rows of one statement on this install's database (Db.sql)."""
        return sql(self.db, query, *params)

    def connect(self):
        """A Db on this install's database, for several statements."""
        return Db(self.db)

    def add_user(self, address, password):
        domain = address.split("@", 1)[1]
        if domain not in self.mailctl("domain", "list").stdout.split():
            self.mailctl("domain", "add", domain)
        self.mailctl("user", "add", address, "--password-stdin", stdin=password + "\n")

    def start(self, program, env=None):
        """Starts smtpd or pop3d and waits until each of its listeners accepts.
        Its stderr (the log) goes to <dir>/<program>.log. A MAILTEST_*
        variable in env needs a build with the test hooks: without them the
        test is skipped (and the install closed), since the daemon would
        ignore the variable."""
        hooks = sorted(k for k in (env or {}) if k.startswith("MAILTEST_"))
        if hooks and not test_hooks_built():
            self.close()
            pytest.skip("%s: this build has no test hooks (cmake -DMAIL_TEST_HOOKS=ON)"
                        % ", ".join(hooks))
        listeners = ("smtp", "submission", "smtps") if program == "smtpd" else ("pop3", "pop3s")
        for attempt in range(3):
            log = open(os.path.join(self.dir, program + ".log"), "ab")
            proc = subprocess.Popen([binary(program), "-c", self.conf], stdout=log, stderr=log,
                                    env=dict(os.environ, **(env or {})))
            log.close()
            self.procs.append(proc)
            try:
                for listener in listeners:
                    if self.config.get(listener + "_listen"):
                        wait_port(self.ports[listener], proc=proc)
                return proc
            except RuntimeError as e:
                tail = self.log(program)[-1500:]
                # free_port's pick may have become some client socket's ephemeral port
                # meanwhile (tests run in parallel): pick again rather than fail.
                if "address already in use" not in tail or attempt == 2:
                    raise RuntimeError("%s; %s log:\n%s" % (e, program, tail)) from None
                for listener in listeners:
                    if self.config.get(listener + "_listen"):
                        self.ports[listener] = free_port()
                        self.config[listener + "_listen"] = "127.0.0.1:%d" % self.ports[listener]
                if self.config.get("metrics_listen"):
                    self.config["metrics_listen"] = "127.0.0.1:%d" % free_port()
                self.write_config()

    def log(self, program):
        with open(os.path.join(self.dir, program + ".log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, proc, sig=signal.SIGTERM, timeout=30):
        """Signals a daemon and waits for it; returns its exit status."""
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # A state change the daemon's state table does not allow (common/session.h)
        # is a bug whatever the test checked. (A second close finds no directory.)
        names = os.listdir(self.dir) if os.path.isdir(self.dir) else []
        bugs = [name for name in names if name.endswith(".log") and
                "event=state_bug" in open(os.path.join(self.dir, name), errors="replace").read()]
        if os.environ.get("MAIL_KEEP_TEST_DIRS"):
            print("kept", self.dir, self.own_pg_db or "")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.own_pg_db is not None:
                pg_drop_database(self.own_pg_db)
                self.own_pg_db = None
        assert not bugs, "state_bug logged by %s" % ", ".join(bugs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Raw:
    """A byte-exact client session: send exactly these bytes, read replies.
    `source` is the local address to connect from: Linux routes all of
    127.0.0.0/8 to the loopback, so tests can play several clients (for the
    per-address limits) against a daemon listening on 127.0.0.1."""

    def __init__(self, port, timeout=10.0, source=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """One reply line including CRLF ('' when the server closed)."""
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out.decode("utf-8", "replace")
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out.decode("utf-8", "replace") + "\r\n"

    def smtp_reply(self):
        """A whole (multi-line) SMTP reply as a list of lines without CRLF."""
        lines = []
        while True:
            ln = self.line()
            if not ln:
                return lines
            lines.append(ln.rstrip("\r\n"))
            if len(ln) < 4 or ln[3] != "-":
                return lines

    def closed(self, timeout=5.0):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (socket.timeout, ConnectionResetError):
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
