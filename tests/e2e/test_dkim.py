"""DKIM keys and signatures checked by a verifier nobody here wrote:
Debian's python3-dkim (dkimpy). `mailctl dkim generate` makes and stores a
key and prints its DNS record; tests/tools/dkim_sign signs messages with
that key through common/dkim.c; dkim.verify() checks each one against the
printed record, served by a dnsfunc instead of DNS. Tampering with what is
signed must break the signature, and what relays add must not."""

import re
import subprocess

import pytest

from mailtest import sql

dkim = pytest.importorskip("dkim", reason="python3-dkim (dkimpy) is not installed")


def ok(res):
    assert res.rc == 0, "exit %d, stderr: %s" % (res.rc, res.err)
    return res


def fails(res, rc, message):
    assert res.rc == rc, "exit %d (wanted %d), stdout: %s stderr: %s" % (
        res.rc, rc, res.out, res.err)
    lines = res.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailctl: "), res.err
    assert message in lines[0], res.err
    return res


RECORD = re.compile(r'^(\S+)\._domainkey\.(\S+)\. IN TXT \(((?:\s*"[^"]*")+) \)\n\Z')


def parse_record(out):
    """(selector, domain, TXT value) of a zone-file record; checks that
    each string is at most 255 octets (RFC 1035 3.3.14)."""
    m = RECORD.match(out)
    assert m, out
    strings = re.findall(r'"([^"]*)"', m.group(3))
    assert all(len(s) <= 255 for s in strings), strings
    assert strings[0] == "v=DKIM1; k=rsa; "
    return m.group(1), m.group(2), "".join(strings)


def stored_key(mail_dir, domain):
    """(selector, PEM) of the domain's key, or None."""
    rows = sql(mail_dir.db, "SELECT selector, private_key FROM dkim_keys WHERE domain = ?",
               domain)
    return rows[0] if rows else None


@pytest.fixture
def signed_domain(mail_dir, mailctl):
    """example.test with a key: (selector, TXT value, PEM file)."""
    ok(mailctl("domain", "add", "example.test"))
    selector, domain, txt = parse_record(ok(mailctl("dkim", "generate", "example.test")).out)
    assert (selector, domain) == ("mail", "example.test")
    sel, pem = stored_key(mail_dir, "example.test")
    assert sel == "mail" and pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    key = mail_dir.path("dkim.pem")
    key.write_text(pem)
    return selector, txt, key


def sign(build_dir, key, msg, domain="example.test", selector="mail"):
    p = subprocess.run([str(build_dir / "tests" / "dkim_sign"), str(key), domain, selector],
                       input=msg, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"DKIM-Signature: ") and p.stdout.endswith(msg)
    sig = p.stdout[:len(p.stdout) - len(msg)]
    for line in sig.split(b"\r\n")[:-1]:
        assert len(line) <= 78, line
    return p.stdout


def verify(msg, txt, selector="mail", domain="example.test"):
    asked = []

    def dnsfunc(name, timeout=5):
        asked.append(name)
        return txt.encode()
    result = dkim.verify(msg, dnsfunc=dnsfunc)
    if result:
        assert asked == [("%s._domainkey.%s." % (selector, domain)).encode()], asked
    return result


MESSAGES = {
    "simple": (b"From: Alice <alice@example.test>\r\nTo: bob@example.org\r\n"
               b"Subject: hello\r\nDate: Sat, 5 Dec 2026 10:00:00 +0000\r\n"
               b"Message-ID: <1@example.test>\r\n\r\nHello Bob.\r\n"),
    "folded": (b"Return-Path: <alice@example.test>\r\n"
               b"Received: from a by b; Sat, 5 Dec 2026 10:00:00 +0000\r\n"
               b"From: Alice\r\n  <alice@example.test>\r\n"
               b"To: bob@example.org,\r\n\tcarol@example.org\r\n"
               b"Subject:   a   subject\t that\r\n is folded   \r\n"
               b"To: dave@example.org\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: text/plain;\r\n charset=us-ascii\r\n"
               b"\r\nbody  with   runs \t of space \r\n\tand a tab line\r\n"),
    "utf8": ("From: J\u00fcrgen <j@example.test>\r\nTo: b@example.org\r\n"
             "Subject: Gr\u00fc\u00dfe aus K\u00f6ln \u2603\r\n"
             "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 8bit\r\n\r\n"
             "Sch\u00f6ne Gr\u00fc\u00dfe \u2014 \u65e5\u672c\u8a9e \U0001F600\r\n").encode(),
    "trailing_blank_lines": (b"From: a@example.test\r\nTo: b@example.org\r\nSubject: t\r\n\r\n"
                             b"text\r\n\r\n   \r\n\t\r\n\r\n\r\n"),
    "inner_blank_lines": (b"From: a@example.test\r\nSubject: t\r\n\r\n\r\n\r\n"
                          b"after two blank lines\r\n\r\n\r\nand more\r\n"),
    "empty_body": b"From: a@example.test\r\nTo: b@example.org\r\nSubject: empty\r\n\r\n",
    "no_body": b"From: a@example.test\r\nTo: b@example.org\r\nSubject: nothing\r\n",
    "long_lines": (b"From: a@example.test\r\nTo: b@example.org\r\nSubject: "
                   + b"long " * 60 + b"\r\nReferences: "
                   + b" ".join(b"<%d@example.test>" % i for i in range(40)) + b"\r\n\r\n"
                   + b"x" * 998 + b"\r\n" + b"word " * 400 + b"\r\n"),
    "no_final_crlf": b"From: a@example.test\r\nSubject: t\r\n\r\nlast line without CRLF",
    "group_from": (b"From: team: a@example.test, b@example.test;\r\n"
                   b"Sender: a@example.test\r\nSubject: t\r\n\r\nhi\r\n"),
}


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_signature_verifies(build_dir, signed_domain, name):
    selector, txt, key = signed_domain
    signed = sign(build_dir, key, MESSAGES[name])
    assert verify(signed, txt), signed


