"""SMPP 5.0 beside 3.3 and 3.4 on the whole SMSC (REFERENCE-5.0.md): the bind decides the
version, and a 3.x session never sees what 5.0 added."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.config import AccountConfig, NetworkConfig
from smsc.pdu import (
    BroadcastSm,
    BroadcastSmResp,
    CancelBroadcastSm,
    CancelBroadcastSmResp,
    DataSm,
    DeliverSm,
    FrameBuffer,
    GenericNack,
    Pdu,
    QueryBroadcastSm,
    QueryBroadcastSmResp,
    SubmitSm,
    decode,
    encode,
)
from smsc.pdu.broadcast import name_area
from smsc.pdu.constants import CommandStatus, MessageState, Tag
from smsc.server.broadcasts import MAX_BROADCASTS

from ..esme import Esme, connect

S = CommandStatus


@pytest.mark.parametrize(("interface_version", "answered"),
                         [(0x50, 0x50), (0x60, 0x50), (0x34, 0x34), (0x40, 0x34), (0x33, None)])
async def test_the_bind_response_names_the_version_the_session_speaks(
    make_config: Any, start_smsc: Any, autojump_clock: Any, interface_version: int,
    answered: int | None
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    resp = await esme.bind(interface_version=interface_version)
    assert resp.command_status == S.ESME_ROK
    assert resp.sc_interface_version == answered  # type: ignore[attr-defined]


async def test_data_sm_from_a_3_3_bind_is_an_unknown_command(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind(interface_version=0x33)
    resp = await esme.request(DataSm(source_addr="4915100000001",
                                     destination_addr="4915100000002"))
    assert isinstance(resp, GenericNack)
    assert resp.command_status == S.ESME_RINVCMDID


VECTORS = {v["name"]: bytes.fromhex(v["hex"]) for v in json.loads(
    (Path(__file__).parent.parent / "data" / "vectors-5.0.json").read_text())["vectors"]}
LONDON, ATLANTIS, PARIS = name_area("London"), name_area("Atlantis"), name_area("Paris")
NETWORKS = (NetworkConfig(name="uk", broadcast_areas=("London",), broadcast_success=0.9),
            NetworkConfig(name="fr", broadcast_areas=("Paris",), broadcast_success=1.0))


def broadcast(*areas: bytes, **fields: Any) -> BroadcastSm:
    tlvs: dict[int, Any] = {Tag.broadcast_area_identifier: areas,
            Tag.broadcast_content_type: bytes.fromhex("000033"),
            Tag.broadcast_rep_num: 3,
            Tag.broadcast_frequency_interval: bytes.fromhex("09001f"),  # every 31 minutes
            Tag.message_payload: b"Storm warning"}
    tlvs.update(fields.pop("tlvs", {}))
    return BroadcastSm(**{"source_addr": "447700900123", "tlvs": tlvs, **fields})


async def exchange_raw(esme: Esme, data: bytes) -> list[Pdu]:
    """Send octets past the ESME's session (a vector as it is) and read what comes back."""
    frames = FrameBuffer(max_command_length=1 << 16)
    await esme.stream.send_all(data)
    while not (pdus := frames.pop_all()):
        frames.feed(bytes(await esme.stream.receive_some(65536)))
    return [decode(frame) for frame in pdus]


async def bound_50(running: Any, mode: str = "transceiver") -> Esme:
    esme = await connect(running)
    assert (await esme.bind(mode, interface_version=0x50)).command_status == S.ESME_ROK
    return esme


async def test_a_broadcast_is_accepted_in_part_queried_while_it_repeats_and_then_expired(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(networks=NETWORKS))
    esme = await bound_50(running, "transmitter")
    resp = await esme.request(broadcast(LONDON, ATLANTIS, PARIS))
    assert isinstance(resp, BroadcastSmResp) and resp.command_status == S.ESME_ROK
    assert resp.tlvs[Tag.broadcast_area_identifier] == ATLANTIS  # the one refused area
    assert resp.tlvs[Tag.broadcast_error_status] == S.ESME_RINVBCASTALIAS_NAME
    assert Tag.congestion_state not in resp.tlvs  # (only on the submit answers)
    query = QueryBroadcastSm(message_id=resp.message_id, source_addr="447700900123")
    answer = await esme.request(query)
    assert isinstance(answer, QueryBroadcastSmResp) and answer.command_status == S.ESME_ROK
    assert answer.message_id == resp.message_id
    assert answer.tlvs[Tag.message_state] == MessageState.ENROUTE
    assert answer.tlvs[Tag.broadcast_area_identifier] == (LONDON, ATLANTIS, PARIS)
    assert answer.tlvs[Tag.broadcast_area_success] == (90, 0, 100)
    assert Tag.broadcast_end_time not in answer.tlvs
    await trio.sleep(3 * 31 * 60)  # three repetitions, 31 minutes apart
    answer = await esme.request(query)
    assert answer.tlvs[Tag.message_state] == MessageState.EXPIRED
    assert len(answer.tlvs[Tag.broadcast_end_time]) == 16
    wrong_source = await esme.request(QueryBroadcastSm(message_id=resp.message_id,
                                                       source_addr="1"))
    assert wrong_source.command_status == S.ESME_RBCASTQUERYFAIL


