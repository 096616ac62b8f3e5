"""`esme`: send one message, listen for MO and receipts, or benchmark an SMSC.

    esme send 4915100000002 "Hello" --wait-receipt
    esme listen --json
    esme bench --connections 4 --window 100 --count 100000 --receipts

Exit codes: 0 done; 1 the SMSC refused (the SMPP status is printed); 2 bad usage;
3 cannot connect; 4 no receipt in time.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, TextIO

import trio

from esme_client.client import ClientConfig, EsmeClient, ReceiptTimeout, connect
from esme_client.compose import ENCODINGS, SCHEMES
from esme_client.errors import (
    ConnectError,
    ConnectionLost,
    EncodingError,
    SmppError,
    SmppStatusError,
)
from esme_client.loadgen import (
    FIELDS,
    BenchConfig,
    BenchStats,
    Counters,
    run_bench,
    settle_receipts,
    summary,
)
from esme_client.results import Delivery, Receipt

EXIT_REFUSED, EXIT_USAGE, EXIT_CONNECT, EXIT_TIMEOUT = 1, 2, 3, 4


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--host", default="127.0.0.1")
    group.add_argument("--port", type=int, default=2775)
    group.add_argument("--system-id", default="smppclient1")
    group.add_argument("--password", default="password")
    group.add_argument("--system-type", default="")
    group.add_argument("--tls", action="store_true", help="SMPP over TLS")
    group.add_argument("--cafile", help="CA certificates to trust for --tls")
    group.add_argument("--insecure", action="store_true",
                       help="with --tls, do not check the SMSC's certificate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esme", description="An SMPP 3.4 ESME.")
    commands = parser.add_subparsers(dest="command", required=True)

    send = commands.add_parser("send", help="submit one message and print its id")
    _connection_options(send)
    send.add_argument("destination")
    send.add_argument("text", help="the text (or, with --hex, the user data in hex)")
    send.add_argument("--source", default="", help="source_addr")
    send.add_argument("--hex", action="store_true", help="TEXT is hex octets (binary)")
    send.add_argument("--encoding", default="auto",
                      help=f"auto (GSM when it fits, else UCS2), {', '.join(ENCODINGS)}, "
                           "or a data_coding number")
    send.add_argument("--scheme", default="udh8", choices=sorted(SCHEMES),
                      help="how long messages travel (default udh8)")
    send.add_argument("--registered-delivery", type=int, default=None, metavar="N",
                      help="registered_delivery value (default 1 with --wait-receipt, else 0)")
    send.add_argument("--wait-receipt", action="store_true",
                      help="bind as transceiver and wait for the receipt of every part")
    send.add_argument("--timeout", type=_non_negative, default=60.0,
                      help="seconds to wait for receipts (default 60)")
    send.add_argument("--json", action="store_true", help="one JSON object on stdout")

    listen = commands.add_parser("listen", help="bind and print MO messages and receipts")
    _connection_options(listen)
    listen.add_argument("--mode", choices=("receiver", "transceiver"), default="receiver")
    listen.add_argument("--json", action="store_true", help="JSON lines on stdout")
    listen.add_argument("--count", type=_positive_int, default=None,
                        help="exit after this many messages")
    listen.add_argument("--no-reconnect", action="store_true",
                        help="exit when the connection is lost")

    bench = commands.add_parser("bench", help="load-test an SMSC")
    _connection_options(bench)
    bench.add_argument("--connections", "-c", type=_positive_int, default=1)
    bench.add_argument("--window", "-w", type=_positive_int, default=100,
                       help="submit_sm in flight per connection (default 100)")
    bench.add_argument("--rate", "-r", type=_non_negative, default=0.0,
                       help="target submit_sm/s over all connections (default 0: max)")
    bench.add_argument("--count", "-n", type=int, default=None,
                       help="submit_sm to send (default 10000, or unlimited with --duration)")
    bench.add_argument("--duration", "-d", type=_non_negative, default=0.0,
                       help="seconds to send for")
    bench.add_argument("--size", type=_positive_int, default=40,
                       help="characters per message (default 40; long ones go in parts)")
    bench.add_argument("--encoding", choices=("gsm", "ucs2", "latin1"), default="gsm")
    bench.add_argument("--receipts", action="store_true",
                       help="ask for receipts and wait for them (binds as transceiver)")
    bench.add_argument("--receipt-timeout", type=_non_negative, default=30.0)
    bench.add_argument("--source", default="4242")
    bench.add_argument("--destination", default="4915100000002",
                       help="first destination number")
    bench.add_argument("--destinations", type=_positive_int, default=1,
                       help="send to this many numbers in turn, counting up (default 1)")
    bench.add_argument("--processes", "-p", type=_positive_int, default=1,
                       help="generator processes sharing the connections (default 1)")
    bench.add_argument("--json", action="store_true", help="the report as one JSON object")
    bench.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                       help="live progress bar on stderr (auto: when stderr is a terminal)")
    return parser


def ssl_context_of(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls:
        return None
    context = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def client_config(args: argparse.Namespace, mode: str, **extra: Any) -> ClientConfig:
    return ClientConfig(host=args.host, port=args.port, system_id=args.system_id,
                        password=args.password, system_type=args.system_type, mode=mode,
                        ssl_context=ssl_context_of(args), **extra)


def fail(message: str, code: int) -> int:
    print(f"esme: {message}", file=sys.stderr)
    return code


# -- send ---------------------------------------------------------------------------------


def receipt_fields(receipt: Receipt) -> dict[str, Any]:
    return {
        "message_id": receipt.message_id,
        "state": receipt.state.name if receipt.state is not None else None,
        "stat": receipt.stat,
        "err": receipt.err,
        "network_error_code": (receipt.network_error_code.hex()
                               if receipt.network_error_code else None),
        "submit_date": receipt.submit_date.isoformat() if receipt.submit_date else None,
        "done_date": receipt.done_date.isoformat() if receipt.done_date else None,
        "latency_ms": round(receipt.latency * 1000, 3) if receipt.latency is not None else None,
    }


def receipt_line(receipt: Receipt) -> str:
    latency = f" after {receipt.latency * 1000:.1f} ms" if receipt.latency is not None else ""
    state = receipt.state.name if receipt.state is not None else "?"
    return (f"receipt {receipt.message_id}: {receipt.stat or state} ({state}) "
            f"err:{receipt.err or '-'}{latency}")


async def send_command(args: argparse.Namespace) -> int:
    if args.hex:
        try:
            content: str | bytes = bytes.fromhex(args.text)
        except ValueError:
            return fail("--hex: TEXT is not hex", EXIT_USAGE)
    else:
        content = args.text
    registered = args.registered_delivery
    if registered is None:
        registered = 1 if args.wait_receipt else 0
    mode = "transceiver" if args.wait_receipt else "transmitter"
    async with connect(config=client_config(args, mode), host=args.host,
                       port=args.port) as client:
        encoding: str | int = args.encoding
        if args.hex and encoding == "auto":
            encoding = "binary"
        result = await client.submit_text(args.destination, content, source_addr=args.source,
                                          encoding=encoding, scheme=args.scheme,
                                          registered_delivery=registered)
        out: dict[str, Any] = {"message_ids": list(result.message_ids),
                               "data_coding": result.data_coding, "parts": result.parts}
        if not args.json:
            label = "message_id" if result.parts == 1 else f"message_ids ({result.parts} parts)"
            print(f"{label}: {' '.join(result.message_ids)}", flush=True)
        if args.wait_receipt:
            receipts = await client.wait_receipts(result, timeout=args.timeout)
            out["receipts"] = [receipt_fields(r) for r in receipts]
            if not args.json:
                for receipt in receipts:
                    print(receipt_line(receipt))
        if args.json:
            print(json.dumps(out))
    return 0


# -- listen -------------------------------------------------------------------------------


def delivery_fields(delivery: Delivery) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "type": "receipt" if delivery.receipt is not None else "mo",
        "source_addr": delivery.source_addr,
        "destination_addr": delivery.destination_addr,
        "data_coding": delivery.data_coding,
    }
    if delivery.receipt is not None:
        fields.update(receipt_fields(delivery.receipt))
        fields["text"] = delivery.text
    else:
        fields["text"] = delivery.text
        fields["parts"] = delivery.parts
        if delivery.text is None:
            fields["user_data"] = delivery.user_data.hex()
    fields["received_at"] = datetime.now().astimezone().isoformat(timespec="milliseconds")
    return fields


def delivery_line(delivery: Delivery) -> str:
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    if delivery.receipt is not None:
        return f"{stamp} {receipt_line(delivery.receipt)} from {delivery.source_addr}"
    body = delivery.text if delivery.text is not None else "0x" + delivery.user_data.hex()
    parts = f" ({delivery.parts} parts)" if delivery.parts > 1 else ""
    return f"{stamp} MO {delivery.source_addr} -> {delivery.destination_addr}{parts}: {body}"


async def listen_command(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Print deliveries until --count, or SIGTERM / Ctrl-C (both unbind cleanly first)."""
    config = client_config(args, args.mode, reconnect=not args.no_reconnect)
    # listen for the signals before anything else, so that none can kill us unbound-uncleanly
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with connect(config=config, host=args.host, port=args.port) as client:
            return await _print_deliveries(args, client, signals, out)


