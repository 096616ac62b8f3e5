"""SmscMetrics: the SMSC's Prometheus metrics in a registry of its own (never the global one).

The hot path counts in plain ints: every `count_*` / `record_*` call is a dict update (or a
bisect into a fixed list of buckets) on the trio thread, with no label lookup, lock or object
allocation per message. A custom collector turns those ints into Prometheus families only when
`/metrics` is scraped. Gauges that describe the present (binds, windows, the queue, deliveries
owed) are not counted at all: the scrape reads them from their owners through `Snapshot`.

Every family is named `smsc_*`, except the standard process and Python collectors
(`process_*`, `python_*`), registered on the same registry so that one scrape has it all.
docs/metrics.md lists them.

Label sets stay bounded: command names, status names (unknown codes become "unknown"),
configured account system_ids, bind modes, message states and network names.
"""

from __future__ import annotations

import platform
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, choose_encoder
from prometheus_client.parser import text_string_to_metric_families

from smsc.pdu.constants import CommandId, CommandStatus, MessageState
from smsc.store.models import Direction, Message, OutboundItem

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Prometheus text format's content type (OpenMetrics when the scraper asks for it)."""
BIND_MODES = ("transmitter", "receiver", "transceiver")
"""The bind modes a configured account shows a 0 for while it has no such session."""
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
FINAL_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
                 21600.0, 86400.0)
"""Submit → final state takes from milliseconds (instant networks) to days (absent handsets)."""
_THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
_MT = Direction.MT
KNOWN_COMMANDS = frozenset(int(c) for c in CommandId)
KNOWN_STATUSES = frozenset(int(s) for s in CommandStatus)
UNKNOWN = 0xFFFFFFFF
"""Stands for any command id or status the spec does not name (keeps label sets bounded);
no PDU carries it (the spec reserves both)."""


def pdu_key(command_id: int, status: int) -> int:
    """The key a PDU is counted under: the command_id alone when the status is 0 (every
    request and nearly every response), so the hot path hashes a plain int, not a tuple."""
    return command_id | status << 32 if status else command_id


def split_pdu_key(key: int) -> tuple[int, int]:
    """(command_id, status) of a `pdu_key`."""
    return key & 0xFFFFFFFF, key >> 32


def status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return "unknown"


def command_name(command_id: int) -> str:
    try:
        return CommandId(command_id).name
    except ValueError:
        return "unknown"


class Counted(Protocol):
    """What a PDU is counted by (every `smsc.pdu` message has both)."""

    @property
    def command_id(self) -> int: ...

    @property
    def command_status(self) -> int: ...


class Carrying(Protocol):
    """A session event that carries a PDU (RequestReceived, ResponseReceived)."""

    @property
    def message(self) -> Counted: ...


class FastHistogram:
    """A histogram with plain-int buckets; one bisect and two additions per observation."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, "+Inf" last, as Prometheus wants them."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class Snapshot:
    """What the scrape reads from the live components (nothing here is counted per message)."""

    binds: dict[tuple[str, str], int] = field(default_factory=dict)
    """(account, bind mode) → bound sessions."""
    window_in_flight: dict[str, int] = field(default_factory=dict)
    """account → deliver_sm sent and not yet answered, over its receiver binds."""
    window_size: dict[str, int] = field(default_factory=dict)
    """account → the sum of its bound sessions' windows."""
    by_state: dict[str, int] = field(default_factory=dict)
    """message state name → messages in the store (waiting ones and finished ones kept)."""
    deliveries_pending: dict[str, int] = field(default_factory=dict)
    """account → receipts and MO messages the store holds for it, not yet acknowledged."""


