"""Hand-over cost: milliseconds per `hand_over_messages` batch (messages to an ESME bound on
another node) while the handing node has many other messages due (a benchmark, not a test).

Run: .venv/bin/python benchmarks/hand_over.py [--due 100000] [--batches 200] [--batch 20]

A throwaway PostgreSQL server (tests/postgresql.py); two stores on it, as two nodes. The
first holds `--due` messages scheduled an hour later, then accepts, claims and hands to the
second `--batches` batches of `--batch` messages due at once; each hand-over is timed whole
(its transaction included), as the committer's thread runs it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.store import NewMessage, RetryPolicy, StoreBatch
from smsc.store.postgresql import PostgresqlStore
from tests.postgresql import ThrowawayPostgres

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def message(schedule_at: datetime | None = None) -> NewMessage:
    return NewMessage(system_id="bench", destination_addr="4915100000002", source_addr="100",
                      payload=b"hello", submitted_at=T0, expires_at=T0 + timedelta(days=2),
                      schedule_at=schedule_at)


def measure(dsn: str, due: int, batches: int, batch: int) -> list[float]:
    """Milliseconds of each hand-over batch."""
    retry = RetryPolicy((10.0,))
    one = PostgresqlStore(dsn, retry=retry)
    two = PostgresqlStore(dsn, retry=retry)
    later = T0 + timedelta(hours=1)
    for start in range(0, due, 5000):
        one.apply(StoreBatch(accepts=[message(later)] * min(5000, due - start)), T0)
    timings: list[float] = []
    for _ in range(batches):
        one.apply(StoreBatch(accepts=[message()] * batch), T0)
        ids = [m.message_id for m in one.claim_due(T0, batch)]
        started = time.perf_counter()
        handed = one.hand_over_messages(two.node_id, ids)
        timings.append((time.perf_counter() - started) * 1000)
        assert len(handed) == batch
    one.close()
    two.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    server = ThrowawayPostgres()
    try:
        server.start()
        server.create_database("smsc_bench")
        timings = measure(server.dsn("smsc_bench"), args.due, args.batches, args.batch)
    finally:
        server.stop()
    timings.sort()
    print(f"{args.due} due, {args.batches} hand-overs of {args.batch}: ms per batch "
          f"p50 {statistics.median(timings):.2f}, p90 {timings[len(timings) * 9 // 10]:.2f}, "
          f"max {timings[-1]:.2f}")


if __name__ == "__main__":
    main()
