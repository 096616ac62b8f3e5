"""`store.postgresql.managed = true`: a private PostgreSQL server in the SMSC's data directory.

`initdb`, `pg_ctl` and `postgres` come from PATH or the newest `/usr/lib/postgresql/*/bin`
(Debian's `postgresql` package). The cluster lives in `<data-dir>/postgresql/data` and listens
only on a Unix socket in `<data-dir>/postgresql` (no TCP port). It is made on the first start
and found again on the next ones; the database `smsc` is made when missing. As root (which
initdb refuses) the programs run as the `postgres` user, who then owns `<data-dir>/postgresql`.
The server runs in a session of its own, so a Ctrl-C meant for the SMSC does not stop it before
the SMSC has written what it holds; `stop` ends it (a fast shutdown: its clients are gone).
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from smsc.config import Config

DIRECTORY = "postgresql"
DATABASE = "smsc"
USER = "smsc"
"""The cluster's superuser, whatever the account that runs it (trust, on the socket only)."""
PROGRAMS = ("initdb", "pg_ctl", "postgres")


class ManagedServerError(Exception):
    """The managed server cannot be set up or started; the message is one line."""


def binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None when they are not installed."""
    found = shutil.which("pg_ctl")
    if found is not None:
        directory = Path(found).resolve().parent  # (not a wrapper that lives elsewhere)
        if all((directory / program).exists() for program in PROGRAMS):
            return directory
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    return versions[-1].parent if versions else None


def missing() -> str | None:
    """What is missing to run a server here (one phrase), or None when nothing is."""
    if binaries() is None:
        return ("PostgreSQL's initdb and pg_ctl (not on PATH nor in /usr/lib/postgresql/*/bin;"
                " Debian package postgresql)")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "runuser, to run PostgreSQL as the postgres user (initdb refuses root)"
        try:
            _postgres_ids()
        except KeyError:
            return "the postgres user, to run PostgreSQL as (initdb refuses root)"
    return None


def _postgres_ids() -> tuple[int, int]:
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def directory(config: Config) -> Path:
    """Where the managed server of `config` lives: its socket here, its cluster in `data`."""
    return Path(config.store.data_dir).resolve() / DIRECTORY


def dsn(config: Config) -> str:
    """The connection string of `config`'s managed server (the same in every worker)."""
    return f"host={directory(config)} user={USER} dbname={DATABASE}"


def with_managed_dsn(config: Config) -> Config:
    """`config` pointing at its managed server when `store.postgresql.managed`, else as is."""
    if not config.store.postgresql.managed:
        return config
    return dataclasses.replace(config, store=dataclasses.replace(config.store, dsn=dsn(config)))


class PostgresServer:
    """One PostgreSQL cluster in `root/data`, its socket in `root`: `start` (initdb first when
    there is no cluster yet), `create_database`, `dsn`, `stop`."""

    def __init__(self, root: Path, *, user: str = USER, settings: tuple[str, ...] = (),
                 initdb_options: tuple[str, ...] = ()) -> None:
        found = binaries()
        if found is None:
            raise ManagedServerError(f"not installed: {missing()}")
        self.bin = found
        self.root = root
        self.data = root / "data"
        self.user = user
        self.settings = settings
        """Extra `name=value` server settings, for every start."""
        self.initdb_options = initdb_options
        self._as_postgres = os.geteuid() == 0

    def _run(self, *command: str, check: bool = True) -> int:
        """Run one of the binaries (as postgres when root); its exit code. With `check`, a
        failure raises ManagedServerError with its reason."""
        argv = [str(self.bin / command[0]), *command[1:]]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=self.root,
                                start_new_session=True)  # (the server outlives a Ctrl-C)
        if result.returncode and check:
            problem = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
            raise ManagedServerError(f"{self.what(command)} failed: {problem}{self._log_tail()}")
        return result.returncode

    @staticmethod
    def what(command: tuple[str, ...]) -> str:
        """`initdb`, `pg_ctl start`, `pg_ctl stop`."""
        return command[0] if command[0] == "initdb" else f"{command[0]} {command[-1]}"

    def _log_tail(self) -> str:
        try:
            lines = (self.root / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        errors = [line for line in lines if "FATAL" in line or "ERROR" in line]
        return f" ({errors[-1].strip()})" if errors else ""

    def start(self) -> None:
        """Make the cluster if there is none, then start the server (unless it runs already)
        and wait until it accepts connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            uid, gid = _postgres_ids()
            os.chown(self.root, uid, gid)
        self.root.chmod(0o700)  # (trust on the socket: only its owner reaches it)
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user,
                      "-E", "UTF8", "--no-instructions", *self.initdb_options)
        if self._run("pg_ctl", "-D", str(self.data), "-s", "status", check=False) == 0:
            return  # left running by an SMSC that did not stop (its lock is gone): used as is
        options = " ".join(f"-c {setting}" for setting in
                           ("listen_addresses=''", *self.settings))
        self._run("pg_ctl", "-D", str(self.data), "-w", "-s", "-l", str(self.root / "server.log"),
                  "-o", f"-k '{self.root}' {options}", "start")

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.root} user={self.user} dbname={database}"

    def create_database(self, name: str, *, if_missing: bool = False) -> str:
        """The database `name`, made now (when missing, with `if_missing`); its dsn."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                       (name,)).fetchone()
            if not (found and if_missing):
                connection.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and wait until it has (fast: its sessions end; immediate: no
        checkpoint, as after a crash)."""
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-w", "-s", "-m", mode, "stop")


def check() -> None:
    """Raise ManagedServerError naming what is missing to run a managed server here."""
    lacking = missing()
    if lacking is not None:
        raise ManagedServerError(f"needs {lacking}")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ManagedServerError("needs psycopg: pip install 'smsc-simulator[postgresql]'"
                                 ) from None


def start_managed(config: Config) -> PostgresServer:
    """Start `config`'s managed server (made on the first start) with its database; the
    server, to `stop` at shutdown.

    Raises:
        ManagedServerError: something is missing, or the server does not start.
    """
    check()
    server = PostgresServer(directory(config))
    server.start()
    try:
        server.create_database(DATABASE, if_missing=True)
    except Exception as error:
        server.stop()
        raise ManagedServerError(f"cannot create the database: {error}") from None
    return server
