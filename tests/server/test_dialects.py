"""Receipt dialects and SME acknowledgements through real sessions (MockClock)."""

from __future__ import annotations

import dataclasses
from typing import Any

import trio
import trio.testing

from smsc.config import AccountConfig, NetworkConfig, ReceiptDialectConfig, RouteConfig
from smsc.pdu import DataSm, DeliverSm, SubmitSm
from smsc.pdu.constants import MessageState
from smsc.pdu.receipt_text import parse_receipt_text, receipt_ids_match

from ..esme import connect


def submit(**fields: Any) -> SubmitSm:
    values = {"source_addr": "4915100000001", "destination_addr": "4915100000002",
              "short_message": b"hello dialects", "registered_delivery": 1}
    values.update(fields)
    return SubmitSm(**values)


DIALECTS = (
    ReceiptDialectConfig(name="decimal", id_format="decimal", id_width=10,
                         label_case="upper", date_format="yymmddhhmmss"),
    ReceiptDialectConfig(name="tlv-only", text=False),
    ReceiptDialectConfig(name="data", pdu="data_sm", intermediate=()),
)


async def test_each_account_gets_its_dialect(make_config: Any, start_smsc: Any,
                                             autojump_clock: Any) -> None:
    accounts = (AccountConfig(receipt_dialect="decimal"),
                AccountConfig(system_id="other", password="secret",
                              receipt_dialect="tlv-only"))
    running = await start_smsc(make_config(accounts=accounts, receipt_dialects=DIALECTS))
    first = await connect(running)
    await first.bind(interface_version=0x34)
    resp = await first.request(submit())
    pdu = await first.next_request()
    parsed = parse_receipt_text(pdu.short_message.decode())  # type: ignore[attr-defined]
    assert parsed is not None and parsed.stat == "DELIVRD" and len(parsed.id) == 10
    assert pdu.short_message.startswith(b"ID:")  # type: ignore[attr-defined]
    assert receipt_ids_match(parsed.id, resp.message_id)  # type: ignore[attr-defined]
    assert pdu.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    second = await connect(running)
    await second.bind(system_id="other", password="secret", interface_version=0x34)
    resp = await second.request(submit())
    pdu = await second.next_request()
    assert pdu.short_message == b"" and pdu.esm_class == 0x04  # type: ignore[attr-defined]
    assert pdu.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    assert pdu.message_state == MessageState.DELIVERED  # type: ignore[attr-defined]


async def test_data_sm_receipts_on_a_route_and_no_intermediate_notices(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(
        receipt_dialects=DIALECTS,
        networks=(NetworkConfig(), NetworkConfig(name="flaky", result="absent", error_code=27,
                                                 receipt_dialect="data")),
    )
    config = dataclasses.replace(
        config,
        routing=dataclasses.replace(config.routing, rules=(
            RouteConfig(network="flaky", prefix="+4917"),)),
        store=dataclasses.replace(config.store, retry_schedule=(10.0,)),
        accounts=(AccountConfig(default_validity=25.0),),
    )
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.bind(interface_version=0x34)
    plain = await esme.request(submit(registered_delivery=0x11))
    first = await esme.next_request()  # the default network: Appendix B deliver_sm
    assert isinstance(first, DeliverSm) and first.receipted_message_id == plain.message_id  # type: ignore[attr-defined]
    flaky = await esme.request(submit(destination_addr="4917000000001", dest_addr_ton=1,
                                      registered_delivery=0x11))
    started = trio.current_time()
    final = await esme.next_request()  # retries at 10 and 20 s asked for ENROUTE: none sent
    assert isinstance(final, DataSm) and final.esm_class == 0x04
    assert trio.current_time() - started >= 20
    assert final.receipted_message_id == flaky.message_id  # type: ignore[attr-defined]
    parsed = parse_receipt_text(final.message_payload.decode())  # type: ignore[attr-defined]
    assert parsed is not None and parsed.stat == "EXPIRED" and parsed.err == "027"


async def test_sme_delivery_and_manual_acknowledgements(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(receipt_dialects=(
        ReceiptDialectConfig(name="acks", manual_ack_text="Read"),),
        accounts=(AccountConfig(receipt_dialect="acks"),)))
    esme = await connect(running)
    await esme.bind(interface_version=0x34)
    resp = await esme.request(submit(registered_delivery=0x0D,
                                     tlvs={0x0204: 4242}))  # user_message_reference
    pdus = [await esme.next_request() for _ in range(3)]
    by_type = {p.esm_class & 0x3C: p for p in pdus}
    assert set(by_type) == {0x04, 0x08, 0x10}
    for pdu in pdus:
        assert pdu.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
        assert pdu.user_message_reference == 4242  # type: ignore[attr-defined]
        assert pdu.source_addr == "4915100000002"  # type: ignore[attr-defined]
    assert by_type[0x10].short_message == b"Read"  # type: ignore[attr-defined]
    assert by_type[0x08].short_message == b""  # type: ignore[attr-defined]
    # only a delivered message is acknowledged by its recipient; acks without a receipt
    await esme.request(submit(registered_delivery=0x04))
    ack = await esme.next_request()
    assert ack.esm_class == 0x08  # type: ignore[attr-defined]
    with trio.move_on_after(30) as nothing:
        await esme.next_request()
    assert nothing.cancelled_caught


async def test_acceptd_then_enroute_then_the_final_receipt(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(
        receipt_dialects=(ReceiptDialectConfig(name="carrier",
                                               intermediate=("accepted", "enroute")),),
        accounts=(AccountConfig(receipt_dialect="carrier", default_validity=15.0),),
        networks=(NetworkConfig(result="absent", error_code=27),),
    )
    config = dataclasses.replace(config, store=dataclasses.replace(
        config.store, retry_schedule=(10.0,)))
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.bind(interface_version=0x34)
    resp = await esme.request(submit(registered_delivery=0x11))
    notices = [await esme.next_request() for _ in range(3)]
    stats = [parse_receipt_text(n.short_message.decode()).stat for n in notices]  # type: ignore[attr-defined, union-attr]
    assert stats == ["ACCEPTD", "ENROUTE", "EXPIRED"]
    assert [n.esm_class for n in notices] == [0x20, 0x20, 0x04]  # type: ignore[attr-defined]
    assert [n.message_state for n in notices] == [6, 1, 3]  # type: ignore[attr-defined]
    assert {n.receipted_message_id for n in notices} == {resp.message_id}  # type: ignore[attr-defined]
    # without bit 4 no intermediate notice at all
    await esme.request(submit(registered_delivery=0x01))
    final = await esme.next_request()
    assert final.esm_class == 0x04  # type: ignore[attr-defined]


async def test_a_route_rule_dialect_wins_over_network_and_account(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(
        receipt_dialects=DIALECTS,
        accounts=(AccountConfig(receipt_dialect="decimal"),),
        networks=(NetworkConfig(receipt_dialect="data"),),
    )
    config = dataclasses.replace(config, routing=dataclasses.replace(config.routing, rules=(
        RouteConfig(prefix="+4917", receipt_dialect="tlv-only"),)))
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.bind(interface_version=0x34)
    await esme.request(submit(destination_addr="4917000000001", dest_addr_ton=1))
    by_rule = await esme.next_request()
    assert isinstance(by_rule, DeliverSm) and by_rule.short_message == b""
    await esme.request(submit())  # no rule: the network's dialect
    by_network = await esme.next_request()
    assert isinstance(by_network, DataSm)
