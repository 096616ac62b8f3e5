"""Logging: per-session context, human-readable or JSON lines, an optional PDU trace, redaction.

Every record logged while a connection's tasks run carries that session's peer address,
system_id and bind mode: the listener sets `current_link` (a context variable, which trio
copies into each task a connection starts), and `SessionContext` reads it when the record is
made. Code that logs about a link from another task passes `extra={"link": link}`.

Passwords never reach a log. Message texts (short_message, message_payload) are shown only when
`logging.log_texts` is on; otherwise a trace shows their length and the hex has them masked.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from smsc.capture.formats import (
    SECRET_FIELDS,
    TEXT_FIELDS,
    TEXT_TLVS,
    PduSplitter,
    masked_octets,
)
from smsc.capture.tap import Tap
from smsc.config import LoggingConfig
from smsc.pdu import DecodeError, Pdu, decode
from smsc.pdu.constants import Tag
from smsc.session import SmppSession

current_link: contextvars.ContextVar[Any] = contextvars.ContextVar("smsc_link", default=None)
"""The Link whose task is running (set by the listener for each connection)."""

HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s%(session)s %(message)s"
trace_log = logging.getLogger("smsc.pdu")


class SessionContext(logging.Filter):
    """Adds `peer`, `system_id`, `bind_mode` (or None) and `session` (a short human tag)."""

    def filter(self, record: logging.LogRecord) -> bool:
        link = record.__dict__.get("link") or current_link.get()
        peer = system_id = bind_mode = None
        if link is not None:
            peer = link.peer
            session = link.session
            system_id = session.system_id or None
            bind_mode = session.bind_type.value if session.bind_type is not None else None
        record.peer = peer
        record.system_id = system_id
        record.bind_mode = bind_mode
        parts = [p for p in (peer, system_id, bind_mode) if p]
        record.session = f" [{' '.join(parts)}]" if parts else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, session fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("peer", "system_id", "bind_mode"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        for key in ("pdu", "hex", "direction"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(config: LoggingConfig, stream: TextIO | None = None) -> logging.Handler:
    """Install one handler on the root logger as `config` says; returns it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(SessionContext())
    handler.setFormatter(JsonFormatter() if config.json else logging.Formatter(HUMAN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(config.level.upper())
    trace_log.setLevel(logging.DEBUG if config.pdu_trace else logging.WARNING)
    return handler


# -- PDU trace ----------------------------------------------------------------------------


def describe(pdu: Pdu, *, texts: bool) -> str:
    """`submit_sm seq=3 status=0 destination_addr='49…' short_message=<5 octets> ...`"""
    parts = [f"{pdu.command_id.name} seq={pdu.sequence_number} status={pdu.command_status}"]
    for spec in dataclasses.fields(pdu):
        if spec.name in ("sequence_number", "command_status", "tlvs"):
            continue
        value = getattr(pdu, spec.name)
        if spec.name in SECRET_FIELDS:
            value = "***" if value else ""
        elif spec.name in TEXT_FIELDS and not texts:
            parts.append(f"{spec.name}=<{len(value)} octets>")
            continue
        parts.append(f"{spec.name}={value!r}")
    for tag, value in pdu.tlvs.items():
        name = Tag(tag).name if tag in Tag._value2member_map_ else f"0x{tag:04X}"
        if tag in TEXT_TLVS and not texts:
            parts.append(f"{name}=<{len(value)} octets>")
        else:
            parts.append(f"{name}={value!r}")
    return " ".join(parts)


class _SessionView:
    """What `SessionContext` reads of a link, for the records a session's trace makes from
    whichever task reads or writes its octets (the committer's, the dispatcher's)."""

    __slots__ = ("peer", "session")

    def __init__(self, peer: str, session: SmppSession) -> None:
        self.peer = peer
        self.session = session


def pdu_tracer(config: LoggingConfig) -> Callable[[str, str], Tap] | None:
    """The trace's tap maker for `config` (None when pdu_trace is off, so sessions are built
    untapped and the hot path pays nothing).

    Each PDU a session reads or writes is logged at DEBUG on `smsc.pdu` as decoded fields and
    as hex (masked as `redacted`), naming the session's peer and system_id whichever task
    handled it."""
    if not config.pdu_trace:
        return None
    texts = config.log_texts

    def tap_for(peer: str, local: str) -> Tap:
        splitters = {"in": PduSplitter(), "out": PduSplitter()}
        view: _SessionView | None = None

        def trace(session: SmppSession, direction: str, data: bytes) -> None:
            nonlocal view
            pdus = splitters[direction].feed(data)
            if not trace_log.isEnabledFor(logging.DEBUG):
                return
            if view is None:
                view = _SessionView(peer, session)
            for octets in pdus:
                trace_pdu(direction, octets, texts=texts, link=view)

        return trace

    return tap_for


def trace_pdu(direction: str, octets: bytes, *, texts: bool, link: object = None) -> None:
    """Log one PDU of the trace (see `pdu_tracer`)."""
    try:
        pdu = decode(octets)
    except DecodeError as error:
        text = f"(not decodable: {error})"
        masked = octets[:16].hex()
    else:
        text = describe(pdu, texts=texts)
        masked = masked_octets(octets, texts=texts).hex()
    trace_log.debug("%s %s hex=%s", direction, text, masked,
                    extra={"pdu": text, "hex": masked, "direction": direction, "link": link})
