"""Scenario benchmarks of the whole server (benchmarks, not tests; run by hand).

Each scenario starts the SMSC in its own process and drives it with `esme bench` from other
processes, all on 127.0.0.1, bounded in count and time:

  binds    many concurrent binds with light traffic each (configs/bench-binds.toml): how many
           bound (generator and server log agree), errors, rates, latency percentiles.
  pending  a durable store full of messages for offline handsets (configs/bench-pending.toml):
           the submit rate of a normal run against the empty store, then against the full one
           on the same server process; peak RSS.
  soak     a long run at a fixed rate with receipts (configs/bench-soak.toml): the server's RSS
           sampled every few seconds, first-minute against last-minute RSS, statuses, missing
           receipts.

The server's figures come from /proc (CPU time, VmRSS, VmHWM); the load average is printed
before and after, since the machine is shared. `--json` prints the whole result.

Run: .venv/bin/python benchmarks/scenarios.py binds --connections 1000 --rate 1000
     .venv/bin/python benchmarks/scenarios.py pending --pending 200000
     .venv/bin/python benchmarks/scenarios.py soak --duration 600
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import ROOT, process_figures

CONFIGS = ROOT / "configs"


# -- the server process -----------------------------------------------------------------------


@dataclass
class Server:
    """A running `smsc serve` child and where its log goes."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mib(self) -> float:
        return _status_field(self.pid, "VmRSS:")

    def peak_mib(self) -> float:
        return process_figures(self.pid)[1]

    def cpu_s(self) -> float:
        return process_figures(self.pid)[0]


