"""StoredMessageRequests: query_sm, cancel_sm and replace_sm, answered from the store.

Each request reads or changes one stored message, so it waits for the store (off the trio
thread for SQLite) in a task of its own: the link's reader goes on meanwhile, and the answer
is sent when the store has spoken.

A cancel or replace is one store call (`MessageStore.cancel`, `.replace`), run by `change`:
here by default; on a store several nodes share, by the node that owns each message it
changes (`smsc.cluster.requests`), since the owner holds its messages in memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from smsc.accounts import Account
from smsc.clock import Clock
from smsc.delivery.committer import Committer
from smsc.pdu import CancelSm, Pdu, QuerySm, ReplaceSm, make_response
from smsc.pdu.constants import CommandStatus
from smsc.pdu.smpp_time import format_absolute
from smsc.server.link import Link
from smsc.store import StoreWriteError, parse_message_id
from smsc.store.models import group_summary
from smsc.submit import Rejected, SubmitPreparation

S = CommandStatus


class StoredMessageRequests:
    """See the module docstring; `run` hosts the requests' tasks."""

    def __init__(self, *, committer: Committer, clock: Clock, id_format: str,
                 submits: SubmitPreparation, after_change: Callable[[], None],
                 change: Callable[[str, dict[str, Any]], Awaitable[int]] | None = None
                 ) -> None:
        self.committer = committer
        self.store = committer.store
        self.clock = clock
        self.id_format = id_format
        """server.message_id_format: how the ESME writes the ids it asks about."""
        self.submits = submits
        """Reads a replace_sm's schedule and validity as a submit's."""
        self.after_change = after_change
        """Told after each request (a cancel or replace may change what is owed)."""
        self.change = change or self._change_here
        """Runs a cancel or replace (the store call's name and its keyword arguments); how
        many messages it changed."""
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def start(self, link: Link, account: Account, message: Pdu) -> None:
        """Answer a query_sm, cancel_sm or replace_sm from `account` once the store has."""
        assert self._nursery is not None, "run() first"
        self._nursery.start_soon(self._answer, link, account, message)

    async def _answer(self, link: Link, account: Account, message: Pdu) -> None:
        try:
            response = await self.response_to(account, message)
        except Rejected as rejected:
            response = make_response(message, rejected.status)
        except StoreWriteError as failed:  # (the store logs it) nothing was changed
            response = make_response(message, failed.status)
        if link.is_open and not link.session.closed:
            link.send(response)
        self.after_change()

    async def _change_here(self, kind: str, parameters: dict[str, Any]) -> int:
        changed = int(await self.committer.call(getattr(self.store, kind), **parameters))
        self.committer.announce_change()  # (a message replaced may be due sooner)
        return changed

    async def response_to(self, account: Account, message: Pdu) -> Pdu:
        """The response to one request (raises Rejected with the status to refuse it)."""
        now = self.clock.wall()
        system_id = account.system_id
        call = self.committer.call
        match message:
            case QuerySm():
                message_id = parse_message_id(message.message_id, self.id_format)
                found = [] if message_id is None else await call(
                    self.store.group, message_id, system_id
                )
                if not found or found[0].fields.source_addr != message.source_addr:
                    raise Rejected(S.ESME_RQUERYFAIL)
                summary = group_summary(found)
                return make_response(
                    message,
                    message_id=message.message_id,
                    final_date=format_absolute(summary.final_at) if summary.final_at else "",
                    message_state=int(summary.state),
                    error_code=(summary.network_error_code or 0) & 0xFF,
                )
            case CancelSm():
                message_id = None
                if message.message_id:
                    message_id = parse_message_id(message.message_id, self.id_format)
                    if message_id is None:
                        raise Rejected(S.ESME_RCANCELFAIL)
                elif not message.destination_addr:
                    raise Rejected(S.ESME_RCANCELFAIL)
                cancelled = await self.change("cancel", {
                    "system_id": system_id, "now": now, "message_id": message_id,
                    "source_addr": message.source_addr,
                    "destination_addr": message.destination_addr,
                    "service_type": message.service_type,
                })
                if not cancelled:
                    raise Rejected(S.ESME_RCANCELFAIL)
                return make_response(message)
            case ReplaceSm():
                message_id = parse_message_id(message.message_id, self.id_format)
                if message_id is None:
                    raise Rejected(S.ESME_RREPLACEFAIL)
                times = self.submits.times(account, message.schedule_delivery_time,
                                           message.validity_period, now)
                replaced = await self.change("replace", {
                    "message_id": message_id, "system_id": system_id,
                    "source_addr": message.source_addr, "now": now,
                    "payload": message.short_message if message.short_message else None,
                    "schedule_at": times.schedule_at,
                    "expires_at": times.expires_at if message.validity_period else None,
                    "registered_delivery": message.registered_delivery,
                })
                if not replaced:
                    raise Rejected(S.ESME_RREPLACEFAIL)
                return make_response(message)
        raise Rejected(S.ESME_RINVCMDID)  # pragma: no cover
