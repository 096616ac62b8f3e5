"""Command line of the SMSC: `smsc serve` and `smsc check-config`.

A configuration problem is printed as one line (`FILE: KEY: PROBLEM`) with exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from smsc.config import Config, ConfigError, load_config, with_overrides


def _version() -> str:
    try:
        return version("smsc-simulator")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsc", description="SMPP 3.4 SMSC simulator")
    parser.add_argument("--version", action="version", version=f"smsc {_version()}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the SMSC")
    serve.add_argument("--config", type=Path, help="TOML file (default: embedded defaults)")
    serve.add_argument("--host", help="SMPP listen address")
    serve.add_argument("--port", type=int, help="SMPP port (0 picks a free one)")
    serve.add_argument("--http-port", type=int, help="control API / metrics port")
    serve.add_argument("--data-dir", help="directory of the SQLite store")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                       help="logging.level")
    serve.add_argument("--log-json", action="store_true", help="log JSON lines (logging.json)")
    serve.add_argument("--pdu-trace", action="store_true",
                       help="log every PDU decoded and in hex (logging.pdu_trace)")
    serve.add_argument("--log-texts", action="store_true",
                       help="show message texts in logs (logging.log_texts; debugging only)")
    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=Path)
    return parser


def with_logging_flags(config: Config, args: argparse.Namespace) -> Config:
    """The config with --log-level, --log-json, --pdu-trace and --log-texts applied."""
    changes: dict[str, Any] = {}
    if getattr(args, "log_level", None):
        changes["level"] = args.log_level
    for flag, key in (("log_json", "json"), ("pdu_trace", "pdu_trace"),
                      ("log_texts", "log_texts")):
        if getattr(args, flag, False):
            changes[key] = True
    if not changes:
        return config
    return dataclasses.replace(config, logging=dataclasses.replace(config.logging, **changes))


def load(path: Path | None) -> Config:
    return load_config(path)


def _open_error(error: BaseException) -> BaseException | None:
    """The StoreOpenError in `error` (the server's nursery may have grouped it)."""
    from smsc.store.errors import StoreOpenError

    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error if isinstance(error, StoreOpenError) else None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            load(args.file)
            print(f"{args.file}: ok")
            return 0
        config_path = getattr(args, "config", None)
        config = with_overrides(
            load(config_path),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            http_port=getattr(args, "http_port", None),
            data_dir=getattr(args, "data_dir", None),
        )
        config = with_logging_flags(config, args)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    from smsc.app import run_server
    from smsc.store.errors import StoreOpenError

    try:
        return run_server(config)
    except (StoreOpenError, ExceptionGroup) as error:  # a data directory it cannot read
        unreadable = _open_error(error)
        if unreadable is None:
            raise
        print(f"smsc: {unreadable}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
