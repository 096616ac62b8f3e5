"""TOML configuration → frozen dataclasses, validated strictly and generically from the fields.

Every field's type comes from its annotation and its limits from `metadata`; an unknown key, a
wrong type or a value out of range raises ConfigError(path, key, problem), which the command
line prints as one line and exits 2. With no file the dataclass defaults apply;
configs/default.toml mirrors them key by key.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import tomllib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration problem, told in one line: `FILE: KEY: PROBLEM`."""

    def __init__(self, path: str, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")
        self.path = path
        self.key = key
        self.problem = problem


def _limits(
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    return {"min": minimum, "max": maximum, "choices": choices}


PORT = _limits(0, 65535)
SECONDS = _limits(0)
BIND_MODES = ("transmitter", "receiver", "transceiver")


@dataclass(frozen=True, slots=True)
class TlsConfig:
    enabled: bool = False
    """Serve SMPP over TLS as well (or instead, with plain_enabled = false)."""
    port: int = field(default=2776, metadata=PORT)
    certfile: str = ""
    """PEM certificate chain; required when enabled."""
    keyfile: str = ""
    """PEM private key; required when enabled."""
    plain_enabled: bool = True
    """Keep the plain TCP listener beside the TLS one."""
    client_ca: str = ""
    """PEM bundle of the authorities whose client certificates are accepted (mutual TLS);
    empty: client certificates are neither asked for nor checked."""
    require_client_cert: bool = False
    """Refuse the TLS handshake of a client without a certificate client_ca vouches for;
    false: a client may go without one (accounts with allowed_cert_subjects then refuse
    its binds)."""


@dataclass(frozen=True, slots=True)
class ListenerTlsConfig:
    """The TLS of one `[[server.listeners]]` entry."""

    enabled: bool = False
    """Serve this listener over TLS (certfile and keyfile required)."""
    certfile: str = ""
    keyfile: str = ""
    client_ca: str = ""
    """As server.tls.client_ca: the authorities of accepted client certificates."""
    require_client_cert: bool = False
    """As server.tls.require_client_cert."""


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """One SMPP listener (`[[server.listeners]]`, the long form of server.host/port/tls)."""

    name: str = field(default="", metadata=_limits(0, 40))
    """Named in the banner, the logs and /v1/status; empty: "listener-<n>" (1-based)."""
    host: str = "127.0.0.1"
    port: int = field(default=2775, metadata=PORT)
    """0 picks a free one."""
    accounts: tuple[str, ...] = ()
    """system_ids that may bind on this listener; empty allows every account."""
    tls: ListenerTlsConfig = field(default_factory=ListenerTlsConfig)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    """Address the SMPP listener binds to."""
    port: int = field(default=2775, metadata=PORT)
    """SMPP port; 0 picks a free one."""
    system_id: str = field(default="SMSC", metadata=_limits(1, 15))
    """The SMSC's own system_id, sent in bind responses and outbind."""
    bind_failures_allowed: int = field(default=10, metadata=_limits(0))
    """Binds with a wrong system_id or password an address may make in a row at no cost."""
    bind_failure_backoff: float = field(default=1.0, metadata=SECONDS)
    """Seconds an address is then refused after each further one, doubling each time;
    0 disables."""
    bind_failure_backoff_max: float = field(default=60.0, metadata=SECONDS)
    """The longest such wait."""
    max_command_length: int = field(default=65536, metadata=_limits(64, 1 << 24))
    """Largest PDU accepted from a bound ESME; longer ones lose framing (generic_nack and
    close). Before a bind succeeds the limit is a bind's own largest size, 98 octets."""
    max_connections: int = field(default=1000, metadata=_limits(0))
    """Most SMPP connections open at once, over all listeners; one more is closed as soon as
    it is accepted. 0: no limit."""
    max_connections_per_address: int = field(default=100, metadata=_limits(0))
    """Most SMPP connections open at once from one peer IP address. 0: no limit."""
    session_init_timer: float = field(default=30.0, metadata=SECONDS)
    """Seconds a connection may stay unbound; 0 disables."""
    enquire_link_timer: float = field(default=30.0, metadata=SECONDS)
    """Idle seconds before the SMSC probes with enquire_link; 0 disables."""
    inactivity_timer: float = field(default=0.0, metadata=SECONDS)
    """Seconds without any request before the SMSC unbinds; 0 disables."""
    response_timer: float = field(default=30.0, metadata=_limits(0.001))
    """Seconds to wait for the response to a PDU the SMSC sent."""
    pdu_read_timer: float = field(default=10.0, metadata=SECONDS)
    """Seconds a partial PDU may sit in the buffer; 0 disables."""
    shutdown_grace: float = field(default=5.0, metadata=SECONDS)
    """Seconds shutdown waits for ESMEs to acknowledge unbind and for work in flight."""
    message_id_format: str = field(default="hex", metadata=_limits(choices=("hex", "decimal")))
    """How message ids are written: lowercase hex or decimal."""
    tls: TlsConfig = field(default_factory=TlsConfig)
    listeners: tuple[ListenerConfig, ...] = ()
    """Several listeners, each with its own address, TLS and accounts; when given, host,
    port and the tls table are not (one form or the other)."""


@dataclass(frozen=True, slots=True)
class PostgresqlConfig:
    synchronous_commit: bool = True
    """true: a commit (and so a submit_sm_resp) waits until the server's WAL is on disk;
    false: a server crash may lose the last commits (a crash of the SMSC never does), for
    less latency per commit."""
    node_timeout: float = field(default=30.0, metadata=_limits(0.5))
    """Seconds after its last heartbeat that a node (an SMSC process on this database) is
    dead and the others take over its messages and owed receipts; each node beats every
    third of it (docs/cluster.md)."""
    managed: bool = False
    """true: the SMSC runs a PostgreSQL server of its own from the installed binaries, in
    store.data_dir/postgresql (made on the first start), and stops it at exit; with
    --workers, one server for all the workers (docs/cluster.md). store.dsn stays empty."""


@dataclass(frozen=True, slots=True)
class StoreConfig:
    kind: str = field(default="sqlite",
                      metadata=_limits(choices=("sqlite", "memory", "postgresql")))
    """sqlite: durable file in data_dir; memory: fastest, lost at exit; postgresql: tables
    on a PostgreSQL server (dsn; needs the postgresql extra: psycopg)."""
    data_dir: str = "./var"
    """Directory of the SQLite file (smsc.db)."""
    dsn: str = field(default="", repr=False)
    """PostgreSQL connection string (libpq key=value or a postgresql:// URL); empty: the
    PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE... environment variables."""
    postgresql: PostgresqlConfig = field(default_factory=PostgresqlConfig)
    synchronous: str = field(default="normal", metadata=_limits(choices=("normal", "full")))
    """normal survives a process kill; full also survives power loss (slower)."""
    writer: str = field(default="auto", metadata=_limits(choices=("auto", "thread")))
    """Where SQLite transactions run. auto: on the event loop when they cannot wait for the
    disk (normal: a commit hands the WAL to the OS unsynced), on a thread of their own when
    they sync (full); thread: always on that thread (a disk so slow that even unsynced
    writes stall), at some 15% more CPU per message. Checkpoints never run on the loop."""
    retention: float = field(default=3600.0, metadata=SECONDS)
    """Seconds finished messages are kept for query_sm before they are purged."""
    retry_schedule: tuple[float, ...] = (5.0, 15.0, 60.0, 300.0, 900.0)
    """Seconds between delivery attempts after temporary failures; the last repeats."""
    default_validity: float = field(default=172800.0, metadata=_limits(1))
    """Validity in seconds of a message submitted without validity_period."""
    max_validity: float = field(default=604800.0, metadata=_limits(1))
    """Longest validity accepted; longer requests are shortened to it."""
    batch_max: int = field(default=500, metadata=_limits(1, 100000))
    """Most messages written in one transaction."""
    max_finished: int = field(default=1_000_000, metadata=_limits(0))
    """Memory store only: most finished messages kept for query_sm, about 0.7 KB each; past
    it the oldest are forgotten before their retention time (0: no limit)."""


@dataclass(frozen=True, slots=True)
class DistributionListConfig:
    """A named list of destinations a submit_multi of its account may name (dest_flag 2)."""

    name: str = field(default="", metadata=_limits(1, 20))
    members: tuple[str, ...] = ()
    """Destination addresses, each sent to as a submit_multi SME address would be."""
    dest_addr_ton: int = field(default=1, metadata=_limits(0, 255))
    dest_addr_npi: int = field(default=1, metadata=_limits(0, 255))


@dataclass(frozen=True, slots=True)
class AccountConfig:
    system_id: str = field(default="smppclient1", metadata=_limits(1, 15))
    password: str = field(default="password", repr=False, metadata=_limits(0, 8))
    system_type: str = ""
    """When set, binds must carry this system_type."""
    bind_modes: tuple[str, ...] = field(default=BIND_MODES, metadata=_limits(choices=BIND_MODES))
    max_binds: int = field(default=10, metadata=_limits(1))
    """Concurrent binds allowed for this system_id."""
    window: int = field(default=10, metadata=_limits(1, 100000))
    """Most deliver_sm in flight to one bind without a response."""
    submit_rate: float = field(default=0.0, metadata=_limits(0))
    """Messages per second accepted (token bucket); 0 means unlimited."""
    submit_burst: int = field(default=0, metadata=_limits(0))
    """Bucket size; 0 means one second's worth of submit_rate."""
    max_pending: int = field(default=0, metadata=_limits(0))
    """Pending messages allowed before ESME_RMSGQFUL; 0 means unlimited."""
    default_validity: float = field(default=0.0, metadata=SECONDS)
    """This account's validity when a submit gives none; 0 uses store.default_validity."""
    max_validity: float = field(default=0.0, metadata=SECONDS)
    """This account's longest validity; 0 uses store.max_validity."""
    allowed_source_addrs: tuple[str, ...] = ()
    """Regular expressions a source_addr must match; empty allows any."""
    allowed_ips: tuple[str, ...] = ()
    """CIDR blocks binds may come from; empty allows any."""
    allowed_cert_subjects: tuple[str, ...] = ()
    """Client certificate subjects (mutual TLS) that may bind as this account: each the
    subject in RFC 4514 form (`CN=gateway-1,O=Example`, most specific first, as `openssl x509
    -nameopt RFC2253` prints it), or `CN=<name>` alone, matching the common name. Empty
    allows binds with or without a certificate."""
    mo_addresses: tuple[str, ...] = ()
    """Regular expressions of destination addresses (short codes, long numbers) whose
    mobile-originated messages go to this account."""
    outbind_host: str = ""
    """When set, the SMSC connects to this ESME address and sends outbind whenever it holds
    receipts or MO messages for the account and no receiver is bound."""
    outbind_port: int = field(default=2775, metadata=PORT)
    outbind_password: str = field(default="", repr=False, metadata=_limits(0, 8))
    """Password the SMSC sends in outbind, so the ESME can authenticate it."""
    outbind_retry: float = field(default=30.0, metadata=_limits(0.1))
    """Seconds between outbind attempts while the ESME does not bind."""
    receipt_dialect: str = ""
    """Name of the receipt dialect (`[[receipt_dialects]]`) this account's receipts use;
    empty means the SMPP 3.4 Appendix B form. A network's dialect takes precedence."""
    distribution_lists: tuple[DistributionListConfig, ...] = ()
    """`[[accounts.distribution_lists]]`: lists its submit_multi may name; the control API
    changes them at runtime."""


NO_NETWORK = "none"
"""Route target meaning: no network takes this message (see RoutingConfig.unroutable)."""
ESME_NETWORK = "esme:"
"""The network of an MT message to another account's mo_addresses is this prefix and that
account's system_id: it is delivered to that ESME as a mobile-originated message."""
NETWORK_RESULTS = ("delivered", "absent", "undeliverable", "rejected")
LATENCY_DISTRIBUTIONS = ("fixed", "uniform", "normal", "exponential")
PROBABILITY = _limits(0, 1)


@dataclass(frozen=True, slots=True)
class OutcomeMixConfig:
    """Relative weights of how attempts end; all zero means every attempt ends as
    NetworkConfig.result."""

    delivered: float = field(default=0.0, metadata=_limits(0))
    absent: float = field(default=0.0, metadata=_limits(0))
    """Temporary: the message waits and is retried; EXPIRED when validity runs out."""
    undeliverable: float = field(default=0.0, metadata=_limits(0))
    rejected: float = field(default=0.0, metadata=_limits(0))


@dataclass(frozen=True, slots=True)
class OutageConfig:
    """A scheduled outage: no attempt succeeds from `start` for `duration` seconds; messages
    wait and go out when it ends."""

    start: float = field(default=0.0, metadata=SECONDS)
    """Seconds after the SMSC starts."""
    duration: float = field(default=60.0, metadata=_limits(0.001))
    every: float = field(default=0.0, metadata=SECONDS)
    """Repeat period in seconds; 0 means once."""


@dataclass(frozen=True, slots=True)
class FaultMixConfig:
    """Submit-time faults, as probabilities per submit routed to this network, for testing an
    ESME's resilience. They are drawn in this order; the sum must be at most 1."""

    throttled: float = field(default=0.0, metadata=PROBABILITY)
    """Answer ESME_RTHROTTLED; the message is not stored."""
    system_error: float = field(default=0.0, metadata=PROBABILITY)
    """Answer ESME_RSYSERR; the message is not stored."""
    slow_response: float = field(default=0.0, metadata=PROBABILITY)
    """Store the message, answer after slow_response_delay seconds."""
    no_response: float = field(default=0.0, metadata=PROBABILITY)
    """Store the message and never answer the submit."""
    disconnect: float = field(default=0.0, metadata=PROBABILITY)
    """Drop the connection instead of answering; the message is not stored."""
    slow_response_delay: float = field(default=5.0, metadata=SECONDS)


ERROR_CODE = _limits(0, 0xFFFF)


@dataclass(frozen=True, slots=True)
class ErrorCodesConfig:
    """GSM MAP error codes reported with each kind of failure (receipt err: and the
    network_error_code TLV); with several, one is drawn per attempt."""

    absent: tuple[int, ...] = field(default=(27,), metadata=ERROR_CODE)
    """Absent subscriber."""
    undeliverable: tuple[int, ...] = field(default=(1,), metadata=ERROR_CODE)
    """Unknown subscriber; e.g. add 11 (teleservice not provisioned), 9 (illegal
    subscriber)."""
    rejected: tuple[int, ...] = field(default=(13,), metadata=ERROR_CODE)
    """Call barred."""
    memory_full: tuple[int, ...] = field(default=(32,), metadata=ERROR_CODE)
    """SM delivery failure (memory capacity exceeded)."""
    outage: tuple[int, ...] = field(default=(34,), metadata=ERROR_CODE)
    """System failure, while the network is out."""


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    name: str = "default"
    latency: float = field(default=0.0, metadata=SECONDS)
    """Seconds a delivery attempt takes on this network (the mean for normal and
    exponential, the centre for uniform)."""
    latency_distribution: str = field(default="fixed",
                                      metadata=_limits(choices=LATENCY_DISTRIBUTIONS))
    """fixed, uniform (latency ± latency_spread), normal (standard deviation
    latency_spread) or exponential (mean latency); never below 0."""
    latency_spread: float = field(default=0.0, metadata=SECONDS)
    max_rate: float = field(default=0.0, metadata=_limits(0))
    """Throughput cap: attempts started per second; more wait their turn. 0: no cap."""
    result: str = field(default="delivered", metadata=_limits(choices=NETWORK_RESULTS))
    """How every attempt ends when no outcome mix is given: delivered, absent (temporary:
    retried until validity ends), undeliverable or rejected (permanent)."""
    error_code: int = field(default=0, metadata=_limits(0, 0xFFFF))
    """When not 0: the one GSM error code reported with every failure, overriding
    error_codes."""
    error_codes: ErrorCodesConfig = field(default_factory=ErrorCodesConfig)
    outcomes: OutcomeMixConfig = field(default_factory=OutcomeMixConfig)
    outages: tuple[OutageConfig, ...] = ()
    faults: FaultMixConfig = field(default_factory=FaultMixConfig)
    receipt_dialect: str = ""
    """Receipt dialect of messages routed to this network (the routes choosing it share it);
    overrides the account's. Empty leaves the account's."""
    broadcast_areas: tuple[str, ...] = ()
    """Cell broadcast areas this network serves, by name (SMPP 5.0 broadcast_sm with a
    format-0 broadcast_area_identifier); an area no network names is refused."""
    broadcast_success: float = field(default=1.0, metadata=PROBABILITY)
    """Share of an area's cells that take each broadcast: its broadcast_area_success is
    100 × this, rounded (0: the area took none)."""


HANDSET_STATES = ("online", "offline", "memory_full", "failing")
HANDSET_REPLIES = ("none", "echo", "auto_reply")


@dataclass(frozen=True, slots=True)
class HandsetConfig:
    """A handset profile for a number range or pattern; the first matching profile applies
    (numbers are matched in international digits, without "+" or "00")."""

    name: str = "handsets"
    prefix: str = ""
    """Leading digits of the destination, e.g. "4915100"."""
    regex: str = ""
    """Regular expression the international digits must match in full."""
    state: str = field(default="online", metadata=_limits(choices=HANDSET_STATES))
    """online; offline (absent subscriber: messages wait until it comes online or validity
    ends); memory_full (waits too, error 32); failing (UNDELIV, error 1)."""
    online_for: float = field(default=0.0, metadata=SECONDS)
    """With offline_for: switch on and off on a schedule (online first, from start)."""
    offline_for: float = field(default=0.0, metadata=SECONDS)
    latency: float = field(default=0.0, metadata=SECONDS)
    """Extra seconds every delivery to this handset takes (a slow handset)."""
    reply: str = field(default="none", metadata=_limits(choices=HANDSET_REPLIES))
    """Answer each delivered message with a mobile-originated one: echo (its text) or
    auto_reply (reply_text), sent to the account that submitted it."""
    reply_text: str = "OK"
    reply_delay: float = field(default=0.0, metadata=SECONDS)
    """Seconds between the delivery and the handset's reply."""


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """One routing rule: every condition given must match; the first matching rule wins."""

    network: str = "default"
    """A network's name, "none", or "esme:" and an account's system_id: messages the rule
    takes are then delivered to that ESME as mobile-originated ones."""
    prefix: str = ""
    """E.164 prefix of the destination, with or without "+" (e.g. "+4915")."""
    regex: str = ""
    """Regular expression the destination address (as submitted) must match in full."""
    region: str = ""
    """ISO region of the destination number, e.g. "DE"."""
    number_type: str = ""
    """mobile, fixed_line, toll_free, ... as phonenumbers classifies the destination."""
    account: str = ""
    """system_id of the submitting account."""
    source_prefix: str = ""
    """Prefix of the source address as submitted."""
    receipt_dialect: str = ""
    """Receipt dialect of the messages this rule routes; wins over the network's and the
    account's. Empty leaves theirs."""


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    default_region: str = "DE"
    """Region for national numbers (TON 2, or TON 0 without a leading + or 00)."""
    default_network: str = ""
    """Network when no rule matches; empty means the first network."""
    unroutable: str = field(default="reject", metadata=_limits(choices=("reject", "undeliver")))
    """With default_network = "none": refuse at submit (ESME_RINVDSTADR) or accept and report
    UNDELIV in the receipt."""
    validate_numbers: bool = False
    """Refuse destinations phonenumbers calls impossible (ESME_RINVDSTADR)."""
    rules: tuple[RouteConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class ControlConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = field(default=8775, metadata=PORT)
    token: str = field(default="", repr=False)
    """Bearer token required by the control API when set."""
    allow_remote: bool = False
    """Allow a non-loopback host; off so the API is never exposed by accident. Needs a
    token."""
    max_body_bytes: int = field(default=65536, metadata=_limits(1024, 1 << 26))
    """Largest request body the control API reads; a longer one is answered 413."""
    metrics: bool = True
    """Record Prometheus metrics; off only to measure what recording costs."""


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = field(
        default="info", metadata=_limits(choices=("debug", "info", "warning", "error"))
    )
    json: bool = False
    pdu_trace: bool = False
    """Log every PDU decoded, with its octets in hex."""
    log_texts: bool = False
    """Show message texts in logs (and capture files); hidden by default."""
    capture: str = ""
    """Write every PDU of every session to this file: JSON lines, or pcap when the name ends
    in .pcap (docs/capture.md). Empty: no capture."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    seed: int | None = None
    """Seed of every random choice, so runs are reproducible; without one, each run draws
    its own (fresh randomness, as an unseeded generator)."""
    magic_numbers: bool = True
    """Destinations +447700900NNN (a range reserved for fiction) force an outcome; see
    README's table."""
    inbox_size: int = field(default=0, metadata=_limits(0, 100000))
    """Messages kept per handset for tests to read (reassembled, decoded); 0 keeps none.
    Memory grows with the number of distinct handsets: for tests, not load tests."""
    time_scale: float = field(default=1.0, metadata=_limits(0.001, 1000000))
    """Simulated seconds per real second: 1 is real time, 60 a simulated minute per real
    second. Retries, expiry, scheduled delivery, latencies, schedules, outages, MO traffic and
    retention follow simulated time; SMPP session timers stay real (docs/clock.md)."""


ID_FORMATS = ("hex", "hex_upper", "decimal")
"""How a receipt writes a message id; "submit" (as in submit_sm_resp) is also accepted."""
RECEIPT_FIELDS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")
RECEIPT_TLVS = ("receipted_message_id", "message_state", "network_error_code")
DATE_FORMATS = ("yymmddhhmm", "yymmddhhmmss", "yyyymmddhhmmss")
INTERMEDIATE_EVENTS = ("enroute", "accepted")
"""enroute: after each attempt that will be retried; accepted: once, as soon as stored."""


@dataclass(frozen=True, slots=True)
class ErrCodes:
    """The receipt's `err:` per outcome; -1 writes the network's error code (0 when none)."""

    delivered: int = field(default=-1, metadata=_limits(-1, 0xFFFF))
    expired: int = field(default=-1, metadata=_limits(-1, 0xFFFF))
    deleted: int = field(default=-1, metadata=_limits(-1, 0xFFFF))
    undeliverable: int = field(default=-1, metadata=_limits(-1, 0xFFFF))
    rejected: int = field(default=-1, metadata=_limits(-1, 0xFFFF))
    enroute: int = field(default=-1, metadata=_limits(-1, 0xFFFF))
    accepted: int = field(default=-1, metadata=_limits(-1, 0xFFFF))


@dataclass(frozen=True, slots=True)
class ReceiptDialectConfig:
    """How an SMSC writes its delivery receipts; peers differ, so each account or network
    may use its own. The defaults are the SMPP 3.4 Appendix B form with every TLV."""

    name: str = field(default="appendix_b", metadata=_limits(1, 64))
    pdu: str = field(default="deliver_sm", metadata=_limits(choices=("deliver_sm", "data_sm")))
    """deliver_sm (text in short_message) or data_sm (text in message_payload)."""
    text: bool = True
    """Send the receipt text; false makes TLV-only receipts."""
    fields: tuple[str, ...] = field(default=RECEIPT_FIELDS,
                                    metadata=_limits(choices=RECEIPT_FIELDS))
    """Text fields present, in this order."""
    label_case: str = field(default="lower",
                            metadata=_limits(choices=("lower", "upper", "spec")))
    """lower (`id:`, `text:`), upper (`ID:`, `TEXT:`) or spec (lower with `Text:`, as the
    SMPP 3.4 example line writes it)."""
    id_format: str = field(default="submit", metadata=_limits(choices=("submit", *ID_FORMATS)))
    """The text's `id:`: as in submit_sm_resp (submit), hex, hex_upper or decimal."""
    id_width: int = field(default=0, metadata=_limits(0, 64))
    """Zero-pad the text's id to this many characters; 0 does not pad."""
    tlv_id_format: str = field(default="submit",
                               metadata=_limits(choices=("submit", *ID_FORMATS)))
    """receipted_message_id's form (submit, hex, hex_upper or decimal)."""
    tlv_id_width: int = field(default=0, metadata=_limits(0, 64))
    date_format: str = field(default="yymmddhhmm", metadata=_limits(choices=DATE_FORMATS))
    count_width: int = field(default=3, metadata=_limits(0, 10))
    """Zero padding of sub: and dlvrd: (0 writes them unpadded)."""
    err_width: int = field(default=3, metadata=_limits(0, 10))
    """Zero padding of err: (0 writes it unpadded)."""
    err_hex: bool = False
    """Write err: in hexadecimal rather than decimal."""
    err_codes: ErrCodes = field(default_factory=ErrCodes)
    text_chars: int = field(default=20, metadata=_limits(0, 160))
    """Characters of the original message in `text:`."""
    tlvs: tuple[str, ...] = field(default=RECEIPT_TLVS, metadata=_limits(choices=RECEIPT_TLVS))
    """TLVs sent to SMPP 3.4 binds (never to 3.3 ones)."""
    network_type: int = field(default=3, metadata=_limits(1, 255))
    """First octet of network_error_code: 1 ANSI-136, 2 IS-95, 3 GSM."""
    network_error_on_success: bool = False
    """Send network_error_code (0) with DELIVRD too, not only when an error is known."""
    intermediate: tuple[str, ...] = field(default=("enroute",),
                                          metadata=_limits(choices=INTERMEDIATE_EVENTS))
    """Intermediate notifications for registered_delivery bit 4: enroute (after each
    attempt that will be retried), accepted (stat:ACCEPTD as soon as the message is stored)."""
    manual_ack_text: str = field(default="OK", metadata=_limits(0, 160))
    """Text of SME manual/user acknowledgements (registered_delivery bit 3)."""


MO_ENCODINGS = ("auto", "gsm", "latin1", "ucs2", "binary")
MO_SCHEMES = ("udh8", "udh16", "sar", "payload")


@dataclass(frozen=True, slots=True)
class MoTrafficConfig:
    """A steady stream of mobile-originated messages from simulated handsets."""

    destination: str = field(default="", metadata=_limits(1, 21))
    """Short code or long number; an account's mo_addresses must claim it."""
    sources: tuple[str, ...] = ("4915100000001",)
    """Handset numbers, used in turn."""
    rate: float = field(default=1.0, metadata=_limits(0.0001, 100000))
    """Messages per second."""
    texts: tuple[str, ...] = ("Message {n} from {source}",)
    """Templates used in turn; {n} (1, 2, ...), {source}, {destination} and {time} are
    filled in. With encoding = "binary" each template is hex."""
    encoding: str = field(default="auto", metadata=_limits(choices=MO_ENCODINGS))
    """auto picks GSM 03.38 when the text fits, else UCS2."""
    scheme: str = field(default="udh8", metadata=_limits(choices=MO_SCHEMES))
    """How long texts travel: 8- or 16-bit UDH parts, SAR TLVs, or whole in message_payload."""
    count: int = field(default=0, metadata=_limits(0))
    """Messages to send before the stream stops; 0 never stops."""
    start_after: float = field(default=0.0, metadata=SECONDS)
    """Seconds after start before the first message."""


@dataclass(frozen=True, slots=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    accounts: tuple[AccountConfig, ...] = (AccountConfig(mo_addresses=("4242",)),)
    """The default account also owns MO short code 4242, so MO works out of the box."""
    networks: tuple[NetworkConfig, ...] = (NetworkConfig(),)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    handsets: tuple[HandsetConfig, ...] = ()
    receipt_dialects: tuple[ReceiptDialectConfig, ...] = ()
    """Named receipt dialects, chosen by accounts[].receipt_dialect and
    networks[].receipt_dialect."""
    mo_traffic: tuple[MoTrafficConfig, ...] = ()
    """Scheduled mobile-originated traffic."""

    def account(self, system_id: str) -> AccountConfig | None:
        for account in self.accounts:
            if account.system_id == system_id:
                return account
        return None


# -- generic loading -------------------------------------------------------------------------


def load_config(path: Path | str | None) -> Config:
    """The configuration in `path`, or the defaults for None.

    Raises:
        ConfigError: the file is unreadable, not TOML, or breaks a rule.
    """
    if path is None:
        return Config()
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, "", f"cannot read: {getattr(error, 'strerror', error)}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, "", f"not valid TOML: {error}") from None
    return parse_config(data, source)


def parse_section(cls: type[T], data: Any, source: str) -> T:
    """One section's dataclass from a table (e.g. a fault mix sent to the control API).

    Raises:
        ConfigError: unknown key, wrong type or value out of range.
    """
    section: T = _build(cls, data, source, "")
    return section


SHORT_FORM_KEYS = ("host", "port", "tls")
"""The [server] keys of the single-listener form, which [[server.listeners]] replaces."""


def parse_config(data: dict[str, Any], source: str) -> Config:
    server = data.get("server")
    if isinstance(server, dict) and server.get("listeners"):
        mixed = [key for key in SHORT_FORM_KEYS if key in server]
        if mixed:
            raise ConfigError(source, f"server.{mixed[0]}",
                              "cannot be given with [[server.listeners]]: use one form (the "
                              "listeners' own host, port and tls) or the other")
    config: Config = _build(Config, data, source, "")
    _check_cross_fields(config, source)
    return config


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(source, prefix or "(top)", "must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(source, _join(prefix, key), "unknown key")
    values = {}
    for name, spec in known.items():
        if name in data:
            key = _join(prefix, name)
            values[name] = _convert(hints[name], data[name], source, key, spec.metadata)
    return cls(**values)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}


def _convert(kind: Any, value: Any, source: str, key: str, limits: Any) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, source, key)  # type: ignore[arg-type]
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise ConfigError(source, key, "must be an array")
        return tuple(
            _convert(item_kind, item, source, f"{key}[{index}]", limits)
            for index, item in enumerate(value)
        )
    if origin in (types.UnionType, typing.Union):  # `X | None`: TOML has no null, so an X
        (given,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _convert(given, value, source, key, limits)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(source, key, f"must be {_TYPE_NAMES[kind]}, not {value!r}")
    _check_limits(value, source, key, limits)
    return value


def _check_limits(value: Any, source: str, key: str, limits: Any) -> None:
    if not limits:
        return
    choices = limits.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(source, key, f"must be one of {', '.join(choices)}, not {value!r}")
    measure = len(value) if isinstance(value, str) else value
    unit = " characters" if isinstance(value, str) else ""
    low, high = limits.get("min"), limits.get("max")
    if low is not None and measure < low:
        raise ConfigError(source, key, f"must be at least {low}{unit}")
    if high is not None and measure > high:
        raise ConfigError(source, key, f"must be at most {high}{unit}")


def _check_cross_fields(config: Config, source: str) -> None:
    if config.simulation.time_scale != config.simulation.time_scale:  # NaN passes the limits
        raise ConfigError(source, "simulation.time_scale", "must be a number")
    seen: set[str] = set()
    for index, account in enumerate(config.accounts):
        key = f"accounts[{index}]"
        if account.system_id in seen:
            raise ConfigError(source, f"{key}.system_id", f"{account.system_id!r} repeated")
        seen.add(account.system_id)
        check_account(account, source, key)
        _check_lists(source, key, account)
    names = [network.name for network in config.networks]
    for pos, name in enumerate(names):
        if name.startswith(ESME_NETWORK):
            raise ConfigError(source, f"networks[{pos}].name",
                              f"must not start with {ESME_NETWORK!r} (messages to ESMEs)")
    if len(set(names)) != len(names):
        raise ConfigError(source, "networks", "network names must be unique")
    if not names:
        raise ConfigError(source, "networks", "at least one network is needed")
    routing = config.routing
    known = {*names, NO_NETWORK, *(ESME_NETWORK + a.system_id for a in config.accounts)}
    if routing.default_network and routing.default_network not in known:
        raise ConfigError(source, "routing.default_network",
                          f"no network named {routing.default_network!r}")
    for pos, rule in enumerate(routing.rules):
        key = f"routing.rules[{pos}]"
        if rule.network not in known:
            raise ConfigError(source, f"{key}.network", f"no network named {rule.network!r}")
        if rule.regex:
            _check_patterns(source, f"{key}.regex", (rule.regex,))
    for pos, network in enumerate(config.networks):
        faults = network.faults
        total = (faults.throttled + faults.system_error + faults.slow_response
                 + faults.no_response + faults.disconnect)
        if total > 1 + 1e-9:
            raise ConfigError(source, f"networks[{pos}].faults", "probabilities add up to more "
                              "than 1")
        codes = network.error_codes
        for kind in ("absent", "undeliverable", "rejected", "memory_full", "outage"):
            if not getattr(codes, kind):
                raise ConfigError(source, f"networks[{pos}].error_codes.{kind}",
                                  "needs at least one code")
        for index, outage in enumerate(network.outages):
            if outage.every and outage.every < outage.duration:
                raise ConfigError(source, f"networks[{pos}].outages[{index}].every",
                                  "must be at least the duration")
    for pos, handset in enumerate(config.handsets):
        key = f"handsets[{pos}]"
        if handset.prefix and not handset.prefix.isdigit():
            raise ConfigError(source, f"{key}.prefix", "must be digits only")
        if handset.regex:
            _check_patterns(source, f"{key}.regex", (handset.regex,))
        if bool(handset.online_for) != bool(handset.offline_for):
            raise ConfigError(source, f"{key}.online_for",
                              "online_for and offline_for go together")
    if config.store.postgresql.managed:
        if config.store.kind != "postgresql":
            raise ConfigError(source, "store.postgresql.managed",
                              f"needs store.kind = postgresql (not {config.store.kind})")
        if config.store.dsn:
            raise ConfigError(source, "store.dsn", "must stay empty with "
                              "store.postgresql.managed = true (the managed server's is used)")
    for pos, seconds in enumerate(config.store.retry_schedule):
        if seconds <= 0:
            raise ConfigError(source, f"store.retry_schedule[{pos}]", "must be positive")
    _check_dialects(config, source)
    _check_mo_traffic(config, source)
    tls = config.server.tls
    if tls.enabled and not (tls.certfile and tls.keyfile):
        raise ConfigError(source, "server.tls", "certfile and keyfile are required")
    if not tls.plain_enabled and not tls.enabled:
        raise ConfigError(source, "server.tls.plain_enabled", "no listener would be left")
    if tls.require_client_cert and not tls.client_ca:
        raise ConfigError(source, "server.tls.require_client_cert", "needs client_ca")
    _check_listeners(config, source)
    if not config.control.allow_remote and not _is_loopback(config.control.host):
        raise ConfigError(
            source, "control.host", "not a loopback address; set control.allow_remote = true"
        )
    if config.control.allow_remote and config.control.enabled and not config.control.token:
        raise ConfigError(source, "control.allow_remote",
                          "a control API open to other hosts needs control.token")


MAX_LIST_NAME = 20
"""A distribution list's name goes in dl_name, a C-string of at most 21 octets (SPEC 5.2.27):
20 characters and its NUL."""
MAX_LIST_ADDRESS = 20
"""A member goes in a submit_multi's destination_addr: 21 octets with its NUL."""
MAX_LIST_MEMBERS = 254
"""A submit_multi reaches at most 254 destinations (SPEC 4.5.1), lists expanded."""


def list_problems(name: str, members: Sequence[tuple[int, int, str]]) -> list[tuple[str, str]]:
    """What is wrong with a distribution list, as (sub-key, message) pairs (empty when
    nothing): the rules of the config file and of the control API, kept here only."""
    problems = []
    if not 1 <= len(name) <= MAX_LIST_NAME or not name.isprintable() or not name.isascii():
        problems.append(("name", f"name must be 1 to {MAX_LIST_NAME} printable ASCII characters"))
    if not 1 <= len(members) <= MAX_LIST_MEMBERS:
        problems.append(("members", f"a list has 1 to {MAX_LIST_MEMBERS} members"))
    for index, (ton, npi, address) in enumerate(members):
        if not 1 <= len(address) <= MAX_LIST_ADDRESS or not address.isascii() \
                or not address.isprintable():
            problems.append((f"members[{index}]", f"member {address!r}: 1 to "
                             f"{MAX_LIST_ADDRESS} printable ASCII characters"))
            break
        if not (0 <= ton <= 0xFF and 0 <= npi <= 0xFF):
            problems.append(("members", "ton and npi are octets"))
            break
    return problems


def _check_lists(source: str, key: str, account: AccountConfig) -> None:
    names: set[str] = set()
    for pos, dl in enumerate(account.distribution_lists):
        where = f"{key}.distribution_lists[{pos}]"
        if dl.name in names:
            raise ConfigError(source, f"{where}.name", f"{dl.name!r} repeated")
        names.add(dl.name)
        problems = list_problems(
            dl.name, [(dl.dest_addr_ton, dl.dest_addr_npi, m) for m in dl.members])
        if problems:
            sub_key, message = problems[0]
            raise ConfigError(source, f"{where}.{sub_key}", message)


def check_account(account: AccountConfig, source: str, key: str) -> None:
    """The checks of one account beyond its fields' own (patterns, address blocks,
    certificate subjects), for the config file and for accounts made at run time.

    Raises:
        ConfigError: naming `key`'s sub-key at fault.
    """
    _check_patterns(source, _join(key, "allowed_source_addrs"), account.allowed_source_addrs)
    _check_patterns(source, _join(key, "mo_addresses"), account.mo_addresses)
    for pos, subject in enumerate(account.allowed_cert_subjects):
        if "=" not in subject:
            raise ConfigError(source, _join(key, f"allowed_cert_subjects[{pos}]"),
                              "must be a subject such as \"CN=gateway-1\"")
    for pos, block in enumerate(account.allowed_ips):
        try:
            ipaddress.ip_network(block, strict=False)
        except ValueError as error:
            raise ConfigError(source, _join(key, f"allowed_ips[{pos}]"), str(error)) from None


def _check_listeners(config: Config, source: str) -> None:
    accounts = {account.system_id for account in config.accounts}
    names: set[str] = set()
    for index, listener in enumerate(config.server.listeners):
        key = f"server.listeners[{index}]"
        name = listener_name(listener, index)
        if name in names:
            raise ConfigError(source, f"{key}.name", f"{name!r} repeated")
        names.add(name)
        for pos, system_id in enumerate(listener.accounts):
            if system_id not in accounts:
                raise ConfigError(source, f"{key}.accounts[{pos}]",
                                  f"no account {system_id!r}")
        tls = listener.tls
        if tls.enabled and not (tls.certfile and tls.keyfile):
            raise ConfigError(source, f"{key}.tls", "certfile and keyfile are required")
        if tls.require_client_cert and not tls.client_ca:
            raise ConfigError(source, f"{key}.tls.require_client_cert", "needs client_ca")


def listener_name(listener: ListenerConfig, index: int) -> str:
    return listener.name or f"listener-{index + 1}"


def effective_listeners(server: ServerConfig) -> tuple[ListenerConfig, ...]:
    """The listeners to open, named: `[[server.listeners]]`, or those the short form
    (host, port, tls) describes: "smpp" (plain) and "smpp-tls"."""
    if server.listeners:
        return tuple(dataclasses.replace(listener, name=listener_name(listener, index))
                     for index, listener in enumerate(server.listeners))
    tls = server.tls
    listeners = []
    if tls.plain_enabled:
        listeners.append(ListenerConfig(name="smpp", host=server.host, port=server.port))
    if tls.enabled:
        listeners.append(ListenerConfig(
            name="smpp-tls", host=server.host, port=tls.port,
            tls=ListenerTlsConfig(enabled=True, certfile=tls.certfile, keyfile=tls.keyfile,
                                  client_ca=tls.client_ca,
                                  require_client_cert=tls.require_client_cert)))
    return tuple(listeners)


def _check_dialects(config: Config, source: str) -> None:
    defined: set[str] = set()
    for index, dialect in enumerate(config.receipt_dialects):
        key = f"receipt_dialects[{index}]"
        if dialect.name in defined:
            raise ConfigError(source, f"{key}.name", f"{dialect.name!r} repeated")
        defined.add(dialect.name)
        if len(set(dialect.fields)) != len(dialect.fields):
            raise ConfigError(source, f"{key}.fields", "a field is named twice")
        if dialect.text and "id" not in dialect.fields:
            raise ConfigError(source, f"{key}.fields", "the text needs its id field")
        if not dialect.text and "receipted_message_id" not in dialect.tlvs:
            raise ConfigError(source, f"{key}.tlvs",
                              "a receipt without text needs receipted_message_id")
    names = defined | {"appendix_b"}
    for index, account in enumerate(config.accounts):
        if account.receipt_dialect and account.receipt_dialect not in names:
            raise ConfigError(source, f"accounts[{index}].receipt_dialect",
                              f"no receipt dialect named {account.receipt_dialect!r}")
    for index, network in enumerate(config.networks):
        if network.receipt_dialect and network.receipt_dialect not in names:
            raise ConfigError(source, f"networks[{index}].receipt_dialect",
                              f"no receipt dialect named {network.receipt_dialect!r}")
    for index, rule in enumerate(config.routing.rules):
        if rule.receipt_dialect and rule.receipt_dialect not in names:
            raise ConfigError(source, f"routing.rules[{index}].receipt_dialect",
                              f"no receipt dialect named {rule.receipt_dialect!r}")


def _check_mo_traffic(config: Config, source: str) -> None:
    for index, stream in enumerate(config.mo_traffic):
        key = f"mo_traffic[{index}]"
        owners = [a for a in config.accounts
                  if any(re.fullmatch(p, stream.destination) for p in a.mo_addresses)]
        if not owners:
            raise ConfigError(source, f"{key}.destination",
                              f"no account's mo_addresses claims {stream.destination!r}")
        if not stream.sources:
            raise ConfigError(source, f"{key}.sources", "at least one handset is needed")
        if not stream.texts:
            raise ConfigError(source, f"{key}.texts", "at least one text is needed")
        for pos, template in enumerate(stream.texts):
            try:
                sample = template.format(n=1, source="", destination="", time="")
            except (KeyError, IndexError, ValueError) as error:
                raise ConfigError(source, f"{key}.texts[{pos}]",
                                  f"bad template: {error!r}") from None
            if stream.encoding == "binary":
                try:
                    bytes.fromhex(sample)
                except ValueError:
                    raise ConfigError(source, f"{key}.texts[{pos}]",
                                      "binary texts must be hex") from None


def _check_patterns(source: str, key: str, patterns: tuple[str, ...]) -> None:
    for pos, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as error:
            raise ConfigError(source, f"{key}[{pos}]", f"bad regex: {error}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def with_overrides(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    http_port: int | None = None,
    data_dir: str | None = None,
) -> Config:
    """The config with command-line flags applied over it (--host and --port to the first
    of several listeners)."""
    server = config.server
    if server.listeners and (host is not None or port is not None):
        first = server.listeners[0]
        first = dataclasses.replace(first, host=first.host if host is None else host,
                                    port=first.port if port is None else port)
        server = dataclasses.replace(server, listeners=(first, *server.listeners[1:]))
    else:
        if host is not None:
            server = dataclasses.replace(server, host=host)
        if port is not None:
            server = dataclasses.replace(server, port=port)
    store = config.store if data_dir is None else dataclasses.replace(config.store,
                                                                       data_dir=data_dir)
    control = config.control
    if http_port is not None:
        control = dataclasses.replace(control, port=http_port)
    return dataclasses.replace(config, server=server, store=store, control=control)
