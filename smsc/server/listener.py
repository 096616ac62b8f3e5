"""SMPP listeners: accept TCP (or TLS) connections and run one Link per connection.

A ConnectionGate, shared by every listener of the server, caps the connections open at once,
in total and per peer address: one over a cap is closed at once, before any TLS handshake or
SMPP byte (docs/hardening.md). Closing the gate, when shutdown starts, closes the listening
sockets; the connections already open are left to finish.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

import trio

from smsc.clock import Clock
from smsc.logs import current_link
from smsc.pdu import Pdu
from smsc.server.link import Link, LinkHandler
from smsc.session import Role, SessionLimits, SmppSession

log = logging.getLogger("smsc.listener")


def _peer_name(stream: trio.abc.Stream, *, local: bool = False) -> tuple[str, int] | None:
    socket_stream = stream
    if isinstance(stream, trio.SSLStream):
        socket_stream = stream.transport_stream
    try:
        sock = socket_stream.socket  # type: ignore[attr-defined]
        host, port = (sock.getsockname() if local else sock.getpeername())[:2]
    except (AttributeError, OSError):
        return None
    return host, port


def describe_peer(stream: trio.abc.Stream, *, local: bool = False) -> str:
    """`host:port` (`[v6]:port`) of the connection's peer, or of its own end if `local`."""
    name = _peer_name(stream, local=local)
    if name is None:
        return "unknown:0"
    host, port = name
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ConnectionGate:
    """Which accepted connections may stay: at most `max_total` open at once and
    `max_per_address` from one peer address (0: no cap), none once closed."""

    def __init__(self, max_total: int = 0, max_per_address: int = 0) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self.open = 0
        """Connections admitted and not yet released."""
        self.per_address: dict[str, int] = {}
        self.refused = 0
        """Connections refused since start (a cap, or the gate closed)."""
        self.closed = False
        self._accepting: list[trio.CancelScope] = []

    def admit(self, address: str) -> bool:
        """Count a new connection from `address` in, or say it must be closed."""
        from_there = self.per_address.get(address, 0)
        if (
            self.closed
            or (self.max_total and self.open >= self.max_total)
            or (self.max_per_address and from_there >= self.max_per_address)
        ):
            self.refused += 1
            return False
        self.open += 1
        self.per_address[address] = from_there + 1
        return True

    def release(self, address: str) -> None:
        """Count an admitted connection out again once it is closed."""
        self.open -= 1
        left = self.per_address[address] - 1
        if left:
            self.per_address[address] = left
        else:
            del self.per_address[address]

    def guard(self, accepting: trio.CancelScope) -> None:
        """Cancel `accepting` (a listener's accept loops) when the gate closes."""
        self._accepting.append(accepting)
        if self.closed:
            accepting.cancel()

    def close(self) -> None:
        """Stop accepting: every guarded listener closes its sockets; open links stay."""
        self.closed = True
        for accepting in self._accepting:
            accepting.cancel()


class SmppListener:
    """Serves SMPP on one address; `links` holds every open connection for shutdown."""

    def __init__(
        self,
        *,
        handler: LinkHandler,
        limits: SessionLimits,
        clock: Clock,
        links: set[Link],
        ssl_context: ssl.SSLContext | None = None,
        gate: ConnectionGate | None = None,
        name: str = "smpp",
        on_link: Callable[[Link], None] | None = None,
        on_sent: Callable[[Pdu], None] | None = None,
        on_sent_prebuilt: Callable[[int, int], None] | None = None,
        new_session: Callable[[str, str], SmppSession] | None = None,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.clock = clock
        self.links = links
        self.ssl_context = ssl_context
        self.gate = gate if gate is not None else ConnectionGate()
        self.name = name
        """Named in the logs and the banner (`[[server.listeners]]` name)."""
        self.on_link = on_link
        self.on_sent = on_sent
        self.on_sent_prebuilt = on_sent_prebuilt
        self.new_session = new_session
        """Builds each connection's session from its (peer, local) addresses, when a capture
        or the PDU trace taps them (`smsc.capture.tap`); otherwise a plain SmppSession."""

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        host: str,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on `listeners` (bound already: `sockets`) until cancelled or until the
        gate closes, then wait for the connections still open; reports the bound port
        through task_status."""
        bound_port = listeners[0].socket.getsockname()[1]
        served: list[trio.abc.Listener[trio.abc.Stream]] = list(listeners)
        if self.ssl_context is not None:
            served = [
                trio.SSLListener(listener, self.ssl_context, https_compatible=False)
                for listener in listeners
            ]
        log.info("listener %s: SMPP%s listening on %s:%d", self.name,
                 "/TLS" if self.ssl_context else "", host, bound_port)
        task_status.started(bound_port)  # listening: connections wait in the backlog
        async with trio.open_nursery() as connections:
            try:
                with trio.CancelScope() as accepting:
                    self.gate.guard(accepting)
                    await trio.serve_listeners(self.serve_accepted, served,
                                               handler_nursery=connections)
            finally:
                with trio.CancelScope(shield=True):
                    for listener in served:  # what serve_listeners has not closed yet
                        await listener.aclose()
            log.info("listener %s: SMPP%s on port %d no longer accepting connections",
                     self.name, "/TLS" if self.ssl_context else "", bound_port)

    async def serve_accepted(self, stream: trio.abc.Stream) -> None:
        """Serve an accepted connection if the gate lets it in, else close it at once."""
        name = _peer_name(stream)
        address = name[0] if name is not None else ""
        gate = self.gate
        if not gate.admit(address):
            if gate.refused & (gate.refused - 1) == 0:  # the 1st, 2nd, 4th, 8th... refusal
                log.warning("listener %s refused a connection from %s: %d open (max %d, %d "
                            "per address), %d refused so far", self.name, address, gate.open,
                            gate.max_total, gate.max_per_address, gate.refused)
            transport = stream.transport_stream if isinstance(stream, trio.SSLStream) else stream
            await trio.aclose_forcefully(transport)
            return
        try:
            await self.handle(stream)
        finally:
            gate.release(address)

    async def handle(self, stream: trio.abc.Stream, greeting: Pdu | None = None) -> None:
        """Serve one connected stream until it closes (also used for in-memory streams).

        `greeting` is sent first: the outbind of a connection the SMSC opened itself.
        """
        peer = describe_peer(stream)
        session = (SmppSession(Role.SMSC, limits=self.limits, now=self.clock.monotonic())
                   if self.new_session is None else self.new_session(
                       peer, describe_peer(stream, local=True)))
        link = Link(
            stream, session, clock=self.clock, handler=self.handler, peer=peer,
            send_timeout=self.limits.response_timer, on_sent=self.on_sent,
            on_sent_prebuilt=self.on_sent_prebuilt,
        )
        self.links.add(link)
        current_link.set(link)  # every log record of this connection's tasks names it
        try:
            if self.on_link is not None:
                self.on_link(link)
            if greeting is not None:
                link.send(greeting)
            await link.run()
        except trio.BrokenResourceError:
            pass  # TLS handshake or transport failure: nothing to answer
        finally:
            self.links.discard(link)