def _status_field(pid: int, name: str) -> float:
    """A kB field of /proc/PID/status in MiB (0 when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def running_server(config: Path, data_dir: Path, log: Path) -> Iterator[Server]:
    """Start the SMSC on a free loopback port; stop it (SIGTERM) on the way out."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "smsc", "serve", "--config", str(config), "--host",
             "127.0.0.1", "--port", "0", "--data-dir", str(data_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log_file,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            found = re.search(r"SMPP on [^:]+:(\d+)", line)
            if found is None:
                raise SystemExit(f"scenarios: the SMSC did not start: {line!r} "
                                 f"(log: {log})")
            yield Server(process, int(found.group(1)), log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RssSampler:
    """Samples a process's VmRSS every `every` seconds on a thread: (seconds, MiB) pairs."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _status_field(self.pid, "VmRSS:")
            if rss:
                self.samples.append((time.monotonic() - self.started, rss))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> list[float]:
        return [rss for at, rss in self.samples if start <= at <= end]


def wait_quiet(server: Server, *, below: float = 0.05, window: float = 2.0,
               limit: float = 600.0) -> float:
    """Wait until the server uses less than `below` of a core over `window` seconds (its
    backlog of delivery attempts is worked off); returns the seconds waited."""
    started = time.monotonic()
    before = server.cpu_s()
    while time.monotonic() - started < limit:
        time.sleep(window)
        after = server.cpu_s()
        if (after - before) / window < below:
            break
        before = after
    return time.monotonic() - started


# -- the load generator -----------------------------------------------------------------------


@dataclass
class Load:
    """One `esme bench` run's options."""

    connections: int = 1
    window: int = 100
    count: int = 0
    duration: float = 0.0
    rate: float = 0.0
    receipts: bool = True
    destination: str = "4915100000002"
    processes: int = 1
    receipt_timeout: float = 60.0
    extra: list[str] = field(default_factory=list)


def bench_command(port: int, load: Load) -> list[str]:
    command = [
        sys.executable, "-m", "esme_client", "bench", "--host", "127.0.0.1", "--port", str(port),
        "--connections", str(load.connections), "--window", str(load.window),
        "--destination", load.destination, "--processes", str(load.processes),
        "--receipt-timeout", str(load.receipt_timeout), "--json", "--progress", "off",
        *load.extra,
    ]
    command += ["--duration", str(load.duration)] if load.duration else ["--count",
                                                                         str(load.count)]
    if load.rate:
        command += ["--rate", str(load.rate)]
    if load.receipts:
        command += ["--receipts"]
    return command


def bench(port: int, load: Load) -> dict[str, Any]:
    """Run `esme bench` in its own process(es) against 127.0.0.1:port; its JSON report."""
    return staggered_benches(port, load, 1, 0.0)[0]


def staggered_benches(port: int, load: Load, generators: int,
                      offset: float) -> list[dict[str, Any]]:
    """`generators` runs of `esme bench` at once, each with its share of the connections and
    the rate, the i-th started i × offset seconds after the first; their JSON reports."""
    share = Load(**{**load.__dict__, "connections": load.connections // generators,
                    "rate": load.rate / generators,
                    "count": load.count // generators if load.count else 0})
    started = time.monotonic()
    children = []
    for index in range(generators):
        time.sleep(max(0.0, started + index * offset - time.monotonic()))
        children.append(subprocess.Popen(bench_command(port, share), cwd=ROOT,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    reports = []
    for child in children:
        out, err = child.communicate()
        if not out:
            raise SystemExit(f"scenarios: esme bench failed ({child.returncode}): "
                             f"{err.decode()[-2000:]}")
        report: dict[str, Any] = json.loads(out)
        report["wall_s"] = round(time.monotonic() - started, 3)
        reports.append(report)
    return reports


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def error_kinds(errors: list[str]) -> dict[str, int]:
    """Errors grouped by their text without numbers (the generator keeps the first 20)."""
    kinds: dict[str, int] = {}
    for error in errors:
        kind = re.sub(r"\d+", "N", error)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def latency(report: dict[str, Any], key: str = "submit_latency_ms") -> str:
    values = report[key]
    if values["p50"] is None:
        return "–"
    return " / ".join(f"{values[k]:.1f}" for k in ("p50", "p90", "p99", "max"))


# -- scenarios --------------------------------------------------------------------------------


def scenario_binds(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Many binds at once, each sending a little."""
    log = work / "server.log"
    load = Load(connections=args.connections, window=args.window, duration=args.duration,
                rate=args.rate, receipts=args.receipts, processes=args.processes)
    with running_server(args.config or CONFIGS / "bench-binds.toml", work, log) as server:
        cpu_before = server.cpu_s()
        before = load_average()
        # the i-th generator's connections send 1/generators of a period after the previous
        # one's (one period: every connection sends one message)
        period = args.connections / args.rate if args.rate else 0.0
        reports = staggered_benches(server.port, load, args.generators,
                                    period / args.generators)
        report = merged(reports)
        cpu = server.cpu_s() - cpu_before
        peak = server.peak_mib()
    text = log.read_text(errors="replace")
    bound_at = [line[:23] for line in text.splitlines() if " bound as " in line]
    spread = None
    if bound_at:
        times = [time.mktime(time.strptime(t[:19], "%Y-%m-%d %H:%M:%S")) + int(t[20:]) / 1000
                 for t in bound_at]
        spread = round(max(times) - min(times), 3)
    refused = sum(1 for line in text.splitlines() if "refused" in line or "ESME_R" in line)
    connect_errors = sum(1 for e in report["errors"] if "cannot connect" in e)
    bind_errors = sum(1 for e in report["errors"]
                      if "bind" in e or "TooSlow" in e or "timed out" in e.lower())
    result = {
        "scenario": "binds", "generators": args.generators, "load_before": before,
        "load_after": load_average(),
        "connections": args.connections, "server_bound": len(bound_at),
        "bind_spread_s": spread, "server_log_refusals": refused,
        "generator_errors": len(report["errors"]), "connect_errors": connect_errors,
        "bind_errors": bind_errors, "error_kinds": error_kinds(report["errors"]),
        "server_cpu_s": round(cpu, 2), "server_peak_mib": round(peak, 1), "report": report,
    }
    print(f"binds: {args.connections} connections x window {args.window}, target "
          f"{args.rate:,.0f} submit_sm/s for {args.duration:.0f} s "
          f"(load average {before} → {result['load_after']})")
    if args.generators > 1:
        print(f"  {args.generators} generator processes started {period / args.generators:.2f}"
              " s apart; latency: median of their p50, largest of their p90/p99/max")
    print(f"  server log: {len(bound_at)} bound within {spread} s; generator errors "
          f"{len(report['errors'])} (first 20 kept) {result['error_kinds']}")
    print(f"  {report['responses']:,} answered, {report['submit_rate']:,.0f} submit_sm/s; "
          f"statuses {report['statuses']}; submit_sm_resp ms p50/p90/p99/max {latency(report)}")
    if args.receipts:
        print(f"  receipts {report['receipts']:,} missing {report['receipts_missing']:,}; "
              f"submit → receipt ms {latency(report, 'receipt_latency_ms')}")
    print(f"  server CPU {cpu:.1f} s, peak RSS {peak:.0f} MiB; generator CPU "
          f"{report['generator_cpu_s']:.1f} s; wall {report['wall_s']:.1f} s")
    return result


def merged(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Several generators' reports as one: counts and rates added, errors joined; latency the
    median of their p50 and the largest of their p90, p99 and max (an upper bound of the
    whole run's, which the reports' percentiles cannot give exactly)."""
    if len(reports) == 1:
        return reports[0]
    total: dict[str, Any] = dict(reports[0])
    for key in ("submitted", "responses", "submit_rate", "receipts", "receipt_rate",
                "unmatched", "unanswered", "receipts_missing", "generator_cpu_s"):
        total[key] = sum(r[key] for r in reports)
    total["errors"] = [e for r in reports for e in r["errors"]]
    statuses: dict[str, int] = {}
    for r in reports:
        for name, n in r["statuses"].items():
            statuses[name] = statuses.get(name, 0) + n
    total["statuses"] = statuses
    total["wall_s"] = max(r["wall_s"] for r in reports)
    for key in ("submit_latency_ms", "receipt_latency_ms"):
        parts = [r[key] for r in reports if r[key]["p50"] is not None]
        total[key] = ({"p50": statistics.median(p["p50"] for p in parts),
                       **{k: max(p[k] for p in parts) for k in ("p90", "p99", "max")}}
                      if parts else reports[0][key])
    return total


def scenario_pending(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Submit rate against an empty store and against one holding `pending` messages."""
    config = args.config or CONFIGS / "bench-pending.toml"
    measure = Load(connections=args.connections, window=args.window, count=args.messages,
                   receipts=True)
    fill = Load(connections=args.connections, window=args.window, count=args.pending,
                receipts=False, destination=args.offline, receipt_timeout=0)
    runs: dict[str, list[dict[str, Any]]] = {"empty": [], "full": [], "restarted": []}

    def measure_run(server: Server, label: str) -> None:
        wait_quiet(server)
        report = bench(server.port, measure)
        runs[label].append(report)
        print(f"  {label}: {report['submit_rate']:,.0f} submit_sm/s, statuses "
              f"{report['statuses']}, receipts missing {report['receipts_missing']}, "
              f"submit_sm_resp ms {latency(report)}, RSS {server.rss_mib():.0f} MiB "
              f"(load {load_average()})", flush=True)

    print(f"pending: {args.pending:,} messages for {args.offline} (offline); {args.runs} "
          f"runs of {args.messages:,} messages with receipts against each store, the two "
          f"servers taking turns; config {config}")
    started = time.monotonic()
    (work / "empty").mkdir()
    (work / "full").mkdir()
    with ExitStack() as stack:
        empty = stack.enter_context(running_server(config, work / "empty",
                                                   work / "server-empty.log"))
        full = stack.enter_context(running_server(config, work / "full",
                                                  work / "server-full.log"))
        rss_before = full.rss_mib()
        fill_started = time.monotonic()
        filled = bench(full.port, fill)
        fill_s = time.monotonic() - fill_started
        settle_s = wait_quiet(full)
        print(f"  filled: {filled['responses']:,} answered in {fill_s:.0f} s "
              f"({filled['submit_rate']:,.0f}/s), statuses {filled['statuses']}, errors "
              f"{filled['errors'][:3]}; quiet {settle_s:.0f} s later; RSS {rss_before:.0f} → "
              f"{full.rss_mib():.0f} MiB, peak {full.peak_mib():.0f} MiB", flush=True)
        rss_filled = full.rss_mib()
        for _ in range(args.runs):
            measure_run(empty, "empty")
            measure_run(full, "full")
        peak_full = full.peak_mib()
        peak_empty = empty.peak_mib()
    restart_s = peak_restart = rss_restarted = 0.0
    if args.restart:
        restart_started = time.monotonic()
        with running_server(config, work / "full", work / "server-restart.log") as server:
            restart_s = time.monotonic() - restart_started
            rss_restarted = server.rss_mib()
            print(f"  restarted on the full store: serving after {restart_s:.1f} s, RSS "
                  f"{rss_restarted:.0f} MiB", flush=True)
            for _ in range(args.runs):
                measure_run(server, "restarted")
            peak_restart = server.peak_mib()
    database = sum(f.stat().st_size for f in (work / "full").iterdir() if f.is_file())

    def median(label: str) -> float:
        rates = [r["submit_rate"] for r in runs[label]]
        return statistics.median(rates) if rates else 0.0

    empty_rate, full_rate = median("empty"), median("full")
    result = {
        "scenario": "pending", "pending": filled["responses"], "fill_s": round(fill_s, 1),
        "fill_rate": filled["submit_rate"], "fill_statuses": filled["statuses"],
        "settle_s": round(settle_s, 1), "empty_median": empty_rate, "full_median": full_rate,
        "full_ratio": round(full_rate / empty_rate, 3) if empty_rate else None,
        "restarted_median": median("restarted"), "restart_s": round(restart_s, 1),
        "rss_before_fill_mib": round(rss_before, 1), "rss_filled_mib": round(rss_filled, 1),
        "peak_full_mib": round(peak_full, 1), "peak_empty_mib": round(peak_empty, 1),
        "rss_restarted_mib": round(rss_restarted, 1),
        "peak_restart_mib": round(peak_restart, 1), "database_mib": round(database / 2**20, 1),
        "total_s": round(time.monotonic() - started, 1), "load_after": load_average(),
        "runs": {k: [_short(r) for r in v] for k, v in runs.items()},
    }
    print(f"  median submit rate: empty {empty_rate:,.0f}/s, full {full_rate:,.0f}/s "
          f"({result['full_ratio']:.0%} of empty)"
          + (f", after restart {result['restarted_median']:,.0f}/s" if args.restart else ""))
    print(f"  server peak RSS: full {peak_full:.0f} MiB, empty {peak_empty:.0f} MiB"
          + (f", restarted on the full store {peak_restart:.0f} MiB" if args.restart else "")
          + f"; database {result['database_mib']:.0f} MiB; total {result['total_s']:.0f} s")
    return result


def _short(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("submitted", "responses", "submit_rate", "receipt_rate", "statuses",
            "receipts_missing", "unanswered", "submit_latency_ms", "receipt_latency_ms")
    return {k: report[k] for k in keys} | {"errors": report["errors"][:3]}


def scenario_soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """A long run at a fixed rate with receipts, the server's RSS sampled throughout."""
    config = args.config or CONFIGS / "bench-soak.toml"
    with running_server(config, work, work / "server.log") as server:
        rate = args.rate
        maximum = None
        if not rate:
            probe = bench(server.port, Load(connections=args.connections, window=args.window,
                                            duration=args.probe, receipts=True))
            maximum = probe["receipt_rate"]
            rate = round(maximum / 2)
            print(f"soak: maximum {maximum:,.0f} messages/s with receipts over {args.probe:.0f}"
                  f" s (statuses {probe['statuses']}); soaking at {rate:,}/s", flush=True)
            wait_quiet(server)
        before = load_average()
        with RssSampler(server.pid, args.sample) as sampler:
            report = bench(server.port, Load(connections=args.connections, window=args.window,
                                             duration=args.duration, rate=rate, receipts=True))
        peak = server.peak_mib()
    span = args.duration
    first = sampler.between(50, 60)
    last = sampler.between(span - 60, span)
    first_rss = statistics.median(first) if first else 0.0
    last_rss = statistics.median(last) if last else 0.0
    growth = (last_rss / first_rss - 1) if first_rss else None
    result = {
        "scenario": "soak", "rate": rate, "maximum": maximum, "duration": span,
        "load_before": before, "load_after": load_average(),
        "first_minute_rss_mib": round(first_rss, 1), "last_minute_rss_mib": round(last_rss, 1),
        "last_minute_max_mib": round(max(last), 1) if last else None,
        "growth": round(growth, 4) if growth is not None else None,
        "peak_mib": round(peak, 1), "samples": [(round(a, 1), round(r, 1))
                                                for a, r in sampler.samples],
        "report": _short(report) | {"unmatched": report["unmatched"],
                                    "receipts_unknown": report["receipts_unknown"]},
    }
    print(f"soak: {span:.0f} s at {rate:,}/s with receipts, {args.connections} conn x window "
          f"{args.window} (load average {before} → {result['load_after']})")
    print(f"  answered {report['responses']:,}, {report['submit_rate']:,.0f} submit_sm/s; "
          f"statuses {report['statuses']}; receipts {report['receipts']:,}, missing "
          f"{report['receipts_missing']:,}, unanswered {report['unanswered']:,}")
    print(f"  submit_sm_resp ms {latency(report)}; submit → receipt ms "
          f"{latency(report, 'receipt_latency_ms')}")
    print(f"  server RSS: median of 50-60 s {first_rss:.0f} MiB, of the last minute "
          f"{last_rss:.0f} MiB ({growth:+.1%}), peak {peak:.0f} MiB; "
          f"{len(sampler.samples)} samples")
    for error in report["errors"][:5]:
        print(f"  error: {error}")
    return result


SCENARIOS = {"binds": scenario_binds, "pending": scenario_pending, "soak": scenario_soak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="also print the result as JSON")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data directory and server log (path printed)")
    commands = parser.add_subparsers(dest="scenario", required=True)

    def common(sub: argparse.ArgumentParser, connections: int, window: int) -> None:
        sub.add_argument("--config", type=Path, default=None,
                         help="server config (default: the scenario's configs/bench-*.toml)")
        sub.add_argument("--connections", "-c", type=int, default=connections)
        sub.add_argument("--window", "-w", type=int, default=window)

    binds = commands.add_parser("binds", help=scenario_binds.__doc__)
    common(binds, 1000, 1)
    binds.add_argument("--rate", type=float, default=1000.0, help="submit_sm/s over all")
    binds.add_argument("--duration", type=float, default=30.0)
    binds.add_argument("--processes", "-p", type=int, default=1,
                       help="generator processes sharing the connections")
    binds.add_argument("--receipts", action="store_true")
    binds.add_argument("--generators", "-g", type=int, default=1,
                       help="separate esme bench runs, started a fraction of a period apart"
                            " so that their connections do not all send at the same moment")

    pending = commands.add_parser("pending", help=scenario_pending.__doc__)
    common(pending, 4, 100)
    pending.add_argument("--pending", type=int, default=200000,
                         help="messages left pending for the offline handset")
    pending.add_argument("--messages", type=int, default=20000, help="per measuring run")
    pending.add_argument("--runs", type=int, default=3, help="measuring runs per store state")
    pending.add_argument("--offline", default="4917000000001",
                         help="destination that the config makes offline")
    pending.add_argument("--restart", action=argparse.BooleanOptionalAction, default=True,
                         help="also measure after restarting on the full store")

    soak = commands.add_parser("soak", help=scenario_soak.__doc__)
    common(soak, 2, 100)
    soak.add_argument("--duration", type=float, default=600.0)
    soak.add_argument("--rate", type=float, default=0.0,
                      help="messages/s (default: half of what a probe run reaches)")
    soak.add_argument("--probe", type=float, default=20.0, help="seconds of the probe run")
    soak.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")

    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix=f"smsc-{args.scenario}-"))
    try:
        result = SCENARIOS[args.scenario](args, work)
    finally:
        if args.keep:
            print(f"  kept {work}")
        else:
            for path in sorted(work.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            work.rmdir()
    result["machine"] = f"{os.cpu_count()} cores, {_cpu_model()}"
    if args.json:
        print(json.dumps(result))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main()
