"""Helpers for the outbound delivery tests (test_outbound_*.py).

    with Pair() as (a, b):                  # two running instances, routes between them
        submit(a, ALICE, ["bob@b.test"], message("hi"))
        wait_for(lambda: mailbox(b, BOB))   # arrived at b
    fault = FaultServer(rcpt="450 4.2.0 busy")  # a scripted remote server

Instance a serves the domain a.test (user alice@a.test), b serves b.test
(user bob@b.test); each has `routes` to the other's MX listener, scans its
queue every second, and has a TLS certificate, so deliveries between them
use STARTTLS.
"""

import email
import os
import subprocess
import email.policy
import smtplib
import socket
import socketserver
import threading
import time

from mailtest import Install, binary, free_port, wait_port
from smtptest import client_tls_context, stored

ALICE = "alice@a.test"
BOB = "bob@b.test"
PASSWORD = "Outbound-pw 1"


def make_install(hostname, domain, user, env=None, start=True, **config):
    config.setdefault("queue_scan_interval", 1)
    inst = Install(hostname=hostname, **config)
    try:
        inst.add_user(user, PASSWORD)
        inst.mailctl("alias", "add", "postmaster@" + domain, user)
        if start:
            start_smtpd(inst, env)
    except BaseException:
        inst.close()
        raise
    return inst


def start_smtpd(inst, env=None):
    inst.smtpd = inst.start("smtpd", env=env)
    for listener in ("submission", "smtps"):
        if inst.config.get(listener + "_listen"):
            wait_port(inst.port(listener), proc=inst.smtpd)
    return inst.smtpd


def close(inst, check=True):
    """SIGTERM, exit status 0 and a clean log (sanitizers), then removal."""
    try:
        proc = getattr(inst, "smtpd", None)
        if proc is not None and check:
            rc = inst.stop(proc)
            log = inst.log("smtpd")
            assert rc == 0 and "Sanitizer" not in log and "runtime error" not in log, \
                "smtpd exited %d:\n%s" % (rc, log[-4000:])
    finally:
        inst.close()


def start_second_smtpd(inst, env=None):
    """Another smtpd on inst's store and config, on listeners of its own;
    its log is <dir>/smtpd2.log. Returns the process (inst.close kills it)."""
    config = dict(inst.config)
    for k in ("smtp", "submission", "smtps"):
        config[k + "_listen"] = "127.0.0.1:%d" % free_port()
    conf = os.path.join(inst.dir, "second.conf")
    with open(conf, "w") as f:
        f.write("".join("%s = %s\n" % kv for kv in config.items()))
    log = open(os.path.join(inst.dir, "smtpd2.log"), "ab")
    proc = subprocess.Popen([binary("smtpd"), "-c", conf], stdout=log, stderr=log,
                            env=dict(os.environ, **(env or {})))
    log.close()
    inst.procs.append(proc)
    wait_port(int(config["smtp_listen"].rsplit(":", 1)[1]), proc=proc)
    return proc


class DnsServer:
    """A private dnsmasq on 127.0.0.1 serving the given records (dnsmasq
    options such as "--mx-host=b.test,mx.b.test,10"); every other .test
    name is NXDOMAIN. `servers` is the value for dns_servers."""

    def __init__(self, records, workdir):
        import socket as _socket
        for _ in range(20):
            port = free_port()
            u = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
            try:
                u.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
            finally:
                u.close()
        self.port = port
        self.servers = "127.0.0.1:%d" % port
        args = ["/usr/sbin/dnsmasq", "-k", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
                "--listen-address=127.0.0.1", "--bind-interfaces", "--port=%d" % port,
                "--pid-file=%s/dnsmasq.pid" % workdir, "--log-facility=-", "--local=/test/"]
        if os.getuid() == 0:
            args += ["--user=root", "--group=root"]  # dnsmasq-base creates no dnsmasq user
        self.log = open(os.path.join(workdir, "dnsmasq.log"), "ab")
        self.proc = subprocess.Popen(args + list(records), stdout=self.log, stderr=self.log)
        wait_port(port, proc=self.proc)

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


class Pair:
    """Instances a (a.test) and b (b.test) with routes to each other."""

    def __init__(self, a_config=None, b_config=None, a_env=None, b_env=None, start_b=True):
        self.a = self.b = None
        try:
            self.b = make_install("mx.b.test", "b.test", BOB, env=b_env, start=False,
                                  **(b_config or {}))
            a_config = dict(a_config or {})
            a_config.setdefault("routes", "b.test=127.0.0.1:%d" % self.b.port("smtp"))
            self.a = make_install("mx.a.test", "a.test", ALICE, env=a_env, **a_config)
            if "routes" not in (b_config or {}):
                self.b.config["routes"] = "a.test=127.0.0.1:%d" % self.a.port("smtp")
                self.b.write_config()
            if start_b:
                start_smtpd(self.b, b_env)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __enter__(self):
        return self.a, self.b

    def __exit__(self, *exc):
        for inst in (self.a, self.b):
            if inst is not None:
                close(inst, check=exc[0] is None)


