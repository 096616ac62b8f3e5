"""What many idle connections cost the server: RSS before, during and after a flood (a
benchmark, not a test).

Starts `smsc serve` in its own process (in-memory store, control API off), then opens
`--connections` TCP connections to it, each sending the start of a PDU and nothing more, as an
attacker parking data in the server's buffers would. Reports the server's resident memory
before the flood, once it has taken in every connection, and after they are all closed; and
how many connections the server kept open (closing the others is what its caps are for).

Shapes of the partial PDU (`--shape`):
  big    a header announcing 65,536 octets and 60,000 octets of body (the most one PDU may
         hold once bound; before bind the server refuses any length over 98 at once)
  bind   97 of the 98 octets of the longest bind request (the most an unbound peer may park)

The connections come from `--addresses` loopback addresses (127.0.1.1, 127.0.1.2, ...), so
the per-address cap can be met or not. `--caps off` sets both caps to 0; `--source DIR` runs
the server code of another checkout (its config then gets no cap keys at all, for comparing
with code that has none).

Run: .venv/bin/python benchmarks/connection_flood.py --connections 6000 --addresses 60
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_connections(port: int) -> int:
    """Established TCP connections whose local end is the server's port (/proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            count += 1
    return count


def settle(pid: int, seconds: float = 2.0) -> float:
    """The server's RSS once it stopped changing for `seconds` (it is reading the flood)."""
    last = rss_mib(pid)
    while True:
        time.sleep(seconds)
        now = rss_mib(pid)
        if abs(now - last) < 0.5:
            return now
        last = now


def partial_pdu(shape: str) -> bytes:
    if shape == "big":
        return (65536).to_bytes(4, "big") + (4).to_bytes(4, "big") + bytes(8) + b"x" * 60000
    bind = ((98).to_bytes(4, "big") + (9).to_bytes(4, "big") + bytes(4) + (1).to_bytes(4, "big")
            + b"s" * 15 + b"\x00" + b"p" * 8 + b"\x00" + b"t" * 12 + b"\x00" + b"\x34\x01\x01"
            + b"9" * 40 + b"\x00")
    assert len(bind) == 98
    return bind[:-1]


def write_config(path: Path, caps: str, legacy: bool) -> None:
    server = "[server]\nenquire_link_timer = 0.0\nsession_init_timer = 0.0\n"
    server += "pdu_read_timer = 0.0\n"  # no timer frees anything during the measurement
    if not legacy and caps == "off":
        server += "max_connections = 0\nmax_connections_per_address = 0\n"
    path.write_text(server + '[store]\nkind = "memory"\n[control]\nenabled = false\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=6000)
    parser.add_argument("--addresses", type=int, default=60,
                        help="loopback source addresses the connections are spread over")
    parser.add_argument("--shape", choices=("big", "bind"), default="big")
    parser.add_argument("--caps", choices=("default", "off"), default="default")
    parser.add_argument("--source", type=Path, default=ROOT,
                        help="checkout whose server code runs (default: this one)")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.connections + 512
    if soft < wanted:  # the server inherits the limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    legacy = args.source.resolve() != ROOT
    data = partial_pdu(args.shape)
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "flood.toml"
        write_config(config, args.caps, legacy)
        env = {**os.environ, "PYTHONPATH": str(args.source.resolve())}
        server = subprocess.Popen(
            [sys.executable, "-m", "smsc", "serve", "--config", str(config), "--port", "0",
             "--data-dir", str(Path(work) / "var"), "--log-level", "error"],
            cwd=args.source, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        clients: list[socket.socket] = []
        try:
            assert server.stdout is not None
            line = server.stdout.readline().decode()
            found = re.search(r"SMPP on [^:]+:(\d+)", line)
            if found is None:
                raise SystemExit(f"connection_flood: the SMSC did not start: {line!r}")
            port = int(found.group(1))
            before = settle(server.pid, 1.0)
            started = time.perf_counter()
            for n in range(args.connections):
                client = socket.socket()
                client.bind((f"127.0.1.{n % args.addresses + 1}", 0))
                try:
                    client.connect(("127.0.0.1", port))
                    client.setblocking(False)
                    client.send(data)
                except OSError:
                    pass  # refused or reset: the server is entitled to
                clients.append(client)
            opened = time.perf_counter() - started
            during = settle(server.pid)
            kept = open_connections(port)
            for client in clients:
                client.close()
            clients.clear()
            after = settle(server.pid)
            left = open_connections(port)
        finally:
            for client in clients:
                client.close()
            server.terminate()
            server.wait(timeout=60)
    print(f"python {platform.python_version()}, server code from {args.source.resolve()}")
    print(f"{args.connections} connections from {args.addresses} addresses, shape {args.shape} "
          f"({len(data)} octets each), caps {'(none in that code)' if legacy else args.caps}; "
          f"opened in {opened:.1f} s")
    print(f"server RSS: before {before:.1f} MiB, during {during:.1f} MiB "
          f"(+{during - before:.1f}), after {after:.1f} MiB (+{after - before:.1f})")
    print(f"connections the server held: during {kept}, after {left}")


if __name__ == "__main__":
    main()
