"""Shared pytest fixtures for the end-to-end tests.

The programs under test come from $MAIL_BUILD_DIR (default: build/plain of
this checkout): $MAIL_BUILD_DIR/<name>/<name>. Every test gets its own
directory with a config file and a database (a SQLite path, or with
MAIL_TEST_BACKEND=postgresql a database of its own: mailtest.py), and runs the programs
with an environment free of the caller's MAIL_* variables, so a developer's
shell settings never leak into a test.

Fixtures:
    build_dir     Path of the build tree
    source_dir    Path of the source tree
    binary        binary("smtpd") -> Path of that program; fails clearly if not built
    program_env   program_env(extra=None) -> the environment to start programs with
    mail_dir      MailDir: a fresh directory, its config file and database
    cluster       (module) a throwaway PostgreSQL cluster: pgcluster.PgCluster;
                  the module's tests are skipped where no server is installed
    mailctl       callable running mailctl against mail_dir:
                  mailctl("user", "add", "a@b.test", "--password-stdin", stdin="pw\\n")
                  -> Result(rc, out, err)
"""

import os
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest

import pgcluster

from mailtest import ON_PG, pg_create_database, pg_drop_database, sql

SOURCE_DIR = Path(os.environ.get("MAIL_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BUILD_DIR = Path(os.environ.get("MAIL_BUILD_DIR", SOURCE_DIR / "build" / "plain"))

# Seconds any single program run may take before the test fails.
RUN_TIMEOUT = 60

Result = namedtuple("Result", "rc out err")


def clean_env(extra=None):
    """The test process's environment without MAIL_* variables (the programs
    read those as config overrides) and MAILTEST_* ones (test hooks), plus
    `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAIL_") and not k.startswith("MAILTEST_")}
    env.update(extra or {})
    return env


class MailDir:
    """A throw-away installation directory: `root`, a config file `conf`
    and the database `db` it names (a Path, or a postgresql:// URI on that
    backend). write_config() rewrites the file with more keys."""

    def __init__(self, root):
        self.root = Path(root)
        self.pg_db = pg_create_database() if ON_PG else None
        self.db = self.pg_db or self.root / "mail.db"
        self.conf = self.root / "mail.conf"
        self.config = {"db": str(self.db), "hostname": "mx.example.test"}
        self.write_config()

    def write_config(self, **keys):
        self.config.update({k: str(v) for k, v in keys.items()})
        self.conf.write_text("".join("%s = %s\n" % kv for kv in self.config.items()))
        return self.conf

    def path(self, name):
        return self.root / name

    def db_exists(self):
        """Whether the store's database was made: SQLite's file, or on
        PostgreSQL the schema in the (always existing) database."""
        if self.pg_db is None:
            return self.db.exists()
        return sql(self.db, "SELECT to_regclass('mail_meta') IS NOT NULL")[0][0]

    def close(self):
        if self.pg_db is not None:
            pg_drop_database(self.pg_db)


@pytest.fixture(scope="module")
def cluster():
    if not pgcluster.available():
        pytest.skip("no PostgreSQL server (apt-get install postgresql)")
    c = pgcluster.PgCluster()
    yield c
    c.close()


@pytest.fixture(scope="session")
def build_dir():
    return BUILD_DIR


@pytest.fixture(scope="session")
def source_dir():
    return SOURCE_DIR


@pytest.fixture(scope="session")
def binary(build_dir):
    def find(name):
        path = build_dir / name / name
        if not os.access(path, os.X_OK):
            pytest.fail("%s is not built (MAIL_BUILD_DIR=%s)" % (path, build_dir))
        return path
    return find


@pytest.fixture(scope="session")
def program_env():
    return clean_env


@pytest.fixture
def mail_dir(tmp_path):
    d = MailDir(tmp_path)
    yield d
    d.close()


def run_program(argv, stdin=None, env=None, cwd=None, timeout=RUN_TIMEOUT):
    """Runs argv with text stdin (or none: /dev/null) and returns Result."""
    p = subprocess.run([str(a) for a in argv], input=stdin,
                       stdin=None if stdin is not None else subprocess.DEVNULL,
                       capture_output=True, text=True, env=clean_env(env), cwd=cwd,
                       timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def mailctl(binary, mail_dir):
    """mailctl(*args, stdin=None, env=None, config=True) -> Result.

    With config=True the call is `mailctl -c <mail_dir.conf> args...`;
    config=False runs without -c (use env={"MAIL_DB": ...} then). The
    working directory is mail_dir.root, so the default db "mail.db" lands
    there too."""
    exe = binary("mailctl")

    def run(*args, stdin=None, env=None, config=True):
        argv = [exe] + (["-c", mail_dir.conf] if config else []) + list(args)
        return run_program(argv, stdin=stdin, env=env, cwd=mail_dir.root)
    return run