def message(subject, body="Hello over there.\r\n", sender=ALICE, to=BOB):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@a.test>\r\n"
            "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n\r\n%s"
            % (sender, to, subject, subject.replace(" ", "."), body))


def submit(inst, rcpts, msg, sender=ALICE, password=PASSWORD):
    """Sends through submission with STARTTLS and AUTH (Python's smtplib)."""
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30) as s:
        s.starttls(context=client_tls_context())
        s.login(sender, password)
        refused = s.sendmail(sender, rcpts, msg.encode() if isinstance(msg, str) else msg)
        assert not refused, refused


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def mailbox(inst, address):
    """The messages in a mailbox, as bytes, oldest first."""
    return stored(inst.db).get(address, [])


def queue(inst):
    """[(sender, recipient, body)] still queued."""
    return stored(inst.db)["queue"]


def enqueue(inst, sender, recipient, body):
    """Queues a message straight into the store, as a commit would: for
    senders no client may use (the null sender)."""
    body = body.encode() if isinstance(body, str) else body
    with inst.connect() as db, db.transaction():
        mid = db.one("INSERT INTO messages (size, created) VALUES (?, %s) RETURNING id"
                     % db.now, len(body))
        db.sql("INSERT INTO message_chunks (message_id, seq, data) VALUES (?, 0, ?)", mid, body)
        db.sql("INSERT INTO queue (message_id, sender, recipient, attempts, created, "
               "next_attempt, state, last_error) VALUES (?, ?, ?, 0, %s, %s, 0, '')"
               % (db.now, db.now), mid, sender, recipient)


def queue_rows(inst):
    """`mailctl queue list` lines (without the total)."""
    out = inst.mailctl("queue", "list").stdout.splitlines()
    return [line for line in out if not line.startswith("total:")]


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


class FaultServer:
    """A scripted SMTP server on a loopback port, one thread per client.

    Each keyword names a stage and the reply to give there (greeting, ehlo,
    mail, rcpt, data, dot, starttls); "silent" never answers, "drop" closes
    the connection. ehlo_lines replaces the EHLO capabilities. The server
    records every command line and every message it accepted."""

    def __init__(self, ehlo_lines=("PIPELINING", "SIZE 10000000", "8BITMIME"), dot_delay=0.0,
                 port=0, **replies):
        self.dot_delay = dot_delay
        self.replies = dict(greeting="220 fault.test ESMTP", ehlo=None, mail="250 2.1.0 ok",
                        rcpt="250 2.1.5 ok", data="354 go ahead", dot="250 2.0.0 kept",
                        quit="221 2.0.0 bye")
        self.replies.update(replies)
        self.ehlo_lines = list(ehlo_lines)
        self.commands = []
        self.messages = []
        self.connections = 0
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                outer.connections += 1
                outer.session(self.rfile, self.wfile, self.connection)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, w, conn, stage):
        text = self.replies.get(stage)
        if text == "silent":
            time.sleep(3600)
        if text == "drop":
            conn.shutdown(socket.SHUT_RDWR)
            return False
        w.write(text.encode() + b"\r\n")
        w.flush()
        return True

    def session(self, r, w, conn):
        if not self.reply(w, conn, "greeting"):
            return
        while True:
            line = r.readline()
            if not line:
                return
            cmd = line.decode("latin-1").rstrip("\r\n")
            self.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == "EHLO":
                if self.replies["ehlo"] is not None:
                    if not self.reply(w, conn, "ehlo"):
                        return
                    continue
                lines = ["fault.test"] + self.ehlo_lines
                out = "".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                              for i, l in enumerate(lines))
                w.write(out.encode())
                w.flush()
            elif verb == "HELO":
                w.write(b"250 fault.test\r\n")
                w.flush()
            elif verb == "MAIL":
                if not self.reply(w, conn, "mail"):
                    return
            elif verb == "RCPT":
                if not self.reply(w, conn, "rcpt"):
                    return
            elif verb == "DATA":
                if not self.reply(w, conn, "data"):
                    return
                if not self.replies["data"].startswith("354"):
                    continue
                data = b""
                while True:
                    l = r.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    data += l
                    if self.replies["dot"] == "drop" and len(data) > 10:
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                time.sleep(self.dot_delay)
                if not self.reply(w, conn, "dot"):
                    return
                if self.replies["dot"].startswith("2"):
                    self.messages.append(data)
            elif verb == "RSET":
                w.write(b"250 2.0.0 ok\r\n")
                w.flush()
            elif verb == "STARTTLS":
                self.reply(w, conn, "starttls") if "starttls" in self.replies else \
                    w.write(b"454 4.7.0 no TLS here\r\n")
                w.flush()
            elif verb == "QUIT":
                self.reply(w, conn, "quit")
                return
            else:
                w.write(b"500 5.5.2 what\r\n")
                w.flush()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
