"""The README documents the real interface: its key table is what the key
table in common/config.c produces."""

import os
import subprocess

from mailtest import binary

SOURCE_DIR = os.environ.get("MAIL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def test_config_reference_matches_readme():
    table = subprocess.run([binary("mailctl"), "config", "reference"], capture_output=True,
                           text=True, check=True).stdout
    with open(os.path.join(SOURCE_DIR, "README.md")) as f:
        readme = f.read()
    assert table.strip() in readme, "README.md is stale: run scripts/readme-config.sh"


def test_config_check_names_file_and_line(tmp_path):
    conf = tmp_path / "mail.conf"
    conf.write_text("db = x.db\nno_such_key = 1\n")
    p = subprocess.run([binary("mailctl"), "-c", str(conf), "config", "check"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "%s:2:" % conf in p.stderr
