"""aiosmpplib (an asyncio client, run in its own thread) against a live SMSC on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest
import trio
from aiosmpplib import (
    ESME,
    AbstractHook,
    BindMode,
    DeliverSm,
    PhoneNumber,
    SubmitSm,
    SubmitSmResp,
)
from aiosmpplib.broker import SimpleBroker

TIMEOUT = 10


class Collect(AbstractHook):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if smpp_message is not None:
            await self.queue.put(smpp_message)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        await self.queue.put(error)


async def submit_and_wait_for_receipt(port: int, text: str) -> tuple[str, dict[str, Any]]:
    hook = Collect()
    broker = SimpleBroker()
    esme = ESME("127.0.0.1", port, "smppclient1", "password", hook=hook, broker=broker,
                log_level=logging.WARNING)
    task = asyncio.create_task(esme.start())
    await broker.enqueue(SubmitSm(short_message=text, source=PhoneNumber("100"),
                                  destination=PhoneNumber("4915100000002"), log_id="one"))
    message_id = ""
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await hook.queue.get()
                if isinstance(message, Exception):
                    raise message
                if isinstance(message, SubmitSmResp):
                    message_id = message.message_id
                elif isinstance(message, DeliverSm) and message.is_receipt():
                    return message_id, message.parse_receipt()
    finally:
        await esme.stop()
        await asyncio.wait_for(task, TIMEOUT)


# aiosmpplib 0.7 drops its StreamWriter without closing it when it stops; that leak is the
# library's, not ours, so only the unraisable-exception warning it causes is ignored here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_aiosmpplib_submit_and_receipt(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config())
    message_id, receipt = await trio.to_thread.run_sync(
        lambda: asyncio.run(submit_and_wait_for_receipt(running.smpp_port, "Grüße €"))
    )
    gc.collect()  # let the library's leaked transport be reported here, where it is expected
    assert message_id
    assert receipt["id"] == message_id
    assert receipt["stat"] == "DELIVRD"
    running.shutdown.set()


async def transmit_then_receive(port: int) -> tuple[str, dict[str, Any]]:
    """A transmitter submits and stops; a receiver bound afterwards gets the receipt."""
    sender_hook, receiver_hook = Collect(), Collect()
    broker = SimpleBroker()
    sender = ESME("127.0.0.1", port, "smppclient1", "password", hook=sender_hook,
                  broker=broker, bind_mode=BindMode.TRANSMITTER, log_level=logging.WARNING)
    task = asyncio.create_task(sender.start())
    await broker.enqueue(SubmitSm(short_message="to a receiver", source=PhoneNumber("100"),
                                  destination=PhoneNumber("4915100000003"), log_id="two"))
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await sender_hook.queue.get()
                if isinstance(message, Exception):
                    raise message
                if isinstance(message, SubmitSmResp):
                    message_id = message.message_id
                    break
    finally:
        await sender.stop()
        await asyncio.wait_for(task, TIMEOUT)
    receiver = ESME("127.0.0.1", port, "smppclient1", "password", hook=receiver_hook,
                    broker=SimpleBroker(), bind_mode=BindMode.RECEIVER, log_level=logging.WARNING)
    task = asyncio.create_task(receiver.start())
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                message = await receiver_hook.queue.get()
                if isinstance(message, DeliverSm) and message.is_receipt():
                    return message_id, message.parse_receipt()
    finally:
        await receiver.stop()
        await asyncio.wait_for(task, TIMEOUT)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_aiosmpplib_transmitter_then_receiver(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config())
    message_id, receipt = await trio.to_thread.run_sync(
        lambda: asyncio.run(transmit_then_receive(running.smpp_port))
    )
    gc.collect()
    assert message_id and receipt["id"] == message_id
    running.shutdown.set()
