"""SMPP latency while the control API receives bodies at its size limit without pause.

Starts an SMSC in this process with the control API on (a token set), keeps N clients posting
JSON bodies just under `control.max_body_bytes` to POST /v1/mo (parsed and refused for an
unknown field), and one probe ESME submitting every few milliseconds; prints the probe's
submit_sm_resp latency. Figures go to docs/hardening.md.

    .venv/bin/python benchmarks/control_flood.py --seconds 20 --clients 4
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import httpx
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from smsc.app import run  # noqa: E402
from smsc.config import Config  # noqa: E402
from smsc.pdu import SubmitSm  # noqa: E402
from tests.esme import Esme  # noqa: E402

TOKEN = "flood-test-token"


async def post_forever(port: int, body: bytes, counts: list[int], statuses: set[int]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        while True:
            response = await http.post("/v1/mo", content=body, headers=headers)
            statuses.add(response.status_code)
            counts[0] += 1


async def main(args: argparse.Namespace) -> None:
    config = Config()
    config = dataclasses.replace(
        config,
        server=dataclasses.replace(config.server, port=0),
        store=dataclasses.replace(config.store, kind="memory"),
        control=dataclasses.replace(config.control, port=0, token=TOKEN),
    )
    limit = config.control.max_body_bytes
    filler = "x" * (limit - 200)
    body = json.dumps({"source": "4915100000001", "destination": "4242", "text": "hi",
                       "padding": filler}).encode()
    assert len(body) <= limit
    latencies: list[float] = []
    counts = [0]
    statuses: set[int] = set()
    async with trio.open_nursery() as nursery:
        running = await nursery.start(run, config)
        for _ in range(args.clients):
            nursery.start_soon(post_forever, running.http_port, body, counts, statuses)
        stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
        esme = Esme(stream)
        await esme.bind("transmitter")
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end:
            started = trio.current_time()
            response = await esme.request(SubmitSm(destination_addr="4915100000099",
                                                   short_message=b"probe"))
            assert response.command_status == 0
            latencies.append(trio.current_time() - started)
            await trio.sleep(args.interval)
        nursery.cancel_scope.cancel()
    latencies.sort()

    def q(f: float) -> float:
        return latencies[min(len(latencies) - 1, int(f * len(latencies)))] * 1e3

    print(f"bodies of {len(body):,} octets posted: {counts[0]:,} in {args.seconds:.0f} s "
          f"by {args.clients} clients (statuses {sorted(statuses)})")
    print(f"probe submit_sm: {len(latencies):,}, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, "
          f"max {latencies[-1] * 1e3:.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.005)
    trio.run(main, parser.parse_args())
