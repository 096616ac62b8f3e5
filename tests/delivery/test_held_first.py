"""DeliveryScheduler.accept_held: which first destinations of a submit_multi are held (stored
claimed, attempted by `start_held`) and which are stored due like any other, for the
delivery loop. Real store, committer and simulation; the loop run or not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import trio

from smsc.clock import Clock
from smsc.config import NetworkConfig, SimulationConfig
from smsc.delivery.committer import Committer, StorePlacement
from smsc.delivery.scheduler import DeliveryScheduler
from smsc.pdu.constants import MessageState
from smsc.simulation.fate import Simulation
from smsc.store import AcceptRefused, MemoryStore, NewMessage


def scheduler(max_in_flight: int = 10) -> DeliveryScheduler:
    clock = Clock()
    committer = Committer(MemoryStore(), clock=clock, placement=StorePlacement.LOOP)
    simulation = Simulation(networks=(NetworkConfig(),), handsets=(),
                            settings=SimulationConfig())
    return DeliveryScheduler(committer=committer, simulation=simulation, clock=clock,
                             started=clock.simulated(), max_in_flight=max_in_flight)


def new(number: str, **fields: Any) -> NewMessage:
    return NewMessage(system_id="acme", destination_addr=number, source_addr="12345",
                      payload=b"hi", network="default", **fields)


async def stored(scheduler: DeliveryScheduler, message: NewMessage) -> tuple[bool, int]:
    """accept_held's answer and the id stored."""
    ids: list[int | AcceptRefused | None] = []
    held = scheduler.accept_held(message, ids.append)
    await scheduler.committer.wait_idle()
    (message_id,) = ids
    assert isinstance(message_id, int)
    return held, message_id


async def test_before_the_loop_runs_nothing_is_held() -> None:
    held_by = scheduler()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(held_by.committer.run)
            held, message_id = await stored(held_by, new("4915100000002"))
            assert held is False  # stored due: the loop attempts it once it runs
            await nursery.start(held_by.run)
            while (message := held_by.store.query(message_id, "acme")
                   ) is not None and message.state is MessageState.ENROUTE:
                await held_by.committer.wait_committed()  # (checked, then waited: atomic)
            assert message is not None and message.state is MessageState.DELIVERED
            assert message.attempts == 1
            nursery.cancel_scope.cancel()


async def test_scheduled_or_slotless_first_destinations_are_stored_due() -> None:
    for held_by, message, expect_held in (
        (scheduler(), new("4915100000002"), True),
        (scheduler(max_in_flight=0), new("4915100000002"), False),
        (scheduler(), new("4915100000003", schedule_at=Clock().wall() + timedelta(hours=1)),
         False),
    ):
        async with trio.open_nursery() as nursery:
            await nursery.start(held_by.committer.run)
            await nursery.start(held_by.run)
            held, message_id = await stored(held_by, message)
            assert held is expect_held
            # held: claimed, waiting for start_held; due: waiting for the delivery loop
            assert (held_by.store.next_due_at() is None) is held
            assert held_by.store.query(message_id, "acme").attempts == 0  # type: ignore[union-attr]
            nursery.cancel_scope.cancel()
