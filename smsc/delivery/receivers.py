"""The ESMEs' live binds as the delivery side sees them: `Receiver` and `BindRegistry`.

Delivery (receipts, MO, alert_notification) needs only a few things of a connection: whether
it is open and bound, its window, its bind mode and dialect, and a way to queue PDUs. The
`Receiver` protocol names them, so that this package never depends on the server's `Link`,
which satisfies it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

import trio

from smsc.pdu import Pdu, Prebuilt
from smsc.session import BindType


class Receiver(Protocol):
    """One bound connection that deliveries can be sent over."""

    peer: str
    """The peer's address, for log lines."""
    is_open: bool
    """False once the connection is closed."""

    @property
    def bound(self) -> bool:
        """Whether the session is bound (and not closing)."""

    @property
    def bind_type(self) -> BindType | None:
        """TX, RX or TRX once bound."""

    @property
    def system_id(self) -> str:
        """The account the connection is bound as."""

    @property
    def window_free(self) -> int:
        """How many more requests may be sent before responses come back."""

    @property
    def speaks_34(self) -> bool:
        """Whether the peer bound at SMPP 3.4 or later (TLVs allowed)."""

    def send(self, message: Pdu, now: float | None = None) -> Pdu:
        """Queue one PDU; raises `smsc.session.LocalProtocolError` when not allowed."""

    def send_prebuilt_run(self, messages: Sequence[Prebuilt], now: float) -> int:
        """Queue requests prebuilt, as many as the window takes; returns how many."""


class BindRegistry:
    """Bound connections per system_id; wakes whoever waits for a bind or an unbind."""

    def __init__(self) -> None:
        self._bound: dict[str, list[Receiver]] = defaultdict(list)
        self._receiving: dict[str, list[Receiver]] = {}
        """The RX/TRX connections among `_bound`, so that finding receivers skips
        transmitters."""
        self._changed = trio.Event()

    def add(self, system_id: str, receiver: Receiver) -> None:
        self._bound[system_id].append(receiver)
        bind_type = receiver.bind_type
        if bind_type is not None and bind_type.can_receive:
            self._receiving.setdefault(system_id, []).append(receiver)
        self._notify()

    def remove(self, system_id: str, receiver: Receiver) -> None:
        bound = self._bound.get(system_id)
        if bound and receiver in bound:
            bound.remove(receiver)
            if not bound:
                del self._bound[system_id]
            receiving = self._receiving.get(system_id)
            if receiving and receiver in receiving:
                receiving.remove(receiver)
                if not receiving:
                    del self._receiving[system_id]
            self._notify()

    def count(self, system_id: str) -> int:
        return len(self._bound.get(system_id, ()))

    def receivers(self, system_id: str) -> list[Receiver]:
        """Open RX/TRX connections of `system_id`, in bind order."""
        return [
            receiver
            for receiver in self._receiving.get(system_id, ())
            if receiver.is_open and receiver.bound
        ]

    def receiving_systems(self) -> set[str]:
        """The accounts with an RX/TRX connection bound."""
        return set(self._receiving)

    async def wait_changed(self) -> None:
        """Return at the next bind or unbind."""
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
