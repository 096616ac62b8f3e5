"""The committer and the whole server while the SQLite store cannot write: submits refused
with ESME_RSYSERR and never a receipt for them, what happened kept and written once the
fault clears, the server serving throughout and recovering by itself, one log line each way.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from smsc.app import RunningSmsc
from smsc.clock import Clock
from smsc.delivery.committer import Committer, StorePlacement
from smsc.pdu import CancelSm, DeliverSm, SubmitSm, make_response
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.store import AcceptRefused, Delivered, MessageQuery, NewMessage
from smsc.store.models import UNDER_WAY, FirstAttempt
from smsc.store.sqlite import SqliteStore

from ..esme import connect
from ..store.test_write_faults import FaultyConnection, disk_full, io_error

S = CommandStatus


def new(number: int) -> NewMessage:
    return NewMessage(system_id="acme", destination_addr=f"49151{number:08d}",
                      source_addr="12345", payload=b"hi", registered_delivery=1)


def store_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the store logged of its writes."""
    return [r.getMessage() for r in caplog.records
            if r.name == "smsc.store" and r.getMessage().startswith("store writes")]


async def test_the_committer_refuses_submits_and_writes_the_rest_once_the_store_can(
    tmp_path: Path, autojump_clock: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    store = SqliteStore(tmp_path / "smsc.db")
    connection = FaultyConnection(store._db)
    store._db = connection  # type: ignore[assignment]
    committer = Committer(store, clock=Clock(), placement=StorePlacement.COMMITS_ON_LOOP)
    answers: dict[str, int | AcceptRefused | None] = {}
    answered = trio.Event()

    def submit(name: str, first: FirstAttempt = None) -> None:
        def answer(result: int | AcceptRefused | None) -> None:
            answers[name] = result
            answered.set()

        committer.accept(new(len(answers)), answer, first)

    async with trio.open_nursery() as nursery:
        await nursery.start(committer.run)
        for name in ("a", "b", "c"):
            submit(name, Delivered())
        submit("under way", UNDER_WAY)
        await committer.wait_idle()
        sent = store.claim_outbound("acme", 2)  # receipts of a and b, out to the ESME

        under_way = answers["under way"]
        assert isinstance(under_way, int)
        connection.fail("COMMIT", disk_full, rolled_back=True)
        answered = trio.Event()
        submit("refused", Delivered())
        committer.outcome(under_way, Delivered())
        committer.outbound_acknowledged_run([item.item_id for item in sent])
        await answered.wait()
        assert answers["refused"] is None  # the service answers ESME_RSYSERR
        await trio.sleep(10)  # ten seconds of a full disk: tried again and again
        assert committer.failed_batches >= 5
        waiting = store.query(under_way, "acme")
        assert waiting is not None and waiting.state is MessageState.ENROUTE

        connection.clear()
        await committer.wait_idle()
        submit("after", Delivered())
        await committer.wait_idle()
        nursery.cancel_scope.cancel()

    ids = [answers[name] for name in ("a", "b", "c", "under way")]
    assert answers["after"] == under_way + 1
    messages = store.find(MessageQuery())
    assert sorted(m.message_id for m in messages) == [*ids, answers["after"]]
    assert all(m.state is MessageState.DELIVERED for m in messages)
    owed = store.claim_outbound("acme", 100)  # a's and b's were acknowledged: gone
    assert [i.message.message_id for i in owed] == [answers["c"], answers["under way"],
                                                    answers["after"]]
    assert store_lines(caplog) == [
        f"store writes failing: {store.path}: database or disk is full",
        f"store writes recovered after {committer.failed_batches} failed transactions"]
    assert all(r.exc_info is None for r in caplog.records)
    store.close()


async def smsc_on_faulty_sqlite(make_config: Any, start_smsc: Any
                                 ) -> tuple[RunningSmsc, SqliteStore, FaultyConnection]:
    """A running SMSC on SQLite whose connection fails the statements a test names."""
    config = make_config()
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, kind="sqlite"))
    running: RunningSmsc = await start_smsc(config)
    store = running.store
    assert isinstance(store, SqliteStore)
    connection = FaultyConnection(store._db)
    store._db = connection  # type: ignore[assignment]
    return running, store, connection


async def test_the_server_serves_through_a_store_fault_and_recovers_by_itself(
    make_config: Any, start_smsc: Any, nursery: trio.Nursery, autojump_clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    running, store, connection = await smsc_on_faulty_sqlite(make_config, start_smsc)
    esme = await connect(running)
    await esme.bind()
    esme.auto_answer = False

    def submit(text: bytes) -> SubmitSm:
        return SubmitSm(source_addr="4915100000001", destination_addr="4915100000002",
                        short_message=text, registered_delivery=1)

    first = await esme.request(submit(b"before"))
    assert first.command_status == S.ESME_ROK
    receipt = await esme.next_request()
    assert isinstance(receipt, DeliverSm)
    assert receipt.receipted_message_id == first.message_id  # type: ignore[attr-defined]

    connection.fail("UPDATE messages", io_error)  # a statement in the middle, every batch
    connection.fail("DELETE FROM outbound", io_error)
    connection.fail("INSERT INTO messages", io_error)
    await esme.send(make_response(receipt))  # its acknowledgement cannot be written yet
    refused = [await esme.request(submit(b"refused %d" % n)) for n in range(3)]
    assert [r.command_status for r in refused] == [S.ESME_RSYSERR] * 3

    connection.clear()
    after = await esme.request(submit(b"after"))
    assert after.command_status == S.ESME_ROK
    second = await esme.next_request()
    assert second.receipted_message_id == after.message_id  # type: ignore[attr-defined]
    await esme.send(make_response(second))
    await trio.testing.wait_all_tasks_blocked()  # the response read, its write queued
    await running.committer.wait_idle()
    with trio.move_on_after(60):
        extra = await esme.next_request()
        raise AssertionError(f"a notice for a refused submit, or one sent twice: {extra}")
    assert store.outbound_counts() == {}  # both acknowledged: nothing to send again
    reopened = SqliteStore(store.path)  # what a restart would find owed
    assert reopened.outbound_counts() == {}
    reopened.close()
    assert [m.fields.payload for m in store.find(MessageQuery())] == [b"after", b"before"]
    assert int(after.message_id, 16) == int(first.message_id, 16) + 1  # type: ignore[attr-defined]
    lines = store_lines(caplog)
    assert lines[0] == f"store writes failing: {store.path}: disk I/O error"
    assert lines[1].startswith("store writes recovered after ") and len(lines) == 2


async def test_a_cancel_that_cannot_be_written_is_answered_and_the_server_goes_on(
    make_config: Any, start_smsc: Any, autojump_clock: Any,
) -> None:
    running, _, connection = await smsc_on_faulty_sqlite(make_config, start_smsc)
    await running.simulation.set_handset("4915100000002", state="offline")  # stays pending
    esme = await connect(running)
    await esme.bind()
    sent = await esme.request(SubmitSm(source_addr="4915100000001",
                                       destination_addr="4915100000002", short_message=b"x"))
    assert sent.command_status == S.ESME_ROK
    connection.fail("UPDATE messages", io_error)
    cancel = CancelSm(message_id=sent.message_id,  # type: ignore[attr-defined]
                      source_addr="4915100000001")
    assert (await esme.request(cancel)).command_status == S.ESME_RSYSERR
    connection.clear()
    assert (await esme.request(cancel)).command_status == S.ESME_ROK
    running.shutdown.set()
