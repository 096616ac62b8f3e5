"""End-to-end throughput of the whole server (a benchmark, not a test).

Starts the SMSC in its own process with the given config, then runs `esme bench` in another
process against it: N connections bound as transceivers, each keeping a window of submit_sm
in flight, every message asking for a receipt (unless --no-receipts), every receipt answered.
Prints one table row: workload, config, submit and receipt rates, submit_sm_resp and
submit → receipt latency percentiles, the server's CPU time per message and its peak memory.
`--record` also appends the row to the table in docs/benchmarks.md.

Run: .venv/bin/python benchmarks/e2e.py --config configs/bench-memory.toml --messages 50000
(both processes run on the interpreter that runs this script: `make bench-venv` makes
.venv-bench on the system's optimised build, then `.venv-bench/bin/python benchmarks/e2e.py`).

`--store postgresql` runs the SMSC on `configs/bench-postgresql.toml` (unless --config says
otherwise) against the database `--dsn` names, or, without one, a throwaway PostgreSQL server
started from the installed binaries (default settings, fsync on; as the postgres user when
run as root) whose CPU time per message is reported too. The dsn reaches the SMSC as libpq's
PG* environment variables (the config's `store.dsn` is empty).

`--nodes N` (PostgreSQL) starts N SMSC processes on the one database, each a node with an
SMPP port of its own, and spreads the connections over them (`benchmarks/cluster_load.py`,
one load process); `--receipts-on other` submits on the first node only (transmitters) and
binds the receivers on the others, so that every receipt crosses nodes. The SMSC's CPU is
that of every node together, and each node's is reported too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.postgresql import ThrowawayPostgres  # noqa: E402

BENCH_SERVER_SETTINGS: tuple[str, ...] = ()
"""A throwaway server with PostgreSQL's default settings (fsync on), on its socket only."""
PG_ENVIRONMENT = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER",
                  "password": "PGPASSWORD", "dbname": "PGDATABASE", "sslmode": "PGSSLMODE"}
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- e2e-table: rows appended by benchmarks/e2e.py --record -->"
HEADER = (
    "| date | config | workload | submit/s | receipts/s | submit_sm_resp ms p50/p90/p99/max "
    "| submit → receipt ms p50/p90/p99/max | server CPU per msg | server peak RSS |\n"
    "|---|---|---|---:|---:|---|---|---:|---:|"
)


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


def bench_command(args: argparse.Namespace, port: int) -> list[str]:
    command = [
        sys.executable, "-m", "esme_client", "bench", "--port", str(port),
        "--system-id", args.system_id, "--password", args.password,
        "--connections", str(args.connections), "--window", str(args.window),
        "--size", str(args.size), "--encoding", args.encoding,
        "--processes", str(args.processes), "--json", "--progress", "off",
    ]
    if args.duration:
        command += ["--duration", str(args.duration)]
    else:
        command += ["--count", str(args.messages)]
    if args.rate:
        command += ["--rate", str(args.rate)]
    if args.receipts:
        command += ["--receipts"]
    return command


def spread_command(args: argparse.Namespace, ports: list[int]) -> list[str]:
    """The load over several nodes, or with receipts on other binds (one process)."""
    return [
        sys.executable, str(ROOT / "benchmarks" / "cluster_load.py"),
        "--ports", ",".join(map(str, ports)), "--receipts-on", args.receipts_on,
        "--system-id", args.system_id, "--password", args.password,
        "--connections", str(args.connections), "--window", str(args.window),
        "--size", str(args.size), "--encoding", args.encoding, "--count", str(args.messages),
        "--receipts" if args.receipts else "--no-receipts",
    ]


def capture_flags(args: argparse.Namespace, data_dir: str) -> list[str]:
    """`--capture FILE` when asked for (a file in the run's scratch directory)."""
    if not args.capture:
        return []
    return ["--capture", str(Path(data_dir) / f"capture.{args.capture}")]


