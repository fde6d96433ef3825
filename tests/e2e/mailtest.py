"""Helpers shared by the end-to-end tests: a throw-away installation (config
file, database, certificate, users) and the real daemons started on free
loopback ports.

    with Install() as inst:
        inst.mailctl("domain", "add", "example.test")
        inst.add_user("alice@example.test", "secret")
        smtpd = inst.start("smtpd")
        smtp = smtplib.SMTP("127.0.0.1", inst.port("smtp"))
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

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


LISTEN_KEYS = ("smtp", "submission", "smtps", "pop3", "pop3s")


class Install:
    """A config file, database and certificate in a fresh directory, with
    every listener on its own free port. Extra config keys can be given
    as keyword arguments (allow_plaintext_auth="yes")."""

    def __init__(self, tls=True, **config):
        self.dir = tempfile.mkdtemp(prefix="mail-e2e-")
        self.db = os.path.join(self.dir, "mail.db")
        self.ports = {k: free_port() for k in LISTEN_KEYS}
        self.procs = []
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
        # is a bug whatever the test checked.
        bugs = [name for name in os.listdir(self.dir) if name.endswith(".log") and
                "event=state_bug" in open(os.path.join(self.dir, name), errors="replace").read()]
        if os.environ.get("MAIL_KEEP_TEST_DIRS"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
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
