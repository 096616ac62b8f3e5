"""Store speed: messages/s through the whole store lifecycle, memory vs SQLite, and the cost of
a million pending messages (a benchmark, not a test).

Run: .venv/bin/python benchmarks/store.py [--messages 20000] [--pending 1000000]

Lifecycle per message, in batches as the committer would apply them: accept → claim_due →
Delivered outcome (writes the owed receipt) → claim_outbound → outbound_acknowledged.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.store import (
    Delivered,
    MemoryStore,
    MessageStore,
    NewMessage,
    StoreBatch,
    TemporaryFailure,
)
from smsc.store.sqlite import SqliteStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def message(number: int) -> NewMessage:
    return NewMessage(
        system_id="bench", destination_addr=f"49151{number:08d}", source_addr="100",
        payload=b"Your code is 123456. It expires in 5 minutes.", registered_delivery=1,
        submitted_at=T0, expires_at=T0 + timedelta(days=2),
    )


def lifecycle(store: MessageStore, total: int, batch: int) -> float:
    """Seconds per message for the whole lifecycle at `batch` messages per transaction."""
    started = time.perf_counter()
    for start in range(0, total, batch):
        count = min(batch, total - start)
        store.apply(StoreBatch(accepts=[message(start + i) for i in range(count)]), T0)
        claimed = store.claim_due(T0, count)
        store.apply(StoreBatch(outcomes=[(m.message_id, Delivered()) for m in claimed]), T0)
        items = store.claim_outbound("bench", count)
        store.apply(StoreBatch(outbound_acknowledged=[i.item_id for i in items]), T0)
    return (time.perf_counter() - started) / total


def lifecycle_attempted(store: MessageStore, total: int, batch: int) -> float:
    """The same with each message's first attempt decided at acceptance (as the server does
    for a network that delivers at once): accept already delivered → claim_outbound →
    outbound_acknowledged, the sent receipts acknowledged in the next batch's transaction."""
    started = time.perf_counter()
    acknowledged: list[int] = []
    for start in range(0, total, batch):
        count = min(batch, total - start)
        store.apply(StoreBatch(accepts=[message(start + i) for i in range(count)],
                               first_attempts=[Delivered()] * count,
                               outbound_acknowledged=acknowledged), T0)
        items = store.claim_outbound("bench", count)
        acknowledged = [i.item_id for i in items]
    store.apply(StoreBatch(outbound_acknowledged=acknowledged), T0)
    return (time.perf_counter() - started) / total


def open_store(kind: str, directory: Path) -> MessageStore:
    if kind == "memory":
        return MemoryStore()
    return SqliteStore(directory / f"bench-{time.monotonic_ns()}.db")


def accept_rate(store: MessageStore, total: int, batch: int = 500) -> float:
    started = time.perf_counter()
    for start in range(0, total, batch):
        store.apply(StoreBatch(accepts=[message(start + i) for i in range(batch)]), T0)
    return total / (time.perf_counter() - started)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pending_million(kind: str, pending: int, directory: Path) -> None:
    """Fill the store with messages for absent handsets, then measure submits and memory."""
    gc.collect()
    before = rss_mib()
    store = open_store(kind, directory)
    empty = accept_rate(store, 20000)
    filled = 20000
    fill_started = time.perf_counter()
    while filled < pending:
        chunk = min(50000, pending - filled)
        store.apply(StoreBatch(accepts=[message(filled + i) for i in range(chunk)]), T0)
        filled += chunk
    fill_seconds = time.perf_counter() - fill_started
    # every handset is absent: one failed attempt each (claimed in the scheduler's batches)
    # sends them all to wait for a retry
    while claimed := store.claim_due(T0, 10000):
        store.apply(StoreBatch(outcomes=[(m.message_id, TemporaryFailure(27))
                                         for m in claimed]), T0)
    gc.collect()
    full = accept_rate(store, 20000)
    claim_started = time.perf_counter()
    due = store.claim_due(T0 + timedelta(seconds=10), 10000)
    claim_seconds = time.perf_counter() - claim_started
    print(f"  {kind:<7} {pending:,} pending: accept {empty:,.0f}/s empty -> {full:,.0f}/s full "
          f"({full / empty:.0%}); fill {pending / fill_seconds:,.0f}/s; claim of "
          f"{len(due):,} retries {claim_seconds * 1000:.0f} ms; peak RSS {rss_mib():,.0f} MiB "
          f"(+{rss_mib() - before:,.0f})")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pending", type=int, default=1000000)
    parser.add_argument("--skip-pending", action="store_true")
    parser.add_argument("--pending-only", choices=("sqlite", "memory"),
                        help="run only the pending test for one store (in this process)")
    args = parser.parse_args()
    if args.pending_only:
        with tempfile.TemporaryDirectory() as temporary:
            pending_million(args.pending_only, args.pending, Path(temporary))
        return
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        for title, run in (("lifecycle", lifecycle),
                           ("lifecycle, first attempt at acceptance", lifecycle_attempted)):
            print(f"{title}, {args.messages:,} messages, median of {args.repeat} "
                  "(µs/message):")
            for batch in (1, 10, 100, 500):
                costs = {}
                for kind in ("memory", "sqlite"):
                    total = args.messages if batch > 1 else min(args.messages, 2000)
                    runs = []
                    for _ in range(args.repeat):
                        store = open_store(kind, directory)
                        runs.append(run(store, total, batch))
                        store.close()
                    costs[kind] = statistics.median(runs) * 1e6
                print(f"  batch {batch:>3}: memory {costs['memory']:6.1f}  sqlite "
                      f"{costs['sqlite']:6.1f}  ({costs['sqlite'] / costs['memory'] - 1:+.0%}, "
                      f"{1e6 / costs['sqlite']:,.0f} msg/s durable)")
    if not args.skip_pending:
        print("pending messages for absent handsets (each store in its own process):")
        for kind in ("sqlite", "memory"):
            subprocess.run([sys.executable, __file__, "--pending-only", kind,
                            "--pending", str(args.pending)], check=True)


if __name__ == "__main__":
    main()
