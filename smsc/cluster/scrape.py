"""One scrape of a sibling worker's metrics: an HTTP/1.0 GET on the loopback, read to its end.

The workers of one supervisor serve their metrics on 127.0.0.1 only, so this is all the HTTP
the first worker needs to gather them: no client library on the trio loop.
"""

from __future__ import annotations

import trio

MAX_METRICS_BYTES = 16 << 20
"""A scrape longer than this is refused (a worker's metrics are tens of kilobytes)."""


async def fetch_metrics(address: str, token: str = "") -> bytes:
    """The body of `GET /metrics` at `address` (`host:port`), in the Prometheus text format;
    OSError when it cannot connect, ValueError for an answer that is not 200."""
    host, _, port = address.rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        authorization = f"Authorization: Bearer {token}\r\n" if token else ""
        await stream.send_all(f"GET /metrics HTTP/1.0\r\nHost: {address}\r\n{authorization}"
                              "Accept: text/plain\r\nConnection: close\r\n\r\n".encode())
        received = bytearray()
        while chunk := await stream.receive_some(65536):
            received += chunk
            if len(received) > MAX_METRICS_BYTES:
                raise ValueError("answer too long")
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    first = head.split(b"\r\n", 1)[0]
    status = first.split()
    if len(status) < 2 or status[1] != b"200":
        raise ValueError(f"answered {first.decode('latin-1')!r}")
    return body
