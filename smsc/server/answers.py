"""AcceptedAnswers: the usual answers to stored submits, sent together after each commit.

A commit's callbacks queue the submit_sm_resp / data_sm_resp of the messages it stored; once
they have all run, the committer calls `send`, which writes each link's answers as runs of
octets (one count and one writer wakeup per run) and records their latency from one clock
reading. On an SMPP 5.0 session each answer carries congestion_state (`CongestionGauge`),
worked out once for each run.
"""

from __future__ import annotations

from collections.abc import Callable

from smsc.clock import Clock
from smsc.metrics import SmscMetrics
from smsc.pdu import DataSm, Pdu, Prebuilt, PrebuiltDataSmResp, PrebuiltSubmitSmResp, SubmitSm
from smsc.pdu.constants import CommandStatus
from smsc.server.congestion import CongestionGauge
from smsc.server.link import Link

ACCEPTED: dict[int, type[Prebuilt]] = {SubmitSm.command_id: PrebuiltSubmitSmResp,
                                       DataSm.command_id: PrebuiltDataSmResp}
"""The response that acknowledges a stored submit_sm or data_sm."""
_ROK = CommandStatus.ESME_ROK
"""Enum members as module constants (docs/architecture.md, "Hot-path idioms")."""


def accepted_body(id_format: str) -> Callable[[int], bytes]:
    """A message id → the usual submit_sm_resp body (`format_message_id`'s text and its NUL),
    in one C call."""
    return (b"%x\x00" if id_format == "hex" else b"%d\x00").__mod__


class AcceptedAnswers:
    """The answers a commit's callbacks queued, until the committer says they have all run."""

    def __init__(self, *, clock: Clock, metrics: SmscMetrics, id_format: str,
                 congestion: CongestionGauge) -> None:
        self.clock = clock
        self.congestion = congestion
        self.metrics = metrics
        self.body_of = accepted_body(id_format)
        self._queued: list[tuple[Link, str, Pdu, float, int]] = []
        """(link, system_id, request, when it was received, message id) each."""

    def queue(self, link: Link, system_id: str, request: Pdu, received: float,
              message_id: int) -> None:
        self._queued.append((link, system_id, request, received, message_id))

    def send(self) -> None:
        """Send what is queued: each link's as runs of octets, one count and one wakeup for
        each run; their submit_sm_resp latency from one clock reading, recorded once for each
        account and read chunk (whose submits share their received time)."""
        queued = self._queued
        if not queued:
            return
        self._queued = []
        now = self.clock.monotonic()
        record = self.metrics.record_submits
        body_of = self.body_of
        run: list[tuple[int, bytes]] = []
        run_link: Link | None = None
        run_kind: type[Prebuilt] | None = None
        run_id = ""
        counted_id = ""
        counted_at = 0.0
        counted = 0
        for link, system_id, request, received, message_id in queued:
            kind = ACCEPTED[request.command_id]
            if link is not run_link or kind is not run_kind:
                if run:
                    self._send_run(run_link, run_kind, run, run_id)  # type: ignore[arg-type]
                    run = []
                run_link, run_kind, run_id = link, kind, system_id
            run.append((request.sequence_number, body_of(message_id)))
            if received is not counted_at or system_id != counted_id:
                if counted:
                    record(counted_id, _ROK, now - counted_at, counted)
                counted_id, counted_at, counted = system_id, received, 0
            counted += 1
        self._send_run(run_link, run_kind, run, run_id)  # type: ignore[arg-type]
        record(counted_id, _ROK, now - counted_at, counted)

    def _send_run(self, link: Link, kind: type[Prebuilt], answers: list[tuple[int, bytes]],
                  system_id: str) -> None:
        """A link's usual answers of one kind, (sequence, body) each, unless it closed
        meanwhile (the messages are stored all the same: they will be delivered, their
        receipts wait)."""
        if link.is_open and not link.session.closed:
            tail = self.congestion.tail(link, system_id)
            if tail:  # (an SMPP 5.0 session)
                answers = [(sequence, body + tail) for sequence, body in answers]
            link.send_prebuilt_answers(kind, answers)
            link.flush()  # the peer's window waits for these, not for this round's receipts
