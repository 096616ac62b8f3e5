"""SmscMetrics: the SMSC's Prometheus metrics in a registry of its own (never the global one).

Only the trio shell records; the core never imports prometheus_client. Label sets stay bounded:
command names, status names, account system_ids, bind modes, message states, network names.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from smsc.pdu.constants import CommandId, CommandStatus

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


def command_name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return "unknown"


class SmscMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.pdus_received = Counter(
            "smpp_pdus_received", "PDUs received from ESMEs", ["command"], registry=r)
        self.pdus_sent = Counter(
            "smpp_pdus_sent", "PDUs sent to ESMEs", ["command", "status"], registry=r)
        self.submits = Counter(
            "smsc_submits", "submit_sm, data_sm and submit_multi answered",
            ["account", "status"], registry=r)
        self.delivery_attempts = Counter(
            "smsc_delivery_attempts", "Simulated delivery attempts by network and result",
            ["network", "result"], registry=r)
        self.receipts_sent = Counter(
            "smsc_receipts_sent", "Receipts and MO messages acknowledged by an ESME",
            ["account"], registry=r)
        self.binds = Gauge(
            "smsc_binds", "Bound sessions", ["account", "mode"], registry=r)
        self.throttled = Counter(
            "smsc_throttled", "Submits refused with ESME_RTHROTTLED", ["account"], registry=r)
        self.commit_seconds = Histogram(
            "smsc_store_commit_seconds", "Time of one store transaction",
            buckets=LATENCY_BUCKETS, registry=r)
        self.commit_messages = Counter(
            "smsc_store_committed_messages", "Messages accepted into the store", registry=r)
        self.submit_response_seconds = Histogram(
            "smsc_submit_response_seconds",
            "Submit received to its response queued, for submits that reached the store",
            buckets=LATENCY_BUCKETS, registry=r)

    # -- what the shell records -------------------------------------------------------------

    def record_received(self, command_id: int) -> None:
        self.pdus_received.labels(command_name(command_id)).inc()

    def record_sent(self, command_id: int, status: int) -> None:
        self.pdus_sent.labels(command_name(command_id), status_name(status)).inc()

    def record_submit(self, account: str, status: int, seconds: float | None = None) -> None:
        self.submits.labels(account, status_name(status)).inc()
        if status == CommandStatus.ESME_RTHROTTLED:
            self.throttled.labels(account).inc()
        if seconds is not None:
            self.submit_response_seconds.observe(seconds)

    def record_commit(self, seconds: float, accepted: int) -> None:
        self.commit_seconds.observe(seconds)
        self.commit_messages.inc(accepted)

    def record_bind(self, account: str, mode: str, change: int) -> None:
        self.binds.labels(account, mode).inc(change)

    def record_attempt(self, network: str, result: str) -> None:
        self.delivery_attempts.labels(network, result).inc()

    def record_receipt_sent(self, account: str) -> None:
        self.receipts_sent.labels(account).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
