"""The simulated cell broadcast's areas and states (smsc.simulation.broadcasts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smsc.config import NetworkConfig
from smsc.pdu.broadcast import name_area
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.simulation.broadcasts import BroadcastAreas, BroadcastSchedule, broadcast_state

START = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_areas_are_served_by_the_first_network_naming_them() -> None:
    areas = BroadcastAreas((NetworkConfig(name="a", broadcast_areas=("X",), broadcast_success=0.5),
                            NetworkConfig(name="b", broadcast_areas=("X", "Y"))))
    x, y = areas.outcome(name_area("X")), areas.outcome(name_area("Y"))
    assert (x.network, x.success, x.status) == ("a", 50, CommandStatus.ESME_ROK)
    assert (y.network, y.success) == ("b", 100)
    assert areas.outcome(name_area("Z")).status == CommandStatus.ESME_RINVBCASTALIAS_NAME
    assert areas.outcome(b"\x01\x00\x00").status == CommandStatus.ESME_RINVBCASTAREAFMT
    assert areas.names == ["X", "Y"]


def state(schedule: BroadcastSchedule, now: datetime, cancelled: datetime | None = None
          ) -> tuple[MessageState, datetime | None]:
    return broadcast_state(schedule, now, cancelled_at=cancelled, any_area=True)


def test_a_broadcast_repeats_rep_num_intervals_then_expires() -> None:
    schedule = BroadcastSchedule.of(start=START, validity_end=None, rep_num=2,
                                    interval=3600.0, priority_flag=0)
    assert state(schedule, START - HOUR) == (MessageState.SCHEDULED, None)
    assert state(schedule, START + HOUR) == (MessageState.ENROUTE, None)
    assert state(schedule, START + 2 * HOUR) == (MessageState.EXPIRED, START + 2 * HOUR)


def test_the_validity_period_ends_it_sooner_and_rep_num_0_repeats_until_then() -> None:
    sooner = BroadcastSchedule.of(start=START, validity_end=START + HOUR, rep_num=5,
                                  interval=3600.0, priority_flag=0)
    assert sooner.end == START + HOUR
    endless = BroadcastSchedule.of(start=START, validity_end=None, rep_num=0,
                                   interval=60.0, priority_flag=0)
    assert state(endless, START + 1000 * HOUR) == (MessageState.ENROUTE, None)
    assert state(endless, START + 1001 * HOUR, START + 1000 * HOUR) == (
        MessageState.DELETED, START + 1000 * HOUR)


def test_an_immediate_broadcast_goes_once_and_no_area_means_undeliverable() -> None:
    immediate = BroadcastSchedule.of(start=START, validity_end=None, rep_num=9,
                                     interval=3600.0, priority_flag=1)
    assert state(immediate, START) == (MessageState.EXPIRED, START)
    assert broadcast_state(immediate, START, cancelled_at=None, any_area=False)[0] is (
        MessageState.UNDELIVERABLE)
