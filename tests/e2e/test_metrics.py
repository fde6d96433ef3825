"""metrics_listen in both daemons: GET /metrics in Prometheus' text format
(every family with HELP and TYPE, counters that follow real traffic),
GET /healthz (200; 503 when the database is gone or while draining), the
HTTP errors, and an endpoint that answers when clients fill the limits."""

import os
import poplib
import re
import shutil
import signal
import smtplib
import subprocess
import urllib.error
import urllib.request

from mailtest import Install, Raw, free_port, wait_port
from outbound import close, enqueue, wait_for
from smtptest import client_tls_context

SAMPLE = re.compile(r'^([a-z_][a-z0-9_]*)(\{[a-z_]+="[^"\\]*"(,[a-z_]+="[^"\\]*")*\})? '
                    r'(\d+(\.\d+)?)$')


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def parse_metrics(text):
    """{sample name with labels: value}; checks the exposition format."""
    helped, typed, samples = set(), set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            typed.add(family)
        else:
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            assert (m.group(1) in helped and m.group(1) in typed) or \
                (family in helped and family in typed), line
            samples[line.rsplit(" ", 1)[0]] = float(m.group(4)) if "." in m.group(4) \
                else int(m.group(4))
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr
    return samples


class MetricsInstall(Install):
    """An Install with metrics_listen; its port may change when start() has
    to pick new ports (another test took one meanwhile)."""

    @property
    def metrics_port(self):
        return int(self.config["metrics_listen"].rsplit(":", 1)[1])


def install(**config):
    inst = MetricsInstall(metrics_listen="127.0.0.1:%d" % free_port(), **config)
    inst.add_user("alice@example.test", "Metrics-pw 1")
    return inst


def test_smtpd_metrics_follow_traffic():
    inst = install()
    try:
        inst.smtpd = inst.start("smtpd")
        wait_port(inst.metrics_port, proc=inst.smtpd)
        status, headers, text = get(inst.metrics_port, "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        before = parse_metrics(text)
        assert before["smtp_messages_total"] == 0
        assert 'smtp_rejections_total{reason="relay"}' in before
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
            s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: m\r\n\r\nhi\r\n")
            assert s.docmd("RCPT TO:<nobody@elsewhere.test>")[0] == 503  # no MAIL yet
        enqueue(inst, "alice@example.test", "far@remote.test", "Subject: q\r\n\r\nq\r\n")
        quit = 'smtp_sessions_total{outcome="quit"}'
        after = wait_for(lambda: (lambda m: m if m[quit] == 1 else None)(
            parse_metrics(get(inst.metrics_port, "/metrics")[2])), what="the session's end counted")
        assert after["smtp_messages_total"] == 1
        mx = 'smtp_connections_total{listener="mx"}'
        assert after[mx] == before[mx] + 1
        assert after['smtp_commit_batch_size_count'] == 1
        assert after['smtp_commit_batch_size_bucket{le="1"}'] == 1
        assert after['smtp_commit_batch_size_bucket{le="+Inf"}'] == 1
        assert after['smtp_queue_recipients{state="pending"}'] == 1
        assert after["smtp_queue_oldest_seconds"] < 60
        assert after['smtp_commit_duration_seconds_count'] == 1
        assert after['smtp_rejections_total{reason="sequence"}'] == 1
        status, _, body = get(inst.metrics_port, "/healthz")
        assert (status, body) == (200, "ok\n")
        head = get(inst.metrics_port, "/metrics", method="HEAD")
        assert head[0] == 200 and head[2] == ""
    finally:
        close(inst)


def test_pop3d_serves_its_own_metrics():
    inst = install(smtp_listen="", submission_listen="", smtps_listen="")
    try:
        proc = inst.start("pop3d")
        wait_port(inst.metrics_port, proc=proc)
        before = parse_metrics(get(inst.metrics_port, "/metrics")[2])
        pop = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=30)
        pop.stls(context=client_tls_context())
        pop.user("alice@example.test")
        try:
            pop.pass_("wrong password")
        except poplib.error_proto:
            pass
        pop.close()
        samples = wait_for(lambda: (lambda s: s if s["pop3_login_failures_total"] == 1 else None)(
            parse_metrics(get(inst.metrics_port, "/metrics")[2])), what="the failed login counted")
        assert samples["pop3_connections_total"] == before["pop3_connections_total"] + 1
        assert samples["pop3_logins_total"] == 0
        assert get(inst.metrics_port, "/healthz")[:2][0] == 200
        assert inst.stop(proc) == 0
    finally:
        inst.close()


def test_http_errors():
    inst = install()
    try:
        inst.smtpd = inst.start("smtpd")
        port = inst.metrics_port
        assert get(port, "/nothing")[0] == 404
        status, headers, _ = get(port, "/metrics", method="POST")
        assert status == 405 and headers["Allow"] == "GET, HEAD"
        for raw in (b"garbage\r\n\r\n", b"GET /metrics HTTP/2.0\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\n" + b"X-A: " + b"a" * 9000 + b"\r\n\r\n"):
            with Raw(port) as r:
                r.send(raw)
                assert r.line().startswith("HTTP/1.1 400 ")
    finally:
        close(inst)


def test_healthz_reports_a_missing_database_and_the_drain():
    inst = install()
    try:
        inst.smtpd = inst.start("smtpd")
        port = inst.metrics_port
        # One message first: the daemon's own handles (committer, queue ids)
        # are open before the file goes away, as in a running service.
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
            s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: h\r\n\r\nhi\r\n")
        assert get(port, "/healthz")[0] == 200
        os.rename(inst.db, inst.db + ".away")
        status, _, body = get(port, "/healthz")
        assert status == 503 and body.startswith("store: ")
        os.rename(inst.db + ".away", inst.db)
        assert get(port, "/healthz")[0] == 200
        # A client keeps its session open through SIGTERM: the daemon drains,
        # /healthz says so (a load balancer stops sending), /metrics still answers.
        with Raw(inst.port("smtp")) as client:
            assert client.smtp_reply()[0].startswith("220")
            client.send(b"EHLO c.test\r\nMAIL FROM:<x@remote.test>\r\n")
            inst.smtpd.send_signal(signal.SIGTERM)
            status, _, body = wait_for(
                lambda: (lambda r: r if r[0] == 503 else None)(get(port, "/healthz")),
                what="503 while draining")
            assert body == "draining\n"
            assert get(port, "/metrics")[0] == 200
        assert inst.smtpd.wait(timeout=30) == 0
        inst.smtpd = None
    finally:
        close(inst)


def test_metrics_answer_when_clients_fill_the_limits():
    inst = install(max_connections=1)
    try:
        inst.smtpd = inst.start("smtpd")

        def greeted():
            c = Raw(inst.port("smtp"))
            if c.smtp_reply()[0].startswith("220"):
                return c
            c.close()  # start()'s own probes may still hold the one slot
            return None
        with wait_for(greeted, what="the one connection") as client:
            with Raw(inst.port("smtp")) as refused:
                assert refused.line().startswith("421")
            for _ in range(3):
                samples = parse_metrics(get(inst.metrics_port, "/metrics")[2])
            assert samples['smtp_sessions_open{listener="mx"}'] == 1
    finally:
        close(inst)
