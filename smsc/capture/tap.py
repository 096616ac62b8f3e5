"""A session whose octets are tapped as they are read and written (capture, PDU trace).

The listener builds one of these instead of a plain `SmppSession` only when a capture file or
the PDU trace is on, so a server without them pays nothing per PDU. The tap sees the octets
the link reads and what the link takes to write, whatever path built them (the session's
encoder, prebuilt answers, receipt runs), once per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smsc.session import Role, SessionLimits, SmppSession

Tap = Callable[[SmppSession, str, bytes], None]
"""Called with the session, "in" (read from the peer) or "out" (written to it), the octets."""


class TappedSession(SmppSession):
    """An `SmppSession` handing every chunk read and written to its taps first."""

    def __init__(self, role: Role, *, limits: SessionLimits, now: float,
                 taps: Sequence[Tap]) -> None:
        super().__init__(role, limits=limits, now=now)
        self._taps = tuple(taps)

    def receive_data(self, data: bytes, now: float) -> None:
        if data:
            for tap in self._taps:
                tap(self, "in", data)
        super().receive_data(data, now)

    def data_to_send(self) -> bytes:
        data = super().data_to_send()
        if data:
            for tap in self._taps:
                tap(self, "out", data)
        return data


SessionFactory = Callable[[str, str], SmppSession]
"""Builds the SMSC-side session of a new connection from its (peer, local) addresses."""


def tapped_sessions(limits: SessionLimits, now: Callable[[], float],
                    taps: Sequence[Callable[[str, str], Tap]]) -> SessionFactory:
    """A session factory giving each connection the taps `taps` make for its addresses."""

    def new_session(peer: str, local: str) -> SmppSession:
        return TappedSession(Role.SMSC, limits=limits, now=now(),
                             taps=[make(peer, local) for make in taps])

    return new_session