async def test_the_smsc_answers_the_reference_session_octet_for_octet(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    """The 5.0 vectors' session (REFERENCE-5.0.md): bind, broadcast, query, cancel, each answer
    the very octets the reference gives for it."""
    config = make_config(accounts=(AccountConfig(system_id="esme5", password="pw5"),),
                         networks=(NetworkConfig(broadcast_areas=("London",)),))
    config = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                    system_id="SMSC5"))
    running = await start_smsc(config)
    esme = await connect(running)
    for request, answer in [
        ("bind_transceiver_v50", "bind_transceiver_resp_v50_sc_interface_version"),
        ("broadcast_sm_area_name_payload", "broadcast_sm_resp"),
        ("query_broadcast_sm", "query_broadcast_sm_resp"),
        ("cancel_broadcast_sm", "cancel_broadcast_sm_resp"),
    ]:
        (got,) = await exchange_raw(esme, VECTORS[request])
        assert encode(got) == VECTORS[answer], answer


async def test_a_scheduled_broadcast_is_cancelled_once_and_found_by_its_reference(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(networks=NETWORKS))
    esme = await bound_50(running)
    resp = await esme.request(broadcast(LONDON, schedule_delivery_time="000000010000000R",
                                        tlvs={Tag.user_message_reference: 42}))
    assert resp.command_status == S.ESME_ROK
    by_reference = QueryBroadcastSm(source_addr="447700900123",
                                    tlvs={Tag.user_message_reference: 42})
    answer = await esme.request(by_reference)
    assert answer.message_id == resp.message_id  # type: ignore[attr-defined]
    assert answer.tlvs[Tag.message_state] == MessageState.SCHEDULED
    cancel = CancelBroadcastSm(message_id=resp.message_id,  # type: ignore[attr-defined]
                               source_addr="447700900123")
    done = await esme.request(cancel)
    assert isinstance(done, CancelBroadcastSmResp) and done.command_status == S.ESME_ROK
    answer = await esme.request(by_reference)
    assert answer.tlvs[Tag.message_state] == MessageState.DELETED
    assert Tag.broadcast_end_time in answer.tlvs
    again = await esme.request(cancel)
    assert again.command_status == S.ESME_RBCASTCANCELFAIL


async def test_broadcasts_no_network_can_take_are_refused_with_the_spec_statuses(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(networks=NETWORKS))
    esme = await bound_50(running)
    assert (await esme.request(broadcast(ATLANTIS))).command_status == S.ESME_RBCASTFAIL
    for name, status in [("malformed_broadcast_sm_missing_area_identifier", 0xC3),
                         ("malformed_broadcast_sm_reserved_area_format", 0x109),
                         ("malformed_broadcast_sm_frequency_interval_len2", 0xC2)]:
        (message,) = await exchange_raw(esme, VECTORS[name])
        assert isinstance(message, BroadcastSmResp), name
        assert message.command_status == status, name


async def test_a_3_4_session_knows_no_broadcast_and_no_congestion_state(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(networks=NETWORKS))
    esme = await connect(running)
    await esme.bind(interface_version=0x34)
    resp = await esme.request(SubmitSm(source_addr="4915100000001",
                                       destination_addr="4915100000002", short_message=b"hi"))
    assert resp.command_status == S.ESME_ROK and resp.tlvs == {}
    (answer,) = await exchange_raw(esme, VECTORS["broadcast_sm_area_name_payload"])
    assert isinstance(answer, GenericNack)
    assert answer.command_status == S.ESME_RINVCMDID and answer.sequence_number == 2


