"""Command line of the SMSC: `smsc serve` and `smsc check-config`.

A configuration problem, an address already in use, or a data directory it cannot read or
another process holds is printed as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from smsc.config import Config, ConfigError, effective_listeners, load_config, with_overrides

if TYPE_CHECKING:
    from smsc.app import RunningSmsc

log = logging.getLogger("smsc")

EXIT_USAGE = 2
_DEFAULTS = Config()

EPILOG = """\
examples:
  smsc serve                               the embedded defaults (configs/default.toml)
  smsc serve --config my.toml --port 0     a config file, SMPP on a free port
  smsc check-config my.toml                "my.toml: ok", or one line naming the problem
  smsc serve --config pg.toml --workers 4  four processes on one SMPP port, one PostgreSQL
                                           store (docs/cluster.md)

Stop it with Ctrl-C or SIGTERM: it unbinds every session, lets queued store writes finish
and exits 0 (a second signal stops it at once, exit 128 + the signal's number). SIGHUP reads
the config file again: accounts, logging.level and fault mixes change at once; an invalid
file is refused (one log line) and the running configuration stays. Exit codes: 0 stopped
cleanly; 2 bad configuration, an address already in use, a data directory it cannot
read or another process holds, --workers on a store the workers cannot share, or a managed
PostgreSQL server that cannot start (store.postgresql.managed; what is missing is named).
"""


def _version() -> str:
    try:
        return version("smsc-simulator")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsc", description="SMPP 3.4 SMSC simulator.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"smsc {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,check-config}")
    server, control = _DEFAULTS.server, _DEFAULTS.control
    serve = commands.add_parser(
        "serve", help="run the SMSC (the default command)", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the SMSC. Flags override the config file's values.")
    serve.add_argument("--config", type=Path, metavar="FILE",
                       help="TOML file (default: the embedded defaults, as in "
                            "configs/default.toml)")
    serve.add_argument("--host", help=f"SMPP listen address (default: {server.host})")
    serve.add_argument("--port", type=int,
                       help=f"SMPP port, 0 picks a free one (default: {server.port})")
    serve.add_argument("--http-port", type=int,
                       help=f"control API, dashboard and /metrics port (default: {control.port})")
    serve.add_argument("--data-dir", metavar="DIR",
                       help=f"directory of the SQLite store (default: {_DEFAULTS.store.data_dir})")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                       help=f"logging.level (default: {_DEFAULTS.logging.level})")
    serve.add_argument("--log-json", action="store_true", help="log JSON lines (logging.json)")
    serve.add_argument("--pdu-trace", action="store_true",
                       help="log every PDU decoded and in hex (logging.pdu_trace)")
    serve.add_argument("--log-texts", action="store_true",
                       help="show message texts in logs (logging.log_texts; debugging only)")
    serve.add_argument("--capture", metavar="FILE",
                       help="write every PDU of every session to FILE: JSON lines, or pcap "
                            "when it ends in .pcap (logging.capture; docs/capture.md)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="N processes sharing the SMPP port and a PostgreSQL store, one "
                            "node each; the control API is the first one's (docs/cluster.md)")
    serve.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--worker-ports", help=argparse.SUPPRESS)
    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)
    return parser


def with_logging_flags(config: Config, args: argparse.Namespace) -> Config:
    """The config with --log-level, --log-json, --pdu-trace, --log-texts and --capture
    applied."""
    changes: dict[str, Any] = {}
    if getattr(args, "log_level", None):
        changes["level"] = args.log_level
    if getattr(args, "capture", None):
        changes["capture"] = args.capture
    for flag, key in (("log_json", "json"), ("pdu_trace", "pdu_trace"),
                      ("log_texts", "log_texts")):
        if getattr(args, flag, False):
            changes[key] = True
    if not changes:
        return config
    return dataclasses.replace(config, logging=dataclasses.replace(config.logging, **changes))


def check_capture(config: Config, args: argparse.Namespace, config_path: Path | None) -> None:
    """Raise ConfigError when the capture file cannot be written (before anything starts)."""
    path = config.logging.capture
    if not path:
        return
    source = "--capture" if getattr(args, "capture", None) else str(config_path)
    try:
        with open(path, "ab"):
            pass
    except OSError as error:
        raise ConfigError(source, "logging.capture",
                          f"cannot write {path}: {error.strerror or error}") from None


def load(path: Path | None) -> Config:
    return load_config(path)


# -- serving ------------------------------------------------------------------------------


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def banner(config: Config, running: RunningSmsc) -> str:
    """The line `smsc serve` prints once it listens: every address, and where to look.

    The short form's listeners read "SMPP on ..." and "SMPP over TLS on ..."; those of
    `[[server.listeners]]` carry their names ("SMPP listener public on ...")."""
    parts = []
    named = bool(config.server.listeners)
    for item in running.listeners:
        what = "SMPP over TLS" if item.tls else "SMPP"
        if named:
            what += f" listener {item.name}"
        parts.append(f"{what} on {_address(item.host, item.port)}")
    if running.http_port:
        base = f"http://{_address(config.control.host, running.http_port)}"
        parts.append(f"dashboard {base}/, metrics {base}/metrics")
    store = config.store.kind
    if store == "sqlite":
        store += f" in {config.store.data_dir}"
    elif config.store.postgresql.managed:
        store += f" managed in {Path(config.store.data_dir).resolve() / 'postgresql'}"
    return f"smsc: {', '.join(parts)}; store {store}"


Reload = Callable[[], Config]
"""Reads the configuration again (the file, with the command line's flags over it)."""


def reload_running(running: RunningSmsc, config: Config, read: Reload) -> Config:
    """SIGHUP: apply what a re-read config file changes; returns the configuration now in
    force. A file that does not load is refused with one line and changes nothing."""
    from smsc.app import reload_config

    try:
        new = read()
    except ConfigError as error:
        log.error("SIGHUP: configuration refused, the running one stays: %s", error)
        return config
    in_force, needs_restart = reload_config(running, config, new)
    if needs_restart:
        log.warning("SIGHUP: configuration reloaded; a restart is needed for: %s",
                    ", ".join(needs_restart))
    else:
        log.info("SIGHUP: configuration reloaded")
    return in_force


async def serve_until_signal(config: Config, read: Reload | None = None, *,
                             reuse_port: bool = False) -> int:
    """`smsc serve`: run until SIGINT or SIGTERM, then shut down cleanly; returns the exit code.

    A second SIGINT or SIGTERM stops at once (128 + its number). SIGHUP, which would otherwise
    end the process, reloads the configuration with `read` (ignored without one).
    """
    from smsc.app import run

    forced = 0
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            started: list[RunningSmsc] = []

            async def watch_signals() -> None:
                nonlocal forced, config
                async for signum in signals:
                    name = signal.Signals(signum).name
                    if signum == signal.SIGHUP:
                        if read is None or not started:
                            log.warning("%s ignored: %s", name,
                                        "no config file to read" if started else "starting")
                        else:
                            config = reload_running(started[0], config, read)
                    elif started and not started[0].shutdown.is_set():
                        log.info("signal %s: shutting down", name)
                        started[0].shutdown.set()
                    else:  # during start-up, or a second signal during shutdown
                        log.warning("signal %s: stopping at once", name)
                        forced = 128 + signum
                        nursery.cancel_scope.cancel()

            async def serve(*, task_status: trio.TaskStatus[RunningSmsc]) -> None:
                await run(config, reuse_port=reuse_port, task_status=task_status)
                nursery.cancel_scope.cancel()  # shut down: stop watching signals

            nursery.start_soon(watch_signals)
            started.append(await nursery.start(serve))
            print(banner(config, started[0]), flush=True)
    return forced


def run_server(config: Config, read: Reload | None = None, *, reuse_port: bool = False) -> int:
    """Blocking entry point for `smsc serve`; returns the exit code."""
    from smsc.app import tune_garbage_collector
    from smsc.logs import configure_logging

    configure_logging(config.logging)
    tune_garbage_collector()
    return trio.run(partial(serve_until_signal, config, read, reuse_port=reuse_port))


def _listen_addresses(config: Config) -> list[tuple[str, str, int]]:
    """(what, host, port) of every listener the config asks for, free ports (0) left out."""
    control = config.control
    wanted = [("SMPP over TLS" if listener.tls.enabled else "SMPP", listener.host, listener.port)
              for listener in effective_listeners(config.server)]
    if control.enabled:
        wanted.append(("HTTP", control.host, control.port))
    return [item for item in wanted if item[2]]


def unavailable_address(config: Config) -> str | None:
    """Which configured listen address cannot be bound, and why (None: all can).

    The bind error the server met names no address; trying each one again, as the
    listeners do (SO_REUSEADDR), finds the culprit.
    """
    for what, host, port in _listen_addresses(config):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
        except socket.gaierror as error:
            return f"{what} {_address(host, port)}: {error.strerror}"
        for family, kind, protocol, _, sockaddr in infos:
            with socket.socket(family, kind, protocol) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(sockaddr)
                except OSError as error:
                    reason = error.strerror or str(error)
                    return f"{what} {_address(host, port)}: {reason.lower()}"
    return None


def _only_error(error: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups (trio's nurseries)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


_BIND_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def startup_failure(error: BaseException, config: Config) -> str | None:
    """One line for an error that stops the server from starting, None for anything else."""
    from smsc.data_dir import DataDirInUse
    from smsc.store.errors import StoreOpenError

    cause = _only_error(error)
    if isinstance(cause, ConfigError):  # a file the config names cannot be loaded
        return f"smsc: {cause.key}: {cause.problem}"
    if isinstance(cause, StoreOpenError | DataDirInUse):  # a data directory it cannot use
        return f"smsc: {cause}"
    if isinstance(cause, OSError) and cause.errno in _BIND_ERRNOS:
        taken = unavailable_address(config)
        if taken is not None:
            return f"smsc: cannot listen on {taken}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            load(args.file)
            print(f"{args.file}: ok")
            return 0
        config_path = getattr(args, "config", None)

        worker = getattr(args, "worker", None)

        def read() -> Config:
            config = with_overrides(
                load(config_path),
                host=getattr(args, "host", None),
                port=getattr(args, "port", None),
                http_port=getattr(args, "http_port", None),
                data_dir=getattr(args, "data_dir", None),
            )
            config = with_logging_flags(config, args)
            if config.store.postgresql.managed:
                from smsc.cluster.managed import with_managed_dsn

                config = with_managed_dsn(config)
            if worker is not None:  # one of `--workers N`
                from smsc.cluster.workers import as_worker

                ports = [int(port) for port in args.worker_ports.split(",")]
                config = as_worker(config, worker, ports)
            return config

        config = read()
        check_capture(config, args, config_path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    workers = getattr(args, "workers", 1)
    if workers > 1 and worker is None:
        from smsc.cluster.workers import refusal

        refused = refusal(config, workers)
        if refused is not None:
            print(refused, file=sys.stderr)
            return EXIT_USAGE
    if config.store.postgresql.managed and worker is None:  # the workers share this one
        return _with_managed_server(config, partial(_serve, config, read, args, argv, workers))
    return _serve(config, read, args, argv, workers)


def _with_managed_server(config: Config, serve: Callable[[], int]) -> int:
    """`serve` with the managed PostgreSQL server running; stops it afterwards. A server that
    cannot start is one line and exit 2."""
    from smsc.cluster.managed import ManagedServerError, check, start_managed
    from smsc.data_dir import DataDirInUse, DataDirLock

    lock = DataDirLock(config.store.data_dir)  # one SMSC (or supervisor) per managed server
    try:
        check()  # (before the lock makes the directory)
        lock.acquire()
        server = start_managed(config)
    except DataDirInUse as error:
        lock.release()
        print(f"smsc: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ManagedServerError as error:
        lock.release()
        print(f"smsc: store.postgresql.managed: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return serve()
    finally:
        try:
            server.stop()
        except ManagedServerError as error:
            print(f"smsc: store.postgresql.managed: {error}", file=sys.stderr)
        finally:
            lock.release()


def _serve(config: Config, read: Reload, args: argparse.Namespace, argv: list[str] | None,
           workers: int) -> int:
    worker = getattr(args, "worker", None)
    config_path = getattr(args, "config", None)
    if workers > 1 and worker is None:
        from smsc.cluster.workers import supervise

        given = list(sys.argv[1:] if argv is None else argv)
        return supervise(config, workers, given if "serve" in given else ["serve", *given])
    try:
        return run_server(config, read if config_path is not None else None,
                          reuse_port=worker is not None)
    except Exception as error:
        line = startup_failure(error, config)
        if line is None:
            raise
        print(line, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        return 128 + signal.SIGINT
