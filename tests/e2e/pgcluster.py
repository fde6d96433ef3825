"""A throwaway PostgreSQL cluster for one test module (tests/tools/pgcluster.sh:
initdb and pg_ctl from Debian's packages, as `postgres`, on a free loopback
port, with the role and database `mail`); conftest.py's `cluster` fixture."""
import glob
import os
import shutil
import subprocess
import tempfile

from mailtest import free_port

PGCLUSTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                         "pgcluster.sh")
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def available():
    return any(os.path.exists(os.path.join(b, "initdb")) for b in PG_BIN)


class PgCluster:
    def __init__(self):
        # Under /tmp: the server runs as `postgres`, which may not reach a
        # checkout under /root.
        self.dir = tempfile.mkdtemp(prefix="mail-pg-", dir="/tmp")
        self.port = free_port()
        self.uri = self._run("start", str(self.port)).stdout.strip()

    def _run(self, action, *args):
        return subprocess.run([PGCLUSTER, action, self.dir, *args], check=True,
                              capture_output=True, text=True)

    def start(self):
        self._run("start", str(self.port))

    def stop(self):
        self._run("stop")

    def restart(self):
        self._run("restart")

    def psql(self, sql, db="postgres", user="postgres"):
        """One statement as the cluster's superuser (trust); its output, trimmed."""
        p = subprocess.run([os.path.join(PG_BIN[-1], "psql"), "-h", "127.0.0.1", "-p",
                            str(self.port), "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1",
                            "-qAt", "-c", sql], check=True, capture_output=True, text=True)
        return p.stdout.strip()

    def new_database(self, name, owner="mail"):
        """A new empty database; its URI."""
        self.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        self.psql("CREATE DATABASE %s OWNER %s" % (name, owner))
        return "postgresql://%s@127.0.0.1:%d/%s" % (owner, self.port, name)

    def close(self):
        subprocess.run([PGCLUSTER, "stop", self.dir], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
