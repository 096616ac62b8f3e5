"""One message id per submit_multi: its receipts, query_sm, cancel_sm and replace_sm by it.

The whole SMSC in one trio run over in-memory streams (autojump MockClock), on both stores.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from smsc.pdu import CancelSm, QuerySm, ReplaceSm, SmeDest, SubmitMulti, SubmitMultiResp
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.pdu.receipt_text import parse_receipt_text
from smsc.session import RequestReceived, ResponseReceived
from smsc.store import MessageQuery, format_message_id

from ..esme import Esme, connect

S = CommandStatus
SOURCE = "4915100000001"
KINDS = pytest.mark.parametrize("kind", ["memory", "sqlite"])


async def started(make_config: Any, start_smsc: Any, kind: str) -> tuple[Any, Esme]:
    config = make_config()
    running = await start_smsc(dataclasses.replace(
        config, store=dataclasses.replace(config.store, kind=kind)))
    esme = await connect(running)
    await esme.bind()
    return running, esme


def multi(*destinations: str, **fields: Any) -> SubmitMulti:
    return SubmitMulti(source_addr=SOURCE, short_message=b"to all", registered_delivery=1,
                       dest_address=tuple(SmeDest(1, 1, d) for d in destinations), **fields)


@KINDS
async def test_every_receipt_of_a_submit_multi_carries_its_one_id(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str
) -> None:
    running, esme = await started(make_config, start_smsc, kind)
    destinations = ("4915100000002", "4915100000003", "4915100000004")
    await esme.send(multi(*destinations))
    first = await esme.next_event()
    while not isinstance(first, RequestReceived | ResponseReceived):
        first = await esme.next_event()
    assert isinstance(first, ResponseReceived)  # answered before any receipt went out
    resp = first.message
    assert isinstance(resp, SubmitMultiResp) and resp.command_status == S.ESME_ROK
    receipts = [await esme.next_request() for _ in destinations]
    assert {r.receipted_message_id for r in receipts} == {resp.message_id}  # type: ignore[attr-defined]
    texts = [parse_receipt_text(r.short_message.decode()) for r in receipts]
    assert {t.id for t in texts if t is not None} == {resp.message_id}
    assert sorted(r.source_addr for r in receipts) == sorted(destinations)
    stored = running.store.find(MessageQuery(system_id="smppclient1"))
    assert len({m.message_id for m in stored}) == 3  # each destination its own row
    assert {m.public_id for m in stored} == {int(resp.message_id, 16)}


@KINDS
async def test_query_sm_answers_for_the_submit_multi_as_a_whole(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str
) -> None:
    running, esme = await started(make_config, start_smsc, kind)
    # delivered at once, delivered after 60 s, undeliverable at once
    resp = await esme.request(multi("447700900000", "447700900400", "447700900100"))
    query = QuerySm(message_id=resp.message_id, source_addr=SOURCE)
    pending = await esme.request(query)
    assert pending.message_state == MessageState.ENROUTE and pending.final_date == ""
    for _ in range(3):
        await esme.next_request()  # the three receipts: the last after a minute
    done = await esme.request(query)
    assert done.message_state == MessageState.UNDELIVERABLE  # the worst of the three
    assert done.error_code == 1 and done.final_date
    wrong_source = await esme.request(QuerySm(message_id=resp.message_id, source_addr="9"))
    assert wrong_source.command_status == S.ESME_RQUERYFAIL
    # the later destinations' own ids were never given out: they answer nothing
    stored = running.store.find(MessageQuery(system_id="smppclient1"))
    (internal,) = [m.message_id for m in stored
                   if m.message_id != int(resp.message_id, 16)][:1]
    hidden = await esme.request(QuerySm(message_id=format_message_id(internal),
                                        source_addr=SOURCE))
    assert hidden.command_status == S.ESME_RQUERYFAIL


@KINDS
async def test_cancel_sm_by_the_id_cancels_every_pending_destination(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str
) -> None:
    running, esme = await started(make_config, start_smsc, kind)
    # the first two wait for a handset that is never reachable, the third is delivered
    resp = await esme.request(multi("447700900200", "447700900201", "447700900000"))
    delivered = await esme.next_request()
    assert delivered.source_addr == "447700900000"
    cancel = await esme.request(CancelSm(message_id=resp.message_id, source_addr=SOURCE))
    assert cancel.command_status == S.ESME_ROK
    receipts = [await esme.next_request() for _ in range(2)]
    assert {r.receipted_message_id for r in receipts} == {resp.message_id}  # type: ignore[attr-defined]
    assert {r.message_state for r in receipts} == {MessageState.DELETED}  # type: ignore[attr-defined]
    states = sorted(m.state for m in running.store.find(MessageQuery(system_id="smppclient1")))
    assert states == [MessageState.DELIVERED, MessageState.DELETED, MessageState.DELETED]
    query = await esme.request(QuerySm(message_id=resp.message_id, source_addr=SOURCE))
    assert query.message_state == MessageState.DELETED
    again = await esme.request(CancelSm(message_id=resp.message_id, source_addr=SOURCE))
    assert again.command_status == S.ESME_RCANCELFAIL


@KINDS
async def test_replace_sm_by_the_id_replaces_every_pending_destination(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str
) -> None:
    running, esme = await started(make_config, start_smsc, kind)
    resp = await esme.request(multi("447700900200", "447700900201", "447700900000"))
    await esme.next_request()  # the third, delivered
    replace = await esme.request(ReplaceSm(message_id=resp.message_id, source_addr=SOURCE,
                                           short_message=b"new text"))
    assert replace.command_status == S.ESME_ROK
    texts = {m.fields.destination_addr: m.fields.payload
             for m in running.store.find(MessageQuery(system_id="smppclient1"))}
    assert texts == {"447700900200": b"new text", "447700900201": b"new text",
                     "447700900000": b"to all"}


@KINDS
async def test_a_one_destination_submit_multi_is_answered_and_delivered(
    make_config: Any, start_smsc: Any, autojump_clock: Any, kind: str
) -> None:
    running, esme = await started(make_config, start_smsc, kind)
    resp = await esme.request(multi("4915100000002"))
    receipt = await esme.next_request()
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    stored = running.store.query(int(resp.message_id, 16), "smppclient1")
    assert stored is not None and stored.state is MessageState.DELIVERED
    assert stored.attempts == 1
