"""The whole SMSC in one trio run, over in-memory streams, with trio's autojump MockClock."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
import trio
import trio.testing

from smsc.app import run
from smsc.config import AccountConfig, NetworkConfig, RouteConfig, RoutingConfig
from smsc.pdu import (
    CancelSm,
    DataSm,
    DataSmResp,
    DeliverSm,
    DistributionListDest,
    EnquireLink,
    QuerySm,
    ReplaceSm,
    SmeDest,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    Unbind,
    UnsuccessSme,
    decode,
    encode,
    make_response,
)
from smsc.pdu.concat import Reassembler
from smsc.pdu.constants import CommandStatus, MessageState, Tag
from smsc.pdu.receipt_text import parse_receipt_text
from smsc.pdu.text import decode_text
from smsc.session import ConnectionClosed, RequestAnswered, ResponseReceived
from smsc.store import MessageQuery, parse_message_id

from ..esme import Esme, connect
from ..postgresql import on_store
from ..waiting import until

S = CommandStatus


def submit(**fields: Any) -> SubmitSm:
    values = {"source_addr": "4915100000001", "destination_addr": "4915100000002",
              "short_message": b"hello", "registered_delivery": 1}
    values.update(fields)
    return SubmitSm(**values)


async def test_submit_then_receipt_on_the_same_transceiver(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    assert (await esme.bind()).command_status == S.ESME_ROK
    resp = await esme.request(submit())
    assert resp.command_status == S.ESME_ROK
    receipt = await esme.next_request()
    assert isinstance(receipt, DeliverSm)
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    parsed = parse_receipt_text(receipt.short_message.decode())
    assert parsed is not None and parsed.id == resp.message_id and parsed.stat == "DELIVRD"


async def test_receipt_waits_for_a_receiver_bind(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    sender = await connect(running)
    await sender.bind("transmitter")
    resp = await sender.request(submit())
    await trio.sleep(60)  # delivered long ago; nobody to tell yet
    await sender.request(Unbind())
    receiver = await connect(running)
    await receiver.bind("receiver")
    receipt = await receiver.next_request()
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]


async def test_unanswered_receipt_is_sent_again(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config()
    config = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                    response_timer=10))
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.bind()
    esme.auto_answer = False
    resp = await esme.request(submit())
    first = await esme.next_request()
    second = await esme.next_request()  # arrives after the first one's response timeout
    assert first.receipted_message_id == second.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    assert second.sequence_number != first.sequence_number


async def test_receipt_goes_to_the_next_bind_when_a_session_drops(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    first = await connect(running)
    await first.bind()
    first.auto_answer = False
    resp = await first.request(submit())
    await first.next_request()  # the receipt, never answered
    await first.stream.aclose()
    second = await connect(running)
    await second.bind("receiver")
    again = await second.next_request()
    assert again.receipted_message_id == resp.message_id  # type: ignore[attr-defined]


async def test_unbound_connection_is_closed_after_session_init_timer(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    started = trio.current_time()
    closed = await esme.closed()
    assert trio.current_time() - started == pytest.approx(30, abs=0.1)
    assert isinstance(closed, ConnectionClosed)


async def test_silent_esme_is_probed_then_dropped(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config()
    config = dataclasses.replace(config, server=dataclasses.replace(
        config.server, enquire_link_timer=5, response_timer=7))
    running = await start_smsc(config)
    client, server = trio.testing.memory_stream_pair()
    running.attach(server)
    esme = Esme(client)
    await esme.bind()
    started = trio.current_time()
    received = b""
    while True:  # read raw, never answer
        chunk = await client.receive_some(65536)
        if not chunk:
            break
        received += chunk
    assert decode(received).command_id == EnquireLink.command_id
    assert trio.current_time() - started == pytest.approx(12, abs=0.1)


async def test_throttled_submits_get_rthrottled(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    account = AccountConfig(submit_rate=1.0, submit_burst=2)
    running = await start_smsc(make_config(accounts=(account,)))
    esme = await connect(running)
    await esme.bind("transmitter")
    statuses = [(await esme.request(submit(registered_delivery=0))).command_status
                for _ in range(3)]
    assert statuses == [S.ESME_ROK, S.ESME_ROK, S.ESME_RTHROTTLED]
    await trio.sleep(1.0)
    assert (await esme.request(submit(registered_delivery=0))).command_status == S.ESME_ROK


async def test_queue_full_when_pending_limit_is_reached(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(
        accounts=(AccountConfig(max_pending=2),),
        networks=(NetworkConfig(latency=100.0),),
    ))
    esme = await connect(running)
    await esme.bind("transmitter")
    statuses = [(await esme.request(submit())).command_status for _ in range(3)]
    assert statuses == [S.ESME_ROK, S.ESME_ROK, S.ESME_RMSGQFUL]
    await trio.sleep(150)  # both accepted messages delivered
    assert running.metrics.value("smsc_delivery_attempts_total", network="default",
                                 result="delivered") == 2  # not the refused one
    assert running.metrics.value("smsc_submits_total", account="smppclient1",
                                 status="ESME_RMSGQFUL") == 1
    assert (await esme.request(submit())).command_status == S.ESME_ROK  # room again


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"destination_addr": ""}, S.ESME_RINVDSTADR),
        ({"dest_addr_ton": 9}, S.ESME_RINVDSTTON),
        ({"source_addr_ton": 7}, S.ESME_RINVSRCTON),
        ({"priority_flag": 4}, S.ESME_RINVPRTFLG),
        ({"esm_class": 0x04}, S.ESME_RINVESMCLASS),
        ({"registered_delivery": 0x20}, S.ESME_RINVREGDLVFLG),
        ({"replace_if_present_flag": 2}, S.ESME_RINVREPFLAG),
        ({"sm_default_msg_id": 3}, S.ESME_RINVDFTMSGID),
        ({"schedule_delivery_time": "991399000000000+"}, S.ESME_RINVSCHED),
        ({"validity_period": "000000000000000X"}, S.ESME_RINVEXPIRY),
        ({"validity_period": "100101000000000+"}, S.ESME_RINVEXPIRY),
        ({"tlvs": {0x0424: b"payload"}}, S.ESME_RINVMSGLEN),
        ({"data_coding": 8, "short_message": b"\x00A\x00"}, S.ESME_RINVMSGLEN),
        ({"esm_class": 0x40, "short_message": b"\x05\x00\x03"}, S.ESME_RINVESMCLASS),
    ],
)
async def test_invalid_submits_get_the_named_status(
    make_config: Any, start_smsc: Any, autojump_clock: Any, fields: dict[str, Any], status: int
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind("transmitter")
    resp = await esme.request(submit(**fields))
    assert resp.command_status == status
    assert len(encode(resp)) == 16


async def test_query_replace_cancel_of_a_scheduled_message(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    resp = await esme.request(submit(schedule_delivery_time="000000010000000R"))
    message_id = resp.message_id
    query = QuerySm(message_id=message_id, source_addr="4915100000001")
    answer = await esme.request(query)
    assert answer.message_state == MessageState.ENROUTE and answer.final_date == ""
    replaced = await esme.request(ReplaceSm(message_id=message_id, source_addr="4915100000001",
                                            short_message=b"changed", registered_delivery=1))
    assert replaced.command_status == S.ESME_ROK
    other = await connect(running)
    await other.bind(system_id="other", password="secret")
    assert (await other.request(query)).command_status == S.ESME_RQUERYFAIL
    refused = await other.request(CancelSm(message_id=message_id, source_addr="4915100000001"))
    assert refused.command_status == S.ESME_RCANCELFAIL
    cancel = await esme.request(CancelSm(message_id=message_id, source_addr="4915100000001"))
    assert cancel.command_status == S.ESME_ROK
    receipt = await esme.next_request()
    parsed = parse_receipt_text(receipt.short_message.decode())
    assert parsed is not None and parsed.stat == "DELETED"
    final = await esme.request(query)
    assert final.message_state == MessageState.DELETED and final.final_date
    again = await esme.request(CancelSm(message_id=message_id, source_addr="4915100000001"))
    assert again.command_status == S.ESME_RCANCELFAIL


async def test_scheduled_message_is_delivered_at_its_time(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    started = trio.current_time()
    await esme.request(submit(schedule_delivery_time="000000000500000R", short_message=b"late"))
    receipt = await esme.next_request()
    assert trio.current_time() - started == pytest.approx(300, abs=1)
    assert b"text:late" in receipt.short_message


async def test_a_message_replaced_to_an_earlier_time_is_delivered_then(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    started = trio.current_time()
    accepted = await esme.request(submit(schedule_delivery_time="000001000000000R"))
    replaced = await esme.request(ReplaceSm(
        message_id=accepted.message_id, source_addr="4915100000001", short_message=b"sooner",
        registered_delivery=1, schedule_delivery_time="000000000100000R"))
    assert replaced.command_status == S.ESME_ROK
    receipt = await esme.next_request()
    assert trio.current_time() - started == pytest.approx(60, abs=1)
    assert b"text:sooner" in receipt.short_message


async def test_window_limits_receipts_in_flight(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(window=2),)))
    esme = await connect(running)
    await esme.bind()
    esme.auto_answer = False
    for _ in range(4):
        await esme.request(submit())
    first, second = await esme.next_request(), await esme.next_request()
    with trio.move_on_after(5) as waited:
        await esme.next_request()
    assert waited.cancelled_caught  # a third would overflow the window of 2
    assert first.sequence_number != second.sequence_number
    for request in (first, second):  # answering frees the window for the rest
        esme.session.send(make_response(request), trio.current_time())
    await esme.flush()
    third, fourth = await esme.next_request(), await esme.next_request()
    ids = {r.receipted_message_id for r in (first, second, third, fourth)}  # type: ignore[attr-defined]
    assert len(ids) == 4


async def test_finished_messages_are_purged_after_retention(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config()
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, retention=600))
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.bind()
    resp = await esme.request(submit())
    await esme.next_request()  # the receipt, acknowledged
    query = QuerySm(message_id=resp.message_id, source_addr="4915100000001")
    assert (await esme.request(query)).message_state == MessageState.DELIVERED
    await trio.sleep(700)
    assert (await esme.request(query)).command_status == S.ESME_RQUERYFAIL


@pytest.mark.parametrize("text", ["STOP", "Ответ " * 30], ids=["short-gsm", "long-ucs2"])
async def test_mobile_originated_message_reaches_its_account_when_it_binds(
    make_config: Any, start_smsc: Any, autojump_clock: Any, text: str
) -> None:
    accounts = (AccountConfig(mo_addresses=(r"4242",)),
                AccountConfig(system_id="other", password="secret", mo_addresses=(r"99\d+",)))
    running = await start_smsc(make_config(accounts=accounts))
    ids = await running.mobile.send_text("4915100000007", "4242", text)
    assert ids
    with pytest.raises(LookupError):
        await running.mobile.send_text("4915100000007", "1234", "nobody owns this")
    await trio.sleep(30)  # nobody bound yet: the message waits
    wrong = await connect(running)
    await wrong.bind(system_id="other", password="secret")
    esme = await connect(running)
    await esme.bind("receiver")
    parts = [await esme.next_request() for _ in ids]
    assert all(isinstance(p, DeliverSm) and p.esm_class & 0x3C == 0 for p in parts)
    assert {p.source_addr for p in parts} == {"4915100000007"}
    assembler = Reassembler()
    whole = [assembler.add(originator=p.source_addr, recipient=p.destination_addr,
                           user_data=p.short_message, udhi=bool(p.esm_class & 0x40), sar=None,
                           now=0.0) for p in parts]
    (message,) = [w for w in whole if w is not None]
    assert decode_text(message.user_data, parts[0].data_coding) == text
    with trio.move_on_after(5) as nothing:
        await wrong.next_request()
    assert nothing.cancelled_caught  # the other account got nothing


async def test_bind_limits_and_modes(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    accounts = (AccountConfig(max_binds=1, bind_modes=("transmitter", "receiver")),)
    running = await start_smsc(make_config(accounts=accounts))
    first = await connect(running)
    resp = await first.bind("transmitter", interface_version=0x34)
    assert resp.command_status == S.ESME_ROK and resp.system_id == "SMSC"  # type: ignore[attr-defined]
    assert resp.sc_interface_version == 0x34  # type: ignore[attr-defined]
    second = await connect(running)
    assert (await second.bind("receiver")).command_status == S.ESME_RBINDFAIL
    third = await connect(running)
    assert (await third.bind("transceiver")).command_status == S.ESME_RBINDFAIL
    old = await connect(running)
    await first.request(Unbind())
    resp = await old.bind("receiver", interface_version=0x33)
    assert resp.command_status == S.ESME_ROK
    assert resp.sc_interface_version is None  # type: ignore[attr-defined]  # v3.3: no TLVs


async def test_shutdown_unbinds_every_session(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esmes = [await connect(running) for _ in range(3)]
    for esme in esmes:
        await esme.bind()
    running.shutdown.set()
    for esme in esmes:
        events = []
        while not isinstance(events[-1:] and events[-1], ConnectionClosed):
            events.append(await esme.next_event())
        answered = [e for e in events if isinstance(e, RequestAnswered)]
        assert [type(e.request) for e in answered] == [Unbind]  # the SMSC asked to unbind


async def test_absent_handset_is_retried_on_schedule_until_validity_expires(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(
        networks=(NetworkConfig(result="absent", error_code=27),),
        accounts=(AccountConfig(default_validity=100.0),),
    )
    config = dataclasses.replace(config, store=dataclasses.replace(
        config.store, retry_schedule=(10.0, 30.0)))
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.bind()
    started = trio.current_time()
    resp = await esme.request(submit(registered_delivery=0x11))  # final + intermediate
    notices = []
    times = []
    for _ in range(4):
        notices.append(await esme.next_request())
        times.append(round(trio.current_time() - started))
    assert times == [0, 10, 40, 70]  # the retry schedule, its last interval repeating
    kinds = [n.esm_class for n in notices]
    assert kinds == [0x20, 0x20, 0x20, 0x04]  # three intermediate notices, then the receipt
    final = parse_receipt_text(notices[-1].short_message.decode())
    assert final is not None and final.stat == "EXPIRED" and final.err == "027"
    assert notices[-1].network_error_code == b"\x03\x00\x1b"  # type: ignore[attr-defined]
    answer = await esme.request(QuerySm(message_id=resp.message_id, source_addr="4915100000001"))
    assert answer.message_state == MessageState.EXPIRED and answer.error_code == 27


@pytest.mark.parametrize(("result", "stat", "state"), [
    ("undeliverable", "UNDELIV", MessageState.UNDELIVERABLE),
    ("rejected", "REJECTD", MessageState.REJECTED),
])
async def test_permanent_failures_finish_at_once(
    make_config: Any, start_smsc: Any, autojump_clock: Any, result: str, stat: str,
    state: MessageState,
) -> None:
    running = await start_smsc(make_config(networks=(NetworkConfig(result=result,
                                                                   error_code=1),)))
    esme = await connect(running)
    await esme.bind()
    started = trio.current_time()
    await esme.request(submit())
    receipt = await esme.next_request()
    assert trio.current_time() - started < 1
    parsed = parse_receipt_text(receipt.short_message.decode())
    assert parsed is not None and parsed.stat == stat
    assert receipt.message_state == state  # type: ignore[attr-defined]


async def test_receipts_are_shared_round_robin_between_receivers(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    sender = await connect(running)
    await sender.bind("transmitter")
    receivers = [await connect(running) for _ in range(2)]
    for receiver in receivers:
        await receiver.bind("receiver")
    for _ in range(6):
        await sender.request(submit())
    got = [[await r.next_request() for _ in range(3)] for r in receivers]
    ids = {p.receipted_message_id for batch in got for p in batch}  # type: ignore[attr-defined]
    assert len(ids) == 6  # three each, none twice


async def test_data_sm_is_stored_and_receipted(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    resp = await esme.request(DataSm(source_addr="100", destination_addr="4915100000002",
                                     registered_delivery=1,
                                     tlvs={Tag.message_payload: b"data sm payload " * 30}))
    assert isinstance(resp, DataSmResp) and resp.command_status == S.ESME_ROK
    receipt = await esme.next_request()
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    assert b"text:data sm payload" in receipt.short_message


async def test_submit_multi_reports_the_destinations_it_refused(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    good = (SmeDest(1, 1, "4915100000002"), SmeDest(1, 1, "4915100000003"))
    bad = SmeDest(9, 1, "4915100000004")
    resp = await esme.request(SubmitMulti(source_addr="100", dest_address=(*good, bad),
                                          registered_delivery=1, short_message=b"to many"))
    assert isinstance(resp, SubmitMultiResp) and resp.command_status == S.ESME_ROK
    assert resp.unsuccess_sme == (UnsuccessSme(9, 1, "4915100000004", S.ESME_RINVDSTTON),)
    receipts = [await esme.next_request() for _ in good]
    assert {r.source_addr for r in receipts} == {d.destination_addr for d in good}
    refused = await esme.request(SubmitMulti(dest_address=(DistributionListDest("staff"),)))
    assert refused.command_status == S.ESME_RINVDLNAME  # the account has no such list
    empty = await esme.request(SubmitMulti(dest_address=()))
    assert empty.command_status == S.ESME_RINVNUMDESTS


async def test_source_address_rules_are_enforced(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(
        accounts=(AccountConfig(allowed_source_addrs=("ACME", r"1\d{3}")),)))
    esme = await connect(running)
    await esme.bind("transmitter")
    assert (await esme.request(submit(source_addr="ACME"))).command_status == S.ESME_ROK
    assert (await esme.request(submit(source_addr="1234"))).command_status == S.ESME_ROK
    assert (await esme.request(submit(source_addr="EVIL"))).command_status == S.ESME_RINVSRCADR


async def test_unroutable_destinations_are_refused_or_undelivered(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    rules = (RouteConfig(network="default", prefix="+49"),)
    refuse = make_config(routing=RoutingConfig(default_network="none", rules=rules))
    running = await start_smsc(refuse)
    esme = await connect(running)
    await esme.bind()
    german = submit(dest_addr_ton=1, destination_addr="4915112345678")
    assert (await esme.request(german)).command_status == S.ESME_ROK
    american = submit(dest_addr_ton=1, destination_addr="12025550123")
    assert (await esme.request(american)).command_status == S.ESME_RINVDSTADR
    running.shutdown.set()

    undeliver = make_config(routing=RoutingConfig(default_network="none", rules=rules,
                                                  unroutable="undeliver"))
    running = await start_smsc(undeliver)
    esme = await connect(running)
    await esme.bind()
    assert (await esme.request(american)).command_status == S.ESME_ROK
    receipt = await esme.next_request()
    parsed = parse_receipt_text(receipt.short_message.decode())
    assert parsed is not None and parsed.stat == "UNDELIV"


async def test_impossible_numbers_are_refused_when_validation_is_on(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(routing=RoutingConfig(validate_numbers=True)))
    esme = await connect(running)
    await esme.bind("transmitter")
    good = submit(dest_addr_ton=1, destination_addr="4915112345678")
    assert (await esme.request(good)).command_status == S.ESME_ROK
    bad = submit(dest_addr_ton=1, destination_addr="4900")
    assert (await esme.request(bad)).command_status == S.ESME_RINVDSTADR


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
async def test_message_the_network_takes_at_once_is_stored_delivered(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str,
    request: pytest.FixtureRequest,
) -> None:
    running = await start_smsc(on_store(make_config(), kind, request))
    esme = await connect(running)
    await esme.bind()
    resp = await esme.request(submit())
    query = QuerySm(message_id=resp.message_id, source_addr="4915100000001")
    answer = await esme.request(query)  # asked before the receipt was even read
    assert answer.message_state == MessageState.DELIVERED and answer.final_date
    stored = running.store.query(int(resp.message_id, 16), "smppclient1")
    assert stored is not None and stored.attempts == 1
    receipt = await esme.next_request()
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    with trio.move_on_after(60):
        extra = await esme.next_request()
        raise AssertionError(f"a second notice: {extra}")


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
async def test_first_attempt_that_takes_time_ends_after_its_latency(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str,
    request: pytest.FixtureRequest,
) -> None:
    config = make_config(networks=(NetworkConfig(latency=30.0),))
    running = await start_smsc(on_store(config, kind, request))
    esme = await connect(running)
    await esme.bind()
    submitted = trio.current_time()
    resp = await esme.request(submit())
    query = QuerySm(message_id=resp.message_id, source_addr="4915100000001")
    assert (await esme.request(query)).message_state == MessageState.ENROUTE
    receipt = await esme.next_request()
    elapsed = trio.current_time() - submitted
    # (the autojump clock also runs on while a database works in its thread)
    assert elapsed >= 30.0 and (kind != "memory" or elapsed < 31.0)
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    stored = running.store.query(int(resp.message_id, 16), "smppclient1")
    assert stored is not None and stored.state is MessageState.DELIVERED
    assert stored.attempts == 1  # one attempt: started at acceptance, not again when due


async def test_every_field_of_a_submitted_message_is_stored_as_sent(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    """submit_sm, data_sm and submit_multi each become a NewMessage with every field set
    (the service builds it field by field, so a field it forgot would be missing here)."""
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    requests = [
        submit(service_type="CMT", source_addr_ton=1, source_addr_npi=1, dest_addr_ton=1,
               dest_addr_npi=1, esm_class=0, protocol_id=3, priority_flag=2, data_coding=3,
               tlvs={Tag.user_message_reference: 42}),
        DataSm(source_addr="4915100000001", destination_addr="4915100000002",
               registered_delivery=1, tlvs={Tag.message_payload: b"payload"}),
        SubmitMulti(source_addr="4915100000001", short_message=b"multi", priority_flag=1,
                    dest_address=(SmeDest(1, 1, "4915100000003"),)),
    ]
    for request in requests:
        resp = await esme.request(request)
        assert resp.command_status == S.ESME_ROK
        stored = running.store.query(int(resp.message_id, 16), "smppclient1")
        assert stored is not None
        fields = stored.fields
        values = {f.name: getattr(fields, f.name) for f in dataclasses.fields(fields)}
        assert values["system_id"] == "smppclient1" and values["network"]
        assert values["source_addr"] == request.source_addr
        assert values["esm_class"] == request.esm_class
        assert values["protocol_id"] == getattr(request, "protocol_id", 0)
        assert values["priority_flag"] == getattr(request, "priority_flag", 0)
        assert values["submitted_at"] is not None and values["expires_at"] is not None
    assert stored.fields.destination_addr == "4915100000003"
    first = running.store.find(MessageQuery(system_id="smppclient1", limit=3))[-1].fields
    assert (first.service_type, first.source_addr_ton, first.dest_addr_npi, first.protocol_id,
            first.priority_flag, first.data_coding) == ("CMT", 1, 1, 3, 2, 3)
    assert first.extra  # user_message_reference, kept for the receipt


@pytest.mark.parametrize(("style", "digits"), [("hex", "0123456789abcdef"),
                                               ("decimal", "0123456789")])
async def test_message_ids_in_the_configured_form_from_submit_to_receipt(
    make_config: Any, start_smsc: Any, autojump_clock: Any, style: str, digits: str
) -> None:
    config = make_config()
    running = await start_smsc(make_config(
        server=dataclasses.replace(config.server, message_id_format=style)))
    esme = await connect(running)
    await esme.bind()
    ids = []
    for _ in range(12):  # past 9 and 0xa: the forms differ from then on
        resp = await esme.request(submit())
        assert resp.command_status == S.ESME_ROK
        ids.append(resp.message_id)  # type: ignore[attr-defined]
        receipt = await esme.next_request()
        assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    assert all(set(i) <= set(digits) and not i.startswith("0") for i in ids)
    assert [int(i, 16 if style == "hex" else 10) for i in ids] == list(
        range(int(ids[0], 16 if style == "hex" else 10),
              int(ids[0], 16 if style == "hex" else 10) + 12))
    query = await esme.request(QuerySm(message_id=ids[-1], source_addr="4915100000001"))
    assert query.command_status == S.ESME_ROK
    assert query.message_state == MessageState.DELIVERED  # type: ignore[attr-defined]


async def test_the_submits_of_one_read_share_its_time_and_the_next_read_has_its_own(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    sent = [esme.session.send(submit(), trio.current_time()) for _ in range(3)]
    await esme.flush()  # one write: the SMSC reads the three in one chunk
    answers: dict[int, str] = {}
    while len(answers) < len(sent):
        event = await esme.next_event()
        if isinstance(event, ResponseReceived):
            answers[event.request.sequence_number] = event.message.message_id  # type: ignore
    await trio.sleep(90)  # (virtual time)
    later = await esme.request(submit())
    ids = [answers[s.sequence_number] for s in sent] + [later.message_id]  # type: ignore
    stored = [running.store.query(int(i, 16), "smppclient1") for i in ids]
    times = [(m.fields.submitted_at, m.fields.expires_at) for m in stored]
    assert times[0] == times[1] == times[2]
    (submitted, expires), (then, expires_then) = times[0], times[3]
    assert then - submitted == timedelta(seconds=90)
    assert expires - submitted == expires_then - then > timedelta(0)  # the same validity


@pytest.mark.parametrize("version", [0x34, 0x33])
async def test_receipts_and_mo_queued_for_one_receiver_go_in_order_within_its_window(
    make_config: Any, start_smsc: Any, autojump_clock: Any, version: int
) -> None:
    running = await start_smsc(make_config(
        accounts=(AccountConfig(mo_addresses=("4242",), window=3),)))
    sender = await connect(running)
    await sender.bind("transmitter")
    expected: list[str] = []

    async def queued(count: int) -> None:
        with trio.fail_after(60):  # virtual time: fails at once if the item is never queued
            await until(lambda: running.store.outbound_counts().get("smppclient1", 0) >= count,
                        running.committer.wait_committed)

    for index in range(4):  # receipt, MO, receipt, MO...: queued while nobody receives
        resp = await sender.request(submit())
        expected.append(f"receipt {resp.message_id}")
        await queued(len(expected))
        await running.mobile.send_text("4915100000007", "4242", f"mo {index}")
        expected.append(f"mo {index}")
        await queued(len(expected))
    receiver = await connect(running)
    receiver.auto_answer = False
    await receiver.bind("receiver", interface_version=version)
    received: list[str] = []
    while len(received) < len(expected):
        batch = [await receiver.next_request() for _ in range(min(3, len(expected)
                                                                  - len(received)))]
        with trio.move_on_after(5) as waited:
            await receiver.next_request()
        assert waited.cancelled_caught  # one more would overflow the window of 3
        for pdu in batch:
            assert isinstance(pdu, DeliverSm)
            if pdu.esm_class & 0x04:
                parsed = parse_receipt_text(pdu.short_message.decode())
                assert parsed is not None
                received.append(f"receipt {parsed.id}")
            else:
                received.append(decode_text(pdu.short_message, pdu.data_coding))
            receiver.session.send(make_response(pdu), trio.current_time())
        await receiver.flush()
    assert received == expected
    with trio.fail_after(60):
        await until(lambda: not running.store.outbound_counts().get("smppclient1", 0),
                    running.committer.wait_committed)  # every delivery acknowledged


async def test_receipts_after_a_long_mo_wait_when_its_parts_fill_the_window(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(
        accounts=(AccountConfig(mo_addresses=("4242",), window=4),)))
    ids = await running.mobile.send_text("4915100000007", "4242", "Ответ " * 30,
                                         encoding="ucs2", scheme="payload")
    assert len(ids) == 1  # one item, sent to a v3.3 bind as three UDH parts
    sender = await connect(running)
    await sender.bind("transmitter")
    message_ids = [(await sender.request(submit())).message_id for _ in range(3)]
    with trio.fail_after(60):  # virtual time: fails at once if a receipt is never queued
        await until(lambda: running.store.outbound_counts().get("smppclient1", 0) >= 4,
                    running.committer.wait_committed)
    receiver = await connect(running)
    receiver.auto_answer = False
    await receiver.bind("receiver", interface_version=0x33)
    first = [await receiver.next_request() for _ in range(4)]  # the claim: all four items
    with trio.move_on_after(5) as waited:
        await receiver.next_request()
    assert waited.cancelled_caught  # three parts and one receipt fill the window of 4
    assert [pdu.esm_class & 0x04 for pdu in first] == [0, 0, 0, 4]  # type: ignore[attr-defined]
    for pdu in first:
        receiver.session.send(make_response(pdu), trio.current_time())
    await receiver.flush()
    rest = [await receiver.next_request() for _ in range(2)]  # the receipts left out
    receipts = [parse_receipt_text(pdu.short_message.decode())  # type: ignore[attr-defined]
                for pdu in (first[3], *rest)]
    assert [parsed.id for parsed in receipts if parsed is not None] == message_ids
    for pdu in rest:
        receiver.session.send(make_response(pdu), trio.current_time())
    await receiver.flush()
    with trio.fail_after(60):
        await until(lambda: not running.store.outbound_counts().get("smppclient1", 0),
                    running.committer.wait_committed)  # every delivery acknowledged


async def test_pipelined_submits_of_two_binds_each_get_their_own_answers(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    binds = [await connect(running), await connect(running)]
    for esme in binds:
        await esme.bind("transmitter")
    sent: list[list[Any]] = [[], []]
    for _ in range(3):  # bursts from both before either reads: commits hold both links' answers
        for esme, mine in zip(binds, sent, strict=True):
            mine += [esme.session.send(submit(registered_delivery=0), trio.current_time())
                     for _ in range(20)]
        async with trio.open_nursery() as nursery:  # both arrive in one scheduling round
            for esme in binds:
                nursery.start_soon(esme.flush)
    ids: set[str] = set()
    for esme, mine in zip(binds, sent, strict=True):
        answers: list[Any] = []
        while len(answers) < len(mine):
            event = await esme.next_event()
            if isinstance(event, ResponseReceived):
                answers.append(event)
        assert [a.request for a in answers] == mine  # type: ignore[attr-defined]
        assert {a.message.command_status for a in answers} == {S.ESME_ROK}  # type: ignore[attr-defined]
        ids |= {a.message.message_id for a in answers}  # type: ignore[attr-defined]
    assert len(ids) == 120
    assert running.metrics.value("smsc_submit_response_seconds_count") == 120
    assert running.metrics.value("smsc_submits_total", account="smppclient1",
                                 status="ESME_ROK") == 120
    query = QuerySm(message_id=sorted(ids)[0], source_addr="4915100000001")
    assert (await binds[1].request(query)).message_state == MessageState.DELIVERED


async def test_receipts_answered_in_one_write_are_settled_each_by_its_own_status(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(accounts=(AccountConfig(window=5),)))
    esme = await connect(running)
    await esme.bind()
    esme.auto_answer = False
    message_ids = [(await esme.request(submit())).message_id for _ in range(3)]
    receipts = [await esme.next_request() for _ in message_ids]
    assert [r.receipted_message_id for r in receipts] == message_ids  # type: ignore[attr-defined]
    statuses = [S.ESME_ROK, S.ESME_RX_T_APPN, S.ESME_ROK]
    for receipt, status in zip(receipts, statuses, strict=True):  # one write, one read
        esme.session.send(make_response(receipt, status), trio.current_time())
    await esme.flush()
    control = running.control
    with trio.fail_after(60):  # virtual time: fails at once if an acknowledgement is lost
        for message_id in (message_ids[0], message_ids[2]):
            await control.wait_acknowledged(parse_message_id(message_id, control.id_format))
        again = await esme.next_request()  # the refused one, after the account's rest
    assert again.receipted_message_id == message_ids[1]  # type: ignore[attr-defined]
    metrics = running.metrics
    assert metrics.value("smsc_deliveries_acknowledged_total", account="smppclient1") == 2
    assert metrics.value("smsc_pdus_received_total", command="deliver_sm_resp",
                         status="ESME_RX_T_APPN") == 1
    esme.session.send(make_response(again), trio.current_time())
    await esme.flush()
    with trio.move_on_after(30) as waited:
        await esme.next_request()
    assert waited.cancelled_caught  # the acknowledged two are not sent again
    with trio.fail_after(60):
        await until(lambda: not running.store.outbound_counts().get("smppclient1", 0),
                    running.committer.wait_committed)  # the last acknowledged: none owed
    assert metrics.value("smsc_deliveries_acknowledged_total", account="smppclient1") == 3


async def test_a_submit_reusing_an_open_sequence_number_is_refused_and_the_smsc_goes_on(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    twice = encode(submit(registered_delivery=0, sequence_number=77))
    await esme.stream.send_all(twice + twice)  # the same number before the first is answered
    with trio.fail_after(60):
        await until(lambda: bool(running.store.find(MessageQuery(system_id="smppclient1"))),
                    running.committer.wait_committed)  # the first is stored
    other = await connect(running)
    await other.bind()
    assert (await other.request(submit())).command_status == S.ESME_ROK  # the SMSC goes on
    data = b""
    with trio.fail_after(60):
        while len(data) < 2 * 16:
            data += await esme.stream.receive_some(65536)
    answers = [decode(data[i:i + int.from_bytes(data[i:i + 4], "big")])
               for i in (0, int.from_bytes(data[:4], "big"))]
    assert sorted(a.command_status for a in answers) == [S.ESME_ROK, S.ESME_RUNKNOWNERR]
    assert {a.sequence_number for a in answers} == {77}
    assert len(running.store.find(MessageQuery(system_id="smppclient1"))) == 2  # one each


async def test_requests_of_every_kind_read_in_one_chunk_each_get_their_own_answer(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    """The requests of one read go to the service together: each is still handled as its
    kind says, the refused ones among the stored ones, and each is counted."""
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.bind()
    sent = [
        submit(registered_delivery=0),
        submit(esm_class=0x80),  # refused at once
        DataSm(source_addr="4915100000001", destination_addr="4915100000002",
               tlvs={Tag.message_payload: b"hello"}),
        QuerySm(message_id="ffffff", source_addr="4915100000001"),  # no such message
        EnquireLink(),  # answered by the session itself
        submit(registered_delivery=0),
    ]
    requests = [esme.session.send(pdu, trio.current_time()) for pdu in sent]
    await esme.flush()  # one write: the SMSC reads them in one chunk
    answers: dict[int, Any] = {}
    with trio.fail_after(60):
        while len(answers) < len(requests):
            event = await esme.next_event()
            if isinstance(event, ResponseReceived):
                answers[event.request.sequence_number] = event.message
    got = [answers[request.sequence_number] for request in requests]
    assert [type(answer).__name__ for answer in got] == [
        "SubmitSmResp", "SubmitSmResp", "DataSmResp", "QuerySmResp", "EnquireLinkResp",
        "SubmitSmResp"]
    assert [answer.command_status for answer in got] == [
        S.ESME_ROK, S.ESME_RINVESMCLASS, S.ESME_ROK, S.ESME_RQUERYFAIL, S.ESME_ROK, S.ESME_ROK]
    stored = {got[i].message_id for i in (0, 2, 5)}
    assert len(stored) == 3
    assert len(running.store.find(MessageQuery(system_id="smppclient1"))) == 3
    metrics = running.metrics
    assert metrics.value("smsc_pdus_received_total", command="submit_sm", status="ESME_ROK") == 3
    assert metrics.value("smsc_submits_total", account="smppclient1",
                         status="ESME_RINVESMCLASS") == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_acknowledged_messages_and_their_receipts_survive_a_restart(
    make_config: Any, autojump_clock: Any, kind: str, request: pytest.FixtureRequest
) -> None:
    config = on_store(make_config(), kind, request)
    # the autojump clock jumps whenever every task waits, also on a store call in a worker
    # thread: a node's heartbeat (PostgreSQL) then runs virtual time far ahead, past a
    # retention that would purge the finished messages this test queries
    config = dataclasses.replace(config, store=dataclasses.replace(config.store,
                                                                   retention=10 * 365 * 86400))
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        sender = await connect(running)
        await sender.bind("transmitter")
        resps = [await sender.request(submit(short_message=b"%d" % n)) for n in range(3)]
        assert all(r.command_status == S.ESME_ROK for r in resps)
        running.shutdown.set()  # the receipts are owed: nobody bound to receive them
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        receiver = await connect(running)
        await receiver.bind("transceiver")
        receipts = [await receiver.next_request() for _ in resps]
        assert sorted(r.receipted_message_id for r in receipts) == sorted(  # type: ignore[attr-defined]
            r.message_id for r in resps)
        for resp in resps:
            query = QuerySm(message_id=resp.message_id, source_addr="4915100000001")
            assert (await receiver.request(query)).message_state == MessageState.DELIVERED
        later = await receiver.request(submit())  # a new id, none of the first run's
        assert later.message_id not in {r.message_id for r in resps}
        running.shutdown.set()
