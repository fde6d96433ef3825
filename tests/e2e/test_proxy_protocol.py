"""PROXY protocol v1 and v2 (proxy_protocol_from) on every client listener,
against the real daemons: the address a trusted balancer's header names
is the client for the Received: field, the logs, the per-address limits
and the failed-login budget; the header comes before implicit TLS, and
bytes that follow it in the same segment are kept; a trusted peer without
a valid header, or without one in time, is closed without a reply; an
untrusted peer's header is refused like any other bad command and never
changes its address; the metrics listener never expects a header.

127.0.0.1 is the trusted balancer; clients that connect from 127.0.0.2
(Linux routes all of 127.0.0.0/8 to the loopback) are direct clients.
::1 is never needed: CI containers may lack IPv6 on the loopback."""

import ipaddress
import os
import socket
import ssl
import struct
import subprocess
import time
import urllib.request

from mailtest import Raw, binary, free_port
from pop3lib import ALICE, PASSWORD, Pop3, running_pop3d
from smtptest import Session, client_tls_context, smtp_close, smtp_install, stored

BALANCER, DIRECT = "127.0.0.1", "127.0.0.2"
REJECT = "421 4.7.0 Too many connections, try later"
LOCKED = b"-ERR [SYS/TEMP] too many failed logins from your address, try again later\r\n"

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport=40001, dst="192.0.2.25", dport=25):
    family = "TCP6" if ":" in src else "TCP4"
    if family == "TCP6" and ":" not in dst:
        dst = "2001:db8::25"
    return ("PROXY %s %s %s %d %d\r\n" % (family, src, dst, sport, dport)).encode()


def v2(src=None, sport=40002, dst="192.0.2.25", dport=25, tlvs=b"", command=0x21):
    """A v2 header: PROXY (0x21) for src over TCP, or LOCAL (0x20) when src is None."""
    if src is None:
        return V2_SIGNATURE + bytes([command, 0x00]) + struct.pack("!H", len(tlvs)) + tlvs
    s = ipaddress.ip_address(src)
    d = ipaddress.ip_address(dst if s.version == 4 else "2001:db8::25")
    block = s.packed + d.packed + struct.pack("!HH", sport, dport) + tlvs
    family = 0x11 if s.version == 4 else 0x21
    return V2_SIGNATURE + bytes([command, family]) + struct.pack("!H", len(block)) + block


# A TLV of each kind HAProxy sends: ALPN, authority, unique id; all skipped.
TLVS = b"\x01\x00\x04smtp" + b"\x02\x00\x0fmx.example.test" + b"\x05\x00\x08" + b"u" * 8


def proxied(port, header, source=BALANCER):
    """A Session that has sent `header` and read the greeting."""
    s = Session(port, source=source)
    s.send(header)
    s.expect(None, "220 ")
    return s


def deliver_to_bob(s, subject):
    s.expect("EHLO client.test", "250-")
    s.expect("MAIL FROM:<someone@remote.test>", "250 ")
    s.expect("RCPT TO:<bob@example.test>", "250 ")
    s.expect("DATA", "354 ")
    s.expect("Subject: %s\r\n\r\nbody\r\n." % subject, "250 2.0.0 Ok")
    s.expect("QUIT", "221 ")
    s.close()


def received(inst, subject):
    """The first Received: field of bob's message with this subject."""
    for msg in stored(inst.db)["bob@example.test"]:
        if b"Subject: %s\r\n" % subject.encode() in msg:
            return next(line for line in msg.decode().split("\r\n")
                        if line.startswith("Received: "))
    raise AssertionError("no message %r" % subject)


