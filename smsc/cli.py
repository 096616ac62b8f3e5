"""Command line of the SMSC: parse arguments, load the config, run the server."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smsc", description="SMPP 3.4 SMSC simulator")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the SMSC")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command in (None, "serve"):
        print("smsc: the SMPP server is not built yet; only the codec exists.", file=sys.stderr)
        return 1
    return 0
