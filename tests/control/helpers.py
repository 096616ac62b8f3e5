"""Helpers of the control API tests: ESMEs over TCP and an HTTP client for the API."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from smsc.pdu.constants import CommandStatus

from ..esme import Esme


async def connect(opened: list[Esme], running: Any, mode: str = "transceiver",
                  **bind: Any) -> Esme:
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    esme = Esme(stream)
    opened.append(esme)
    resp = await esme.bind(mode, **bind)
    assert resp.command_status == CommandStatus.ESME_ROK
    return esme


def client(running: Any, token: str = "") -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.http_port}", headers=headers,
                             timeout=10)


