"""End-to-end throughput of the whole server (a benchmark, not a test).

Starts the SMSC in its own process with the given config, then drives it from this process:
N connections bound as transceivers, each keeping a window of submit_sm in flight, every
message asking for a receipt, every receipt answered. Reports messages/s (submit → receipt),
submit_sm_resp and submit → receipt latency percentiles, and the server's CPU time and peak
memory.

Run: .venv/bin/python benchmarks/e2e.py --config configs/bench-memory.toml --messages 50000
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.pdu import BindTransceiver, DeliverSm, SubmitSm, make_response
from smsc.session import (
    RequestReceived,
    ResponseReceived,
    Role,
    SessionLimits,
    SmppSession,
)

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Stats:
    def __init__(self) -> None:
        self.resp_latency: list[float] = []
        self.receipt_latency: list[float] = []
        self.statuses: dict[int, int] = {}
        self.receipts = 0


async def connection(port: int, count: int, window: int, stats: Stats, system_id: str,
                     password: str) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    session = SmppSession(Role.ESME, limits=SessionLimits(window=window + 1, response_timer=60,
                                                          enquire_link_timer=0),
                          now=trio.current_time())
    session.send(BindTransceiver(system_id=system_id, password=password), trio.current_time())
    await stream.send_all(session.data_to_send())
    bound = False
    sent = 0
    acked = 0
    submitted_at: dict[str, float] = {}
    sent_at: dict[int, float] = {}
    receipts = 0
    while receipts < count:
        if bound:
            now = trio.current_time()
            while sent < count and sent - acked < window:
                message = session.send(SubmitSm(
                    source_addr="100", destination_addr=f"4915{sent:09d}", registered_delivery=1,
                    short_message=b"Your code is 123456. It expires in 5 minutes."), now)
                sent_at[message.sequence_number] = now
                sent += 1
        out = session.data_to_send()
        if out:
            await stream.send_all(out)
        data = await stream.receive_some(65536)
        if not data:
            raise RuntimeError("server closed the connection")
        now = trio.current_time()
        session.receive_data(data, now)
        while (event := session.next_event()) is not None:
            if isinstance(event, ResponseReceived):
                if not bound:
                    bound = True
                    continue
                acked += 1
                status = event.message.command_status
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
                started = sent_at.pop(event.request.sequence_number)
                stats.resp_latency.append(now - started)
                if status == 0:
                    submitted_at[event.message.message_id] = started  # type: ignore[attr-defined]
                else:
                    receipts += 1  # no receipt will come for a refused message
            elif isinstance(event, RequestReceived) and isinstance(event.message, DeliverSm):
                session.send(make_response(event.message), now)
                started_at = submitted_at.pop(
                    event.message.receipted_message_id, None)  # type: ignore[attr-defined]
                if started_at is not None:
                    stats.receipt_latency.append(now - started_at)
                receipts += 1
                stats.receipts += 1
    out = session.data_to_send()
    if out:
        await stream.send_all(out)
    await stream.aclose()


def process_figures(pid: int) -> tuple[float, float]:
    """CPU seconds used and peak resident MiB of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    cpu = ticks / 100.0
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [sys.executable, "-m", "smsc", "serve", "--config", str(args.config), "--port", "0",
             "--data-dir", data_dir],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline().decode()
            port = int(re.search(r"SMPP on [^:]+:(\d+)", line).group(1))  # type: ignore[union-attr]
            stats = Stats()
            per_connection = args.messages // args.connections
            cpu_before, _ = process_figures(server.pid)
            started = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(args.connections):
                    nursery.start_soon(connection, port, per_connection, args.window, stats,
                                       args.system_id, args.password)
            elapsed = time.perf_counter() - started
            cpu_after, peak = process_figures(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    total = per_connection * args.connections
    ms = 1000.0
    print(f"config {args.config}, {args.connections} connection(s), window {args.window}, "
          f"{total:,} messages with receipts")
    print(f"  rate {total / elapsed:,.0f} messages/s end to end ({elapsed:.1f} s)")
    print("  submit_sm_resp latency ms: p50 {:.1f} p90 {:.1f} p99 {:.1f} max {:.1f}".format(
        *(percentile(stats.resp_latency, q) * ms for q in (0.5, 0.9, 0.99)),
        max(stats.resp_latency) * ms))
    print("  submit -> receipt latency ms: p50 {:.1f} p90 {:.1f} p99 {:.1f} max {:.1f}".format(
        *(percentile(stats.receipt_latency, q) * ms for q in (0.5, 0.9, 0.99)),
        max(stats.receipt_latency) * ms))
    print(f"  statuses {stats.statuses}, receipts {stats.receipts:,}")
    print(f"  server CPU {cpu_after - cpu_before:.1f} s ({(cpu_after - cpu_before) / elapsed:.0%} "
          f"of one core), peak RSS {peak:,.0f} MiB; "
          f"mean resp latency {statistics.fmean(stats.resp_latency) * ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "bench-memory.toml")
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--system-id", default="smppclient1")
    parser.add_argument("--password", default="password")
    trio.run(run, parser.parse_args())


if __name__ == "__main__":
    main()
