"""The outbound queue as a table store keeps it in memory: counts, leases and a mirror.

The table holds every owed item; this holds what claiming them needs without reading it:
per account the number owed, the items handed out and not yet acknowledged (leases, in
memory only: after a restart every unacknowledged item is pending again), and, within a
limit, the items themselves. Item ids are counted here too, so that a batch's rows are
written under ids known before they are inserted.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from smsc.store.models import Message, OutboundItem, OutboundKind, make_outbound_item

MIRROR_LIMIT = 100_000
"""Outbound items kept in memory too (all accounts together), so that claiming them reads
nothing; an account whose items would pass the limit (a receiver gone for long) is claimed
from the table instead until its queue is empty again, so the memory stays bounded."""

OutboundRow = tuple[int, str, str, int, int, int]
"""An item as stored: item_id, system_id, kind, message_id, attempts, state."""
Notice = tuple[str, OutboundKind, Message]
"""An owed notification being queued: account, kind, the message as it is to be told."""


class OutboundMirror:
    """The in-memory side of the outbound table (one caller at a time, like the store).

    `read_after(item_id, system_id, count)` reads an account's rows after an item id, in id
    order; `items_of(rows)` makes items of rows (leaving out any whose message is gone)."""

    def __init__(
        self,
        limit: int,
        read_after: Callable[[int, str, int], list[OutboundRow]],
        items_of: Callable[[Sequence[OutboundRow]], list[OutboundItem]],
    ) -> None:
        self.limit = limit
        self._read_after = read_after
        self._items_of = items_of
        self.counts: Counter[str] = Counter()
        """Per account, its items in the table (queued or leased)."""
        self.leased: dict[int, str] = {}
        """Items handed out and not yet acknowledged: item_id → system_id."""
        self.leased_by: Counter[str] = Counter()
        self.claim_from: dict[str, int] = {}
        """Per account, the item id up to which every outbound item is leased or done."""
        self.mirror: dict[str, dict[int, OutboundItem]] = {}
        """Per mirrored account, its outbound items by id, as they are handed out. An account
        not here did not fit within the mirror limit and is claimed by SELECT until its
        queue is empty."""
        self.ready: dict[str, list[int]] = {}
        """Per mirrored account, a heap of the ids of its unleased items (oldest first)."""
        self.mirrored = 0
        """Items in the mirror, all accounts together (at most the mirror limit)."""
        self.next_item_id = 1

    def load(self, counts: Counter[str], next_item_id: int,
             rows: Callable[[], Iterable[OutboundRow]]) -> None:
        """Start over from the table: its counts per account, the next item id, and its rows
        in id order (read only when some account fits in the mirror). Items handed out stay
        leased."""
        self.claim_from = {}
        self.counts = counts
        self.next_item_id = next_item_id
        self.mirror = {}
        self.ready = {}
        self.mirrored = 0
        leased = self.leased
        for system_id, count in sorted(counts.items(), key=lambda c: c[1]):
            if self.mirrored + count <= self.limit:  # the smallest queues first
                self.mirror[system_id] = {}
                self.ready[system_id] = []
                self.mirrored += count
        if self.mirror:  # one pass in id order (the table has no index by account)
            mirror, ready = self.mirror, self.ready
            mirrored_rows = [row for row in rows() if row[1] in mirror]
            for item in self._items_of(mirrored_rows):
                mirror[item.system_id][item.item_id] = item
                if item.item_id not in leased:
                    ready[item.system_id].append(item.item_id)  # ascending: a heap

    def add(self, notices: list[Notice]) -> None:
        """Count and mirror owed notices whose rows a transaction wrote under ids counted on
        from `next_item_id`, in their order (`outbound_runs`)."""
        item_id = self.next_item_id
        counts = self.counts
        mirror = self.mirror
        ready = self.ready
        mirrored_count = self.mirrored
        room = self.limit
        for system_id, kind, message in notices:
            counts[system_id] += 1
            mirrored = mirror.get(system_id)
            if mirrored is None and counts[system_id] == 1:  # a new account's first notice
                mirrored = mirror[system_id] = {}
                ready[system_id] = []
            if mirrored is not None:  # (None: spilled, claimed from the table)
                if mirrored_count < room:
                    mirrored[item_id] = make_outbound_item(item_id, system_id, kind, message)
                    ready[system_id].append(item_id)  # the newest id: still a heap
                    mirrored_count += 1
                else:  # the mirror is full: this account is claimed from the table
                    mirrored_count -= len(mirrored)
                    del mirror[system_id], ready[system_id]
                    self.claim_from[system_id] = 0
            item_id += 1
        self.mirrored = mirrored_count
        self.next_item_id = item_id

    def adopt(self, items: list[OutboundItem]) -> None:
        """Count and mirror items this store did not write (another node handed them over,
        or died owing them): any ids, in any order."""
        counts = self.counts
        for item in items:
            system_id = item.system_id
            counts[system_id] += 1
            mirrored = self.mirror.get(system_id)
            if mirrored is None and counts[system_id] == 1:
                mirrored = self.mirror[system_id] = {}
                self.ready[system_id] = []
            if mirrored is None:  # spilled: claimed from the table, from this one on
                self.claim_from[system_id] = min(self.claim_from.get(system_id, 0),
                                                 item.item_id - 1)
            elif self.mirrored < self.limit:
                mirrored[item.item_id] = item
                heapq.heappush(self.ready[system_id], item.item_id)
                self.mirrored += 1
            else:  # the mirror is full: this account is claimed from the table
                self.mirrored -= len(mirrored)
                del self.mirror[system_id], self.ready[system_id]
                self.claim_from[system_id] = 0

    def claim(self, system_id: str, limit: int) -> list[OutboundItem]:
        """The account's oldest unleased items: from its mirror, or, for an account with
        more waiting than that holds, read from where the last claim stopped (the items
        before are leased or done), so a claim reads the rows it hands out and not the whole
        window in flight."""
        ready = self.ready.get(system_id)
        if ready is not None:
            return self._claim_mirrored(system_id, ready, limit)
        leased = self.leased
        rows = self._read_after(self.claim_from.get(system_id, 0), system_id,
                                limit + self.leased_by[system_id])
        rows = [row for row in rows if row[0] not in leased][:limit]
        if not rows:
            return []
        items = self._items_of(rows)
        for item in items:
            leased[item.item_id] = system_id
        self.leased_by[system_id] += len(items)
        self.claim_from[system_id] = rows[-1][0]
        return items

    def _claim_mirrored(self, system_id: str, ready: list[int], limit: int
                        ) -> list[OutboundItem]:
        mirrored = self.mirror[system_id]
        leased = self.leased
        items: list[OutboundItem] = []
        pop = heapq.heappop
        while ready and len(items) < limit:
            item_id = pop(ready)
            items.append(mirrored[item_id])
            leased[item_id] = system_id
        self.leased_by[system_id] += len(items)
        return items

    def release(self, item_ids: list[int]) -> None:
        """Give leased items back to be claimed again (oldest first)."""
        claim_from = self.claim_from
        ready = self.ready
        for item_id in item_ids:
            system_id = self.leased.pop(item_id, None)
            if system_id is not None:
                self.leased_by[system_id] -= 1
                waiting = ready.get(system_id)
                if waiting is not None:
                    heapq.heappush(waiting, item_id)
                else:
                    claim_from[system_id] = min(claim_from.get(system_id, 0), item_id - 1)

    def acknowledged(self, item_ids: list[int]) -> None:
        """Forget items whose rows were deleted (sent and answered)."""
        counts = self.counts
        mirror = self.mirror
        leased = self.leased
        leased_by = self.leased_by
        unmirrored = 0
        for item_id in item_ids:
            system_id = leased.pop(item_id, None)
            if system_id is not None:
                counts[system_id] -= 1
                leased_by[system_id] -= 1
                items = mirror.get(system_id)
                if items is not None:
                    if items.pop(item_id, None) is not None:
                        unmirrored += 1
                elif not counts[system_id]:  # a spilled queue drained: mirrored again
                    mirror[system_id] = {}
                    self.ready[system_id] = []
        self.mirrored -= unmirrored

    def failed(self, item_ids: list[int]) -> None:
        """Count one more attempt for items whose rows were so updated, and give them back."""
        mirror = self.mirror
        for item_id in item_ids:
            system_id = self.leased.get(item_id)
            items = None if system_id is None else mirror.get(system_id)
            item = None if items is None else items.get(item_id)
            if items is not None and item is not None:
                items[item_id] = replace(item, attempts=item.attempts + 1)
        self.release(item_ids)

    def systems(self) -> set[str]:
        """Accounts owed anything."""
        return {s for s, count in self.counts.items() if count > 0}

    def owed(self) -> dict[str, int]:
        """system_id → items owed to it (queued or leased)."""
        return {s: n for s, n in self.counts.items() if n > 0}
