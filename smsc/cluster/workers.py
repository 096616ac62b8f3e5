"""`smsc serve --workers N`: N processes, each an SMSC and a node of one PostgreSQL store,
sharing the SMPP ports with SO_REUSEPORT (the kernel spreads the connections over them).

The first process, the supervisor, serves nothing itself: it refuses a store the workers
could not share or cannot open (one line, not one per worker), holds each SMPP port (bound,
not listening: a free one for port 0, so that every worker gets the same), starts the
workers as `smsc serve ... --worker I --worker-ports P,...`, passes SIGINT, SIGTERM and
SIGHUP on to them, and ends when they have all ended: with the first failure's exit code,
after stopping the others, or 0. The control API and the dashboard are the first worker's
(its /v1/status lists every node); the others serve SMPP only.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from smsc.config import Config, effective_listeners
from smsc.server.sockets import reserve_ports

EXIT_USAGE = 2
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def refusal(config: Config, workers: int) -> str | None:
    """Why `workers` processes cannot share this config's store (None: they can)."""
    if workers > 1 and config.store.kind != "postgresql":
        return (f"smsc: --workers {workers} needs a store the workers share: "
                f"store.kind = postgresql (not {config.store.kind})")
    return None


def store_problem(config: Config) -> str | None:
    """Why the workers could not open the store, as the one line each would print (None:
    they can). The supervisor connects once, and makes or upgrades the tables, before it
    starts any worker: an unreachable database is one line, not one per worker."""
    from smsc.store.errors import StoreOpenError

    try:
        from smsc.store.postgresql_schema import connect, describe, prepare_tables
    except ImportError as error:  # psycopg is an optional extra
        return ("smsc: store.kind = postgresql needs psycopg: pip install "
                f"'smsc-simulator[postgresql]' ({error})")
    try:
        with connect(config.store.dsn, synchronous_commit=True) as db:
            prepare_tables(db, describe(config.store.dsn))
    except StoreOpenError as error:
        return f"smsc: {error}"
    return None


def as_worker(config: Config, index: int, ports: Sequence[int]) -> Config:
    """A worker's config: the supervisor's ports for its listeners, and the control API on
    the first worker only."""
    server = config.server
    if server.listeners:
        server = dataclasses.replace(server, listeners=tuple(
            dataclasses.replace(listener, port=port)
            for listener, port in zip(server.listeners, ports, strict=True)))
    else:
        (port,) = ports
        server = dataclasses.replace(server, port=port)
    control = config.control if index == 0 else dataclasses.replace(config.control,
                                                                    enabled=False)
    return dataclasses.replace(config, server=server, control=control)


def supervise(config: Config, workers: int, argv: Sequence[str]) -> int:
    """Run `workers` workers of `smsc serve` with `argv` until they have all ended; the exit
    code. A port that cannot be held, or a store that cannot be opened, is one line and exit
    2, before any worker starts."""
    held = []
    try:
        for listener in effective_listeners(config.server):
            try:
                held.append(reserve_ports(listener.host, listener.port))
            except OSError as error:
                reason = (error.strerror or str(error)).lower()
                print(f"smsc: cannot listen on SMPP {listener.host}:{listener.port}: {reason}",
                      file=sys.stderr)
                return EXIT_USAGE
        problem = store_problem(config)
        if problem is not None:
            print(problem, file=sys.stderr)
            return EXIT_USAGE
        ports = ",".join(str(sockets[0].getsockname()[1]) for sockets in held)
        children = [subprocess.Popen([sys.executable, "-m", "smsc", *argv, "--worker",
                                      str(index), "--worker-ports", ports],
                                     process_group=0)  # signals come from here only
                    for index in range(workers)]
        return _wait(children)
    finally:
        for sockets in held:
            for sock in sockets:
                sock.close()


def _wait(children: list[subprocess.Popen[bytes]]) -> int:
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    code = 0
    running = {child.pid: child for child in children}
    while running:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        if running.pop(pid, None) is None:
            continue
        ended = os.waitstatus_to_exitcode(status)
        ended = 128 - ended if ended < 0 else ended  # a signal's death as a shell says it
        if ended and not code:
            code = ended
            if not stopping:  # one failed: the others stop too
                stopping = True
                for child in running.values():
                    child.send_signal(signal.SIGTERM)
    return code
