"""The systemd units in contrib/systemd: systemd-analyze finds nothing
wrong with them (with the built daemons standing in at their paths), and
they keep the hardening the README promises."""

import os
import shutil
import subprocess
import tempfile

import pytest

from mailtest import binary

UNITS = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "systemd")


def test_units_are_hardened():
    for name in ("smtpd.service", "pop3d.service"):
        text = open(os.path.join(UNITS, name)).read()
        for line in ("User=mail", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE", "KillSignal=SIGTERM",
                     "ExecReload=/bin/kill -HUP $MAINPID"):
            assert line in text.splitlines(), (name, line)


def test_units_verify():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (package systemd)")
    root = tempfile.mkdtemp(prefix="mail-units-")
    try:
        sbin = os.path.join(root, "usr", "local", "sbin")
        os.makedirs(sbin)
        units = []
        for name in ("smtpd", "pop3d"):
            shutil.copy(binary(name), os.path.join(sbin, name))
            text = open(os.path.join(UNITS, name + ".service")).read()
            unit = os.path.join(root, name + ".service")
            with open(unit, "w") as f:
                f.write(text.replace("/usr/local/sbin/", sbin + "/"))
            units.append(unit)
        p = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
        # Warnings too: an unknown key is ignored by systemd, so the hardening
        # it meant would silently be missing.
        assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
