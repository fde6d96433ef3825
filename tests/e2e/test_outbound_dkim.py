"""DKIM signing of outbound mail (RFC 6376): a message from a local
domain with a key (`mailctl dkim generate`) leaves signed and verifies
with dkimpy (Debian's python3-dkim) against the public key served by a
private dnsmasq; mail whose From is not a local domain is not signed."""

import re
import tempfile

import dkim
import dns.resolver

from outbound import ALICE, BOB, DnsServer, Pair, mailbox, message, submit, wait_for


def txt_record(inst, domain):
    out = inst.mailctl("dkim", "show", domain).stdout
    return "".join(re.findall(r'"([^"]*)"', out))


def dns_for(record_name, value):
    workdir = tempfile.mkdtemp(prefix="mail-dkim-dns-")
    parts = [value[i:i + 200] for i in range(0, len(value), 200)]
    return DnsServer(["--txt-record=%s,%s" % (record_name, ",".join(parts))],
                     workdir)


def resolver_for(server):
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = server.port

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        answer = r.resolve(name, "TXT", lifetime=timeout)
        return b"".join(b"".join(rr.strings) for rr in answer)
    return dnsfunc


def test_signed_and_verified_through_dns():
    with Pair() as (a, b):
        a.mailctl("dkim", "generate", "a.test")
        value = txt_record(a, "a.test")
        assert value.startswith("v=DKIM1; k=rsa; p=")
        server = dns_for("mail._domainkey.a.test", value)
        try:
            body = "Grüße from a.\r\n\r\n.dot line\r\n\r\n\r\n"
            submit(a, [BOB], message("signed", body=body))
            got = wait_for(lambda: mailbox(b, BOB), what="the signed message")[0]
            assert b"\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=a.test;" in got
            dnsfunc = resolver_for(server)
            assert dkim.verify(got, dnsfunc=dnsfunc)
            # Tampering breaks it.
            assert not dkim.verify(got.replace(b"Subject: signed", b"Subject: changed"),
                                   dnsfunc=dnsfunc)
            assert not dkim.verify(got.replace(b"from a.", b"from b."), dnsfunc=dnsfunc)
        finally:
            server.close()


def test_mail_from_another_domain_is_not_signed():
    with Pair() as (a, b):
        a.mailctl("dkim", "generate", "a.test")
        msg = message("not ours").replace("From: <%s>" % ALICE, "From: <someone@elsewhere.test>")
        submit(a, [BOB], msg)
        got = wait_for(lambda: mailbox(b, BOB), what="the message")[0]
        assert b"DKIM-Signature" not in got


def test_domain_without_key_is_not_signed():
    with Pair() as (a, b):
        submit(a, [BOB], message("no key"))
        got = wait_for(lambda: mailbox(b, BOB), what="the message")[0]
        assert b"DKIM-Signature" not in got