async def test_congestion_state_follows_the_accounts_queue_on_a_5_0_session(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    accounts = (AccountConfig(max_pending=4, window=10),)
    slow = (NetworkConfig(latency=3600.0),)
    running = await start_smsc(make_config(accounts=accounts, networks=slow))
    esme = await bound_50(running)
    states = []
    for _ in range(3):
        resp = await esme.request(SubmitSm(source_addr="4915100000001",
                                           destination_addr="4915100000002",
                                           short_message=b"hi"))
        assert resp.command_status == S.ESME_ROK
        states.append(resp.tlvs[Tag.congestion_state])
    assert states == [25, 50, 75]  # 1, 2, 3 of 4 pending (the window: 1 of 10)


async def test_a_5_0_receiver_gets_receipts_with_the_receipt_tlvs(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await bound_50(running)
    resp = await esme.request(SubmitSm(source_addr="4915100000001",
                                       destination_addr="4915100000002", short_message=b"hi",
                                       registered_delivery=1))
    receipt = await esme.next_request()
    assert isinstance(receipt, DeliverSm) and receipt.esm_class & 0x3C == 0x04
    assert receipt.tlvs[Tag.receipted_message_id] == resp.message_id  # type: ignore[attr-defined]
    assert receipt.tlvs[Tag.message_state] == MessageState.DELIVERED


async def test_a_broadcast_replaced_keeps_its_id_and_a_cancel_by_source_ends_all_running(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(networks=NETWORKS))
    esme = await bound_50(running)
    first = await esme.request(broadcast(LONDON, tlvs={Tag.user_message_reference: 7}))
    missing = await esme.request(broadcast(PARIS, replace_if_present_flag=1,
                                           tlvs={Tag.user_message_reference: 8}))
    assert missing.command_status == S.ESME_RBCASTFAIL  # nothing to replace: no new one
    replaced = await esme.request(broadcast(PARIS, replace_if_present_flag=1,
                                            tlvs={Tag.user_message_reference: 7}))
    assert replaced.message_id == first.message_id  # type: ignore[attr-defined]
    query = QueryBroadcastSm(message_id=first.message_id,  # type: ignore[attr-defined]
                             source_addr="447700900123")
    assert (await esme.request(query)).tlvs[Tag.broadcast_area_identifier] == PARIS
    second = await esme.request(broadcast(LONDON))
    other = await esme.request(broadcast(LONDON, source_addr="447700900999"))
    done = await esme.request(CancelBroadcastSm(source_addr="447700900123"))
    assert done.command_status == S.ESME_ROK
    for resp, state in [(first, MessageState.DELETED), (second, MessageState.DELETED),
                        (other, MessageState.ENROUTE)]:
        source = "447700900999" if resp is other else "447700900123"
        answer = await esme.request(QueryBroadcastSm(
            message_id=resp.message_id, source_addr=source))  # type: ignore[attr-defined]
        assert answer.tlvs[Tag.message_state] == state
    again = await esme.request(CancelBroadcastSm(source_addr="447700900123"))
    assert again.command_status == S.ESME_RBCASTCANCELFAIL


async def test_a_broadcast_repeating_until_cancelled_ends_with_a_submits_validity(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    accounts = (AccountConfig(default_validity=600.0),)
    running = await start_smsc(make_config(accounts=accounts, networks=NETWORKS))
    esme = await bound_50(running)
    resp = await esme.request(broadcast(LONDON, tlvs={Tag.broadcast_rep_num: 0}))
    query = QueryBroadcastSm(message_id=resp.message_id,  # type: ignore[attr-defined]
                             source_addr="447700900123")
    await trio.sleep(599)
    assert (await esme.request(query)).tlvs[Tag.message_state] == MessageState.ENROUTE
    await trio.sleep(2)
    answer = await esme.request(query)
    assert answer.tlvs[Tag.message_state] == MessageState.EXPIRED
    assert Tag.broadcast_end_time in answer.tlvs


async def test_an_account_keeps_a_bounded_number_of_broadcasts(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(networks=NETWORKS)
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, retention=60))
    running = await start_smsc(config)
    esme = await bound_50(running)
    for _ in range(MAX_BROADCASTS):
        assert (await esme.request(broadcast(LONDON))).command_status == S.ESME_ROK
    assert (await esme.request(broadcast(LONDON))).command_status == S.ESME_RBCASTFAIL
    assert (await esme.request(broadcast(LONDON, replace_if_present_flag=1,
                                         message_id="bc-0001"))).command_status == S.ESME_ROK
    # (a replacement takes no more room) the account's broadcasts are forgotten once over
    # for longer than the retention (three repetitions 31 minutes apart, then 60 s)
    await trio.sleep(3 * 31 * 60 + 61)
    assert (await esme.request(broadcast(LONDON))).command_status == S.ESME_ROK
    gone = await esme.request(QueryBroadcastSm(message_id="bc-0002",
                                               source_addr="447700900123"))
    assert gone.command_status == S.ESME_RBCASTQUERYFAIL
