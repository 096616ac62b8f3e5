"""Simulated outcomes seen by smpplib over a real socket on 127.0.0.1: magic numbers, a
submit-time fault, and a handset switched off and on through the runtime API."""

from __future__ import annotations

from typing import Any

import smpplib.client
import smpplib.exceptions
import trio

from smsc.pdu.constants import CommandStatus, MessageState

from ..waiting import until

TIMEOUT = 5


def submit_and_read(port: int, destination: str) -> Any:
    """The receipt of one submit, or the error status of its submit_sm_resp."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=TIMEOUT,
                                   allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id="smppclient1", password="password")
        seen: list[Any] = []
        client.set_message_received_handler(lambda pdu: seen.append(pdu))
        client.send_message(source_addr_ton=1, source_addr="4915100000001", dest_addr_ton=1,
                            destination_addr=destination, short_message=b"hi",
                            registered_delivery=1)
        for _ in range(10):
            try:
                client.read_once()
            except smpplib.exceptions.PDUError as error:
                return int(error.args[1])
            if seen:
                return seen[0]
        raise AssertionError("no receipt")
    finally:
        client.disconnect()


async def test_magic_numbers_with_smpplib(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config())
    port = running.smpp_port
    expected = {"447700900001": MessageState.DELIVERED, "447700900101": MessageState.UNDELIVERABLE,
                "447700900301": MessageState.REJECTED}
    for destination, state in expected.items():
        receipt = await trio.to_thread.run_sync(submit_and_read, port, destination)
        assert receipt.message_state == state, destination
    status = await trio.to_thread.run_sync(submit_and_read, port, "447700900501")
    assert status == CommandStatus.ESME_RTHROTTLED
    running.shutdown.set()


async def test_handset_switched_on_at_runtime_with_smpplib(make_config: Any,
                                                           start_smsc: Any) -> None:
    running = await start_smsc(make_config())
    await running.simulation.set_handset("4915100000077", state="offline")

    async def switch_on_when_waiting() -> None:
        await until(lambda: running.simulation.handset("4915100000077").waiting > 0,
                    running.committer.wait_committed)
        await running.simulation.set_handset("4915100000077", state="online")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(switch_on_when_waiting)
        receipt = await trio.to_thread.run_sync(submit_and_read, running.smpp_port,
                                                "4915100000077")
    assert receipt.message_state == MessageState.DELIVERED
    running.shutdown.set()
