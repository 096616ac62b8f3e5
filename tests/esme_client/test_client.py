"""The client library against our real SMSC over 127.0.0.1."""

from __future__ import annotations

import ssl
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from esme_client import (
    BindError,
    ConnectError,
    ConnectionLost,
    EncodingError,
    SmppStatusError,
    connect,
)
from smsc.pdu import MessageState, Tag
from smsc.pdu.concat import Reassembler, SarInfo
from smsc.pdu.constants import CommandStatus, DataCoding, has_udhi
from smsc.pdu.text import decode_text
from smsc.pdu.tlv import decode_tlvs
from smsc.store import parse_message_id

S = CommandStatus
LONG_GSM = "The quick brown fox jumps over the lazy dog; {curly} and [square] ~ € signs. " * 5
LONG_UCS2 = "Привет, мир! Съешь же ещё этих мягких французских булок. 🙂 " * 4


def stored_text(smsc: Any, message_ids: tuple[str, ...], system_id: str = "smppclient1") -> str:
    """What the SMSC holds for these ids, reassembled from the parts as stored."""
    reassembler = Reassembler()
    whole = None
    data_coding = 0
    for message_id in message_ids:
        message = smsc.store.query(parse_message_id(message_id), system_id)
        assert message is not None, message_id
        fields = message.fields
        data_coding = fields.data_coding
        tlvs = decode_tlvs(fields.extra, 0, len(fields.extra), frozenset())
        sar = None
        if Tag.sar_msg_ref_num in tlvs:
            sar = SarInfo(tlvs[Tag.sar_msg_ref_num], tlvs[Tag.sar_total_segments],
                          tlvs[Tag.sar_segment_seqnum])
        whole = reassembler.add(originator=fields.source_addr, recipient=fields.destination_addr,
                                user_data=fields.payload, udhi=has_udhi(fields.esm_class),
                                sar=sar, now=0.0) or whole
    assert whole is not None and whole.parts == len(message_ids)
    return decode_text(whole.user_data, data_coding)


@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
async def test_binds_in_every_mode(smsc: Any, mode: str) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, mode=mode) as client:
            assert client.bound
            assert client.connection is not None
            assert client.connection.session.bind_type is not None
            assert client.connection.session.bind_type.value == mode
            await client.ping()
        assert not client.bound


@pytest.mark.parametrize(("system_id", "password", "mode", "status"), [
    ("smppclient1", "wrong", "transceiver", S.ESME_RINVPASWD),
    ("nobody", "password", "transceiver", S.ESME_RINVSYSID),
    ("other", "secret", "receiver", S.ESME_RBINDFAIL),
])
async def test_refused_bind_is_a_typed_error_with_its_status(
    smsc: Any, system_id: str, password: str, mode: str, status: int
) -> None:
    with trio.fail_after(10), pytest.raises(BindError) as caught:
        async with connect("127.0.0.1", smsc.smpp_port, system_id=system_id,
                           password=password, mode=mode):
            pass
    assert caught.value.status == status
    assert caught.value.status_name == status.name


async def test_connect_to_a_closed_port_is_a_connect_error() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with trio.fail_after(10), pytest.raises(ConnectError):
        async with connect("127.0.0.1", port):
            pass


@pytest.mark.parametrize(("text", "coding"), [
    ("Hello {world} €", DataCoding.SMSC_DEFAULT),
    ("Grüße aus Köln", DataCoding.SMSC_DEFAULT),
    ("Привет 🙂", DataCoding.UCS2),
])
async def test_automatic_encoding(smsc: Any, text: str, coding: int) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            result = await client.submit_text("4915100000002", text)
    assert result.data_coding == coding and result.parts == 1
    assert stored_text(smsc, result.message_ids) == text


async def test_text_that_does_not_fit_the_coding_is_refused_before_sending(smsc: Any) -> None:
    async with connect("127.0.0.1", smsc.smpp_port) as client:
        with pytest.raises(EncodingError):
            await client.submit_text("4915100000002", "Привет", encoding="gsm")


