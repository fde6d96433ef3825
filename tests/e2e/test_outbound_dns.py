"""Outbound delivery by DNS: MX by preference, the domain's own address
when it has no MX (RFC 5321 5.1), a null MX (RFC 7505) and a domain that
does not exist fail at once with a bounce. The records come from a
private dnsmasq (dns_servers); MAILTEST_MX_PORT points MX deliveries at
b's listener instead of port 25."""

import tempfile

import pytest

from outbound import (ALICE, BOB, DnsServer, Pair, mailbox, message, queue, queue_rows,
                      start_smtpd, submit, wait_for)


@pytest.fixture
def dns():
    workdir = tempfile.mkdtemp(prefix="mail-dns-")
    server = DnsServer([
        # b.test's best MX has no address; the next one is b (on loopback).
        "--mx-host=b.test,dead.b.test,5",
        "--mx-host=b.test,mx.b.test,10",
        "--host-record=mx.b.test,127.0.0.1",
        # c.test: the preferred MX refuses connections (nothing listens on
        # 127.0.0.2), the next one is b.
        "--mx-host=c.test,down.c.test,5",
        "--mx-host=c.test,mx.b.test,10",
        "--host-record=down.c.test,127.0.0.2",
        # implicit.test: no MX, an A record (b takes its mail too).
        "--host-record=implicit.test,127.0.0.1",
        "--dns-rr=null.test,15,000000",
    ], workdir)
    yield server
    server.close()


def test_delivery_by_mx(dns):
    # b's MX port is only known once b exists: a is restarted with the hook.
    with Pair(a_config={"routes": "", "dns_servers": dns.servers}) as (a, b):
        a.stop(a.smtpd)
        a.smtpd = start_smtpd(a, env={"MAILTEST_MX_PORT": str(b.port("smtp"))})
        b.mailctl("domain", "add", "implicit.test")
        b.mailctl("domain", "add", "c.test")
        b.mailctl("user", "add", "cy@c.test", "--password-stdin", stdin="pw-pw-pw-1\n")
        b.mailctl("user", "add", "ivy@implicit.test", "--password-stdin", stdin="pw-pw-pw-1\n")
        submit(a, [BOB, "ivy@implicit.test", "cy@c.test"], message("by mx"))
        wait_for(lambda: mailbox(b, BOB), what="delivery to bob by MX")
        wait_for(lambda: mailbox(b, "cy@c.test"), what="delivery past a refusing MX")
        wait_for(lambda: mailbox(b, "ivy@implicit.test"), what="delivery by the A record")
        wait_for(lambda: not queue(a), what="a's queue to empty")
        log = a.log("smtpd")
        assert "relay=mx.b.test" in log and "relay=implicit.test" in log
        assert "event=connect_failed ip=127.0.0.2" in log  # tried first, refused


def test_null_mx_and_nxdomain_bounce(dns):
    with Pair(a_config={"routes": "", "dns_servers": dns.servers}) as (a, b):
        submit(a, ["x@null.test"], message("to null"))
        submit(a, ["y@nowhere.test"], message("to nowhere"))
        bounces = wait_for(lambda: len(mailbox(a, ALICE)) == 2 and mailbox(a, ALICE),
                           what="two bounces")
        text = b"".join(bounces)
        assert b"Status: 5.1.10" in text and b"null MX" in text
        assert b"Status: 5.4.4" in text and b"nowhere.test" in text
        # The original header section goes back, also with no session at all.
        assert b"Subject: to null" in text and b"Subject: to nowhere" in text
        wait_for(lambda: not queue(a), what="a's queue to empty")


def test_dns_server_down_defers(dns):
    with Pair(a_config={"routes": "", "dns_servers": "127.0.0.1:%d" % 9}) as (a, b):
        submit(a, [BOB], message("no dns"))
        row = wait_for(lambda: [r for r in queue_rows(a) if "attempts=1" in r],
                       timeout=30, what="a deferred attempt")[0]
        assert " pending " in row
        assert mailbox(a, ALICE) == []
