"""CongestionGauge: the congestion_state an SMPP 5.0 session's submit answers carry (V5 2.9).

V5 leaves the measure to the MC (REFERENCE-5.0.md §5.1). Ours is how full the fuller of two
things is, in percent (0-100): the account's queue of unfinished messages against its
max_pending (none without one), and the link's window (its requests awaiting our answer or
ours awaiting its, against the account's window).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from smsc.pdu.constants import SmppVersion, Tag
from smsc.server.link import Link

_V50 = SmppVersion.V50
_TLV_HEADER = int(Tag.congestion_state).to_bytes(2, "big") + b"\x00\x01"
_TAILS = tuple(_TLV_HEADER + bytes((value,)) for value in range(101))
"""The congestion_state TLV of each value, as octets."""


class CongestionGauge:
    """See the module docstring."""

    def __init__(self, *, pending_count: Callable[[str], int],
                 max_pending: Mapping[str, int]) -> None:
        self.pending_count = pending_count
        """Unfinished messages of an account (the store's count, kept in memory)."""
        self.max_pending = max_pending
        """system_id → its max_pending, for the accounts that have one."""

    def state(self, link: Link, system_id: str) -> int:
        """The congestion_state of `link`, bound as `system_id`, now."""
        session = link.session
        window = max(session.peer_open_requests, session.outstanding) / session.limits.window
        limit = self.max_pending.get(system_id)
        queue = self.pending_count(system_id) / limit if limit else 0.0
        return min(100, round(100 * max(window, queue)))

    def tail(self, link: Link, system_id: str) -> bytes:
        """The congestion_state TLV to append to a response body on `link`: none unless the
        session speaks SMPP 5.0."""
        if link.session.version is not _V50:
            return b""
        return _TAILS[self.state(link, system_id)]