@pytest.mark.parametrize("scheme", ["udh8", "udh16", "sar", "payload"])
@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2], ids=["gsm", "ucs2"])
async def test_long_messages_arrive_whole(smsc: Any, scheme: str, text: str) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            result = await client.submit_text("4915100000002", text, scheme=scheme)
    assert result.parts == (1 if scheme == "payload" else len(result.message_ids))
    assert result.parts > 1 or scheme == "payload"
    assert stored_text(smsc, result.message_ids) == text


async def test_submit_multi(smsc: Any) -> None:
    destinations = ["4915100000002", "4915100000003", "4915100000004"]
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            result = await client.submit_multi(destinations, "to all of you")
    assert result.unsuccessful == ()
    message = smsc.store.query(parse_message_id(result.message_id), "smppclient1")
    assert message is not None


async def test_query_replace_and_cancel_a_scheduled_message(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            result = await client.submit_text(
                "4915100000002", "later", source_addr="4242",
                schedule_delivery_time="000001000000000R")
            query = await client.query(result.message_id, "4242")
            assert query.message_id == result.message_id
            assert query.state in (MessageState.ENROUTE, MessageState.SCHEDULED)
            await client.replace(result.message_id, "even later", source_addr="4242")
            assert stored_text(smsc, result.message_ids) == "even later"
            await client.cancel(result.message_id, source_addr="4242")
            assert (await client.query(result.message_id, "4242")).state == MessageState.DELETED
            with pytest.raises(SmppStatusError) as caught:
                await client.cancel(result.message_id, source_addr="4242")
            assert caught.value.status == S.ESME_RCANCELFAIL
            with pytest.raises(SmppStatusError) as caught:
                await client.query("zz-not-an-id", "4242")
            assert caught.value.status in (S.ESME_RINVMSGID, S.ESME_RQUERYFAIL)


async def test_receipts_are_correlated_with_the_submitted_ids(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, window=20) as client:
            results = [await client.submit_text(f"49151000000{n:02d}", f"code {n}",
                                                registered_delivery=1) for n in range(10)]
            for result in reversed(results):
                receipt = await client.wait_receipt(result.message_id, timeout=5)
                assert receipt.message_id == result.message_id
                assert receipt.state is MessageState.DELIVERED and receipt.delivered
                assert receipt.latency is not None and receipt.latency >= 0
            # a long message gets a receipt for each part
            long = await client.submit_text("4915100000002", LONG_GSM, registered_delivery=1)
            receipts = await client.wait_receipts(long, timeout=5)
            assert [r.message_id for r in receipts] == list(long.message_ids)


async def test_receipts_nobody_waits_for_come_through_deliveries(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            result = await client.submit_text("4915100000002", "hi", registered_delivery=1)
            delivery = await client.next_delivery()
            assert delivery.is_receipt and delivery.receipt is not None
            assert delivery.receipt.message_id == result.message_id


async def test_mobile_originated_messages_arrive_whole_through_the_iterator(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, mode="receiver") as client:
            await smsc.mobile.send_text("4915100000001", "4242", "STOP")
            await smsc.mobile.send_text("4915100000009", "4242", LONG_UCS2)
            seen = []
            async for delivery in client.deliveries():
                seen.append(delivery)
                if len(seen) == 2:
                    break
    assert [(d.source_addr, d.destination_addr, d.text, d.is_receipt) for d in seen] == [
        ("4915100000001", "4242", "STOP", False),
        ("4915100000009", "4242", LONG_UCS2, False),
    ]
    assert seen[1].parts > 1


async def test_enquire_link_keepalive(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, enquire_link_interval=0.02) as client:
            assert client.connection is not None
            for _ in range(3):
                await client.connection.wait_keepalive()
            assert client.connection.keepalives >= 3
            assert client.bound


async def test_reconnects_after_the_server_drops_the_connection(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, reconnect=True,
                           backoff_initial=0.01) as client:
            await client.submit_text("4915100000002", "before")
            for link in list(smsc.links):
                link.abort("dropped by the test")
            await client.wait_disconnected()
            await client.wait_connected()
            assert client.reconnects == 1 and client.bound
            result = await client.submit_text("4915100000002", "after")
            assert stored_text(smsc, result.message_ids) == "after"


async def test_without_reconnect_a_dropped_connection_fails_requests(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port) as client:
            for link in list(smsc.links):
                link.abort("dropped by the test")
            await client.wait_disconnected()
            with pytest.raises(ConnectionLost):
                await client.submit_text("4915100000002", "lost")
            with pytest.raises(ConnectionLost):
                await client.next_delivery()


async def test_the_window_bounds_requests_in_flight(smsc: Any) -> None:
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, window=4) as client:
            connection = client.connection
            assert connection is not None
            most = 0

            async def one(n: int) -> None:
                nonlocal most
                await client.submit_text(f"4915100000{n:03d}", "x")
                most = max(most, connection.session.outstanding)

            async with trio.open_nursery() as nursery:
                for n in range(40):
                    nursery.start_soon(one, n)
            assert 1 <= most <= 4


async def test_tls(make_config: Any, start_smsc: Any, tmp_path: Path) -> None:
    import dataclasses

    from ..certificates import server_certificate

    certificate = server_certificate(tmp_path)
    config = make_config()
    running = await start_smsc(dataclasses.replace(
        config, server=dataclasses.replace(config.server, tls=certificate.tls())))
    context = ssl.create_default_context()
    certificate.authority.configure_trust(context)
    with trio.fail_after(10):
        async with connect("127.0.0.1", running.tls_port, ssl_context=context) as client:
            result = await client.submit_text("4915100000002", "secret", registered_delivery=1)
            receipt = await client.wait_receipt(result.message_id, timeout=5)
    assert receipt.delivered
    running.shutdown.set()


async def test_one_request_object_can_be_sent_many_times_at_once(smsc: Any) -> None:
    from smsc.pdu import SubmitSm

    pdu = SubmitSm(destination_addr="4915100000002", short_message=b"again")
    with trio.fail_after(10):
        async with connect("127.0.0.1", smsc.smpp_port, window=5) as client:
            ids: list[str] = []

            async def one() -> None:
                ids.append(await client.submit(pdu))

            async with trio.open_nursery() as nursery:
                for _ in range(10):
                    nursery.start_soon(one)
    assert len(set(ids)) == 10 and pdu.sequence_number == 0


async def test_a_cancelled_block_still_unbinds(smsc: Any) -> None:
    with trio.fail_after(10):
        with trio.CancelScope() as scope:
            async with connect("127.0.0.1", smsc.smpp_port):
                [link] = list(smsc.links)
                scope.cancel()
                await trio.sleep_forever()
        await link.wait_closed()
    assert link.close_reason == "unbind received"


async def test_a_request_nobody_answers_times_out(nursery: trio.Nursery) -> None:
    """A peer that accepts the bind and then answers nothing."""
    from esme_client import ResponseTimeout
    from smsc.pdu import BindTransceiverResp, FrameBuffer, decode, encode

    async def silent_smsc(stream: trio.SocketStream) -> None:
        frames = FrameBuffer()
        while data := await stream.receive_some(65536):
            frames.feed(bytes(data))
            for frame in frames.pop_all():
                request = decode(frame)
                if request.command_id == 0x09:
                    await stream.send_all(encode(BindTransceiverResp(
                        sequence_number=request.sequence_number, system_id="silent")))

    listeners = await nursery.start(partial(trio.serve_tcp, silent_smsc, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(10):
        async with connect("127.0.0.1", port, response_timeout=0.2) as client:
            assert client.smsc_system_id == "silent"
            with pytest.raises(ResponseTimeout):
                await client.submit_text("4915100000002", "anyone?")
            assert client.connection is not None
            assert client.connection.session.window_free == client.config.window
    nursery.cancel_scope.cancel()


async def test_a_full_delivery_buffer_loses_nothing(smsc: Any) -> None:
    """Beyond the buffer deliver_sm is refused with ESME_RMSGQFUL and the SMSC sends it again."""
    with trio.fail_after(20):
        async with connect("127.0.0.1", smsc.smpp_port, mode="receiver",
                           delivery_buffer=1) as client:
            for text in ("one", "two", "three"):
                await smsc.mobile.send_text("4915100000001", "4242", text)
            texts = [(await client.next_delivery()).text for _ in range(3)]
    assert sorted(texts) == ["one", "three", "two"]  # type: ignore[type-var]
