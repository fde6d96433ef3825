"""pop3d as a program: command line, exit codes (DESIGN.md: 0 clean shutdown,
1 runtime failure, 2 usage or configuration error), listeners and signals."""

import os
import signal
import socket
import subprocess
import time

from mailtest import binary, free_port, wait_port
from pop3lib import Pop3, pop3_install


def run(*args, env=None, timeout=30):
    return subprocess.run([binary("pop3d"), *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def test_usage_errors_exit_2(tmp_path):
    assert run("-h").returncode == 0
    p = run("-x")
    assert p.returncode == 2 and "usage: pop3d [-c FILE]" in p.stderr
    assert run("extra-argument").returncode == 2
    p = run("-c", str(tmp_path / "missing.conf"))
    assert p.returncode == 2 and "missing.conf" in p.stderr


def test_config_errors_exit_2(tmp_path):
    conf = tmp_path / "mail.conf"
    conf.write_text("db = %s\nidle_timeout = soon\n" % (tmp_path / "mail.db"))
    p = run("-c", str(conf))
    assert p.returncode == 2
    assert "mail.conf:2" in p.stderr and p.stderr.count("\n") == 1
    conf.write_text("db = %s\npop3_listen =\npop3s_listen =\n" % (tmp_path / "mail.db"))
    p = run("-c", str(conf))
    assert p.returncode == 2 and "nothing to serve" in p.stderr


def test_runtime_errors_exit_1(tmp_path):
    conf = tmp_path / "mail.conf"
    conf.write_text("db = %s\npop3_listen = 127.0.0.1:1\npop3s_listen =\n"
                    % (tmp_path / "no" / "such" / "dir" / "mail.db"))
    p = run("-c", str(conf))
    assert p.returncode == 1 and "mail.db" in p.stderr
    # The port is taken.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        conf.write_text("db = %s\npop3_listen = 127.0.0.1:%d\npop3s_listen =\n"
                        % (tmp_path / "mail.db", s.getsockname()[1]))
        p = run("-c", str(conf))
        assert p.returncode == 1 and str(s.getsockname()[1]) in p.stderr


def test_sigterm_exits_0_and_pop3s_needs_a_certificate():
    with pop3_install(tls=False, allow_plaintext_auth="yes") as inst:
        # Without a certificate the implicit TLS listener is skipped, loudly.
        inst.config["pop3s_listen"] = "127.0.0.1:%d" % inst.port("pop3s")
        inst.write_config()
        with open(os.path.join(inst.dir, "pop3d.log"), "ab") as log:
            proc = subprocess.Popen([binary("pop3d"), "-c", inst.conf], stderr=log)
        inst.procs.append(proc)
        wait_port(inst.port("pop3"), proc=proc)
        # The sockets are bound before the start-up is logged: wait for the line.
        deadline = time.monotonic() + 30
        while "event=listener_skipped key=pop3s_listen" not in inst.log("pop3d"):
            assert time.monotonic() < deadline, inst.log("pop3d")
            time.sleep(0.05)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", inst.port("pop3s"))) != 0
        p = Pop3(inst.port("pop3"))
        assert p.login().startswith(b"+OK maildrop has 0 messages")
        assert p.cmd("QUIT") == b"+OK 0 messages deleted; signing off\r\n"
        assert inst.stop(proc, signal.SIGINT) == 0
        assert "event=stop daemon=pop3d" in inst.log("pop3d")


def test_runs_without_config_file(tmp_path):
    """No file at all: the defaults serve (the default pop3s_listen is skipped
    for want of a certificate). Only the port comes from the environment, so
    the test never collides with anything on the default 2110."""
    port = free_port()
    env = {"MAIL_DB": str(tmp_path / "mail.db"), "MAIL_POP3_LISTEN": "127.0.0.1:%d" % port}
    proc = subprocess.Popen([binary("pop3d")], cwd=tmp_path, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, **env))
    try:
        wait_port(port, proc=proc)
        assert Pop3(port).greeting.startswith(b"+OK ")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
