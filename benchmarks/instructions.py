"""Server instructions per message, counted by valgrind (a benchmark, not a test).

On a shared, noisy machine CPU seconds swing by tens of percent between runs; instruction
counts do not. This starts `smsc serve` under `valgrind --tool=callgrind` with the given config,
runs `esme bench` against it (one connection, window 100, every message asking for a receipt)
for a small and a large count, and prints the difference in the server's instructions divided
by the difference in messages: the per-message cost with start-up and shutdown taken out.
It counts user-space instructions only (the server's threads included, the kernel's work on its
behalf not), so compare it with the CPU time `benchmarks/e2e.py` reports, not instead of it.

Run: .venv/bin/python benchmarks/instructions.py --config configs/bench-memory.toml
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def server_instructions(config: Path, messages: int, window: int) -> int:
    """Instructions the server executed while serving `messages` with receipts."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "callgrind.out"
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             "-m", "smsc", "serve", "--config", str(config), "--port", "0",
             "--data-dir", str(Path(work) / "var")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline().decode()
            found = re.search(r"SMPP on [^:]+:(\d+)", line)
            if found is None:
                raise SystemExit(f"instructions: the SMSC did not start: {line!r}")
            subprocess.run(
                [sys.executable, "-m", "esme_client", "bench", "--port", found.group(1),
                 "--connections", "1", "--window", str(window), "--count", str(messages),
                 "--receipts", "--json", "--progress", "off"],
                cwd=ROOT, check=True, capture_output=True,
            )
        finally:
            server.terminate()
            _, errors = server.communicate(timeout=300)
        totals = re.search(rb"Collected : (\d+)", errors)
        if totals is None:
            raise SystemExit("instructions: valgrind reported no total")
        return int(totals.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bench-memory.toml")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=4000)
    parser.add_argument("--window", type=int, default=100)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("instructions: valgrind is not installed (Debian: apt install valgrind)")
    started = time.perf_counter()
    small = server_instructions(args.config, args.small, args.window)
    large = server_instructions(args.config, args.large, args.window)
    per_message = (large - small) / (args.large - args.small)
    print(f"{args.config}: {per_message:,.0f} server instructions per message "
          f"({args.small:,} and {args.large:,} messages with receipts, window {args.window}; "
          f"{time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
