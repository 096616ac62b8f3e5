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
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smsc.cluster import managed

if TYPE_CHECKING:  # (benchmarks/e2e.py imports this module without pytest installed)
    import pytest

    from smsc.config import Config

SERVER_SETTINGS = ("fsync=off", "full_page_writes=off", "max_connections=50",
                   "shared_buffers=64MB")


def missing_reason() -> str | None:
    """Why a throwaway server cannot be started here, or None when it can."""
    lacking = managed.missing()
    if lacking is not None:
        return f"PostgreSQL cannot run here: no {lacking}"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'smsc-simulator[postgresql]')"
    return None


class ThrowawayPostgres(managed.PostgresServer):
    """One PostgreSQL cluster in a temporary directory (smsc.cluster.managed's server, fsync
    off); `start`, then `dsn(database)`, `create_database` and `stop` (which removes the
    directory)."""

    def __init__(self, settings: tuple[str, ...] = SERVER_SETTINGS) -> None:
        as_postgres = os.geteuid() == 0
        # (as root, in /tmp: a TMPDIR of root's own may be closed to the postgres user)
        root = Path(tempfile.mkdtemp(prefix="smsc-pg-", dir="/tmp" if as_postgres else None))
        user = "postgres" if as_postgres else os.environ.get("USER") or "postgres"
        super().__init__(root, user=user, settings=settings, initdb_options=("--no-sync",))

    def stop(self, mode: str = "immediate") -> None:
        try:
            super().stop(mode)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def on_store(config: Config, kind: str, request: pytest.FixtureRequest) -> Config:
    """`config` with the store of `kind`; for postgresql, the test's empty database (the
    `postgresql_dsn` fixture, asked for only then). On PostgreSQL a bind is answered once the
    nodes have counted it (a transaction on a thread), and meanwhile an autojump clock runs
    ahead from deadline to deadline: its session_init_timer is off."""
    if kind != "postgresql":
        store: Any = dataclasses.replace(config.store, kind=kind, dsn="")
        return dataclasses.replace(config, store=store)
    store = dataclasses.replace(config.store, kind=kind,
                                dsn=request.getfixturevalue("postgresql_dsn"))
    server = dataclasses.replace(config.server, session_init_timer=0)
    return dataclasses.replace(config, store=store, server=server)