def cluster_cpu(postmaster: int) -> float:
    """CPU seconds used so far by a PostgreSQL server: its postmaster and every process it
    started (backends, WAL writer, checkpointer...)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # (ended meanwhile)
            continue
        if int(stat.parent.name) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / 100.0
    return total


@contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[dict[str, str], int | None]]:
    """The SMSC's environment for the store (PG* variables for postgresql), and the pid of
    the PostgreSQL server whose CPU to count (None when it is not ours)."""
    if args.store != "postgresql":
        yield {}, None
        return
    if args.dsn:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(args.dsn)
        yield {PG_ENVIRONMENT[k]: str(v) for k, v in parts.items() if k in PG_ENVIRONMENT}, None
        return
    server = ThrowawayPostgres(BENCH_SERVER_SETTINGS)
    try:
        server.start()
        server.create_database("smsc_bench")
        pid = int((server.data / "postmaster.pid").read_text().split()[0])
        yield {"PGHOST": str(server.root), "PGUSER": server.user,
               "PGDATABASE": "smsc_bench"}, pid
    finally:
        server.stop()


def start_node(args: argparse.Namespace, data_dir: str, environment: dict[str, str]
               ) -> tuple[subprocess.Popen[bytes], int]:
    """One SMSC process on a free port, once it listens; and that port."""
    server = subprocess.Popen(
        [sys.executable, "-m", "smsc", "serve", "--config", str(args.config), "--port", "0",
         "--data-dir", data_dir, *capture_flags(args, data_dir)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, **environment},
    )
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    found = re.search(r"SMPP on [^:]+:(\d+)", line)
    if found is None:
        server.terminate()
        raise SystemExit(f"e2e: the SMSC did not start: {line!r}")
    return server, int(found.group(1))


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data_dir, database(args) as (environment, postgres):
        servers: list[subprocess.Popen[bytes]] = []
        try:
            ports = []
            for node in range(args.nodes):
                node_dir = Path(data_dir) / f"node{node}"
                node_dir.mkdir()
                server, port = start_node(args, str(node_dir), environment)
                servers.append(server)
                ports.append(port)
            spread = args.nodes > 1 or args.receipts_on == "other"
            command = spread_command(args, ports) if spread else bench_command(args, ports[0])
            cpu_before = [process_figures(server.pid)[0] for server in servers]
            database_before = cluster_cpu(postgres) if postgres else 0.0
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
            elapsed = time.perf_counter() - started
            after = [process_figures(server.pid) for server in servers]
            database_after = cluster_cpu(postgres) if postgres else 0.0
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=60)
            captured = sorted(Path(data_dir).glob("node0/capture.*"))
            capture_size = captured[0].stat().st_size if captured else 0
    if done.returncode != 0 or not done.stdout:
        raise SystemExit(f"e2e: the load failed ({done.returncode}): "
                         f"{done.stderr.decode()[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    node_cpu = [cpu - before for (cpu, _), before in zip(after, cpu_before, strict=True)]
    report["server_cpu_s"] = sum(node_cpu)
    report["node_cpu_s"] = node_cpu
    report["database_cpu_s"] = database_after - database_before if postgres else None
    report["server_peak_mib"] = max(peak for _, peak in after)
    report["wall_s"] = elapsed
    report["capture_bytes"] = capture_size
    return report


def interpreter() -> str:
    """The Python that ran both processes: its build matters as much as our code (see
    docs/benchmarks.md, "The interpreter")."""
    return (f"{platform.python_implementation()} {platform.python_version()} "
            f"({Path(sys.executable).resolve()})")


def table_row(args: argparse.Namespace, report: dict[str, Any]) -> str:
    work = report["workload"]
    try:
        config = f"`{Path(args.config).resolve().relative_to(ROOT)}`"
    except ValueError:
        config = f"`{args.config}`"
    messages = max(report["responses"], 1)
    if report.get("database_cpu_s") is not None:
        config += (f" (PostgreSQL: {report['database_cpu_s'] / messages * 1e6:.1f} µs CPU "
                   "per msg)")
    amount = f"{report['submitted']:,}"
    nodes = ""
    if args.nodes > 1 or args.receipts_on == "other":
        nodes = f"{args.nodes} nodes, receipts on {args.receipts_on} node, "
    workload = (f"{nodes}{work['connections']} conn × window {work['window']}, {amount} msgs, "
                f"{work['size']} {work['encoding']} chars, "
                f"{'receipts' if work['receipts'] else 'no receipts'}"
                + (f", rate {work['rate']:,.0f}/s" if work["rate"] else ""))

    def cells(values: dict[str, float | None]) -> str:
        if values["p50"] is None:
            return "–"
        return " / ".join(f"{values[k]:.1f}" for k in ("p50", "p90", "p99", "max"))

    cpu = report["server_cpu_s"]
    span = max(report["elapsed_s"], 1e-9)
    receipts = f"{report['receipt_rate']:,.0f}" if work["receipts"] else "–"
    return (f"| {date.today().isoformat()} | {config} on {interpreter()} | {workload} | "
            f"{report['submit_rate']:,.0f} | {receipts} | {cells(report['submit_latency_ms'])} | "
            f"{cells(report['receipt_latency_ms'])} | {cpu / messages * 1e6:.0f} µs "
            f"({cpu / span:.0%} of a core) | {report['server_peak_mib']:.0f} MiB |")


def record(row: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text:
        text = text.rstrip("\n") + (
            "\n\n## End to end with `esme bench`\n\n"
            "Rows appended by `benchmarks/e2e.py --record` (the SMSC and `esme bench` in "
            "separate processes on the same 2 cores; "
            f"{platform.python_implementation()} {platform.python_version()}).\n\n"
            f"{BEGIN}\n{HEADER}\n")
    head, tail = text.split(BEGIN, 1)
    lines = tail.split("\n")
    # the table runs from the marker to the first line that is not a table row
    end = 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines.insert(end, row)
    DOC.write_text(head + BEGIN + "\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path,
                        help="default: configs/bench-memory.toml, or configs/"
                             "bench-postgresql.toml with --store postgresql")
    parser.add_argument("--store", choices=("config", "postgresql"), default="config",
                        help="postgresql: on --dsn, or a throwaway server of its own")
    parser.add_argument("--dsn", default="", help="the database for --store postgresql")
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--duration", type=float, default=0.0,
                        help="seconds to send for instead of --messages")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--size", type=int, default=46)
    parser.add_argument("--encoding", default="gsm", choices=("gsm", "ucs2", "latin1"))
    parser.add_argument("--receipts", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--nodes", type=int, default=1,
                        help="SMSC processes on the one PostgreSQL database, each its own port")
    parser.add_argument("--receipts-on", choices=("same", "other"), default="same",
                        help="other: submit on the first node, receive on the others")
    parser.add_argument("--system-id", default="smppclient1")
    parser.add_argument("--password", default="password")
    parser.add_argument("--capture", choices=("jsonl", "pcap"),
                        help="run the SMSC with a capture file of this kind (smsc serve "
                             "--capture)")
    parser.add_argument("--record", action="store_true",
                        help="append the row to the table in docs/benchmarks.md")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args()
    if (args.nodes > 1 or args.receipts_on == "other") and args.store != "postgresql":
        parser.error("--nodes and --receipts-on other need --store postgresql")
    if args.receipts_on == "other" and args.nodes < 2:
        parser.error("--receipts-on other needs --nodes 2 or more")
    if args.config is None:
        name = "bench-postgresql.toml" if args.store == "postgresql" else "bench-memory.toml"
        args.config = ROOT / "configs" / name
    report = run(args)
    if args.json:
        print(json.dumps(report))
        return
    work = report["workload"]
    print(f"config {args.config}, {work['connections']} connection(s), window {work['window']},"
          f" {report['submitted']:,} messages{' with receipts' if work['receipts'] else ''}")
    rate = report["receipt_rate"] if work["receipts"] else report["submit_rate"]
    if report["database_cpu_s"] is not None:
        print(f"  PostgreSQL CPU {report['database_cpu_s']:.1f} s, "
              f"{report['database_cpu_s'] / max(report['responses'], 1) * 1e6:.1f} µs/msg")
    responses = max(report["responses"], 1)
    if len(report["node_cpu_s"]) > 1:
        print("  SMSC CPU per node " + ", ".join(
            f"{cpu:.1f} s ({cpu / responses * 1e6:.1f} µs/msg)" for cpu in report["node_cpu_s"]))
    print(f"  rate {rate:,.0f} messages/s end to end ({report['elapsed_s']:.1f} s); "
          f"statuses {report['statuses']}; receipts {report['receipts']:,}, missing "
          f"{report['receipts_missing']:,}")
    for error in report["errors"]:
        print(f"  error: {error}")
    print(HEADER)
    row = table_row(args, report)
    print(row)
    if args.record:
        record(row)
        print(f"  recorded in {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