async def _print_deliveries(args: argparse.Namespace, client: EsmeClient,
                            signals: AsyncIterator[int], out: TextIO) -> int:
    stopped = False
    seen = 0
    async with trio.open_nursery() as nursery:
        async def stop_on_signal() -> None:
            nonlocal stopped
            async for _ in signals:
                stopped = True
                await client.aclose()  # the iterator below then ends
                return

        nursery.start_soon(stop_on_signal)
        print(f"esme: bound as {args.mode} to {args.host}:{args.port}", file=sys.stderr,
              flush=True)
        async for delivery in client.deliveries():
            if args.json:
                print(json.dumps(delivery_fields(delivery)), file=out, flush=True)
            else:
                print(delivery_line(delivery), file=out, flush=True)
            seen += 1
            if args.count is not None and seen >= args.count:
                break
        nursery.cancel_scope.cancel()
    if not stopped and (args.count is None or seen < args.count):
        return fail("connection lost", EXIT_CONNECT)
    return 0


# -- bench --------------------------------------------------------------------------------


def bench_config(args: argparse.Namespace) -> BenchConfig:
    count = args.count if args.count is not None else (0 if args.duration else 10000)
    return BenchConfig(
        host=args.host, port=args.port, system_id=args.system_id, password=args.password,
        mode="transceiver" if args.receipts else "transmitter",
        ssl_context=ssl_context_of(args), connections=args.connections, window=args.window,
        rate=args.rate, count=count, duration=args.duration, size=args.size,
        encoding=args.encoding, receipts=args.receipts, receipt_timeout=args.receipt_timeout,
        source_addr=args.source, destination_addr=args.destination,
        destinations=args.destinations,
    )


