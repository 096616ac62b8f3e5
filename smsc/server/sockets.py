"""The SMPP listening sockets, made by the SMSC itself before anything else is opened.

They are bound first, so that a port in use stops `smsc serve` before it creates its data
directory or opens its store. And they are made here rather than by trio's
`open_tcp_listeners` so that `reuse_port` can set SO_REUSEPORT: the workers of
`smsc serve --workers N` each bind the same port, and the kernel spreads the connections
over them.
"""

from __future__ import annotations

import socket

import trio

BACKLOG = 4096
"""Connections that may wait to be accepted (the kernel caps it at somaxconn)."""


def open_listening_sockets(host: str, port: int, *, reuse_port: bool = False
                           ) -> list[trio.SocketListener]:
    """One listening socket per address `host` resolves to (as trio's own listeners:
    SO_REUSEADDR, IPv6 sockets IPv6 only); with `reuse_port`, SO_REUSEPORT too.

    Raises:
        OSError: an address that cannot be resolved or bound (the sockets made so far are
            closed).
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    made: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(
                (info[0], info[1], info[2], "", info[4]) for info in infos):
            sock = socket.socket(family, kind, protocol)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return [trio.SocketListener(trio.socket.from_stdlib_socket(sock)) for sock in made]


def reserve_ports(host: str, port: int) -> list[socket.socket]:
    """Sockets bound, not listening, with SO_REUSEPORT, to `port` (a free one for 0) on each
    address of `host`: they hold the port for workers that then bind and listen on it with
    SO_REUSEPORT themselves (a socket that does not listen is given no connections).

    Raises:
        OSError: the port cannot be bound (in use by a socket without SO_REUSEPORT...).
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    made: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in infos:
            sock = socket.socket(family, kind, protocol)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(made) > 1:  # the port the first address got, on all
                address = (address[0], made[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return made
