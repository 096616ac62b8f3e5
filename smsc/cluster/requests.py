"""OwnerRequests: a cancel_sm or replace_sm of a message another node owns, run by its owner.

A node holds what it owns in memory (due index, cache, claims) and attempts it: a row
another node changed would be attempted all the same. So the node an ESME asks changes only
the messages it owns (the store's `cancel` and `replace` leave the others), and asks each
other owner to run the same call: a row in `requests` and a NOTIFY on the owner's channel,
in one transaction. The owner takes it, runs it through its committer exactly as it runs its
own ESMEs' requests, writes the result and NOTIFYs the asker, which answers the ESME. What no
node owns (its node stopped cleanly), or a dead node (silent past node_timeout) owned, is
taken over first (the heartbeat's take-over) and then changed here.

The asker waits at most `wait` seconds for an answer (ANSWER_WAIT, or node_timeout if that is
shorter), its session answering everything else meanwhile. An owner that has not answered by
then has the request withdrawn, unless it has taken it (it is running it): then the asker waits
for its answer up to `wait` again. A request withdrawn before its owner took it is run again
if its messages are no longer that node's (it stopped cleanly, or was taken over: they are
taken over here, or asked of their new owner), within the same twice `wait`. Otherwise (the
owner stalled, or dead and not yet past node_timeout) the ESME gets ESME_RSYSERR, as for a
write that failed; when the owner had taken the request, the change may still be made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import trio

from smsc.delivery.committer import Committer
from smsc.store import postgresql_nodes as nodes
from smsc.store.errors import StoreOpenError, StoreWriteError
from smsc.store.postgresql import PostgresqlStore

log = logging.getLogger("smsc.cluster")
ANSWER_WAIT = 5.0
"""Seconds an asking node waits for the owner's answer (at most node_timeout)."""
FAILED = -1
"""The result of a request whose write failed on the owner."""
UNTAKEN = -2
"""The outcome of a request withdrawn before its node took it (its messages may be another
node's by now)."""
KINDS = ("cancel", "replace")
"""The store calls a node runs for another (`MessageStore.cancel`, `MessageStore.replace`)."""


