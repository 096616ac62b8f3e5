"""What the control API reads and whom it lets in: bodies over the limit are answered 413 before
they are read, and the bearer token is compared in constant time, whatever octets arrive."""

from __future__ import annotations

import json
from typing import Any

import httpx
import trio

from smsc.config import ControlConfig

from .helpers import client

LIMIT = 10  # seconds any exchange may take


async def raw_exchange(port: int, head: bytes) -> bytes:
    """Send `head` (request line and headers, no body) and read the whole answer."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(head)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = await stream.receive_some(65536)
            if not data:
                break
            answer += data
    return answer


async def test_a_body_announced_over_the_limit_is_answered_413_unread(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(LIMIT):
        # ten million octets announced and never sent: the answer comes all the same
        answer = await raw_exchange(running.http_port, (
            b"POST /v1/mo HTTP/1.1\r\nHost: smsc\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000000\r\n\r\n"))
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    body = rest.partition(b"\r\n\r\n")[2]
    assert json.loads(body) == {"error": "the body is larger than 65536 octets"}
    running.shutdown.set()


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(
    make_config: Any, start_smsc: Any
) -> None:
    control = ControlConfig(port=0, max_body_bytes=4096)
    running = await start_smsc(make_config(control=control))
    chunk = b"200\r\n" + b" " * 0x200 + b"\r\n"
    with trio.fail_after(LIMIT):
        # no Content-Length: nine chunks of 512 octets, and the body never ends
        answer = await raw_exchange(running.http_port, (
            b"POST /v1/mo HTTP/1.1\r\nHost: smsc\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 9))
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.split()[1] == b"413"
        assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {
            "error": "the body is larger than 4096 octets"}
        async with client(running) as http:
            padded = json.dumps({"source_addr": "", "destination_addr": "1", "text": "x"})
            padded += " " * (4096 - len(padded))  # exactly the limit: read and judged
            response = await http.post("/v1/mo", content=padded.encode())
            assert response.status_code == 422, response.text
    running.shutdown.set()


async def test_the_token_is_compared_as_octets_in_constant_time(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0, token="gehe1m-ö")))
    with trio.fail_after(LIMIT):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}") as http:
            right = {"Authorization": "Bearer gehe1m-ö".encode()}
            assert (await http.get("/v1/status", headers=right)).status_code == 200
            for wrong in (b"Bearer gehe1m-\xf6", b"Bearer gehe1m-", b"Bearer \xff\xfe", b""):
                response = await http.get("/v1/status", headers={"Authorization": wrong})
                assert response.status_code == 401, wrong
                assert response.json() == {"error": "unauthorized"}
        async with client(running, token="wrong") as http:
            assert (await http.get("/metrics")).status_code == 401
    running.shutdown.set()
