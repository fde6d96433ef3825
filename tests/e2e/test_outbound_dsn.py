"""RFC 3461 (DSN) on submission: NOTIFY, ORCPT, RET and ENVID are taken,
kept with the queued recipient, passed on to a server that offers DSN,
and honoured in our own reports: NOTIFY=NEVER means no bounce,
NOTIFY=SUCCESS to a server without DSN gives a "relayed" report."""

import smtplib

from outbound import ALICE, PASSWORD, FaultServer, mailbox, message, parse, queue, wait_for
from smtptest import client_tls_context
from test_outbound_faults import RCPT, sender, status_fields


def send(inst, rcpt_options, mail_options=()):
    with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30) as s:
        s.starttls(context=client_tls_context())
        s.ehlo()
        assert s.has_extn("dsn")
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [RCPT], message("dsn", to=RCPT).encode(),
                   mail_options=list(mail_options), rcpt_options=list(rcpt_options))


def test_dsn_not_offered_on_the_mx_listener():
    with FaultServer() as fault, sender(fault) as a:
        with smtplib.SMTP("127.0.0.1", a.port("smtp"), timeout=30) as s:
            s.ehlo()
            assert not s.has_extn("dsn")
            code, _ = s.docmd("MAIL FROM:<x@remote.test> RET=HDRS")
            assert code == 555


def test_notify_never_suppresses_the_bounce():
    with FaultServer(rcpt="550 5.1.1 no such user") as fault, sender(fault) as a:
        send(a, ["NOTIFY=NEVER"])
        wait_for(lambda: any(c.startswith("RCPT") for c in fault.commands), what="the attempt")
        wait_for(lambda: not queue(a), what="the queue to empty")
        assert mailbox(a, ALICE) == []
        assert "status=failed" in a.log("smtpd")


def test_success_report_when_the_server_has_no_dsn():
    with FaultServer() as fault, sender(fault) as a:
        send(a, ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Carol+2Bwork@fault.test"],
             ["RET=HDRS", "ENVID=QQ314159"])
        report = parse(wait_for(lambda: mailbox(a, ALICE), what="the success report")[0])
        assert report["Subject"] == "Successful Mail Delivery Report"
        fields = status_fields(report)
        assert fields["action"] == "relayed"
        assert fields["original-envelope-id"] == "QQ314159"
        assert fields["original-recipient"] == "rfc822;Carol+work@fault.test"
        assert fault.messages
        # A server without DSN is sent no DSN parameters.
        assert not any("NOTIFY" in c or "ENVID" in c for c in fault.commands)


def test_parameters_pass_to_a_server_with_dsn():
    with FaultServer(ehlo_lines=("PIPELINING", "DSN")) as fault, sender(fault) as a:
        send(a, ["NOTIFY=SUCCESS", "ORCPT=rfc822;carol@fault.test"], ["RET=FULL", "ENVID=abc+2B1"])
        wait_for(lambda: fault.messages, what="the message")
        mail = [c for c in fault.commands if c.startswith("MAIL")][0]
        rcpt = [c for c in fault.commands if c.startswith("RCPT")][0]
        assert mail.endswith(" RET=FULL ENVID=abc+2B1")
        assert rcpt == "RCPT TO:<%s> NOTIFY=SUCCESS ORCPT=rfc822;carol@fault.test" % RCPT
        wait_for(lambda: not queue(a), what="the queue to empty")
        # The remote reports the success itself: nothing from us.
        assert mailbox(a, ALICE) == []


def test_bad_dsn_parameters_are_refused():
    with FaultServer() as fault, sender(fault) as a:
        with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as s:
            s.starttls(context=client_tls_context())
            s.ehlo()
            s.login(ALICE, PASSWORD)
            assert s.docmd("MAIL FROM:<%s> RET=MOST" % ALICE)[0] == 501
            assert s.docmd("MAIL FROM:<%s> RET=HDRS" % ALICE)[0] == 250
            assert s.docmd("RCPT TO:<%s> NOTIFY=NEVER,SUCCESS" % RCPT)[0] == 501
            assert s.docmd("RCPT TO:<%s> ORCPT=nosemicolon" % RCPT)[0] == 501
            assert s.docmd("RCPT TO:<%s> NOTIFY=DELAY" % RCPT)[0] == 250


def test_ret_full_returns_the_message_and_hdrs_its_header():
    with FaultServer(rcpt="550 5.1.1 no such user") as fault, sender(fault) as a:
        send(a, [], ["RET=FULL"])
        report = parse(wait_for(lambda: mailbox(a, ALICE), what="the bounce")[0])
        parts = list(report.iter_parts())
        assert parts[2].get_content_type() == "message/rfc822"
        returned = parts[2].get_payload()[0]
        assert returned["Subject"] == "dsn"
        assert "Hello over there." in returned.get_payload()
        assert "Return-Path" not in str(returned)
    with FaultServer(rcpt="550 5.1.1 no such user") as fault, sender(fault) as a:
        send(a, [], ["RET=HDRS"])
        raw = wait_for(lambda: mailbox(a, ALICE), what="the bounce")[0]
        report = parse(raw)
        assert list(report.iter_parts())[2].get_content_type() == "text/rfc822-headers"
        assert b"Subject: dsn" in raw and b"Hello over there." not in raw


def test_local_delivery_reports_delivered_when_asked():
    with FaultServer() as fault, sender(fault) as a:
        a.mailctl("user", "add", "dora@a.test", "--password-stdin", stdin="pw-pw-pw-1\n")
        with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as s:
            s.starttls(context=client_tls_context())
            s.login(ALICE, PASSWORD)
            s.sendmail(ALICE, ["dora@a.test"], message("local", to="dora@a.test").encode(),
                       mail_options=["ENVID=local-1"],
                       rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;dora@a.test"])
            s.sendmail(ALICE, ["dora@a.test"], message("quiet", to="dora@a.test").encode())
        assert len(mailbox(a, "dora@a.test")) == 2
        report = parse(wait_for(lambda: mailbox(a, ALICE), what="the delivered report")[0])
        assert report["Subject"] == "Successful Mail Delivery Report"
        fields = status_fields(report)
        assert fields["action"] == "delivered" and fields["status"] == "2.0.0"
        assert fields["original-envelope-id"] == "local-1"
        assert fields["final-recipient"] == "rfc822; dora@a.test"
        assert "Subject: local" in str(list(report.iter_parts())[2])
        assert len(mailbox(a, ALICE)) == 1  # none for the message that did not ask
