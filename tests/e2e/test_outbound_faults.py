"""Outbound delivery against a scripted remote server (outbound.FaultServer):
temporary and permanent failures at each stage, a connection dropped in
the middle of the data, a server that never answers, one that refuses
STARTTLS when TLS is required, one without EHLO or PIPELINING, and the
limits a server announces (SIZE, no SMTPUTF8)."""

import contextlib
import time
import smtplib

import pytest

from outbound import (ALICE, PASSWORD, FaultServer, close, make_install, mailbox, message, parse,
                      queue, queue_rows, submit, wait_for)
from smtptest import client_tls_context

RCPT = "carol@fault.test"


@contextlib.contextmanager
def sender(fault, **config):
    config.setdefault("routes", "fault.test=127.0.0.1:%d" % fault.port)
    inst = make_install("mx.a.test", "a.test", ALICE, **config)
    try:
        yield inst
    finally:
        close(inst)


def deferred_row(inst):
    return wait_for(lambda: [r for r in queue_rows(inst) if "attempts=1" in r],
                    what="a deferred attempt")[0]


def bounce_of(inst):
    return parse(wait_for(lambda: mailbox(inst, ALICE), what="the bounce")[0])


def status_fields(report):
    fields = {}
    for block in list(report.iter_parts())[1].get_payload():
        for k, v in block.items():
            fields[k.lower()] = str(v)
    return fields


def test_pipelined_delivery():
    with FaultServer() as fault, sender(fault) as a:
        submit(a, [RCPT, "dave@fault.test"], message("two rcpts", to=RCPT))
        wait_for(lambda: fault.messages, what="the message")
        wait_for(lambda: not queue(a), what="the queue to empty")
        verbs = [c.split(":")[0].split(" ")[0].upper() for c in fault.commands]
        assert verbs[:6] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
        mail = [c for c in fault.commands if c.upper().startswith("MAIL")][0]
        assert mail.startswith("MAIL FROM:<alice@a.test> SIZE=")
        assert b"Return-Path" not in fault.messages[0]
        assert b"Subject: two rcpts" in fault.messages[0]


def test_no_pipelining_no_ehlo():
    with FaultServer(ehlo="500 5.5.1 what is EHLO") as fault, sender(fault) as a:
        submit(a, [RCPT], message("old server", to=RCPT))
        wait_for(lambda: fault.messages, what="the message")
        verbs = [c.split(" ")[0].upper() for c in fault.commands]
        assert verbs[:2] == ["EHLO", "HELO"]
        # No extensions after HELO: no SIZE parameter.
        assert [c for c in fault.commands if c.startswith("MAIL")][0] == "MAIL FROM:<alice@a.test>"


def test_temporary_rcpt_failure_is_deferred():
    with FaultServer(rcpt="450 4.2.0 mailbox busy") as fault, sender(fault) as a:
        submit(a, [RCPT], message("busy", to=RCPT))
        row = deferred_row(a)
        assert " pending " in row and "450 4.2.0 mailbox busy" in row
        assert mailbox(a, ALICE) == []
        # Pipelined DATA got this dumb server's 354, yet no content went out.
        assert not any(fault.messages)


def test_permanent_data_failure_bounces():
    with FaultServer(dot="554 5.7.1 content refused") as fault, sender(fault) as a:
        submit(a, [RCPT], message("refused", to=RCPT))
        fields = status_fields(bounce_of(a))
        assert fields["status"] == "5.7.1"
        assert fields["diagnostic-code"] == "smtp; 554 5.7.1 content refused"
        assert fields["final-recipient"] == "rfc822; " + RCPT
        wait_for(lambda: not queue(a), what="the queue to empty")


def test_drop_in_the_middle_of_data_keeps_the_message():
    with FaultServer(dot="drop") as fault, sender(fault) as a:
        submit(a, [RCPT], message("cut", body="x" * 5000 + "\r\n", to=RCPT))
        row = deferred_row(a)
        assert "lost connection" in row
        assert len(queue(a)) == 1  # nothing lost, nothing bounced
        assert mailbox(a, ALICE) == []


def test_silent_server_times_out():
    with FaultServer(greeting="silent") as fault, sender(fault, outbound_timeout=2) as a:
        submit(a, [RCPT], message("silence", to=RCPT))
        row = wait_for(lambda: [r for r in queue_rows(a) if "attempts=1" in r],
                       timeout=20, what="the timeout")[0]
        assert "timeout" in row


