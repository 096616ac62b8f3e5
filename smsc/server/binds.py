"""BindRegistry: the live links per system_id, and who may receive deliveries for it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

import trio

from smsc.session import BindType

if TYPE_CHECKING:
    from smsc.server.link import Link


class BindRegistry:
    """Tracks bound links per system_id; wakes whoever waits for a bind or an unbind."""

    def __init__(self) -> None:
        self._links: dict[str, list[Link]] = defaultdict(list)
        self._receiving: dict[str, list[Link]] = {}
        """The RX/TRX links among `_links`, so that finding receivers skips transmitters."""
        self._changed = trio.Event()

    def add(self, system_id: str, link: Link) -> None:
        self._links[system_id].append(link)
        bind_type = link.session.bind_type
        if bind_type is not None and bind_type.can_receive:
            self._receiving.setdefault(system_id, []).append(link)
        self._notify()

    def remove(self, system_id: str, link: Link) -> None:
        links = self._links.get(system_id)
        if links and link in links:
            links.remove(link)
            if not links:
                del self._links[system_id]
            receiving = self._receiving.get(system_id)
            if receiving and link in receiving:
                receiving.remove(link)
                if not receiving:
                    del self._receiving[system_id]
            self._notify()

    def count(self, system_id: str) -> int:
        return len(self._links.get(system_id, ()))

    def links(self) -> Iterator[Link]:
        for links in self._links.values():
            yield from links

    def receivers(self, system_id: str) -> list[Link]:
        """Open RX/TRX links of `system_id`, in bind order."""
        return [
            link
            for link in self._receiving.get(system_id, ())
            if link.is_open and link.session.bound
        ]

    def systems_with_receivers(self) -> set[str]:
        return {system_id for system_id in self._receiving if self.receivers(system_id)}

    def bind_types(self, system_id: str) -> list[BindType]:
        return [
            link.session.bind_type
            for link in self._links.get(system_id, ())
            if link.session.bind_type is not None
        ]

    async def wait_changed(self) -> None:
        """Return at the next bind or unbind (or window change the caller reports)."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    notify = _notify
