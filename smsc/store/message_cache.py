"""A table store's message cache: recently written unfinished messages, as objects.

Claims read it first, so that claiming a message written moments ago reads nothing back;
outbound items read from the table take their messages from it when it has them. It holds
only what is committed (the store applies a transaction's messages to it after COMMIT).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from smsc.pdu.constants import MessageState
from smsc.store.models import Message, OutboundItem, OutboundKind
from smsc.store.outbound_mirror import OutboundRow
from smsc.store.rows import chunks, message_of

CACHE_SIZE = 50000
"""Recently written unfinished messages kept as objects, so that claiming them due reads
nothing back (finished ones are told from the outbound mirror, or read from their rows)."""
INTERMEDIATE_KIND = OutboundKind.INTERMEDIATE.value
_KINDS = {kind.value: kind for kind in OutboundKind}
"""Stored kind → OutboundKind, without an enum call per claimed item."""


class MessageCache(OrderedDict[int, Message]):
    """Messages by id, the least recently written first; `read_rows(ids)` reads the rows
    of up to 500 ids (id, then the row codec's columns)."""

    def __init__(self, read_rows: Callable[[Sequence[int]], list[Any]]) -> None:
        super().__init__()
        self._read_rows = read_rows

    def remember(self, message: Message) -> None:
        message_id = message.message_id
        if message_id in self:
            self.move_to_end(message_id)
        self[message_id] = message
        if len(self) > CACHE_SIZE:
            self.popitem(last=False)

    def fetch(self, ids: Sequence[int]) -> list[Message]:
        """The messages of `ids` still stored, in that order: cached, or read."""
        if all(i in self for i in ids):
            return [self[i] for i in ids]
        messages: list[Message] = []
        for chunk in chunks(ids):
            by_id = {row[0]: row for row in self._read_rows(chunk)}
            messages.extend(message_of(by_id[i]) for i in chunk if i in by_id)
        return messages

    def items_of(self, rows: Sequence[OutboundRow]) -> list[OutboundItem]:
        """Outbound rows (item_id, system_id, kind, message_id, attempts, state) as items,
        their messages cached or read; an intermediate notification with the state it was
        owed for. An item whose message is gone is left out."""
        missing = [row[3] for row in rows if row[3] not in self]
        read = {m.message_id: m for m in self.fetch(missing)} if missing else {}
        items: list[OutboundItem] = []
        for item_id, system_id, kind, message_id, attempts, state in rows:
            message = self.get(message_id) or read.get(message_id)
            if message is None:
                continue
            if kind == INTERMEDIATE_KIND:
                message = replace(message, state=MessageState(state))
            items.append(OutboundItem(item_id, system_id, _KINDS[kind], message, attempts))
        return items