def test_tls_required_but_refused():
    with FaultServer(ehlo_lines=("STARTTLS", "PIPELINING"), starttls="454 4.7.0 not now") as fault, \
            sender(fault, relay_tls="encrypt") as a:
        submit(a, [RCPT], message("secret", to=RCPT))
        row = deferred_row(a)
        assert "TLS is required" in row
        assert fault.messages == []
        assert not any(c.startswith("MAIL") for c in fault.commands)


def test_tls_optional_and_refused_goes_on_in_plain_text():
    with FaultServer(ehlo_lines=("STARTTLS", "PIPELINING"), starttls="454 4.7.0 not now") as fault, \
            sender(fault) as a:
        submit(a, [RCPT], message("may", to=RCPT))
        wait_for(lambda: fault.messages, what="the message")


def test_message_over_the_announced_size_bounces():
    with FaultServer(ehlo_lines=("SIZE 1000",)) as fault, sender(fault) as a:
        submit(a, [RCPT], message("big", body="y" * 3000 + "\r\n", to=RCPT))
        fields = status_fields(bounce_of(a))
        assert fields["status"] == "5.3.4"
        assert fault.messages == []


def test_utf8_address_to_a_server_without_smtputf8_bounces():
    with FaultServer() as fault, sender(fault) as a:
        with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as s:
            s.starttls(context=client_tls_context())
            s.login(ALICE, PASSWORD)
            s.sendmail(ALICE, ["jöran@fault.test"],
                       message("utf8", to="jöran@fault.test").encode(),
                       mail_options=["SMTPUTF8"])
        report = bounce_of(a)
        raw = report.as_bytes()
        assert b"5.6.7" in raw and b"SMTPUTF8" in raw
        assert fault.messages == []


def test_connections_are_reused():
    with FaultServer() as fault, sender(fault) as a:
        with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as s:
            s.starttls(context=client_tls_context())
            s.login(ALICE, PASSWORD)
            for i in range(12):
                s.sendmail(ALICE, [RCPT], message("reuse %d" % i, to=RCPT).encode())
        wait_for(lambda: len(fault.messages) == 12, what="twelve messages")
        # Twelve messages, at most five connections (the per-destination cap);
        # messages after the first on a connection are preceded by no new EHLO.
        assert fault.connections <= 5
        assert sum(1 for c in fault.commands if c.startswith("EHLO")) == fault.connections


def test_delay_warning_is_sent_once():
    with FaultServer(rcpt="450 4.2.0 try later") as fault, sender(fault, delay_warning_time=2) as a:
        submit(a, [RCPT], message("slow", to=RCPT))
        deferred_row(a)
        assert mailbox(a, ALICE) == []  # too young for a warning (created at most 1 s ago)
        time.sleep(2.2)
        a.mailctl("queue", "retry", "all")
        warning = parse(wait_for(lambda: mailbox(a, ALICE), what="the delay warning")[0])
        assert warning["Subject"] == "Delayed Mail (still being retried)"
        fields = status_fields(warning)
        assert fields["action"] == "delayed" and fields["status"] == "4.2.0"
        assert "will-retry-until" in fields
        wait_for(lambda: [r for r in queue_rows(a) if "attempts=2" in r], what="the second attempt")
        a.mailctl("queue", "retry", "all")
        wait_for(lambda: [r for r in queue_rows(a) if "attempts=3" in r], what="the third attempt")
        assert len(mailbox(a, ALICE)) == 1  # warned once
        assert len(queue(a)) == 1


def test_8bit_and_utf8_are_declared_to_a_server_that_offers_them():
    with FaultServer(ehlo_lines=("PIPELINING", "8BITMIME", "SMTPUTF8")) as fault, \
            sender(fault) as a:
        with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as s:
            s.starttls(context=client_tls_context())
            s.login(ALICE, PASSWORD)
            s.sendmail(ALICE, ["jöran@fault.test"],
                       message("utf8", body="Grüße\r\n", to="jöran@fault.test").encode(),
                       mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        wait_for(lambda: fault.messages, what="the message")
        mail = [c for c in fault.commands if c.startswith("MAIL")][0]
        assert mail.endswith(" BODY=8BITMIME SMTPUTF8")
        assert "Grüße".encode() in fault.messages[0]
