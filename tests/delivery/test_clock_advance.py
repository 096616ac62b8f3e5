"""Advancing the simulated clock in process (`open_smsc`, an esme_client ESME on a real
socket): handset schedules, outages, latencies and scheduled MO traffic follow it, and what
is due happens before `advance` returns, in order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import trio

import esme_client
from smsc.config import (
    HandsetConfig,
    MoTrafficConfig,
    NetworkConfig,
    OutageConfig,
)
from smsc.embed import EmbeddedSmsc, open_smsc
from smsc.pdu.constants import MessageState
from smsc.pdu.smpp_time import parse_smpp_time

SCHEDULED = "4915199000001"
SLOW = "4915188000001"


def at(message: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(message[key])


async def only(smsc: EmbeddedSmsc, number: str) -> dict[str, Any]:
    [message] = await smsc.messages(number=number)
    return message


async def test_a_handset_schedule_follows_the_advanced_clock() -> None:
    handsets = (HandsetConfig(name="shift", prefix="4915199", online_for=3600,
                              offline_for=3600),)
    async with open_smsc(handsets=handsets) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port) as client:
        assert smsc.simulation.handset(SCHEDULED).state == "online"
        await smsc.advance(3600 + 60)
        view = smsc.simulation.handset(SCHEDULED)
        assert view.state == "offline" and view.online_at == pytest.approx(7200)

        sent = await client.submit_text(SCHEDULED, "after hours", registered_delivery=1)
        await smsc.advance(7200 - 60 - smsc.simulation.now())  # a minute before it is on
        waiting = await only(smsc, SCHEDULED)
        assert waiting["state"] is MessageState.ENROUTE and waiting["attempts"] >= 2
        assert smsc.simulation.handset(SCHEDULED).waiting == 1

        await smsc.advance(120)
        delivered = await only(smsc, SCHEDULED)
        assert delivered["state"] is MessageState.DELIVERED
        switched_on = smsc.clock.clock.wall_of(smsc.simulation.started + 7200)
        assert switched_on <= at(delivered, "final_at") < switched_on + timedelta(seconds=1)
        receipt = await client.wait_receipt(sent.message_id, timeout=5)
        assert receipt.state is MessageState.DELIVERED
        # query_sm's final_date is the simulated time of delivery (an absolute SMPP time)
        queried = await client.query(sent.message_id)
        assert queried.state is MessageState.DELIVERED
        final_date = parse_smpp_time(queried.final_date, smsc.now())
        assert final_date is not None
        assert switched_on - timedelta(seconds=1) <= final_date <= at(delivered, "final_at")


async def test_outages_follow_the_advanced_clock() -> None:
    networks = (NetworkConfig(outages=(OutageConfig(start=3600, duration=600),)),)
    async with open_smsc(networks=networks) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port) as client:
        await smsc.advance(3600 + 1)
        assert smsc.simulation.network("default").out  # the scheduled one
        await client.submit_text("4915100000301", "in the outage", registered_delivery=1)
        await smsc.advance(600)
        assert not smsc.simulation.network("default").out
        first = await only(smsc, "4915100000301")
        assert first["state"] is MessageState.DELIVERED

        await smsc.start_outage("default", duration=1800)  # one started at runtime
        sent = await client.submit_text("4915100000302", "in another", registered_delivery=1)
        # margins of minutes: at scale 1 the real seconds a loaded machine takes count too
        await smsc.advance(1800 - 300)
        assert (await only(smsc, "4915100000302"))["state"] is MessageState.ENROUTE
        await smsc.advance(600)
        second = await only(smsc, "4915100000302")
        assert second["state"] is MessageState.DELIVERED
        assert at(second, "final_at") - at(second, "submitted_at") >= timedelta(seconds=1800)
        assert (await client.wait_receipt(sent.message_id, timeout=5)).state is (
            MessageState.DELIVERED)


async def test_a_handset_latency_is_simulated_time() -> None:
    handsets = (HandsetConfig(name="slow", prefix="4915188", latency=600),)
    async with open_smsc(handsets=handsets) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port) as client:
        await client.submit_text(SLOW, "slowly", registered_delivery=1)
        await smsc.advance(300)  # (a margin for the real seconds that pass meanwhile)
        assert (await only(smsc, SLOW))["state"] is MessageState.ENROUTE
        await smsc.advance(600)
        delivered = await only(smsc, SLOW)
        assert delivered["state"] is MessageState.DELIVERED
        assert at(delivered, "final_at") - at(delivered, "submitted_at") == pytest.approx(
            timedelta(seconds=600), abs=timedelta(seconds=1))


async def test_scheduled_mo_traffic_plays_in_order_as_the_clock_advances() -> None:
    stream = MoTrafficConfig(destination="4242", sources=("4915100000401",), rate=0.001,
                             count=3, start_after=500, texts=("MO {n}",))
    async with open_smsc(mo_traffic=(stream,)) as smsc:
        started = smsc.now()
        await smsc.advance(2000)
        assert len(await smsc.messages(number="4915100000401")) == 2
        await smsc.advance(1000)  # (not much more: retention purges after an hour)
        sent = sorted(await smsc.messages(number="4915100000401"),
                      key=lambda m: at(m, "submitted_at"))
        assert [m["text"] for m in sent] == ["MO 1", "MO 2", "MO 3"]
        offsets = [(at(m, "submitted_at") - started).total_seconds() for m in sent]
        assert offsets == pytest.approx([500, 1500, 2500], abs=1)


async def test_advance_under_an_autojump_mock_clock(autojump_clock: Any) -> None:
    async with open_smsc() as smsc:
        before = smsc.now()
        await trio.sleep(30)  # the mock clock jumps; simulated time follows it
        assert smsc.now() - before == timedelta(seconds=30)
        assert await smsc.advance(3600) - before == timedelta(seconds=3630)
        with pytest.raises(ValueError, match="backwards"):
            await smsc.advance(-1)
        with pytest.raises(ValueError, match="past"):
            await smsc.advance_to(before)


async def test_retention_purges_once_the_clock_passes_it() -> None:
    async with open_smsc() as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port) as client:
        await client.submit_text("4915100000501", "kept an hour")
        await smsc.wait_for_message(number="4915100000501")
        await smsc.advance(3000)
        assert len(await smsc.messages(number="4915100000501")) == 1
        await smsc.advance(700)  # past the hour of store.retention (and its next round)
        assert await smsc.messages(number="4915100000501") == []


async def test_a_handset_reply_delay_is_simulated_time() -> None:
    handsets = (HandsetConfig(name="echo", prefix="4915177", reply="echo", reply_delay=900),)
    async with open_smsc(handsets=handsets) as smsc, \
            esme_client.connect("127.0.0.1", smsc.smpp_port) as client:
        await client.submit_text("4915177000001", "ping", source_addr="4242")
        await smsc.wait_for_message(number="4915177000001")
        await smsc.advance(600)  # (a margin for the real seconds that pass meanwhile)
        assert [m["direction"] for m in await smsc.messages(number="4915177000001")] == ["mt"]
        await smsc.advance(600)
        reply = next(m for m in await smsc.messages(number="4915177000001")
                     if m["direction"] == "mo")
        assert reply["text"] == "ping"
        async for delivery in client.deliveries():
            assert (delivery.source_addr, delivery.text) == ("4915177000001", "ping")
            break