def test_tampering_breaks_it(build_dir, signed_domain):
    selector, txt, key = signed_domain
    signed = sign(build_dir, key, MESSAGES["folded"])
    assert verify(signed, txt)
    # Body, signed fields, a From added on top (From is over-signed), a
    # second To: all break it.
    for old, new in [(b"body  with", b"bodY  with"),
                     (b"<alice@example.test>\r\nTo", b"<mallory@example.test>\r\nTo"),
                     (b"a   subject", b"another subject"),
                     (b"\r\n\r\nbody", b"\r\n\r\nbody\r\nextra line\r\n")]:
        assert old in signed
        assert not verify(signed.replace(old, new, 1), txt), (old, new)
    assert not verify(b"From: mallory@example.test\r\n" + signed, txt)
    assert not verify(signed.replace(b"MIME-Version", b"To: eve@example.org\r\nMIME-Version"),
                      txt)
    # What relays add, change or refold does not: Received on top,
    # unsigned fields, whitespace (relaxed), trailing empty lines.
    assert verify(b"Received: from relay by mx; Sat, 5 Dec 2026 10:01:00 +0000\r\n" + signed,
                  txt)
    assert verify(signed.replace(b"Return-Path: <alice@example.test>",
                                 b"Return-Path: <bounce@example.org>"), txt)
    assert verify(signed.replace(b"Subject:   a   subject", b"Subject: a subject"), txt)
    assert verify(signed + b"\r\n\r\n", txt)
    # Another key's record does not verify it.
    assert not verify(signed, "v=DKIM1; k=rsa; p=" + txt.split("p=")[1][:-8] + "AAAAAAAA")


def test_generate_and_show(mail_dir, mailctl, build_dir):
    # Not a local domain: runtime failure, nothing stored.
    fails(mailctl("dkim", "generate", "remote.test"), 1, "not a local domain")
    ok(mailctl("domain", "add", "example.test"))
    ok(mailctl("domain", "add", "other.test"))
    # Syntax is checked first (status 2).
    fails(mailctl("dkim", "generate", "example.test", "--selector", "bad_selector"), 2,
          "invalid selector")
    fails(mailctl("dkim", "generate", "bad..domain"), 2, "")
    fails(mailctl("dkim", "generate"), 2, "")
    fails(mailctl("dkim", "show", "example.test"), 1, "has no DKIM key")
    assert stored_key(mail_dir, "example.test") is None

    first = ok(mailctl("dkim", "generate", "Example.TEST", "--selector", "s2026-12")).out
    selector, domain, txt = parse_record(first)
    assert (selector, domain) == ("s2026-12", "example.test")
    assert ok(mailctl("dkim", "show", "example.test")).out == first
    # The key in the store signs what the record verifies.
    key = mail_dir.path("k.pem")
    key.write_text(stored_key(mail_dir, "example.test")[1])
    signed = sign(build_dir, key, MESSAGES["simple"], selector="s2026-12")
    assert verify(signed, txt, selector="s2026-12")

    # An existing key is kept without --force.
    fails(mailctl("dkim", "generate", "example.test"), 1, "already has a key")
    assert ok(mailctl("dkim", "show", "example.test")).out == first
    forced = ok(mailctl("dkim", "generate", "example.test", "--force")).out
    selector, _, txt2 = parse_record(forced)
    assert selector == "mail" and txt2 != txt
    assert ok(mailctl("dkim", "show", "example.test")).out == forced
    assert not verify(signed, txt2, selector="s2026-12")

    # Keys are per domain; del and domain del remove them.
    other = parse_record(ok(mailctl("dkim", "generate", "other.test")).out)
    assert other[2] != txt2
    ok(mailctl("dkim", "del", "other.test"))
    fails(mailctl("dkim", "show", "other.test"), 1, "has no DKIM key")
    fails(mailctl("dkim", "del", "other.test"), 1, "has no DKIM key")
    ok(mailctl("domain", "del", "example.test"))
    assert stored_key(mail_dir, "example.test") is None
    ok(mailctl("domain", "add", "example.test"))
    fails(mailctl("dkim", "show", "example.test"), 1, "has no DKIM key")
