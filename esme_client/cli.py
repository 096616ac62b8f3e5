"""Command line of the ESME client."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("esme: the client is not built yet.", file=sys.stderr)
    return 1
