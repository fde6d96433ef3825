"""Outbound delivery between two instances over `routes`: a message from
a's user reaches b's user, bounces come back as delivery status reports
to the sender's POP3 mailbox, and a destination that is down is retried
(and `mailctl queue retry` is noticed by the running smtpd)."""

import poplib

from mailtest import free_port
from outbound import (ALICE, BOB, PASSWORD, Pair, enqueue, mailbox, message, parse, queue,
                      queue_rows, start_smtpd, submit, wait_for)
from smtptest import client_tls_context


def test_message_reaches_the_other_instance():
    with Pair() as (a, b):
        submit(a, [BOB], message("route one", "line one\r\n.leading dot\r\n"))
        got = wait_for(lambda: mailbox(b, BOB), what="delivery to b")
        assert len(got) == 1
        msg = got[0]
        # b's own Return-Path only: a's was not passed on (RFC 5321 4.4).
        assert msg.count(b"Return-Path:") == 1
        assert msg.startswith(b"Return-Path: <alice@a.test>\r\n")
        # Received by b from a over STARTTLS, and by a from the client.
        assert msg.count(b"Received:") == 2
        assert b"by mx.b.test" in msg and b"ESMTPS" in msg
        # The dot-stuffed line arrived as the sender wrote it.
        assert msg.endswith(b"line one\r\n.leading dot\r\n")
        wait_for(lambda: not queue(a), what="a's queue to empty")
        log = a.log("smtpd")
        assert "event=delivery" in log and "status=sent" in log


def test_many_recipients_share_one_transaction():
    with Pair() as (a, b):
        for i in range(3):
            b.mailctl("user", "add", "u%d@b.test" % i, "--password-stdin", stdin="pw-pw-pw-1\n")
        rcpts = [BOB] + ["u%d@b.test" % i for i in range(3)]
        submit(a, rcpts, message("four at once"))
        for r in rcpts:
            wait_for(lambda: mailbox(b, r), what="delivery to " + r)
        # One transaction: b accepted one message for four mailboxes.
        assert b.log("smtpd").count("event=accepted") == 1
        assert "rcpts=4" in b.log("smtpd")


def test_unknown_recipient_bounces_to_the_sender():
    with Pair() as (a, b):
        submit(a, ["nobody@b.test", BOB], message("half wrong"))
        wait_for(lambda: mailbox(b, BOB), what="delivery to bob")
        bounce = wait_for(lambda: mailbox(a, ALICE), what="the bounce")[0]
        report = parse(bounce)
        assert report.get_content_type() == "multipart/report"
        assert report.get_param("report-type") == "delivery-status"
        assert report["From"].addresses[0].username.lower() == "mailer-daemon"
        parts = list(report.iter_parts())
        assert parts[1].get_content_type() == "message/delivery-status"
        status = parts[1].get_payload()
        fields = {}
        for block in status:
            for k, v in block.items():
                fields.setdefault(k.lower(), []).append(str(v))
        assert fields["reporting-mta"] == ["dns; mx.a.test"]
        assert fields["final-recipient"] == ["rfc822; nobody@b.test"]
        assert fields["action"] == ["failed"]
        assert fields["status"] == ["5.1.1"]
        assert "mx.b.test" in fields["remote-mta"][0] or "127.0.0.1" in fields["remote-mta"][0]
        assert fields["diagnostic-code"][0].startswith("smtp; 550")
        assert b"Subject: half wrong" in bounce
        assert bounce.startswith(b"Return-Path: <>\r\n")
        wait_for(lambda: not queue(a), what="a's queue to empty")


def test_bounce_is_fetched_over_pop3():
    with Pair() as (a, b):
        submit(a, ["nobody@b.test"], message("fetch the bounce"))
        wait_for(lambda: mailbox(a, ALICE), what="the bounce")
        a.pop3d = a.start("pop3d")
        pop = poplib.POP3("127.0.0.1", a.port("pop3"), timeout=30)
        try:
            pop.stls(context=client_tls_context())
            pop.user(ALICE)
            pop.pass_(PASSWORD)
            count, _ = pop.stat()
            assert count == 1
            raw = b"\r\n".join(pop.retr(1)[1])
            pop.quit()
        finally:
            pop.close()
        report = parse(raw)
        assert report.get_content_type() == "multipart/report"
        assert "nobody@b.test" in raw.decode()


def test_null_sender_failures_are_kept_not_bounced():
    """A bounce that bounces is never reported again (RFC 5321 4.5.5): it
    stays in the queue as failed, for the operator."""
    with Pair() as (a, b):
        enqueue(a, "", "ghost@b.test", message("bounce of a bounce", sender="MAILER-DAEMON"))
        rows = wait_for(lambda: [r for r in queue_rows(a) if " failed " in r],
                        what="the failed row")
        assert "ghost@b.test" in rows[0] and "550" in rows[0] and "from=<>" in rows[0]
        assert mailbox(a, ALICE) == []


def test_unreachable_destination_is_retried():
    port = free_port()
    with Pair(a_config={"routes": "b.test=127.0.0.1:%d" % port}, start_b=False) as (a, b):
        submit(a, [BOB], message("later"))
        rows = wait_for(lambda: [r for r in queue_rows(a) if "attempts=1" in r],
                        what="a failed attempt")
        assert " pending " in rows[0] and "ECONNREFUSED" in rows[0]
        # b comes up on that port; the operator asks for a retry, and the
        # running smtpd notices it without a restart.
        b.ports["smtp"] = port
        b.config["smtp_listen"] = "127.0.0.1:%d" % port
        b.write_config()
        start_smtpd(b)
        a.mailctl("queue", "retry", "all")
        wait_for(lambda: mailbox(b, BOB), what="delivery after the retry")
        wait_for(lambda: not queue(a), what="a's queue to empty")


def test_bounce_to_a_remote_sender_is_queued_and_delivered():
    """b forwards (an alias) to an address a does not know; a refuses it,
    so b reports to the sender, who is remote for b: the report goes
    through b's queue back to a, into alice's mailbox."""
    with Pair() as (a, b):
        b.mailctl("alias", "add", "fwd@b.test", "nobody@a.test", "--force")
        submit(a, ["fwd@b.test"], message("forwarded", to="fwd@b.test"))
        bounce = wait_for(lambda: mailbox(a, ALICE), what="b's report, through b's queue")[0]
        report = parse(bounce)
        assert report["From"].addresses[0].domain == "mx.b.test"
        assert "nobody@a.test" in bounce.decode()
        wait_for(lambda: not queue(a) and not queue(b), what="both queues to empty")
        assert "status=bounced" in b.log("smtpd")