def closed_silently(sock, timeout=5.0):
    """True when the peer closes without sending a byte (False: bytes, or still open)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class TlsAfterHeader:
    """Implicit TLS through memory BIOs, so that the PROXY header and the
    ClientHello leave in one segment (the server must keep what follows
    the header for the handshake)."""

    def __init__(self, port, header):
        self.sock = socket.create_connection((BALANCER, port), timeout=10)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_tls_context().wrap_bio(self.inc, self.out)
        self.buf = b""
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        self.sock.sendall(header + self.out.read())
        self._until(self.tls.do_handshake)

    def _until(self, op):
        """Runs op, feeding it from the socket until it needs no more."""
        while True:
            try:
                result = op()
                self.sock.sendall(self.out.read())
                return result
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("closed during TLS") from None
                self.inc.write(data)

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self._until(lambda: self.tls.read(65536))
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out.decode()

    def send(self, text):
        self.tls.write(text.encode())
        self.sock.sendall(self.out.read())

    def close(self):
        self.sock.close()


# ---- smtpd ---------------------------------------------------------------

class SmtpdSuite:
    inst = None


def setup_module():
    SmtpdSuite.inst = smtp_install(proxy_protocol_from="127.0.0.1, 10.0.0.0/8",
                                   metrics_listen="127.0.0.1:%d" % free_port())


def teardown_module():
    smtp_close(SmtpdSuite.inst)


def smtpd():
    return SmtpdSuite.inst


def test_v1_names_the_client_in_received_and_logs():
    inst = smtpd()
    deliver_to_bob(proxied(inst.port("smtp"), v1("203.0.113.7", 40001)), "via-v1")
    assert received(inst, "via-v1").startswith("Received: from client.test ([203.0.113.7])")
    log = inst.log("smtpd")
    assert "event=proxy proxy=127.0.0.1 ip=203.0.113.7 port=40001 version=1" in log
    assert "event=connect ip=203.0.113.7 " in log


def test_v2_ipv6_with_tlvs():
    inst = smtpd()
    deliver_to_bob(proxied(inst.port("smtp"), v2("2001:db8::7", 40002, tlvs=TLVS)), "via-v2")
    assert received(inst, "via-v2").startswith("Received: from client.test ([IPv6:2001:db8::7])")
    assert "event=proxy proxy=127.0.0.1 ip=2001:db8::7 port=40002 version=2" in inst.log("smtpd")


def test_ipv4_mapped_client_is_an_ipv4_client():
    """A TCP6 header naming ::ffff:a.b.c.d (a balancer on a dual-stack
    socket) is the IPv4 client a.b.c.d: in Received:, the logs and limits."""
    inst = smtpd()
    header = v1("::ffff:198.51.100.9", 40003)
    deliver_to_bob(proxied(inst.port("smtp"), header), "via-mapped")
    assert received(inst, "via-mapped").startswith("Received: from client.test ([198.51.100.9])")
    assert "event=proxy proxy=127.0.0.1 ip=198.51.100.9 port=40003 version=1" in inst.log("smtpd")


def test_bytes_after_the_header_are_kept():
    """Header and pipelined EHLO in one segment; then a header dribbled one
    byte per segment, its last byte sent with the EHLO."""
    inst = smtpd()
    with Session(inst.port("smtp")) as s:
        s.send(v1("203.0.113.8") + b"EHLO client.test\r\n")
        s.expect(None, "220 ")
        s.expect(None, "250-")
        s.expect("QUIT", "221 ")
    for header, ip in ((v1("203.0.113.9", 40009), "203.0.113.9"),
                       (v2("198.51.100.10", 40010, tlvs=TLVS), "198.51.100.10")):
        with Session(inst.port("smtp")) as s:
            s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(header) - 1):
                s.send(header[i:i + 1])
                time.sleep(0.005)  # a segment each, as far as the stack allows
            s.send(header[-1:] + b"EHLO client.test\r\n")
            s.expect(None, "220 ")
            s.expect(None, "250-")
            s.expect("QUIT", "221 ")
        assert "event=proxy proxy=127.0.0.1 ip=%s " % ip in inst.log("smtpd")


def test_local_and_unknown_keep_the_balancer_address():
    inst = smtpd()
    for header in (v2(None), v2(None, tlvs=TLVS), b"PROXY UNKNOWN\r\n",
                   b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n"):
        with proxied(inst.port("smtp"), header) as s:
            s.expect("QUIT", "221 ")
    log = inst.log("smtpd")
    assert log.count("event=proxy proxy=127.0.0.1 ip=127.0.0.1 version=2 local=yes") == 2
    assert log.count("event=proxy proxy=127.0.0.1 ip=127.0.0.1 version=1 local=yes") == 2


def test_v2_before_implicit_tls_on_smtps():
    inst = smtpd()
    # The header and the ClientHello in one segment.
    tls = TlsAfterHeader(inst.port("smtps"), v2("198.51.100.9", 40003, dport=465))
    assert tls.line().startswith("220 ")
    tls.send("EHLO client.test\r\n")
    while tls.line().startswith("250-"):
        pass
    tls.send("QUIT\r\n")
    assert tls.line().startswith("221 ")
    tls.close()
    # The header alone, then the handshake.
    with Session(inst.port("smtps")) as s:
        s.send(v1("198.51.100.11", dport=465))
        s.starttls()
        s.expect(None, "220 ")
        s.expect("QUIT", "221 ")
    log = inst.log("smtpd")
    for ip in ("198.51.100.9", "198.51.100.11"):
        assert "event=connect ip=%s role=3 tls=implicit" % ip in log
        assert "event=tls ip=%s " % ip in log


def test_trusted_peer_without_header_is_closed_without_reply():
    inst = smtpd()
    cases = [
        (b"EHLO client.test\r\n", "not_proxy"),
        (b"PROXY TCP4 203.0.113.300 192.0.2.25 1 25\r\n", "v1_bad_address"),
        (b"PROXY TCP4 203.0.113.1 192.0.2.25 65536 25\r\n", "v1_bad_port"),
        (b"PROXY TCP4 203.0.113.1 192.0.2.25 01 25\r\n", "v1_bad_port"),
        (b"PROXY TCP6 203.0.113.1 192.0.2.25 1 25\r\n", "v1_bad_address"),
        (b"PROXY TCP4 203.0.113.1 192.0.2.25 1 25\n", "v1_bad_line_end"),
        (b"PROXY UDP4 203.0.113.1 192.0.2.25 1 25\r\n", "v1_bad_protocol"),
        (b"PROXY " + b"UNKNOWN " * 13 + b"\r\n", "v1_too_long"),
        (V2_SIGNATURE + b"\x31\x11\x00\x0c" + bytes(12), "v2_bad_version"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c" + bytes(12), "v2_bad_command"),
        (V2_SIGNATURE + b"\x21\x12\x00\x0c" + bytes(12), "v2_unsupported_family"),
        (V2_SIGNATURE + b"\x21\x11\x00\x08" + bytes(8), "v2_short_addresses"),
        (V2_SIGNATURE + b"\x21\x11\x02\x01" + bytes(513), "v2_too_long"),
    ]
    for data, reason in cases:
        with Raw(inst.port("smtp")) as r:
            r.send(data)
            assert closed_silently(r.sock), data
        assert "event=proxy_error ip=127.0.0.1 reason=%s" % reason in inst.log("smtpd"), data
    # Also on the implicit-TLS listener: no TLS alert, no plaintext.
    with Raw(inst.port("smtps")) as r:
        r.send(b"\x16\x03\x01\x00\xa0\x01\x00\x00\x9c\x03\x03" + bytes(32))
        assert closed_silently(r.sock)


def test_untrusted_peer_header_is_refused_and_never_spoofs():
    inst = smtpd()
    with Session(inst.port("smtp"), source=DIRECT) as s:
        s.expect(None, "220 ")
        s.expect(v1("203.0.113.66").rstrip(b"\r\n"), "500 ")
        deliver_to_bob(s, "direct-v1")
    assert received(inst, "direct-v1").startswith("Received: from client.test ([127.0.0.2])")
    # The v2 signature is CRLF, CRLF, NUL CRLF, then QUIT ended by a bare
    # LF, which smtpd refuses and hangs up on.
    with Session(inst.port("smtp"), source=DIRECT) as s:
        s.expect(None, "220 ")
        s.send(v2("203.0.113.66") + b"EHLO client.test\r\n")
        replies = []
        while True:
            reply = s.reply()
            if not reply:
                break
            replies.append(reply)
        assert replies[:3] == ["500 Command unrecognized"] * 2 + \
            ["500 Invalid character in command"], replies
        assert replies[3:] == ["500 Error: bare <LF> received"], replies
    # Before implicit TLS it is no ClientHello: the handshake fails.
    with Session(inst.port("smtps"), source=DIRECT) as s:
        s.send(v1("203.0.113.66", dport=465))
        assert s.closed()
    log = inst.log("smtpd")
    assert "ip=203.0.113.66" not in log
    assert "event=proxy_error ip=127.0.0.2" not in log


def test_metrics_listener_takes_no_header():
    inst = smtpd()
    port = int(inst.config["metrics_listen"].rsplit(":", 1)[1])
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as r:
        assert r.status == 200


def test_per_address_limit_counts_the_client():
    inst = smtp_install(tls=False, proxy_protocol_from="127.0.0.1", max_connections_per_ip=1)
    try:
        a = proxied(inst.port("smtp"), v1("203.0.113.1"))
        b = proxied(inst.port("smtp"), v2("203.0.113.2"))
        # The balancer itself holds two connections now: it is not the client.
        for header in (v1("203.0.113.1"), v2("203.0.113.1")):
            with Session(inst.port("smtp")) as c:
                c.send(header)
                assert c.reply() == REJECT
                assert c.closed()
        a.expect("NOOP", "250 ")
        b.expect("NOOP", "250 ")
        for s in (a, b):
            s.expect("QUIT", "221 ")
            s.close()
        log = inst.log("smtpd")
        assert log.count("event=reject ip=203.0.113.1 limit=max_connections_per_ip") == 2
    finally:
        smtp_close(inst)


def test_header_deadline_and_shutdown():
    """A trusted peer that sends nothing, or half a header, is closed after
    handshake_timeout; one still waiting at SIGTERM does not hold up the exit."""
    inst = smtp_install(tls=False, proxy_protocol_from="127.0.0.1", handshake_timeout=1)
    try:
        silent = Raw(inst.port("smtp"))
        half = Raw(inst.port("smtp"))
        half.send(b"PROXY TCP4 203.0.")
        half_v2 = Raw(inst.port("smtp"))
        half_v2.send(v2("203.0.113.3")[:20])
        for r in (silent, half, half_v2):
            assert closed_silently(r.sock, timeout=10)
            r.close()
        assert inst.log("smtpd").count("event=proxy_error ip=127.0.0.1 reason=timeout") == 3
        waiting = Raw(inst.port("submission"))
        waiting.send(b"PROXY TCP4 ")
        assert inst.stop(inst.smtpd) == 0
        assert closed_silently(waiting.sock)
        waiting.close()
        assert "reason=shutdown" in inst.log("smtpd")
    finally:
        smtp_close(inst)


def test_bad_value_is_a_config_error(tmp_path):
    conf = tmp_path / "mail.conf"
    conf.write_text("db = %s\nproxy_protocol_from = 10.0.0.1/8\n" % (tmp_path / "x.db"))
    p = subprocess.run([binary("mailctl"), "-c", str(conf), "config", "check"],
                       capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if not k.startswith("MAIL_")})
    assert p.returncode == 2
    assert "%s:2: proxy_protocol_from: bad network '10.0.0.1/8'" % conf in p.stderr, p.stderr


# ---- pop3d ---------------------------------------------------------------

class ProxiedPop3(Pop3):
    """A Pop3 session whose first bytes are `header` (then TLS, if asked)."""

    def __init__(self, port, header, tls=False, source=BALANCER):
        Raw.__init__(self, port, 10.0, source)
        self.send(header)
        if tls:
            self.starttls_wrap()
        self.greeting = self.bline()


def test_pop3d_plain_v1_pop3s_v2_and_the_login_budget():
    with running_pop3d(proxy_protocol_from="127.0.0.1", allow_plaintext_auth="yes",
                       auth_failure_budget=2, auth_lockout=600,
                       auth_failure_decay=3600) as inst:
        p = ProxiedPop3(inst.port("pop3"), v1("203.0.113.20", 41000, dport=110))
        assert p.greeting.startswith(b"+OK ")
        assert p.login().startswith(b"+OK")
        assert p.cmd("QUIT").startswith(b"+OK")
        p.close()
        p = ProxiedPop3(inst.port("pop3s"), v2("2001:db8::20", 41001, dport=995), tls=True)
        assert p.greeting.startswith(b"+OK ")
        assert p.cmd("QUIT").startswith(b"+OK")
        p.close()

        # Two failures from 203.0.113.21 use up its budget; 203.0.113.22,
        # behind the same balancer, is not locked out.
        for _ in range(2):
            p = ProxiedPop3(inst.port("pop3"), v2("203.0.113.21"))
            assert p.login(ALICE, "wrong").startswith(b"-ERR [AUTH]")
            p.close()
        p = ProxiedPop3(inst.port("pop3"), v1("203.0.113.21"))
        assert p.login(ALICE, PASSWORD) == LOCKED
        p.close()
        p = ProxiedPop3(inst.port("pop3"), v1("203.0.113.22"))
        assert p.login(ALICE, PASSWORD).startswith(b"+OK")
        assert p.cmd("QUIT").startswith(b"+OK")
        p.close()

        # Direct clients: a header is an unknown command and changes nothing.
        d = Pop3(inst.port("pop3"), source=DIRECT)
        assert d.cmd(v1("203.0.113.21").rstrip(b"\r\n")) == b"-ERR unknown command\r\n"
        assert d.login(ALICE, PASSWORD).startswith(b"+OK")
        assert d.cmd("QUIT").startswith(b"+OK")
        d.close()
        d = Pop3(inst.port("pop3"), source=DIRECT)
        d.send(v2("203.0.113.21"))
        assert [d.bline() for _ in range(4)] == [b"-ERR unknown command\r\n"] * 3 + \
            [b"-ERR bare LF received, lines must end in CRLF\r\n"]
        assert d.closed()
        d.close()

        log = inst.log("pop3d")
        assert "event=proxy proxy=127.0.0.1 ip=203.0.113.20 port=41000 version=1" in log
        assert "event=proxy proxy=127.0.0.1 ip=2001:db8::20 port=41001 version=2" in log
        assert "event=connect ip=2001:db8::20 " in log
        assert "ip=203.0.113.21 failures=2" in log
        assert "event=proxy_error ip=127.0.0.2" not in log
