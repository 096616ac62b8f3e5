"""A submit_multi's held first attempts: a scheduled one waits for its time, a store that
cannot write is answered after one try, a delayed answer still precedes every receipt.

A running SMSC and an ESME on real TCP on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from smsc.app import RunningSmsc
from smsc.config import FaultMixConfig
from smsc.delivery.committer import RETRY_FIRST
from smsc.pdu import DeliverSm, SmeDest, SubmitMulti
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.session import RequestReceived, ResponseReceived
from smsc.store import MessageQuery

from ..delivery.test_store_faults import smsc_on_faulty_sqlite
from ..esme import Esme
from ..store.test_write_faults import io_error

S = CommandStatus
SOURCE = "4915100000001"
KINDS = pytest.mark.parametrize("kind", ["memory", "sqlite"])


def multi(*destinations: str, **fields: Any) -> SubmitMulti:
    return SubmitMulti(source_addr=SOURCE, short_message=b"to all", registered_delivery=1,
                       dest_address=tuple(SmeDest(1, 1, d) for d in destinations), **fields)


@asynccontextmanager
async def over_tcp(running: RunningSmsc) -> AsyncIterator[Esme]:
    async with await trio.open_tcp_stream("127.0.0.1", running.smpp_port) as stream:
        esme = Esme(stream)
        assert (await esme.bind()).command_status == S.ESME_ROK
        yield esme


async def next_pdu(esme: Esme) -> RequestReceived | ResponseReceived:
    """The next request or response the ESME receives (other events skipped)."""
    while not isinstance(event := await esme.next_event(), RequestReceived | ResponseReceived):
        pass
    return event


def attempts(running: RunningSmsc) -> dict[str, tuple[MessageState, int]]:
    return {m.fields.destination_addr: (m.state, m.attempts)
            for m in running.store.find(MessageQuery(system_id="smppclient1"))}


@KINDS
async def test_a_scheduled_submit_multi_attempts_no_destination_before_its_time(
    make_config: Any, start_smsc: Any, kind: str
) -> None:
    config = make_config()
    running: RunningSmsc = await start_smsc(dataclasses.replace(
        config, store=dataclasses.replace(config.store, kind=kind)))
    assert running.clock is not None
    async with over_tcp(running) as esme:
        with trio.fail_after(10):
            resp = await esme.request(multi("4915100000002", "4915100000003",
                                            schedule_delivery_time="000000010000000R"))  # 1 h
            assert resp.command_status == S.ESME_ROK
            await running.clock.advance(3590)  # everything due before then has happened
            assert attempts(running) == {"4915100000002": (MessageState.ENROUTE, 0),
                                         "4915100000003": (MessageState.ENROUTE, 0)}
            await running.clock.advance(20)
            receipts = [await esme.next_request() for _ in range(2)]
        assert {r.receipted_message_id for r in receipts} == {resp.message_id}  # type: ignore[attr-defined]
        assert attempts(running) == {"4915100000002": (MessageState.DELIVERED, 1),
                                     "4915100000003": (MessageState.DELIVERED, 1)}


async def test_a_submit_multi_the_store_cannot_write_is_answered_after_one_try(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running, store, connection = await smsc_on_faulty_sqlite(make_config, start_smsc)
    async with over_tcp(running) as esme:
        connection.fail("INSERT INTO messages", io_error)
        started = trio.current_time()
        resp = await esme.request(multi(*(f"49151000001{n:02d}" for n in range(20))))
        assert resp.command_status == S.ESME_RSYSERR  # as a submit_sm the store failed
        assert trio.current_time() - started < RETRY_FIRST  # no back-off waited out
        assert running.committer.failed_batches == 1
        connection.clear()
        await running.committer.wait_idle()
        assert store.find(MessageQuery()) == []


async def test_a_slow_answer_still_precedes_every_receipt_of_the_submit_multi(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running: RunningSmsc = await start_smsc(make_config())
    assert running.simulation is not None
    async with over_tcp(running) as esme:
        await running.simulation.set_faults("default", FaultMixConfig(slow_response=1.0,
                                                                slow_response_delay=6.0))
        started = trio.current_time()
        for destinations in (("4915100000002",), ("4915100000003", "4915100000004")):
            sent = await esme.send(multi(*destinations))
            first = await next_pdu(esme)
            assert isinstance(first, ResponseReceived)  # not a receipt
            assert first.request == sent and first.message.command_status == S.ESME_ROK
            receipts = [await next_pdu(esme) for _ in destinations]
            assert all(isinstance(r, RequestReceived) and isinstance(r.message, DeliverSm)
                       for r in receipts)
            assert {r.message.receipted_message_id for r in receipts  # type: ignore[union-attr]
                    } == {first.message.message_id}  # type: ignore[attr-defined]
        assert round(trio.current_time() - started) == 12