class SmscMetrics:
    """Plain-int counters for the shell to bump, rendered as Prometheus text on demand."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        """False turns every record call into a no-op (to measure what recording costs)."""
        self.pdus_received: dict[int, int] = {}
        """`pdu_key` → PDUs received."""
        self.pdus_sent: dict[int, int] = {}
        """`pdu_key` → PDUs sent."""
        # nested by the code first: an int or enum key, then a string one, costs half of one
        # tuple key (a tuple to build and hash, compared on every hit)
        self.submits: dict[int, dict[str, int]] = {}
        """status → account → submits answered with it."""
        self.throttled: dict[str, int] = {}
        self.delivery_attempts: dict[str, dict[str, int]] = {}
        """result → network → attempts."""
        self.finished: dict[MessageState, dict[str, int]] = {}
        """final state → network → messages (MT only)."""
        self.acknowledged: dict[str, int] = {}
        """account → deliver_sm (receipts, SME acknowledgements, MO) answered with ESME_ROK."""
        self.binds_total: dict[tuple[str, str], int] = {}
        self.commits = 0
        self.committed_messages = 0
        self.submit_response = FastHistogram(LATENCY_BUCKETS)
        self.final_latency = FastHistogram(FINAL_BUCKETS)
        self._final_pair: tuple[Any, Any] = (_NOTHING, _NOTHING)
        self._final_bucket = 0
        self._final_seconds = 0.0
        """The last (final, submitted) time objects observed, their bucket and seconds: a
        commit's messages share their final time, a read chunk's their submit time."""
        self.commit_latency = FastHistogram(LATENCY_BUCKETS)
        self.present = Snapshot()
        """The gauges' values for the scrape under way (given to `render`)."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self.registry.register(_BuildInfo())
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        if not enabled:
            for name in ("count_received", "count_sent", "count_requests", "count_responses",
                         "count_sent_pdu", "count_sent_run", "record_submit", "record_submits",
                         "record_commit",
                         "record_bind", "record_attempt", "record_final", "record_acknowledged"):
                setattr(self, name, _ignore)

    # -- what the shell records (each a dict update on the trio thread) -------------------

    def count_received(self, command_id: int, status: int = 0) -> None:
        _count_pdu(self.pdus_received, pdu_key(command_id, status))

    def count_sent(self, command_id: int, status: int) -> None:
        _count_pdu(self.pdus_sent, pdu_key(command_id, status))

    def count_requests(self, events: Iterable[Carrying]) -> None:
        """A read chunk's requests, counted by command_id alone (their `pdu_key`: requests
        carry status 0)."""
        received = self.pdus_received
        for event in events:
            key = event.message.command_id
            if key in received:
                received[key] += 1
            else:
                _count_pdu(received, key)

    def count_responses(self, events: Iterable[Carrying]) -> None:
        """A read chunk's responses, counted by command_id and status."""
        received = self.pdus_received
        for event in events:
            message = event.message
            key = message.command_id
            status = message.command_status
            if status:
                key |= status << 32  # as pdu_key makes it
            if key in received:
                received[key] += 1
            else:
                _count_pdu(received, key)

    def count_sent_pdu(self, pdu: Counted) -> None:
        """One PDU sent (the links' hook for what they send one by one)."""
        key = pdu.command_id
        status = pdu.command_status
        if status:
            key |= status << 32  # as pdu_key makes it
        sent = self.pdus_sent
        if key in sent:
            sent[key] += 1
        else:
            _count_pdu(sent, key)

    def count_sent_run(self, command_id: int, count: int) -> None:
        """`count` PDUs of one command sent with status 0 (a run of usual answers or of
        receipts prebuilt)."""
        sent = self.pdus_sent
        if command_id in sent:
            sent[command_id] += count
        else:
            for _ in range(count):
                _count_pdu(sent, command_id)

    def totals(self) -> tuple[int, int, int, int]:
        """(submits accepted, MT messages delivered, MT messages failed, deliveries
        acknowledged) so far, for the dashboard's rates."""
        submitted = sum(list(self.submits.get(0, {}).values()))
        delivered = failed = 0
        for state, by_network in list(self.finished.items()):
            count = sum(list(by_network.values()))
            if state is MessageState.DELIVERED:
                delivered += count
            else:
                failed += count
        return submitted, delivered, failed, sum(list(self.acknowledged.values()))

    def record_submit(self, account: str, status: int, seconds: float | None = None) -> None:
        by_account = self.submits.get(status)
        if by_account is not None and account in by_account:
            by_account[account] += 1
        else:
            _count_under(self.submits, status, account)
        if status == _THROTTLED:
            self.throttled[account] = self.throttled.get(account, 0) + 1
        if seconds is not None:
            histogram = self.submit_response
            histogram.counts[bisect_left(histogram.bounds, seconds)] += 1
            histogram.total += seconds

    def record_submits(self, account: str, status: int, seconds: float, count: int) -> None:
        """`count` submits of one account answered with one latency (a read chunk's, answered
        after one commit)."""
        by_account = self.submits.get(status)
        if by_account is not None and account in by_account:
            by_account[account] += count
        else:
            _count_under(self.submits, status, account)
            self.submits[status][account] += count - 1
        if status == _THROTTLED:
            self.throttled[account] = self.throttled.get(account, 0) + count
        histogram = self.submit_response
        histogram.counts[bisect_left(histogram.bounds, seconds)] += count
        histogram.total += seconds * count

    def record_commit(self, seconds: float, accepted: int) -> None:
        self.commits += 1
        self.committed_messages += accepted
        self.commit_latency.observe(seconds)

    def record_bind(self, account: str, mode: str) -> None:
        key = (account, mode)
        self.binds_total[key] = self.binds_total.get(key, 0) + 1

    def record_attempt(self, network: str, result: str) -> None:
        by_network = self.delivery_attempts.get(result)
        if by_network is not None and network in by_network:
            by_network[network] += 1
        else:
            _count_under(self.delivery_attempts, result, network)

    def record_final(self, message: Message) -> None:
        """A message reached a final state (called by the store, possibly off the trio
        thread, but never by two threads at once: store calls are serialised)."""
        fields = message.fields
        if fields.direction is not _MT:
            return
        network = fields.network
        by_network = self.finished.get(message.state)
        if by_network is not None and network in by_network:
            by_network[network] += 1
        else:
            _count_under(self.finished, message.state, network)
        final_at = message.final_at
        submitted_at = fields.submitted_at
        last_final, last_submitted = self._final_pair
        if final_at is last_final and submitted_at is last_submitted:
            bucket, seconds = self._final_bucket, self._final_seconds
        elif final_at is not None and submitted_at is not None:
            seconds = (final_at - submitted_at).total_seconds()
            bucket = bisect_left(self.final_latency.bounds, seconds)
            if seconds < 0:
                seconds = 0.0
            self._final_pair = (final_at, submitted_at)
            self._final_bucket, self._final_seconds = bucket, seconds
        else:
            return
        histogram = self.final_latency
        histogram.counts[bucket] += 1
        histogram.total += seconds

    def record_acknowledged(self, items: list[OutboundItem]) -> None:
        """Deliveries the ESMEs acknowledged (receipts and MO messages), by account."""
        acknowledged = self.acknowledged
        for item in items:
            account = item.system_id
            if account in acknowledged:
                acknowledged[account] += 1
            else:
                acknowledged[account] = 1

    # -- the scrape ---------------------------------------------------------------------------

    def render(self, present: Snapshot | None = None, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type, gauges from `present` (read from the live
        components by whoever scrapes: the counters are ours, the present state is not).
        OpenMetrics when `accept` (the scraper's Accept header) asks for it, else the
        Prometheus text format."""
        self.present = present or Snapshot()
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's current value (tests and the dashboard read metrics by name); gauges
        as the last `render` saw them."""
        return self.registry.get_sample_value(name, labels)


def by_node(texts: Mapping[str, bytes], left_out: Iterable[str] | None = None,
            accept: str = "") -> tuple[bytes, str]:
    """Several nodes' expositions (each in the Prometheus text format, as `render` writes
    it) as one: every sample with a `node` label (the node id; every family here counts or
    reads per process), each family once (HELP and TYPE from the first node that has it).
    With `left_out` (the `--workers` siblings gathered), `smsc_cluster_scrape_errors` names
    the nodes that did not answer, 1 each. OpenMetrics when `accept` asks for it."""
    families: dict[str, Metric] = {}
    for node, text in texts.items():
        for family in text_string_to_metric_families(text.decode()):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation,
                                                        family.type, family.unit)
            merged.samples += [sample._replace(labels={**sample.labels, "node": node})
                               for sample in family.samples]
    if left_out is not None:
        errors = GaugeMetricFamily(
            "smsc_cluster_scrape_errors", "Sibling workers left out of this scrape (no "
            "answer in time): 1 each", labels=["node"])
        for node in left_out:
            errors.add_metric([node], 1)
        families[errors.name] = errors
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(list(families.values())))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class _Families:
    """Families already made, for a registry to encode."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


_NOTHING = object()
"""Stands for no time object observed yet (None is a message's missing time)."""


def _count_under(counts: dict[Any, dict[str, int]], code: Any, name: str) -> None:
    """One more under counts[code][name], either level new."""
    inner = counts.setdefault(code, {})
    inner[name] = inner.get(name, 0) + 1


def _flat(counts: dict[Any, dict[str, int]]) -> list[tuple[Any, str, int]]:
    """(code, name, count) of a two-level count, for the scrape."""
    return [(code, name, value) for code, inner in list(counts.items())
            for name, value in list(inner.items())]


def _count_pdu(counts: dict[int, int], key: int) -> None:
    """One PDU more under a `pdu_key`; codes we do not know share one label."""
    if key in counts:
        counts[key] += 1
    else:
        bounded = _bounded(key)
        counts[bounded] = counts.get(bounded, 0) + 1


def _bounded(key: int) -> int:
    command_id, status = split_pdu_key(key)
    return pdu_key(command_id if command_id in KNOWN_COMMANDS else UNKNOWN,
                   status if status in KNOWN_STATUSES else UNKNOWN)


def _name(code: int, namer: Callable[[int], str]) -> str:
    return "unknown" if code == UNKNOWN else namer(code)


class _Collector:
    """Builds the metric families from SmscMetrics' ints at scrape time."""

    def __init__(self, metrics: SmscMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        def named(counts: dict[int, int]) -> list[tuple[tuple[str, ...], int]]:
            pairs = [(split_pdu_key(key), v) for key, v in list(counts.items())]
            return [((_name(c, command_name), _name(s, status_name)), v)
                    for (c, s), v in pairs]

        yield _counter("smsc_pdus_received", "PDUs received from ESMEs", ["command", "status"],
                       named(m.pdus_received))
        yield _counter("smsc_pdus_sent", "PDUs sent to ESMEs", ["command", "status"],
                       named(m.pdus_sent))
        yield _counter("smsc_submits", "submit_sm, data_sm and submit_multi answered, by result",
                       ["account", "status"],
                       [((a, status_name(s)), v) for s, a, v in _flat(m.submits)])
        yield _counter("smsc_throttled", "Submits refused with ESME_RTHROTTLED", ["account"],
                       [((a,), v) for a, v in list(m.throttled.items())])
        yield _counter("smsc_delivery_attempts", "Simulated delivery attempts, by result",
                       ["network", "result"],
                       [((n, r), v) for r, n, v in _flat(m.delivery_attempts)])
        yield _counter("smsc_messages_finished",
                       "MT messages that reached a final state (DELIVERED, EXPIRED, "
                       "UNDELIVERABLE, REJECTED, DELETED), by network", ["network", "state"],
                       [((n or "none", s.name), v) for s, n, v in _flat(m.finished)])
        yield _counter("smsc_deliveries_acknowledged",
                       "deliver_sm (receipts, SME acknowledgements and MO messages) an ESME "
                       "answered with ESME_ROK", ["account"],
                       [((a,), v) for a, v in list(m.acknowledged.items())])
        yield _counter("smsc_binds", "Successful binds", ["account", "mode"],
                       list(m.binds_total.items()))
        yield _counter("smsc_store_commits", "Store transactions", [], [((), m.commits)])
        yield _counter("smsc_store_committed_messages", "Messages accepted into the store", [],
                       [((), m.committed_messages)])
        yield _histogram("smsc_submit_response_seconds",
                         "Submit received to its response queued, for submits that reached "
                         "the store", m.submit_response)
        yield _histogram("smsc_message_final_seconds",
                         "Submit accepted to final state (delivered, failed, expired)",
                         m.final_latency)
        yield _histogram("smsc_store_commit_seconds", "Time of one store transaction",
                         m.commit_latency)
        snap = m.present
        yield _gauge("smsc_bound_sessions", "Bound sessions", ["account", "mode"],
                     list(snap.binds.items()))
        yield _gauge("smsc_window_in_flight",
                     "deliver_sm awaiting deliver_sm_resp over an account's bound sessions",
                     ["account"], [((a,), v) for a, v in snap.window_in_flight.items()])
        yield _gauge("smsc_window_size", "Sum of the windows of an account's bound sessions",
                     ["account"], [((a,), v) for a, v in snap.window_size.items()])
        waiting = sum(v for s, v in snap.by_state.items() if s not in _FINAL_NAMES)
        kept = [((s,), v) for s, v in snap.by_state.items() if s in _FINAL_NAMES]
        yield _gauge("smsc_queue_messages",
                     "Messages not yet in a final state: waiting for their first attempt, a "
                     "retry, their scheduled time, a handset or the end of an outage",
                     [], [((), waiting)])
        yield _gauge("smsc_finished_messages_kept",
                     "Finished messages the store keeps for lookups until retention purges "
                     "them, by final state", ["state"], kept)
        yield _gauge("smsc_deliveries_pending",
                     "Receipts and MO messages stored for an account, not yet acknowledged",
                     ["account"], [((a,), v) for a, v in snap.deliveries_pending.items()])


_FINAL_NAMES = frozenset(s.name for s in MessageState if s.is_final)


class _BuildInfo:
    """smsc_build_info: the package's version and the Python running it (one sample, 1)."""

    def __init__(self) -> None:
        try:
            version = package_version("smsc-simulator")
        except PackageNotFoundError:
            version = "unknown"
        self.labels = {"version": version, "python_version": platform.python_version(),
                       "implementation": platform.python_implementation()}

    def collect(self) -> Iterator[Metric]:
        family = InfoMetricFamily("smsc_build", "The SMSC simulator's version and its Python")
        family.add_metric([], self.labels)
        yield family

def _counter(name: str, doc: str, labels: list[str],
             values: Iterable[tuple[tuple[str, ...], int]]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def _gauge(name: str, doc: str, labels: list[str],
           values: Iterable[tuple[tuple[str, ...], int]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def _histogram(name: str, doc: str, histogram: FastHistogram) -> Metric:
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], histogram.buckets(), histogram.total)
    return family


def _ignore(*args: Any) -> None:
    return None


__all__ = ["BIND_MODES", "CONTENT_TYPE", "FastHistogram", "SmscMetrics", "Snapshot", "by_node",
           "pdu_key", "split_pdu_key"]
