"""Simulated cell broadcast (SMPP 5.0 broadcast_sm): which network serves each area, how much
of it takes a broadcast, and where a broadcast stands at a given time.

Networks name the areas they serve (`NetworkConfig.broadcast_areas`) and the share of an
area's cells that take each broadcast (`broadcast_success`). An area is named by a format-0
broadcast_area_identifier; an unknown name is refused with ESME_RINVBCASTALIAS_NAME and an area
given as an ellipsoid arc or polygon with ESME_RINVBCASTAREAFMT (no simulated network maps
coordinates), each in broadcast_sm_resp as a failed area (REFERENCE-5.0.md §5.2).

A broadcast's state is a function of the time (V5 4.7.15, REFERENCE-5.0.md §5.2): SCHEDULED
before its start, ENROUTE while it repeats, EXPIRED once its repetitions (broadcast_rep_num
frequency intervals; an immediate broadcast, priority_flag 1, at once) or its validity period
are over, DELETED once cancelled, UNDELIVERABLE
when no area took it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from smsc.config import NetworkConfig
from smsc.pdu.broadcast import AREA_NAME
from smsc.pdu.constants import CommandStatus, MessageState

S = CommandStatus
IMMEDIATE = 1
"""priority_flag 1 on a broadcast: immediate broadcast, once (broadcast_rep_num ignored)."""


@dataclass(frozen=True, slots=True)
class AreaOutcome:
    """What became of one requested area: its network and success, or the status refusing it."""

    area: bytes
    network: str | None
    success: int
    """broadcast_area_success: percentage of the area's cells that took the broadcast."""
    status: int
    """ESME_ROK, or why the area was refused."""


class BroadcastAreas:
    """The broadcast areas of the configured networks."""

    def __init__(self, networks: Sequence[NetworkConfig]) -> None:
        self._served: dict[bytes, tuple[str, int]] = {}
        for network in networks:
            success = round(100 * network.broadcast_success)
            for name in network.broadcast_areas:  # the first network naming an area serves it
                self._served.setdefault(bytes((AREA_NAME,)) + name.encode("latin-1"),
                                        (network.name, success))

    @property
    def names(self) -> list[str]:
        return [area[1:].decode("latin-1") for area in self._served]

    def outcome(self, area: bytes) -> AreaOutcome:
        if area[0] != AREA_NAME:
            return AreaOutcome(area, None, 0, S.ESME_RINVBCASTAREAFMT)
        served = self._served.get(area)
        if served is None:
            return AreaOutcome(area, None, 0, S.ESME_RINVBCASTALIAS_NAME)
        return AreaOutcome(area, served[0], served[1], S.ESME_ROK)


@dataclass(frozen=True, slots=True)
class BroadcastSchedule:
    """When a broadcast starts and stops: `end` None repeats until cancelled."""

    start: datetime
    end: datetime | None

    @classmethod
    def of(cls, *, start: datetime, validity_end: datetime | None, rep_num: int,
           interval: float, priority_flag: int) -> BroadcastSchedule:
        """The schedule of a broadcast starting at `start` (REFERENCE-5.0.md §5.2)."""
        if priority_flag == IMMEDIATE:
            repetitions: datetime | None = start
        elif rep_num:  # (what V5 derives a missing validity period from)
            repetitions = start + timedelta(seconds=rep_num * interval)
        else:
            repetitions = None  # until cancelled, or until the validity period ends
        if validity_end is not None and (repetitions is None or validity_end < repetitions):
            return cls(start, validity_end)
        return cls(start, repetitions)


def broadcast_state(schedule: BroadcastSchedule, now: datetime, *,
                    cancelled_at: datetime | None, any_area: bool) -> tuple[MessageState,
                                                                          datetime | None]:
    """The message_state of a broadcast at `now`, and its broadcast_end_time once over."""
    if not any_area:
        return MessageState.UNDELIVERABLE, schedule.start
    if cancelled_at is not None and (schedule.end is None or cancelled_at < schedule.end):
        return MessageState.DELETED, cancelled_at
    if now < schedule.start:
        return MessageState.SCHEDULED, None
    if schedule.end is None or now < schedule.end:
        return MessageState.ENROUTE, None
    return MessageState.EXPIRED, schedule.end
