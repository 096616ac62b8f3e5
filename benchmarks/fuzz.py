"""Longer live-server fuzz runs than the suite's (tests/interop/test_fuzz.py).

Starts an SMSC in this process (memory store by default, or --config), fuzzes it with
mutated PDUs of every kind over real loopback sockets while a probe ESME submits beside them,
and prints what happened and the probe's latency. Figures go to docs/hardening.md.

    .venv/bin/python benchmarks/fuzz.py --connections 2000 --per-connection 50 --seed 1
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smsc.app import run  # noqa: E402
from smsc.config import Config, load_config  # noqa: E402
from tests.fuzzing import run_fuzz  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    config: Config = load_config(args.config) if args.config else Config()
    config = dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, port=0, pdu_read_timer=0.5,
                                   response_timer=1.0, session_init_timer=2.0),
        store=dataclasses.replace(config.store, kind=args.store,
                                  data_dir=str(ROOT / "var-fuzz")),
        control=dataclasses.replace(config.control, enabled=False),
    )
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        started = time.perf_counter()
        report = await run_fuzz(running.smpp_port, seed=args.seed,
                                connections=args.connections,
                                per_connection=args.per_connection, parallel=args.parallel,
                                limit=args.limit)
        took = time.perf_counter() - started
        running.shutdown.set()
    print(f"mutated PDUs sent        {report.sent:,} over {report.connections:,} connections "
          f"in {took:.1f} s")
    print(f"PDUs the server answered {report.answers:,}; connections it closed "
          f"{report.closed_by_server:,}")
    print(f"probe submit_sm answered {len(report.probe_latencies):,}: p50 "
          f"{report.probe_quantile(0.5) * 1e3:.1f} ms, p99 {report.probe_quantile(0.99) * 1e3:.1f}"
          f" ms, max {report.probe_max * 1e3:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--store", default="memory", choices=("memory", "sqlite"))
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--per-connection", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=8,
                        help="at most the account's max_binds (10 by default), less the probe")
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    trio.run(main, parser.parse_args())
