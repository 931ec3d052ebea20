"""A throwaway PostgreSQL cluster for integration tests.

    from pgcluster import PgCluster

    with PgCluster() as pg:                 # initdb + start (scripts/pg-local.sh)
        ci = pg.create_database("t1")       # conninfo of a fresh database
        rows = pg.psql("SELECT 1, 'x'", dbname="t1")   # [('1', 'x')]
        pg.stop()                           # e.g. to test STORAGE_UNAVAILABLE
        pg.start()                          # same cluster, same data, same conninfo
    # leaving the block stops the cluster and deletes its directory

The cluster lives in a temporary directory (owned by the `postgres` user
when the tests run as root, since PostgreSQL refuses to run as root) and
listens on a Unix socket only, in DIR/run. psql runs as the current user
through that socket (`-h DIR/run -U postgres -At -F '\t'`, trust
authentication). Values come back as strings; SQL NULL comes back as ''.
"""

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG_LOCAL = REPO / "scripts" / "pg-local.sh"


class PsqlError(AssertionError):
    pass


class PgCluster:
    def __init__(self, base_dir=None, prefix="ragws-pg-"):
        self.dir = Path(tempfile.mkdtemp(prefix=prefix, dir=base_dir))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.socket_dir = self.dir / "run"
        self.conninfo = None  # of database "ragws", set by start()
        self.owned = True
        self._n_db = 0

    @classmethod
    def attach(cls, conninfo):
        """A running cluster started by someone else (e.g. run.py's, from
        its conninfo "host=DIR/run ..."): create_database() and psql() work,
        destroy() leaves it alone."""
        host = next(kv[5:] for kv in conninfo.split() if kv.startswith("host="))
        self = cls.__new__(cls)
        self.socket_dir = Path(host)
        self.dir = self.socket_dir.parent
        self.conninfo = conninfo
        self.owned = False
        self._n_db = 0
        return self

    # -- lifecycle

    def _pg_local(self, cmd, timeout=120):
        return subprocess.run([str(PG_LOCAL), cmd, str(self.dir)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def start(self):
        """initdb on first use, start, create database ragws; returns self."""
        p = self._pg_local("start")
        if p.returncode != 0:
            raise RuntimeError(f"pg-local.sh start {self.dir} failed ({p.returncode}):\n"
                               f"{p.stderr}{self.log_tail()}")
        self.conninfo = p.stdout.strip().splitlines()[-1]
        return self

    def stop(self):
        """Fast shutdown; the data stays, start() brings it back."""
        p = self._pg_local("stop")
        if p.returncode != 0:
            raise RuntimeError(f"pg-local.sh stop {self.dir} failed ({p.returncode}):\n{p.stderr}")

    def running(self):
        return self._pg_local("status", timeout=30).returncode == 0

    def destroy(self):
        """Stop (if running) and delete the cluster's directory."""
        if self.owned and self.dir.exists():
            try:
                if (self.dir / "data" / "PG_VERSION").exists():
                    self.stop()
            finally:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()

    def log_tail(self, n=20):
        try:
            lines = (self.dir / "log" / "postgres.log").read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-n:])

    # -- databases and queries

    def conninfo_for(self, dbname):
        return f"host={self.socket_dir} port=5432 dbname={dbname} user=postgres"

    def create_database(self, name=None):
        """A new empty database (name made up when None); returns its conninfo."""
        if name is None:
            self._n_db += 1
            name = f"t{os.getpid()}_{self._n_db}"
        self.psql(f'CREATE DATABASE "{name}"', dbname="postgres")
        return self.conninfo_for(name)

    def psql(self, sql, dbname="ragws", timeout=30):
        """Runs sql (one command string) and returns the rows of its last
        statement as tuples of strings. Raises PsqlError on failure.
        Records end with NUL (-0), so values may span lines; fields are
        tab-separated, so a value containing a tab would split."""
        cmd = ["psql", "-X", "-h", str(self.socket_dir), "-U", "postgres", "-d", dbname,
               "-qAt", "-F", "\t", "-0", "-v", "ON_ERROR_STOP=1", "-c", sql]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise PsqlError(f"psql failed ({p.returncode}) on {sql!r}:\n{p.stderr.strip()}")
        # Every record, the last included, ends with NUL.
        return [tuple(rec.split("\t")) for rec in p.stdout.split("\0")[:-1]]

    async def apsql(self, sql, dbname="ragws", timeout=30):
        """psql() without blocking the event loop."""
        return await asyncio.to_thread(self.psql, sql, dbname, timeout)
