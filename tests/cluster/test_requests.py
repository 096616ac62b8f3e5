"""cancel_sm and replace_sm on a node that does not own the message: its owner runs them, so
what the owner holds in memory and the store agree, with one node's answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
import trio

import esme_client
from esme_client import SmppStatusError
from smsc.app import RunningSmsc, run
from smsc.pdu import MessageState
from smsc.pdu.constants import CommandStatus as S
from smsc.store import parse_message_id
from smsc.store import postgresql_nodes as nodes
from tests.cluster.test_nodes import node_config

pytestmark = pytest.mark.usefixtures("postgresql_server")
SOON = "000000000002000R"
"""Two seconds after the submit."""
LATER = "000001000000000R"
"""An hour after the submit."""
WAIT = 1.0
"""The asking node's wait for an answer in the tests that let it run out."""


def row(dsn: str, message_id: str) -> tuple[Any, ...]:
    """A message's state, attempts and owner, as the table holds them."""
    with psycopg.connect(dsn) as db:
        found = db.execute("SELECT state, attempts, node FROM messages WHERE id = %s",
                           (parse_message_id(message_id, "hex"),)).fetchone()
    assert found is not None
    return tuple(found)


async def test_a_cancel_on_another_node_is_the_owners_and_never_attempted(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(20):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        assert a.node is not None
        async with esme_client.connect("127.0.0.1", a.smpp_port) as on_a, \
                esme_client.connect("127.0.0.1", b.smpp_port) as on_b:
            cancelled = await on_a.submit_text("4915100000002", "never", registered_delivery=1,
                                               schedule_delivery_time=SOON)
            kept = await on_a.submit_text("4915100000003", "kept", registered_delivery=1,
                                          schedule_delivery_time=SOON)
            await on_b.cancel(cancelled.message_id)
            for client in (on_a, on_b):
                assert (await client.query(cancelled.message_id)).state == MessageState.DELETED
            receipt = await on_a.wait_receipt(cancelled.message_id)
            assert receipt.state == MessageState.DELETED  # as one node gives it, once
            # the kept one, due at the same time but after it, is delivered: A passed it by
            assert (await on_a.wait_receipt(kept.message_id)).delivered
            assert row(postgresql_dsn, cancelled.message_id) == (
                int(MessageState.DELETED), 0, a.node.node_id)
            with pytest.raises(SmppStatusError) as caught:  # again: nothing left to cancel
                await on_b.cancel(cancelled.message_id)
            assert caught.value.status == S.ESME_RCANCELFAIL
            with pytest.raises(SmppStatusError) as caught:  # delivered: as on one node
                await on_b.cancel(kept.message_id)
            assert caught.value.status == S.ESME_RCANCELFAIL
            with pytest.raises(SmppStatusError) as caught:
                await on_b.replace(kept.message_id, "too late")
            assert caught.value.status == S.ESME_RREPLACEFAIL


async def test_a_replace_and_cancels_on_another_node_are_run_by_the_owners(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(20):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        async with esme_client.connect("127.0.0.1", a.smpp_port) as on_a, \
                esme_client.connect("127.0.0.1", b.smpp_port) as on_b:
            first = await on_a.submit_text("4915100000002", "in an hour", registered_delivery=1,
                                           schedule_delivery_time=LATER)
            multi = await on_a.submit_multi(["4915100000003", "4915100000004"], "all later",
                                            schedule_delivery_time=LATER)
            await on_b.replace(first.message_id, "at once instead", registered_delivery=1,
                               schedule_delivery_time="000000000000001R")
            receipt = await on_a.wait_receipt(first.message_id)
            assert receipt.delivered and receipt.text == "at once instead"
            await on_b.cancel(multi.message_id)  # every pending destination
            assert (await on_a.query(multi.message_id)).state == MessageState.DELETED
            with psycopg.connect(postgresql_dsn) as db:
                states = db.execute("SELECT state FROM messages WHERE id = %s OR multi_id = %s",
                                    (parse_message_id(multi.message_id, "hex"),) * 2).fetchall()
            assert states == [(int(MessageState.DELETED),)] * 2
            to_one = [await client.submit_text("4915100000005", "both later",
                                               schedule_delivery_time=LATER)
                      for client in (on_a, on_b)]
            await on_b.cancel(destination_addr="4915100000005")  # one on each node
            for result in to_one:
                assert (await on_a.query(result.message_id)).state == MessageState.DELETED


async def test_a_cancel_whose_owner_does_not_answer_is_answered_in_time(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    """An owner alive by its heartbeat that does not answer (stalled, or just died): the ESME
    gets ESME_RSYSERR after the wait, its other requests answered meanwhile; once the owner
    is past node_timeout, this node takes the message over and cancels it, as it does a
    message no node owns."""
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(20):
        a: RunningSmsc = await start_smsc(config)
        assert a.node is not None
        async with esme_client.connect("127.0.0.1", a.smpp_port) as client:
            result = await client.submit_text("4915100000002", "stuck",
                                              schedule_delivery_time=LATER)
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:
                now = "extract(epoch FROM clock_timestamp())"
                created = db.execute(
                    "INSERT INTO nodes (name, host, pid, started, heartbeat) "
                    f"VALUES ('stalled', 'elsewhere', 1, {now}, {now} + 60) RETURNING id"
                ).fetchone()
                assert created is not None
                stalled = created[0]
                db.execute("UPDATE messages SET node = %s WHERE id = %s",
                           (stalled, parse_message_id(result.message_id, "hex")))
                answered: list[int] = []

                async def cancel() -> None:
                    with pytest.raises(SmppStatusError) as caught:
                        await client.cancel(result.message_id)
                    answered.append(caught.value.status)

                started = trio.current_time()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(cancel)
                    query = await client.query(result.message_id)  # answered meanwhile
                    assert query.state == MessageState.ENROUTE and not answered
                assert answered == [S.ESME_RSYSERR]
                assert 3.0 <= trio.current_time() - started < 6.0  # node_timeout: 3 s
                assert db.execute("SELECT count(*) FROM requests").fetchone() == (0,)
                db.execute(f"UPDATE nodes SET heartbeat = {now} - 60 WHERE id = %s",
                           (stalled,))  # dead now
                await client.cancel(result.message_id)
            assert row(postgresql_dsn, result.message_id) == (
                int(MessageState.DELETED), 0, a.node.node_id)
            unowned = await client.submit_text("4915100000003", "left",
                                               schedule_delivery_time=LATER)
            with psycopg.connect(postgresql_dsn, autocommit=True) as db:  # its node stopped
                db.execute("UPDATE messages SET node = NULL WHERE id = %s",
                           (parse_message_id(unowned.message_id, "hex"),))
            await client.cancel(unowned.message_id)
            assert row(postgresql_dsn, unowned.message_id) == (
                int(MessageState.DELETED), 0, a.node.node_id)


def intercept(running: RunningSmsc, function: Callable[..., Any], *,
              before: Callable[..., Awaitable[Any]] | None = None,
              after: Callable[[], Any] | None = None) -> None:
    """Await `before(*args)` ahead of each call of `function` on the node's connection for
    its requests, and call `after()` once one returned."""
    assert running.node is not None
    requests = running.node.requests
    on_db = requests.on_db

    async def intercepted(called: Callable[..., Any], *args: Any) -> Any:
        if called is function and before is not None:
            await before(*args)
        result = await on_db(called, *args)
        if called is function and after is not None:
            after()
        return result

    requests.on_db = intercepted


async def asker_and_owner(start_smsc: Any, config: Any) -> tuple[RunningSmsc, RunningSmsc]:
    """Two nodes; the first waits WAIT seconds for the answers it asks."""
    asker: RunningSmsc = await start_smsc(config)
    owner: RunningSmsc = await start_smsc(config)
    assert asker.node is not None
    asker.node.requests.wait = WAIT
    return asker, owner


async def test_an_answer_collected_between_the_wait_and_the_withdrawal_is_the_answer(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(20):
        b, a = await asker_and_owner(start_smsc, config)
        assert b.node is not None
        answered = trio.Event()
        intercept(a, nodes.answer, before=lambda *_: answered.wait())

        async def collected_first(request: int, *_: Any) -> None:
            answered.set()  # the owner answers once the asker's wait ran out
            assert b.node is not None
            await b.node.requests._waiting[request].wait()  # and the asker collects it

        intercept(b, nodes.withdraw, before=collected_first)
        async with esme_client.connect("127.0.0.1", a.smpp_port) as on_a, \
                esme_client.connect("127.0.0.1", b.smpp_port) as on_b:
            result = await on_a.submit_text("4915100000002", "late answer",
                                            schedule_delivery_time=LATER)
            await on_b.cancel(result.message_id)  # the change made: as the owner answered
            assert (await on_b.query(result.message_id)).state == MessageState.DELETED


async def test_a_request_its_owner_is_running_past_the_wait_gets_the_owners_answer(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(20):
        b, a = await asker_and_owner(start_smsc, config)
        running, withdrawing = trio.Event(), trio.Event()

        async def held(*_: Any) -> None:  # the owner took and ran it: its answer waits
            running.set()
            await withdrawing.wait()

        intercept(a, nodes.answer, before=held)
        intercept(b, nodes.withdraw, before=lambda *_: running.wait(), after=withdrawing.set)
        async with esme_client.connect("127.0.0.1", a.smpp_port) as on_a, \
                esme_client.connect("127.0.0.1", b.smpp_port) as on_b:
            result = await on_a.submit_text("4915100000002", "slow owner",
                                            schedule_delivery_time=LATER)
            await on_b.cancel(result.message_id)
            assert (await on_b.query(result.message_id)).state == MessageState.DELETED
        with psycopg.connect(postgresql_dsn) as db:
            assert db.execute("SELECT count(*) FROM requests").fetchone() == (0,)


async def test_a_request_whose_owner_stopped_before_taking_it_is_run_again(
        make_config: Any, start_smsc: Any, postgresql_dsn: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(20):
        b: RunningSmsc = await start_smsc(config)
        assert b.node is not None
        b.node.requests.wait = WAIT
        asked, stopped = trio.Event(), trio.Event()
        intercept(b, nodes.ask, after=asked.set)
        intercept(b, nodes.withdraw, before=lambda *_: stopped.wait())
        async with esme_client.connect("127.0.0.1", b.smpp_port) as on_b, \
                trio.open_nursery() as nursery:
            async with trio.open_nursery() as owner:
                a: RunningSmsc = await owner.start(run, config)
                intercept(a, nodes.take_requests, before=lambda *_: trio.sleep_forever())
                async with esme_client.connect("127.0.0.1", a.smpp_port) as on_a:
                    result = await on_a.submit_text("4915100000002", "orphan",
                                                    schedule_delivery_time=LATER)
                nursery.start_soon(on_b.cancel, result.message_id)
                await asked.wait()
                a.shutdown.set()  # a clean stop before it took the request: nobody's now
            stopped.set()
        assert row(postgresql_dsn, result.message_id) == (
            int(MessageState.DELETED), 0, b.node.node_id)
