"""SMPP listeners: accept TCP (or TLS) connections and run one Link per connection."""

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


def describe_peer(stream: trio.abc.Stream) -> str:
    socket_stream = stream
    if isinstance(stream, trio.SSLStream):
        socket_stream = stream.transport_stream
    try:
        host, port = socket_stream.socket.getpeername()[:2]  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return "unknown:0"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
        on_link: Callable[[Link], None] | None = None,
        on_sent: Callable[[Pdu], None] | None = None,
        on_sent_plain: Callable[[int, int], None] | None = None,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.clock = clock
        self.links = links
        self.ssl_context = ssl_context
        self.on_link = on_link
        self.on_sent = on_sent
        self.on_sent_plain = on_sent_plain

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen until cancelled; reports the bound port through task_status."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound_port = listeners[0].socket.getsockname()[1]
        served: list[trio.abc.Listener[trio.abc.Stream]] = list(listeners)
        if self.ssl_context is not None:
            served = [
                trio.SSLListener(listener, self.ssl_context, https_compatible=False)
                for listener in listeners
            ]
        log.info("SMPP%s listening on %s:%d", "/TLS" if self.ssl_context else "", host,
                 bound_port)
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self.handle, served)
            task_status.started(bound_port)

    async def handle(self, stream: trio.abc.Stream, greeting: Pdu | None = None) -> None:
        """Serve one connected stream until it closes (also used for in-memory streams).

        `greeting` is sent first: the outbind of a connection the SMSC opened itself.
        """
        session = SmppSession(Role.SMSC, limits=self.limits, now=self.clock.monotonic())
        link = Link(
            stream, session, clock=self.clock, handler=self.handler, peer=describe_peer(stream),
            send_timeout=self.limits.response_timer, on_sent=self.on_sent,
            on_sent_plain=self.on_sent_plain,
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
