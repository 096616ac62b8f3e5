"""What recording metrics costs per message (a benchmark, not a test).

Replays the metrics calls the server makes for one message with a receipt — submit_sm in,
submit_sm_resp out, the submit's result and latency, the delivery attempt, the final state
and its latency, deliver_sm out, deliver_sm_resp in, the acknowledged receipt, a 500th of a
commit — against SmscMetrics (plain ints), SmscMetrics(enabled=False) (no-ops), and the same
calls made the usual prometheus_client way (`.labels(...).inc()` / `.observe()` per message).

Run: .venv/bin/python benchmarks/metrics.py
"""

from __future__ import annotations

import sys
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import CollectorRegistry, Counter, Histogram

from smsc.metrics import LATENCY_BUCKETS, SmscMetrics
from smsc.pdu.constants import CommandId, MessageState
from smsc.store import Message, NewMessage, OutboundItem, OutboundKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MESSAGE = Message(1, NewMessage(system_id="acct", destination_addr="4915100000001",
                                network="default", submitted_at=NOW),
                  MessageState.DELIVERED, final_at=NOW + timedelta(milliseconds=20))
ITEM = OutboundItem(1, "acct", OutboundKind.RECEIPT, MESSAGE)
SUBMIT, SUBMIT_RESP = int(CommandId.submit_sm), int(CommandId.submit_sm_resp)
DELIVER, DELIVER_RESP = int(CommandId.deliver_sm), int(CommandId.deliver_sm_resp)


def ours(metrics: SmscMetrics) -> None:
    metrics.count_received(SUBMIT)
    metrics.count_sent(SUBMIT_RESP, 0)
    metrics.record_submit("acct", 0, 0.0012)
    metrics.record_attempt("default", "delivered")
    metrics.record_final(MESSAGE)
    metrics.count_sent(DELIVER, 0)
    metrics.count_received(DELIVER_RESP, 0)
    metrics.record_acknowledged([ITEM])


def commit_share(metrics: SmscMetrics, counter: list[int]) -> None:
    counter[0] += 1
    if counter[0] % 500 == 0:
        metrics.record_commit(0.002, 500)


class Labelled:
    """The same metrics recorded with prometheus_client children resolved per message."""

    def __init__(self) -> None:
        r = CollectorRegistry()
        self.received = Counter("r", "r", ["command", "status"], registry=r)
        self.sent = Counter("s", "s", ["command", "status"], registry=r)
        self.submits = Counter("u", "u", ["account", "status"], registry=r)
        self.attempts = Counter("a", "a", ["network", "result"], registry=r)
        self.finished = Counter("f", "f", ["network", "state"], registry=r)
        self.receipts = Counter("c", "c", ["account"], registry=r)
        self.submit_seconds = Histogram("h1", "h", buckets=LATENCY_BUCKETS, registry=r)
        self.final_seconds = Histogram("h2", "h", registry=r)

    def record(self) -> None:
        self.received.labels("submit_sm", "ESME_ROK").inc()
        self.sent.labels("submit_sm_resp", "ESME_ROK").inc()
        self.submits.labels("acct", "ESME_ROK").inc()
        self.submit_seconds.observe(0.0012)
        self.attempts.labels("default", "delivered").inc()
        self.finished.labels("default", "DELIVERED").inc()
        self.final_seconds.observe(
            (MESSAGE.final_at - MESSAGE.fields.submitted_at).total_seconds())  # type: ignore
        self.sent.labels("deliver_sm", "ESME_ROK").inc()
        self.received.labels("deliver_sm_resp", "ESME_ROK").inc()
        self.receipts.labels("acct").inc()


def per_call_us(function: object, number: int = 200_000, repeat: int = 7) -> float:
    times = timeit.repeat(function, number=number, repeat=repeat)  # type: ignore[arg-type]
    return min(times) / number * 1e6  # the least disturbed run, as timeit advises


def main() -> None:
    enabled, disabled = SmscMetrics(), SmscMetrics(enabled=False)
    counter = [0]
    labelled = Labelled()
    rows = [
        ("SmscMetrics (plain ints)",
         per_call_us(lambda: (ours(enabled), commit_share(enabled, counter)))),
        ("SmscMetrics(enabled=False)",
         per_call_us(lambda: (ours(disabled), commit_share(disabled, counter)))),
        ("prometheus_client, .labels() per message", per_call_us(labelled.record)),
    ]
    print("| recording | µs per message |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:.2f} |")
    assert enabled.render()  # the ints render


if __name__ == "__main__":
    main()
