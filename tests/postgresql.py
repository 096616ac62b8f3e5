"""A throwaway PostgreSQL server from the installed binaries, for tests and benchmarks.

`initdb` and `pg_ctl` come from PATH or the newest `/usr/lib/postgresql/*/bin` (Debian's
`postgresql` package). The cluster lives in a temporary directory and listens only on a Unix
socket there; as root (which initdb refuses) it runs as the `postgres` user, who then owns
the directory. fsync is off: a test's database need not survive a power loss.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (benchmarks/e2e.py imports this module without pytest installed)
    import pytest

    from smsc.config import Config

SERVER_SETTINGS = (
    "-c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=50 "
    "-c shared_buffers=64MB"
)


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found is not None and (Path(found).resolve().parent / "initdb").exists():
        return Path(found).resolve().parent  # (not a wrapper that lives elsewhere)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def missing_reason() -> str | None:
    """Why a throwaway server cannot be started here, or None when it can."""
    if binaries() is None:
        return "PostgreSQL is not installed (initdb/pg_ctl; Debian package postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'smsc-simulator[postgresql]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to start PostgreSQL as the postgres user"
    return None


class ThrowawayPostgres:
    """One PostgreSQL cluster in a temporary directory; `start`, then `dsn(database)`,
    `create_database` and `stop` (which removes the directory)."""

    def __init__(self, settings: str = SERVER_SETTINGS) -> None:
        self.settings = settings
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError(missing_reason())
        self.bin = bin_dir
        self._as_postgres = os.geteuid() == 0
        # (as root, in /tmp: a TMPDIR of root's own may be closed to the postgres user)
        self.root = Path(tempfile.mkdtemp(prefix="smsc-pg-",
                                          dir="/tmp" if self._as_postgres else None))
        self.data = self.root / "data"
        self.user = "postgres"
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        else:
            self.user = os.environ.get("USER") or "postgres"

    def _run(self, *command: str) -> None:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False,
                                cwd=self.root)
        if result.returncode:
            raise RuntimeError(f"{' '.join(command[:2])} failed: {result.stderr.strip()}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user,
                  "-E", "UTF8", "--no-sync", "--no-instructions")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-s", "-l",
                  str(self.root / "server.log"), "start",
                  "-o", f"-k {self.root} {self.settings}")

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.root} user={self.user} dbname={database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its dsn."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-s", "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def on_store(config: Config, kind: str, request: pytest.FixtureRequest) -> Config:
    """`config` with the store of `kind`; for postgresql, the test's empty database (the
    `postgresql_dsn` fixture, asked for only then)."""
    dsn = request.getfixturevalue("postgresql_dsn") if kind == "postgresql" else ""
    store: Any = dataclasses.replace(config.store, kind=kind, dsn=dsn)
    return dataclasses.replace(config, store=store)
