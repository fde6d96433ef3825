"""metrics_listen in both daemons: GET /metrics in Prometheus' text format
(every family with HELP and TYPE, counters named _total, histograms whose
buckets add up, counters and histograms that follow real traffic: TLS
handshakes and failed ones by reason, store operation latencies), GET
/healthz (200; 503 when the database is gone or while draining), the HTTP
errors, an endpoint that answers when clients fill the limits, and a real
Prometheus scraping both daemons when one is installed."""

import contextlib
import json
import os
import poplib
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from mailtest import ON_PG, Install, Raw, free_port, pg_admin, pg_database_name, wait_port
from outbound import close, enqueue, wait_for
from pop3lib import deliver
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


def check_histograms(samples, histograms):
    """Each histogram series (a family and one set of labels besides le):
    bounds ascending, counts cumulative (never decreasing), the +Inf bucket
    equal to _count, and a _sum."""
    series = {}
    for name, value in samples.items():
        m = re.match(r'^([a-z_0-9]+)_bucket\{(.*)\}$', name)
        if not m or m.group(1) not in histograms:
            continue
        labels = re.findall(r'([a-z_]+)="([^"]*)"', m.group(2))
        le = dict(labels)["le"]
        rest = ",".join('%s="%s"' % kv for kv in labels if kv[0] != "le")
        series.setdefault((m.group(1), rest), []).append(
            (float("inf") if le == "+Inf" else float(le), value))
    assert {f for f, _ in series} == histograms, "histograms without buckets"
    for (family, rest), buckets in series.items():
        suffix = "{%s}" % rest if rest else ""
        bounds = [b for b, _ in buckets]
        counts = [c for _, c in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == float("inf"), (family, rest, bounds)
        assert all(a <= b for a, b in zip(counts, counts[1:])), (family, rest, counts)
        assert counts[-1] == samples[family + "_count" + suffix], (family, rest)
        assert family + "_sum" + suffix in samples, (family, rest)


def parse_metrics(text):
    """{sample name with labels: value}; checks the exposition format."""
    helped, typed, samples, histograms = set(), set(), {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            # Prometheus' naming rules: a counter's name ends in _total.
            assert kind != "counter" or family.endswith("_total"), line
            if kind == "histogram":
                histograms.add(family)
            typed.add(family)
        else:
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            family = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            assert (m.group(1) in helped and m.group(1) in typed) or \
                (family in helped and family in typed), line
            samples[line.rsplit(" ", 1)[0]] = float(m.group(4)) if "." in m.group(4) \
                else int(m.group(4))
    check_histograms(samples, histograms)
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                           capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr
    return samples


def scrape(inst):
    return parse_metrics(get(inst.metrics_port, "/metrics")[2])


def scrape_until(inst, done, what):
    """The first scrape for which done(samples) holds (counts arrive from
    the daemon's loop a little after the client's last reply)."""
    return wait_for(lambda: (lambda m: m if done(m) else None)(scrape(inst)), what=what)


def op_count(samples, prefix, op):
    return samples['%s_store_operation_seconds_count{op="%s"}' % (prefix, op)]


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
    # The row enqueued behind smtpd's back is found by the next scan.
    inst = install(queue_scan_interval=1)
    try:
        inst.smtpd = inst.start("smtpd")
        wait_port(inst.metrics_port, proc=inst.smtpd)
        status, headers, text = get(inst.metrics_port, "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        before = parse_metrics(text)
        assert before["smtp_messages_total"] == 0
        assert 'smtp_rejections_total{reason="relay"}' in before
        assert op_count(before, "smtp", "rcpt_resolve") == 0
        with smtplib.SMTP("127.0.0.1", inst.port("smtp"), timeout=30) as s:
            s.sendmail("x@remote.test", ["alice@example.test"], b"Subject: m\r\n\r\nhi\r\n")
            assert s.docmd("RCPT TO:<nobody@elsewhere.test>")[0] == 503  # no MAIL yet
        # A STARTTLS handshake and a login, then an implicit TLS one.
        with smtplib.SMTP("127.0.0.1", inst.port("submission"), timeout=30) as s:
            s.starttls(context=client_tls_context())
            s.login("alice@example.test", "Metrics-pw 1")
        with smtplib.SMTP_SSL("127.0.0.1", inst.port("smtps"), timeout=30,
                              context=client_tls_context()) as s:
            s.ehlo()
        enqueue(inst, "alice@example.test", "far@remote.test", "Subject: q\r\n\r\nq\r\n")
        quit = 'smtp_sessions_total{outcome="quit"}'
        # The queued row is claimed and, its MX lookup failing at once, deferred: reported.
        after = scrape_until(inst, lambda m: m[quit] == 3 and
                             op_count(m, "smtp", "queue_report") >= 1,
                             "the sessions' ends and the queue runner's report counted")
        assert after["smtp_messages_total"] == 1
        mx = 'smtp_connections_total{listener="mx"}'
        assert after[mx] == before[mx] + 1
        assert after['smtp_commit_batch_size_count'] == 1
        assert after['smtp_commit_batch_size_bucket{le="1"}'] == 1
        assert after['smtp_commit_batch_size_bucket{le="+Inf"}'] == 1
        assert after['smtp_queue_recipients{state="pending"}'] == 1
        assert after["smtp_queue_oldest_seconds"] < 60
        assert after['smtp_commit_duration_seconds_count'] == 1
        assert after['smtp_commit_duration_seconds_bucket{le="0.001"}'] <= 1
        assert after['smtp_rejections_total{reason="sequence"}'] == 1
        assert after['smtp_tls_handshakes_total{version="TLSv1.2"}'] + \
            after['smtp_tls_handshakes_total{version="TLSv1.3"}'] == 2
        assert all(after['smtp_tls_handshake_failures_total{reason="%s"}' % r] == 0
                   for r in ("protocol", "timeout", "closed", "other"))
        assert after["smtp_auth_successes_total"] == 1
        assert op_count(after, "smtp", "rcpt_resolve") == 1
        assert op_count(after, "smtp", "auth_lookup") == 1
        assert op_count(after, "smtp", "queue_claim") >= 1
        status, _, body = get(inst.metrics_port, "/healthz")
        assert (status, body) == (200, "ok\n")
        head = get(inst.metrics_port, "/metrics", method="HEAD")
        assert head[0] == 200 and head[2] == ""
    finally:
        close(inst)


def test_pop3d_serves_its_own_metrics():
    inst = install(smtp_listen="", submission_listen="", smtps_listen="")
    try:
        for n in (1, 2):
            deliver(inst, "alice@example.test", "Subject: %d\r\n\r\nbody %d\r\n" % (n, n))
        proc = inst.start("pop3d")
        wait_port(inst.metrics_port, proc=proc)
        before = parse_metrics(get(inst.metrics_port, "/metrics")[2])
        assert op_count(before, "pop3", "login") == 0
        pop = poplib.POP3("127.0.0.1", inst.port("pop3"), timeout=30)
        pop.stls(context=client_tls_context())
        pop.user("alice@example.test")
        try:
            pop.pass_("wrong password")
        except poplib.error_proto:
            pass
        pop.close()
        # pop3s: a login, RETR and TOP, DELE, and QUIT's UPDATE.
        pop = poplib.POP3_SSL("127.0.0.1", inst.port("pop3s"), timeout=30,
                              context=client_tls_context())
        pop.user("alice@example.test")
        pop.pass_("Metrics-pw 1")
        assert b"body 1" in b"\r\n".join(pop.retr(1)[1])
        pop.top(2, 0)
        pop.dele(1)
        assert pop.quit().startswith(b"+OK 1 messages deleted")
        samples = scrape_until(inst, lambda m: m["pop3_messages_deleted_total"] == 1,
                               "the QUIT counted")
        assert samples["pop3_login_failures_total"] == 1
        assert samples["pop3_connections_total"] == before["pop3_connections_total"] + 2
        assert samples["pop3_logins_total"] == 1
        assert samples["pop3_messages_retrieved_total"] == 2
        assert samples['pop3_tls_handshakes_total{version="TLSv1.2"}'] + \
            samples['pop3_tls_handshakes_total{version="TLSv1.3"}'] == 2
        assert all(samples['pop3_tls_handshake_failures_total{reason="%s"}' % r] == 0
                   for r in ("protocol", "timeout", "closed", "other"))
        # Two login checks (the failed one too), one maildrop, RETR and TOP, one UPDATE.
        assert op_count(samples, "pop3", "login") == 2
        assert op_count(samples, "pop3", "maildrop_open") == 1
        assert op_count(samples, "pop3", "message_read") == 2
        assert op_count(samples, "pop3", "update") == 1
        assert get(inst.metrics_port, "/healthz")[:2][0] == 200
        assert inst.stop(proc) == 0
    finally:
        inst.close()


# A ClientHello (in a TLS 1.0 record) that offers TLS 1.0 only and one
# suite: well formed, but below the TLS 1.2 we require (RFC 8996).
TLS10_HELLO = bytes.fromhex("160301002d" "01000029" "0301") + bytes(32) + \
    bytes.fromhex("00" "0002002f" "0100")


def server_closes(sock, timeout=30.0):
    """Reads until the server closes (a reset counts as closing)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass


def failing_handshakes(tls_port, plain_port, starttls):
    """On the implicit TLS port: garbage, a TLS 1.0-only hello (protocol),
    half a hello and a hang-up (closed), silence (timeout); on the plain
    port, after STARTTLS/STLS: garbage (protocol). Each waits for the
    server's close, so all five are counted once the last one is."""
    for data, hang_up in ((b"GET / HTTP/1.0\r\n\r\n", False), (TLS10_HELLO, False),
                          (TLS10_HELLO[:20], True), (b"", False)):
        with socket.create_connection(("127.0.0.1", tls_port), timeout=30) as sock:
            sock.sendall(data)
            if hang_up:
                continue
            server_closes(sock)
    with Raw(plain_port, timeout=30) as r:
        r.line()  # the greeting
        r.send(starttls + b"\r\n")
        while not r.line().startswith(("220 ", "+OK")):
            pass
        # Not a TLS record at all. (A handshake record whose message claims
        # more bytes than follow is not a protocol error for mbedTLS 3.6: it
        # waits for the rest, and the handshake times out.)
        r.send(b"GET / HTTP/1.0\r\n\r\n")
        server_closes(r.sock)


@pytest.mark.parametrize("program", ["smtpd", "pop3d"])
def test_failed_handshakes_counted_by_reason(program):
    prefix = "smtp" if program == "smtpd" else "pop3"
    inst = install(handshake_timeout=1)
    try:
        proc = inst.start(program)
        wait_port(inst.metrics_port, proc=proc)
        if program == "smtpd":
            failing_handshakes(inst.port("smtps"), inst.port("submission"), b"STARTTLS")
        else:
            failing_handshakes(inst.port("pop3s"), inst.port("pop3"), b"STLS")
        name = prefix + '_tls_handshake_failures_total{reason="%s"}'
        samples = scrape_until(inst, lambda m: m[name % "protocol"] + m[name % "closed"] +
                               m[name % "timeout"] >= 5, "five failed handshakes counted")
        assert (samples[name % "protocol"], samples[name % "closed"], samples[name % "timeout"],
                samples[name % "other"]) == (3, 1, 1, 0)
        assert sum(v for k, v in samples.items()
                   if k.startswith(prefix + "_tls_handshakes_total")) == 0
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


@contextlib.contextmanager
def database_away(inst):
    """The database cannot be opened afresh in the block (handles open
    before it stay): its SQLite file renamed, or PostgreSQL refusing new
    connections to it and ending those it had, as a server going away
    does (a pooled connection that still works is a healthy database)."""
    if ON_PG:
        name = pg_database_name(inst.db)
        pg_admin("ALTER DATABASE %s ALLOW_CONNECTIONS false" % name)
        pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'"
                 % name)
        try:
            yield
        finally:
            pg_admin("ALTER DATABASE %s ALLOW_CONNECTIONS true" % name)
        return
    os.rename(inst.db, inst.db + ".away")
    try:
        yield
    finally:
        os.rename(inst.db + ".away", inst.db)


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
        with database_away(inst):
            status, _, body = get(port, "/healthz")
            assert status == 503 and body.startswith("store: ")
        # Back once the daemon connects again (on PostgreSQL after the
        # pool's reconnect backoff, at most a few seconds).
        wait_for(lambda: get(port, "/healthz")[0] == 200, what="healthz 200 again")
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


PROMETHEUS = "/usr/bin/prometheus"


@pytest.mark.skipif(not os.access(PROMETHEUS, os.X_OK),
                    reason="no %s (Debian package prometheus)" % PROMETHEUS)
def test_prometheus_scrapes_both_daemons():
    """A real Prometheus, scraping both daemons every second, finds both
    targets up: it parsed every sample of both pages."""
    inst = install()
    pop3_metrics = free_port()
    prom = None
    try:
        inst.smtpd = inst.start("smtpd")
        pop3d = inst.start("pop3d", env={"MAIL_METRICS_LISTEN": "127.0.0.1:%d" % pop3_metrics})
        wait_port(inst.metrics_port, proc=inst.smtpd)
        wait_port(pop3_metrics, proc=pop3d)
        targets = ["127.0.0.1:%d" % inst.metrics_port, "127.0.0.1:%d" % pop3_metrics]
        conf = os.path.join(inst.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: mail\n    static_configs:\n"
                    "      - targets: [%s]\n" % ", ".join("'%s'" % t for t in targets))
        web = free_port()
        with open(os.path.join(inst.dir, "prometheus.log"), "wb") as log:
            prom = subprocess.Popen([PROMETHEUS, "--config.file=" + conf,
                                     "--storage.tsdb.path=" + os.path.join(inst.dir, "tsdb"),
                                     "--web.listen-address=127.0.0.1:%d" % web],
                                    stdout=log, stderr=log)

        def both_up():
            assert prom.poll() is None, "prometheus exited:\n" + open(
                os.path.join(inst.dir, "prometheus.log"), errors="replace").read()[-3000:]
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % web,
                                            timeout=5) as r:
                    active = json.load(r)["data"]["activeTargets"]
            except OSError:
                return None  # not listening yet
            health = {t["labels"]["instance"]: (t["health"], t["lastError"]) for t in active}
            done = sorted(health) == sorted(targets) and \
                all(h == "up" for h, _ in health.values())
            return health if done else None
        # Prometheus hands new targets to its scrapers every 5 s: generous, not a speed test.
        health = wait_for(both_up, timeout=60, what="both targets up in Prometheus")
        assert all(err == "" for _, err in health.values()), health
        assert inst.stop(pop3d) == 0
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=30)
        close(inst)
