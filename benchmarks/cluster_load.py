"""The load of `esme bench` spread over several SMSC nodes (for benchmarks/e2e.py --nodes).

One process, one trio run, the connections of `esme bench` (esme_client.loadgen: the same
sender and receiver per connection, one receipt bookkeeping for all, so a receipt may come on
any connection) but each connection to a port of its own:

- `--receipts-on same`: transceivers, spread over the ports in turn; each node delivers the
  receipts of what was submitted on it to its own binds.
- `--receipts-on other`: transmitters on the first port submit, receivers on the other ports
  take the receipts (as many receivers as transmitters, spread over them): every receipt is
  handed from the node that stored the message to a node with a receiver bound.

Prints the report of `esme bench --json` (esme_client.loadgen.summary).

Run: python benchmarks/cluster_load.py --ports 2775,2776 --connections 4 --count 100000
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from esme_client.loadgen import (
    BenchConfig,
    BenchStats,
    Counters,
    _run_connection,
    _Tracker,
    _wait_receipts,
    cpu_seconds,
    finish_stats,
    settle_receipts,
    summary,
)

BIND_WAIT = 10.0
"""Seconds the receivers have to bind before the transmitters start."""


def layout(config: BenchConfig, ports: list[int], receipts_on: str
           ) -> tuple[list[BenchConfig], list[BenchConfig]]:
    """The submitting connections' configs and the receive-only ones'."""
    if receipts_on == "same":
        return [replace(config, port=ports[n % len(ports)])
                for n in range(config.connections)], []
    if len(ports) < 2:
        raise SystemExit("cluster_load: --receipts-on other needs two ports or more")
    others = ports[1:]
    senders = [replace(config, port=ports[0], mode="transmitter")
               for _ in range(config.connections)]
    receivers = [replace(config, port=others[n % len(others)], mode="receiver")
                 for n in range(config.connections)]
    return senders, receivers


async def run_spread(config: BenchConfig, senders: list[BenchConfig],
                     receivers: list[BenchConfig]) -> BenchStats:
    """`loadgen.run_bench` for connections of their own configs; the receivers bind first
    and only read."""
    stats = BenchStats()
    counters = Counters()
    tracker = _Tracker()
    answered = trio.Semaphore(0)
    all_done = trio.Event()
    cpu_before = cpu_seconds()

    def progress() -> None:
        counters.set(stats.submitted, stats.responses, stats.receipts, tracker.expected,
                     tracker.received, int(tracker.answered))

    async with trio.open_nursery() as nursery:
        for receiver in receivers:  # (sends nothing: its sending time is over at once)
            nursery.start_soon(_run_connection, receiver, 0, 0.0, -math.inf, stats,
                               progress, tracker, None, all_done)
        with trio.move_on_after(BIND_WAIT):
            while len(tracker.links) < len(receivers) and not stats.errors:
                await trio.sleep(0.01)
        stats.started = math.inf  # (the receivers' binds are not part of the run)
        total = len(senders)
        for n, sender in enumerate(senders):
            base, extra = divmod(config.count, total)
            nursery.start_soon(_run_connection, sender, base + (1 if n < extra else 0), 0.0,
                               math.inf, stats, progress, tracker, answered, all_done)
        for _ in senders:
            await answered.acquire()
        tracker.answered = True
        progress()
        if config.receipts:
            with trio.move_on_after(config.receipt_timeout):
                await _wait_receipts(counters, progress, tracker)
        all_done.set()
    return finish_stats(stats, tracker, cpu_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ports", required=True, help="the nodes' SMPP ports, comma-separated")
    parser.add_argument("--receipts-on", choices=("same", "other"), default="same")
    parser.add_argument("--connections", type=int, default=1,
                        help="submitting connections (over all nodes)")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--count", type=int, default=50000)
    parser.add_argument("--size", type=int, default=46)
    parser.add_argument("--encoding", default="gsm", choices=("gsm", "ucs2", "latin1"))
    parser.add_argument("--receipts", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--system-id", default="smppclient1")
    parser.add_argument("--password", default="password")
    args = parser.parse_args()
    config = BenchConfig(system_id=args.system_id, password=args.password,
                         connections=args.connections, window=args.window, count=args.count,
                         size=args.size, encoding=args.encoding, receipts=args.receipts)
    senders, receivers = layout(config, [int(p) for p in args.ports.split(",")],
                                args.receipts_on)
    started = time.monotonic()
    stats = trio.run(run_spread, config, senders, receivers)
    elapsed = time.monotonic() - started
    settle_receipts(stats)
    print(json.dumps(summary(config, stats, elapsed)), flush=True)


if __name__ == "__main__":
    main()