class Progress:
    """A one-line progress bar on stderr, redrawn in place."""

    def __init__(self, config: BenchConfig, counters: Counters, stream: TextIO) -> None:
        self.config = config
        self.counters = counters
        self.stream = stream
        self.started = time.monotonic()
        self.last = (self.started, 0)

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        sent, responses, receipts = self.counters.read()
        elapsed = now - self.started
        config = self.config
        if config.count:
            done = responses / config.count
        elif config.duration:
            done = elapsed / config.duration
        else:
            done = 0.0
        done = min(1.0, done)
        then, before = (self.started, 0) if final else self.last
        rate = (responses - before) / (now - then) if now > then else 0.0
        self.last = (now, responses)
        bar = "#" * int(done * 24) + "-" * (24 - int(done * 24))
        receipts_part = f"  receipts {receipts:,}" if config.receipts else ""
        self.stream.write(f"\r[{bar}] {done:4.0%}  sent {sent:,}  resp {responses:,} "
                          f"({rate:,.0f}/s){receipts_part}  {elapsed:.1f}s   ")
        if final:
            self.stream.write("\n")
        self.stream.flush()


def _worker(config: BenchConfig, shared: Any, index: int, of: int, pipe: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stats = trio.run(run_bench, config, Counters(shared, index * FIELDS), (index, of))
    pipe.send(stats)
    pipe.close()


def run_processes(config: BenchConfig, processes: int,
                  progress: Progress | None, counters_store: Any) -> BenchStats:
    context = multiprocessing.get_context("fork")
    workers = []
    for index in range(processes):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_worker,
                                  args=(config, counters_store, index, processes, sender))
        process.start()
        sender.close()
        workers.append((process, receiver))
    stats = BenchStats()
    pending = list(workers)
    while pending:
        for item in list(pending):
            process, receiver = item
            if receiver.poll(0.25 / len(pending)):
                stats.merge(receiver.recv())
                process.join()
                pending.remove(item)
            elif not process.is_alive():
                stats.errors.append(f"generator process {process.pid} died")
                pending.remove(item)
        if progress is not None:
            progress.draw()
    return stats


