"""RecentAcknowledgements: which messages' receipts (or MO messages) an ESME acknowledged
lately, for `ControlPlane.wait_acknowledged`.

Kept in two generations of a dict; the older one is dropped whole once the newer has lived
`min_age` seconds and holds half of `floor` entries (or half of `ceiling`, whatever its age).
So an entry is remembered for at least `min_age` seconds and the last `floor / 2` always are,
at most `ceiling` are held, and at a steady rate the memory it takes levels off after
`2 * min_age` seconds — with nothing per entry beyond one dict item, on the hot path.
"""

from __future__ import annotations

from smsc.store import OutboundItem, OutboundKind


class RecentAcknowledgements:
    def __init__(self, *, now: float, min_age: float = 30.0, floor: int = 10000,
                 ceiling: int = 100000) -> None:
        self._current: dict[int, OutboundKind] = {}
        self._previous: dict[int, OutboundKind] = {}
        self._started = now
        self._last_tick = now
        self._min_age = min_age
        self._floor_half = max(floor // 2, 1)
        self._ceiling_half = max(ceiling // 2, 1)

    def add(self, message_id: int, kind: OutboundKind) -> None:
        current = self._current
        current[message_id] = kind
        if len(current) >= self._ceiling_half:
            self._rotate(self._last_tick)

    def add_items(self, items: list[OutboundItem]) -> None:
        """`add` for each item's message and kind."""
        current = self._current
        for item in items:
            current[item.message.message_id] = item.kind
        if len(current) >= self._ceiling_half:
            self._rotate(self._last_tick)

    def get(self, message_id: int) -> OutboundKind | None:
        kind = self._current.get(message_id)
        return self._previous.get(message_id) if kind is None else kind

    def tick(self, now: float) -> None:
        """Call now and then (each second): retires the older generation when due."""
        self._last_tick = now
        if now - self._started >= self._min_age and len(self._current) >= self._floor_half:
            self._rotate(now)

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def _rotate(self, now: float) -> None:
        self._previous = self._current
        self._current = {}
        self._started = now
