"""kill -9 in the middle of a submit stream loses no acknowledged message (SQLite store).

The server runs as a subprocess; an ESME submits over TCP with a window of 50 and answers
receipts. After the kill, a restart on the same data directory must deliver every message
whose submit_sm_resp reached the client, send every receipt owed, and never reuse an id.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import trio

from smsc.pdu import DeliverSm, QuerySm, SubmitSm
from smsc.pdu.constants import CommandStatus, MessageState
from smsc.session import RequestReceived, ResponseReceived

from ..esme import Esme

ROOT = Path(__file__).resolve().parents[2]
WINDOW = 50
KILL_AFTER = 400  # acknowledged submits before the kill
LIMIT = 60


async def start_server(config: Path) -> tuple[trio.Process, int]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "smsc", "serve", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = b""
    with trio.fail_after(LIMIT):
        while b"\n" not in output:
            chunk = await process.stdout.receive_some(4096)
            assert chunk, "server exited before it was ready"
            output += chunk
    match = re.search(rb"SMPP on [^:]+:(\d+)", output)
    assert match, output
    return process, int(match.group(1))


async def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    config = tmp_path / "crash.toml"
    config.write_text(
        f'[server]\nport = 0\nenquire_link_timer = 0.0\n'
        f'[store]\nkind = "sqlite"\ndata_dir = "{tmp_path / "var"}"\n'
        f'[control]\nenabled = false\n'
    )
    acked: set[str] = set()
    receipted: set[str] = set()

    process, port = await start_server(config)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    esme = Esme(stream)
    with trio.fail_after(LIMIT):
        await esme.bind()
        in_flight = 0
        number = 0
        while len(acked) < KILL_AFTER:
            while in_flight < WINDOW:
                number += 1
                await esme.send(SubmitSm(source_addr="100", destination_addr=f"49151{number:07d}",
                                         short_message=b"crash test", registered_delivery=1))
                in_flight += 1
            event = await esme.next_event()
            if isinstance(event, ResponseReceived) and event.request.command_id == 4:
                in_flight -= 1
                if event.message.command_status == CommandStatus.ESME_ROK:
                    acked.add(event.message.message_id)  # type: ignore[attr-defined]
            elif isinstance(event, RequestReceived) and isinstance(event.message, DeliverSm):
                receipted.add(event.message.receipted_message_id)  # type: ignore[attr-defined]
        # receipts that came in the same reads are answered already (the server may have
        # stored those answers and owes them no more): count them too
        for event in esme.events:
            if isinstance(event, RequestReceived) and isinstance(event.message, DeliverSm):
                receipted.add(event.message.receipted_message_id)  # type: ignore[attr-defined]
    process.send_signal(signal.SIGKILL)  # submits are still in flight
    with trio.fail_after(LIMIT):
        await process.wait()
    await stream.aclose()

    process, port = await start_server(config)
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        esme = Esme(stream)
        with trio.fail_after(LIMIT):
            await esme.bind()
            while not acked <= receipted:
                event = await esme.next_event()
                if isinstance(event, RequestReceived) and isinstance(event.message, DeliverSm):
                    receipted.add(event.message.receipted_message_id)  # type: ignore[attr-defined]
            for message_id in sorted(acked)[:50]:
                answer = await esme.request(QuerySm(message_id=message_id, source_addr="100"))
                assert answer.message_state == MessageState.DELIVERED
            fresh = await esme.request(SubmitSm(destination_addr="4915199999999"))
            assert int(fresh.message_id, 16) > max(int(m, 16) for m in acked)  # type: ignore[attr-defined]
        await stream.aclose()
    finally:
        process.send_signal(signal.SIGTERM)
        with trio.fail_after(LIMIT):
            assert await process.wait() == 0
