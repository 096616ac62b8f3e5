"""/metrics and /v1/status over real HTTP on 127.0.0.1, after known traffic."""

from __future__ import annotations

import json
from typing import Any

import trio
import trio.testing

from smsc.config import ControlConfig
from smsc.pdu import EnquireLink, SubmitSm
from smsc.pdu.constants import CommandStatus

from ..esme import Esme


async def http_get(port: int, path: str, token: str = "") -> tuple[int, bytes]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    headers = f"Authorization: Bearer {token}\r\n" if token else ""
    await stream.send_all(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Connection: close\r\n\r\n".encode()
    )
    data = b""
    with trio.fail_after(10):
        while chunk := await stream.receive_some(65536):
            data += chunk
    await stream.aclose()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return int(head.split()[1]), body


def dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def samples(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_metrics_count_known_traffic(make_config: Any, start_smsc: Any) -> None:
    config = make_config(control=ControlConfig(enabled=True, port=0))
    running = await start_smsc(config)
    assert running.http_port
    client, server = trio.testing.memory_stream_pair()
    running.attach(server)
    esme = Esme(client)
    with trio.fail_after(10):
        await esme.bind()
        for _ in range(3):
            resp = await esme.request(SubmitSm(destination_addr="4915100000002",
                                               registered_delivery=1, short_message=b"m"))
            assert resp.command_status == CommandStatus.ESME_ROK
        bad = await esme.request(SubmitSm(destination_addr=""))
        assert bad.command_status == CommandStatus.ESME_RINVDSTADR
        for _ in range(3):
            await esme.next_request()  # receipts, answered
        await esme.request(EnquireLink())  # in order: the answers above are processed now

    status, body = await http_get(running.http_port, "/metrics")
    assert status == 200
    values = samples(body.decode())
    account = 'account="smppclient1"'
    assert values[f'smsc_submits_total{{{account},status="ESME_ROK"}}'] == 3
    assert values[f'smsc_submits_total{{{account},status="ESME_RINVDSTADR"}}'] == 1
    assert values[f'smsc_binds{{{account},mode="transceiver"}}'] == 1
    assert values[f"smsc_receipts_sent_total{{{account}}}"] == 3
    assert values['smpp_pdus_received_total{command="submit_sm"}'] == 4
    assert values['smpp_pdus_received_total{command="deliver_sm_resp"}'] == 3
    assert values['smpp_pdus_sent_total{command="deliver_sm",status="ESME_ROK"}'] == 3
    assert values['smpp_pdus_sent_total{command="submit_sm_resp",status="ESME_ROK"}'] == 3
    assert values['smsc_delivery_attempts_total{network="default",result="delivered"}'] == 3
    assert values["smsc_store_committed_messages_total"] == 3
    assert values["smsc_submit_response_seconds_count"] == 3  # the ones that were stored

    status, body = await http_get(running.http_port, "/v1/status")
    assert status == 200
    report = json.loads(body)
    assert report["smpp_port"] == running.smpp_port
    assert [s["system_id"] for s in report["sessions"]] == ["smppclient1"]
    await client.aclose()
    running.shutdown.set()


async def test_bearer_token_protects_the_api(make_config: Any, start_smsc: Any) -> None:
    config = make_config(control=ControlConfig(enabled=True, port=0, token="t0ken"))
    running = await start_smsc(config)
    assert (await http_get(running.http_port, "/metrics"))[0] == 401
    assert (await http_get(running.http_port, "/metrics", token="wrong"))[0] == 401
    assert (await http_get(running.http_port, "/metrics", token="t0ken"))[0] == 200
    running.shutdown.set()