async def _bench_in_process(config: BenchConfig, counters: Counters,
                            progress: Progress | None) -> BenchStats:
    async with trio.open_nursery() as nursery:
        if progress is not None:
            async def redraw() -> None:
                while True:
                    await trio.sleep(0.25)
                    progress.draw()
            nursery.start_soon(redraw)
        stats = await run_bench(config, counters)
        nursery.cancel_scope.cancel()
    return stats


def print_report(report: dict[str, Any], out: TextIO) -> None:
    work = report["workload"]
    limit = f"{work['count']:,} submit_sm" if work["count"] else f"{work['duration']} s"
    rate = f"target {work['rate']:,.0f}/s" if work["rate"] else "max rate"
    print(f"bench: {work['connections']} connection(s) x window {work['window']}, {limit}, "
          f"{rate}, {work['size']} {work['encoding']} characters "
          f"({work['parts_per_message']} part(s)), receipts {'on' if work['receipts'] else 'off'}"
          f", {work['processes']} process(es)", file=out)
    print(f"  submitted {report['submitted']:,}, answered {report['responses']:,} "
          f"in {report['elapsed_s']:.2f} s: {report['submit_rate']:,.0f} submit_sm/s", file=out)
    if work["receipts"]:
        unknown = report["receipts_unknown"]
        print(f"  receipts {report['receipts']:,}: {report['receipt_rate']:,.0f}/s, "
              f"missing {report['receipts_missing']:,}"
              + (f", {unknown:,} for ids we did not submit" if unknown else ""), file=out)

    def line(name: str, values: dict[str, float | None]) -> None:
        if values["p50"] is None:
            return
        print(f"  {name} latency ms: p50 {values['p50']:.2f}  p90 {values['p90']:.2f}  "
              f"p99 {values['p99']:.2f}  max {values['max']:.2f}", file=out)

    if report["receipt_states"]:
        states = ", ".join(f"{name} {n:,}" for name, n in report["receipt_states"].items())
        print(f"  receipt states: {states}", file=out)
    line("submit_sm_resp", report["submit_latency_ms"])
    line("submit -> receipt", report["receipt_latency_ms"])
    statuses = ", ".join(f"{name} {count:,}" for name, count in report["statuses"].items())
    print(f"  statuses: {statuses or 'none'}", file=out)
    if report["unmatched"] or report["unanswered"]:
        print(f"  unmatched responses {report['unmatched']:,}, "
              f"unanswered requests {report['unanswered']:,}", file=out)
    cost = report["generator_cpu_us_per_submit"]
    if cost is not None:
        print(f"  generator CPU {report['generator_cpu_s']:.2f} s, {cost:.2f} µs per submit_sm",
              file=out)
    for error in report["errors"]:
        print(f"  error: {error}", file=out)


def bench_command(args: argparse.Namespace) -> int:
    config = bench_config(args)
    if not config.count and not config.duration:
        return fail("bench needs --count or --duration", EXIT_USAGE)
    show = args.progress == "on" or (args.progress == "auto" and sys.stderr.isatty())
    processes = min(args.processes, config.connections)
    started = time.monotonic()
    if processes > 1:
        store = multiprocessing.get_context("fork").Array("q", FIELDS * processes, lock=False)
        counters = Counters(store)
        progress = Progress(config, counters, sys.stderr) if show else None
        stats = run_processes(config, processes, progress, store)
    else:
        counters = Counters()
        progress = Progress(config, counters, sys.stderr) if show else None
        stats = trio.run(_bench_in_process, config, counters, progress)
    elapsed = time.monotonic() - started
    settle_receipts(stats)
    if progress is not None:
        progress.draw(final=True)
    report = summary(config, stats, elapsed, processes)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report, sys.stdout)
    if stats.responses == 0 and stats.errors:
        return EXIT_CONNECT
    return 0


# -- entry --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "bench":
            return bench_command(args)
        if args.command == "send":
            return trio.run(send_command, args)
        return trio.run(listen_command, args)
    except KeyboardInterrupt:
        return 130
    except (ConnectError, ConnectionLost) as error:
        return fail(str(error), EXIT_CONNECT)
    except ReceiptTimeout as error:
        return fail(str(error), EXIT_TIMEOUT)
    except EncodingError as error:
        return fail(str(error), EXIT_USAGE)
    except SmppStatusError as error:
        return fail(str(error), EXIT_REFUSED)
    except SmppError as error:
        return fail(str(error), EXIT_REFUSED)


__all__ = ["EsmeClient", "build_parser", "main"]