class OwnerRequests:
    """See the module docstring. `change` is the asking side; `run` hosts the owner's."""

    def __init__(self, *, store: PostgresqlStore, committer: Committer,
                 on_db: Callable[..., Awaitable[Any]], take_over: Callable[[], Awaitable[None]],
                 wake_outbound: Callable[[], None]) -> None:
        self.store = store
        self.committer = committer
        self.node_id = store.node_id
        self.timeout = store.node_timeout
        self.wait = min(ANSWER_WAIT, store.node_timeout)
        self.on_db = on_db
        """Runs `function(connection, *args)` on the node's own connection."""
        self.take_over = take_over
        """Takes over what no node owns and what dead nodes owned."""
        self.wake_outbound = wake_outbound
        self._waiting: dict[int, trio.Event] = {}
        """This node's requests waiting for their answers, by id."""
        self._results: dict[int, int] = {}
        """Results collected, until their request's task reads them."""
        self._serve = trio.Event()
        self._collect = trio.Event()

    # -- notifications (ClusterNode hears them) ----------------------------------------------

    def requested(self) -> None:
        """Another node asked this one something."""
        self._serve.set()

    def answered(self) -> None:
        """An owner answered something this node asked."""
        self._collect.set()

    def missed(self) -> None:
        """(Re)connected, or a poll: look for both, in case a notification was lost."""
        self._serve.set()
        if self._waiting:
            self._collect.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._collecting)
            nursery.start_soon(self._serving, nursery)
            task_status.started()

    # -- the asking node ------------------------------------------------------------------

    async def change(self, kind: str, parameters: dict[str, Any]) -> int:
        """Run `kind` (`cancel` or `replace`, the store's keyword arguments) on every node
        owning a message it changes; how many it changed (replace: whether). Raises
        StoreWriteError when a write or a read failed, or an owner did not answer in time."""
        try:
            return await self._change(kind, parameters)
        except psycopg.Error as error:  # (a lookup's connection lost, and lost again)
            raise StoreWriteError(f"{self.store.where}: {error}") from error

    async def _change(self, kind: str, parameters: dict[str, Any]) -> int:
        deadline = trio.current_time() + 2 * self.wait
        untaken: set[int] = set()  # owners withdrawn from before they took the request
        count = 0  # (a round again changes only what is left: a cancel counts each once)
        while True:
            owners = await self._owners(parameters)
            if any(node is None or not alive for node, alive in owners.items()):
                await self.take_over()
                owners = await self._owners(parameters)
            if untaken & owners.keys():  # still theirs: stalled
                raise StoreWriteError(f"cluster: {kind} not answered by node(s) "
                                      + ", ".join(str(node) for node in sorted(untaken)))
            if self.node_id in owners:
                count += await self._run(kind, parameters)
            others = [node for node in owners if node is not None and node != self.node_id]
            if not others:
                return count
            text = encode(parameters)
            results: list[int | None] = [None] * len(others)
            async with trio.open_nursery() as nursery:
                for index, node in enumerate(others):
                    nursery.start_soon(self._ask, node, kind, text, results, index, deadline)
            missing = [node for node, result in zip(others, results, strict=True)
                       if result is None or result < 0]
            untaken = {node for node, result in zip(others, results, strict=True)
                       if result == UNTAKEN}
            if missing and (untaken != set(missing) or trio.current_time() >= deadline):
                raise StoreWriteError(f"cluster: {kind} not answered by node(s) "
                                      + ", ".join(str(node) for node in missing))
            count += sum(result for result in results if result is not None and result > 0)
            if not untaken:
                return count

    async def _owners(self, parameters: dict[str, Any]) -> dict[int | None, bool]:
        return await self.committer.call(
            self.store.owners, parameters["system_id"], parameters["message_id"],
            parameters.get("destination_addr", ""))

    async def _ask(self, node: int, kind: str, text: str, results: list[int | None],
                   index: int, deadline: float) -> None:
        """Ask `node`, wait for its answer (at most `wait` seconds, and while it runs the
        request until `deadline`), and put it in `results[index]` (UNTAKEN: withdrawn before
        `node` took it; left None when no answer came)."""
        try:
            request = await self.on_db(nodes.ask, node, self.timeout, self.node_id, kind, text)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: cannot ask node %d (%s)", self.node_id, node, error)
            return
        if request is None:  # no longer alive (and not yet taken over)
            return
        answered = self._waiting[request] = trio.Event()
        try:
            if request not in self._results:
                with trio.move_on_at(min(trio.current_time() + self.wait, deadline)):
                    await answered.wait()
            result = None
            if request not in self._results:
                taken, result = await self._withdraw(request, answered, leave_running=True)
                if taken and result is None and request not in self._results:
                    log.warning("cluster: node %d: node %d runs a %s: waiting for its answer",
                                self.node_id, node, kind)
                    with trio.move_on_at(deadline):
                        await answered.wait()
                    if request not in self._results:
                        taken, result = await self._withdraw(request, answered,
                                                             leave_running=False)
                if not taken:
                    log.warning("cluster: node %d: node %d did not take a %s within %.1f s",
                                self.node_id, node, kind, self.wait)
                    results[index] = UNTAKEN
                    return
            results[index] = self._results.pop(request, result)
            if results[index] is None:
                log.warning("cluster: node %d: node %d did not answer a %s it took",
                            self.node_id, node, kind)
        except (psycopg.Error, StoreOpenError) as error:
            log.warning("cluster: node %d: %s", self.node_id, error)
        finally:
            del self._waiting[request]
            self._results.pop(request, None)

    async def _withdraw(self, request: int, answered: trio.Event, *, leave_running: bool
                        ) -> tuple[bool, int | None]:
        """Withdraw `request` (left to its node if it is running it and `leave_running`):
        whether its node had taken it, and its result if one came. An answer collected in
        the meantime (the row gone) is the result."""
        with trio.CancelScope(shield=True):  # (given up: never run later unseen)
            withdrawn: tuple[bool, int | None] | None = await self.on_db(
                nodes.withdraw, request, leave_running)
        if withdrawn is None:  # collected: `_collecting` has it, or is about to
            with trio.move_on_after(self.wait):
                await answered.wait()
            return True, self._results.get(request)
        return withdrawn

    async def _collecting(self) -> None:
        while True:
            await self._collect.wait()
            self._collect = trio.Event()
            try:
                collected = await self.on_db(nodes.collect, self.node_id)
            except (psycopg.Error, StoreOpenError) as error:  # the next poll reads again
                log.warning("cluster: node %d: %s", self.node_id, error)
                continue
            for request, result in collected:
                self._results[request] = result
                answered = self._waiting.get(request)
                if answered is not None:
                    answered.set()

    # -- the owner --------------------------------------------------------------------------

    async def _serving(self, nursery: trio.Nursery) -> None:
        while True:
            await self._serve.wait()
            self._serve = trio.Event()
            try:
                taken = await self.on_db(nodes.take_requests, self.node_id)
            except (psycopg.Error, StoreOpenError) as error:  # the next poll takes them
                log.warning("cluster: node %d: %s", self.node_id, error)
                continue
            for request, asker, kind, text in taken:
                nursery.start_soon(self._answer, request, asker, kind, text)

    async def _answer(self, request: int, asker: int, kind: str, text: str) -> None:
        """Run what `asker` asked, as for an ESME of this node, and answer it."""
        try:
            result = await self._run(kind, decode(text))
        except StoreWriteError:  # (the store logged it) nothing was changed
            result = FAILED
        except Exception:
            log.exception("cluster: node %d: request %d from node %d failed", self.node_id,
                          request, asker)
            result = FAILED
        try:
            await self.on_db(nodes.answer, request, asker, result)
        except (psycopg.Error, StoreOpenError) as error:  # the asker's wait runs out
            log.warning("cluster: node %d: cannot answer node %d (%s)", self.node_id, asker,
                        error)
        self.wake_outbound()  # (a cancel may owe a receipt)

    async def _run(self, kind: str, parameters: dict[str, Any]) -> int:
        """The store's own call, on this node's messages."""
        if kind not in KINDS:
            raise ValueError(f"no such request: {kind!r}")
        changed = int(await self.committer.call(getattr(self.store, kind), **parameters))
        self.committer.announce_change()  # (a message replaced may be due sooner)
        return changed


def encode(parameters: dict[str, Any]) -> str:
    """A store call's keyword arguments as JSON (times as POSIX seconds, octets as hex)."""
    return json.dumps({key: _plain(value) for key, value in parameters.items()})


def decode(text: str) -> dict[str, Any]:
    """What `encode` wrote, as it was."""
    return {key: _value(value) for key, value in json.loads(text).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"at": value.timestamp()}
    if isinstance(value, bytes | bytearray):
        return {"octets": bytes(value).hex()}
    return value


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        if "at" in value:
            return datetime.fromtimestamp(value["at"], UTC)
        return bytes.fromhex(value["octets"])
    return value
