"""`esme`: send one message, listen for MO and receipts, or benchmark an SMSC.

    esme send 4915100000002 "Hello" --wait-receipt
    esme listen --json
    esme bench --connections 4 --window 100 --count 100000 --receipts

Exit codes: 0 done; 1 the SMSC refused (the SMPP status is printed); 2 bad usage;
3 cannot connect, or the connection failed; 4 no receipt in time (bench: a submit_sm
unanswered or a receipt missing); 128 + the signal's number when interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn, TextIO

import trio
from tqdm import tqdm

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
    STOP_GRACE,
    BenchConfig,
    BenchStats,
    Counters,
    Stop,
    run_bench,
    settle_receipts,
    summary,
)
from esme_client.replay import (
    CaptureFileError,
    MissingPassword,
    passwords_from_toml,
    replay_capture,
)
from esme_client.results import Delivery, Receipt

EXIT_REFUSED, EXIT_USAGE, EXIT_CONNECT, EXIT_TIMEOUT = 1, 2, 3, 4

EXIT_CODES = """\
exit codes:
  0    done
  1    the SMSC refused (its SMPP status is printed)
  2    bad usage
  3    cannot connect or bind, or the connection failed
  4    send: no receipt in time; bench: a submit_sm unanswered or a receipt missing
  replay: 0 no differences, 1 some answers or receipts differ, 2 a bad capture file,
          3 the server cannot be reached
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM
"""
EPILOGS = {
    None: """\
examples:
  esme send 4915100000002 "Hello" --wait-receipt
  esme listen --json
  esme bench -c 4 -w 100 -n 100000 --receipts
  esme replay capture.jsonl --accounts smsc.toml
""",
    "replay": """\
examples:
  esme replay capture.jsonl --accounts smsc.toml     passwords from the SMSC's config
  esme replay capture.jsonl --password secret --fast
The capture is `smsc serve --capture FILE.jsonl`, best with --log-texts: otherwise
the texts it replays are masked ('*') and the simulated fates may differ
(docs/capture.md). Differences are printed one a line on stdout.
""",
    "send": """\
examples:
  esme send 4915100000002 "Hello" --wait-receipt    the message id, then the receipt
  esme send 4915100000002 0a0b0c --hex --json       binary user data, JSON output
  esme send 4915100000002 "$(cat long.txt)" --scheme sar
""",
    "listen": """\
examples:
  esme listen                                        MO and receipts as text lines
  esme listen --json --count 10                      ten JSON lines, then exit
Ctrl-C or SIGTERM unbinds and exits 0.
""",
    "bench": """\
examples:
  esme bench -n 100000                               one connection, as fast as it goes
  esme bench -c 4 -w 100 -n 100000 --receipts        four connections, with receipts
  esme bench -r 500 -d 60 --json                     500 submit_sm/s for a minute
The first Ctrl-C or SIGTERM stops sending, unbinds and prints the report of what was
done; a second one exits at once. The reason for a non-zero exit is the last line on
stderr.
""",
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Epilogs as written, and each option's default after its help when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _version() -> str:
    try:
        return version("smsc-simulator")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "unknown"


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
    group.add_argument("--host", default="127.0.0.1", help="the SMSC's address")
    group.add_argument("--port", type=int, default=2775, help="the SMSC's SMPP port")
    group.add_argument("--system-id", default="smppclient1", help="account to bind as")
    group.add_argument("--password", default="password", help="the account's password")
    group.add_argument("--system-type", default="", help="system_type of the bind")
    group.add_argument("--smpp-version", choices=sorted(INTERFACE_VERSIONS), default="3.4",
                       help="the SMPP version the bind names (interface_version)")
    group.add_argument("--tls", action="store_true", help="SMPP over TLS")
    group.add_argument("--cafile", help="CA certificates to trust for --tls")
    group.add_argument("--insecure", action="store_true",
                       help="with --tls, do not check the SMSC's certificate")
    group.add_argument("--tls-cert", metavar="FILE",
                       help="client certificate (PEM, chain allowed) to present, for an SMSC "
                            "asking for one (mutual TLS); implies --tls")
    group.add_argument("--tls-key", metavar="FILE",
                       help="private key of --tls-cert (default: in the same file)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="esme", description="An SMPP 3.4 (and 5.0) ESME.",
                                     epilog=EPILOGS[None] + "\n" + EXIT_CODES,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"esme {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                   epilog=EPILOGS[name] + "\n" + EXIT_CODES,
                                   formatter_class=HelpFormatter)

    send = command("send", "submit one message and print its id")
    _connection_options(send)
    send.add_argument("destination", help="the number to send to")
    send.add_argument("text", help="the text (or, with --hex, the user data in hex)")
    send.add_argument("--source", default="", help="source_addr")
    send.add_argument("--hex", action="store_true", help="TEXT is hex octets (binary)")
    send.add_argument("--encoding", default="auto",
                      help=f"auto (GSM when it fits, else UCS2), {', '.join(ENCODINGS)}, "
                           "or a data_coding number")
    send.add_argument("--scheme", default="udh8", choices=sorted(SCHEMES),
                      help="how long messages travel")
    send.add_argument("--registered-delivery", type=int, default=None, metavar="N",
                      help="registered_delivery value (default: 1 with --wait-receipt, else 0)")
    send.add_argument("--wait-receipt", action="store_true",
                      help="bind as transceiver and wait for the receipt of every part")
    send.add_argument("--timeout", type=_non_negative, default=60.0,
                      help="seconds to wait for receipts")
    send.add_argument("--json", action="store_true", help="one JSON object on stdout")

    listen = command("listen", "bind and print MO messages and receipts")
    _connection_options(listen)
    listen.add_argument("--mode", choices=("receiver", "transceiver"), default="receiver")
    listen.add_argument("--json", action="store_true", help="JSON lines on stdout")
    listen.add_argument("--count", type=_positive_int, default=None,
                        help="exit after this many messages")
    listen.add_argument("--no-reconnect", action="store_true",
                        help="exit when the connection is lost")

    replay = command("replay", "replay a capture's ESME side and report what differs")
    replay.add_argument("file", type=Path, help="a JSON-lines capture (smsc serve --capture)")
    replay.add_argument("--host", default="127.0.0.1", help="the SMSC's address")
    replay.add_argument("--port", type=int, default=2775, help="the SMSC's SMPP port")
    replay.add_argument("--password", default=None,
                        help="password for every system_id --accounts does not name (the "
                             "capture masks them)")
    replay.add_argument("--accounts", type=Path, metavar="TOML",
                        help="a TOML file with [[accounts]] system_id and password, such as "
                             "the SMSC's config")
    replay.add_argument("--fast", action="store_true",
                        help="no pauses: each request waits only for what came before it in "
                             "the capture")
    replay.add_argument("--wait", type=_non_negative, default=30.0,
                        help="seconds a request waits at most for the answers and deliveries "
                             "that came before it in the capture (0: no limit)")

    bench = command("bench", "load-test an SMSC")
    _connection_options(bench)
    bench.add_argument("--connections", "-c", type=_positive_int, default=1,
                       help="SMPP connections")
    bench.add_argument("--window", "-w", type=_positive_int, default=100,
                       help="submit_sm in flight per connection")
    bench.add_argument("--rate", "-r", type=_non_negative, default=0.0,
                       help="target submit_sm/s over all connections (default: 0, as fast as "
                            "the windows allow)")
    bench.add_argument("--count", "-n", type=int, default=None,
                       help="submit_sm to send (default: 10000, or no limit with --duration)")
    bench.add_argument("--duration", "-d", type=_non_negative, default=0.0,
                       help="seconds to send for")
    bench.add_argument("--size", type=_positive_int, default=40,
                       help="characters per message (long ones go in parts)")
    bench.add_argument("--encoding", choices=("gsm", "ucs2", "latin1"), default="gsm",
                       help="the messages' encoding")
    bench.add_argument("--receipts", action="store_true",
                       help="ask for receipts and wait for them (binds as transceiver)")
    bench.add_argument("--response-timeout", type=_non_negative, default=30.0,
                       help="seconds to wait for the last submit_sm_resp after sending")
    bench.add_argument("--receipt-timeout", type=_non_negative, default=30.0,
                       help="seconds to wait for the receipts after the last submit_sm_resp")
    bench.add_argument("--source", default="4242", help="source_addr")
    bench.add_argument("--destination", default="4915100000002",
                       help="first destination number")
    bench.add_argument("--destinations", type=_positive_int, default=1,
                       help="send to this many numbers in turn, counting up")
    bench.add_argument("--processes", "-p", type=_positive_int, default=1,
                       help="generator processes sharing the connections")
    bench.add_argument("--json", action="store_true", help="the report as one JSON object")
    bench.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                       help="live progress bar on stderr; auto: when stderr is a terminal")
    return parser


def ssl_context_of(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS client context the options ask for (None: plain TCP).

    Raises:
        SystemExit: a certificate or key file that cannot be loaded (one line).
    """
    if not (args.tls or args.tls_cert):
        return None
    if args.tls_key and not args.tls_cert:
        raise SystemExit("esme: --tls-key needs --tls-cert")
    context = ssl.create_default_context(cafile=args.cafile)
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if args.tls_cert:
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as error:
            raise SystemExit(f"esme: --tls-cert {args.tls_cert}: "
                             f"{getattr(error, 'strerror', None) or error}") from None
    return context


INTERFACE_VERSIONS = {"3.3": 0x33, "3.4": 0x34, "5.0": 0x50}
"""--smpp-version → the bind's interface_version."""
VERSION_NAMES = {value: name for name, value in INTERFACE_VERSIONS.items()}


def client_config(args: argparse.Namespace, mode: str, **extra: Any) -> ClientConfig:
    return ClientConfig(host=args.host, port=args.port, system_id=args.system_id,
                        password=args.password, system_type=args.system_type, mode=mode,
                        interface_version=INTERFACE_VERSIONS[args.smpp_version],
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
        if client.connection is not None:  # the version the session speaks, as agreed
            out["smpp_version"] = VERSION_NAMES[client.connection.session.version]
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
        response_timeout=args.response_timeout,
        source_addr=args.source, destination_addr=args.destination,
        destinations=args.destinations,
    )


class _Bar(tqdm):  # type: ignore[type-arg]
    """tqdm without its monitor thread: the bench redraws it itself, four times a second."""

    monitor_interval = 0


class Progress:
    """The live progress bar on stderr, fed from the counters every generator process updates.

    With a count the bar is the share of submit_sm answered, with its rate and the time
    left; with a duration it is the time gone. tqdm pads a line that got shorter.
    """

    def __init__(self, config: BenchConfig, counters: Counters, stream: TextIO) -> None:
        self.config = config
        self.counters = counters
        self.started = time.monotonic()
        self.last = (self.started, 0)
        if config.count:
            total: float = config.count
            layout = ("{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} answered "
                      "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
        else:
            total = config.duration
            layout = "{percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
        self.total = total
        self.bar = _Bar(total=total, file=stream, unit=" submit_sm", unit_scale=True,
                        dynamic_ncols=True, mininterval=0, miniters=0, bar_format=layout)

    def draw(self, final: bool = False) -> None:
        now = time.monotonic()
        sent, responses, receipts = self.counters.read()
        config = self.config
        then, before = (self.started, 0) if final else self.last
        self.last = (now, responses)
        postfix = f"sent {sent:,}"
        if not config.count:
            rate = (responses - before) / (now - then) if now > then else 0.0
            postfix += f", answered {responses:,} ({rate:,.0f}/s)"
        if config.receipts:
            postfix += f", receipts {receipts:,}"
        self.bar.set_postfix_str(postfix, refresh=False)
        done = responses if config.count else now - self.started
        self.bar.update(min(done, self.total) - self.bar.n)
        if final:
            self.bar.close()


class Interruption:
    """`esme bench`'s SIGINT and SIGTERM: the first stops the run, which then unbinds and
    reports; a second one exits at once, without unbinding."""

    def __init__(self, announce: bool = True) -> None:
        self.signum: int | None = None
        self.announce = announce

    @property
    def reason(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    def first(self, signum: int) -> None:
        """Note the first signal and say what happens now."""
        self.signum = signum
        if self.announce:
            print(f"\nesme: {signal.Signals(signum).name}: stopping; waiting up to "
                  f"{STOP_GRACE:g} s for the answers in flight, then unbinding (again to "
                  "exit at once)", file=sys.stderr, flush=True)

    def exit_now(self, signum: int) -> NoReturn:
        if self.announce:
            print(f"\nesme: {signal.Signals(signum).name} again: exiting without unbinding",
                  file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(128 + signum)


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


async def _bench_until_signal(config: BenchConfig, counters: Counters, share: tuple[int, int],
                              watched: frozenset[signal.Signals], interruption: Interruption,
                              redraw: Callable[[], None] | None = None) -> BenchStats:
    """run_bench, stopped by the first of the `watched` signals (see Interruption)."""
    stop = Stop()
    with trio.open_signal_receiver(*watched) as signals:
        # a generator process starts with them blocked, so that none is lost before this
        signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
        async with trio.open_nursery() as nursery:
            async def stop_on_signal() -> None:
                async for signum in signals:
                    if interruption.signum is not None:
                        interruption.exit_now(signum)
                    interruption.first(signum)
                    stop(signal.Signals(signum).name)

            async def keep_drawing(draw: Callable[[], None]) -> None:
                while True:
                    await trio.sleep(0.25)
                    draw()

            nursery.start_soon(stop_on_signal)
            if redraw is not None:
                nursery.start_soon(keep_drawing, redraw)
            stats = await run_bench(config, counters, share, stop)
            nursery.cancel_scope.cancel()
    return stats


def _worker(config: BenchConfig, shared: Any, index: int, of: int, pipe: Any) -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent decides, and stops
    # its generator processes with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stats = trio.run(_bench_until_signal, config, Counters(shared, index * FIELDS),
                     (index, of), frozenset({signal.SIGTERM}), Interruption(announce=False))
    pipe.send(stats)
    pipe.close()


def run_processes(config: BenchConfig, processes: int, progress: Progress | None,
                  counters_store: Any, interruption: Interruption) -> BenchStats:
    """Run the generator processes; the first SIGINT or SIGTERM is passed on to them as
    SIGTERM (they stop, unbind and report), a second one kills them and exits."""
    context = multiprocessing.get_context("fork")
    workers: list[tuple[Any, Any]] = []
    parent = os.getpid()

    def terminate(signum: int, frame: object) -> None:
        if os.getpid() != parent:
            return
        if interruption.signum is not None:
            for process, _ in workers:
                process.kill()
            interruption.exit_now(signum)
        interruption.first(signum)
        for process, _ in workers:
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, terminate) for signum in STOP_SIGNALS}
    try:
        for index in range(processes):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_worker,
                                      args=(config, counters_store, index, processes, sender))
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                process.start()
                workers.append((process, receiver))
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            sender.close()
        return _collect(workers, progress)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _collect(workers: list[tuple[Any, Any]], progress: Progress | None) -> BenchStats:
    """Every generator process's figures, merged, as they finish."""
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


def print_report(report: dict[str, Any], out: TextIO) -> None:
    work = report["workload"]
    limit = f"{work['count']:,} submit_sm" if work["count"] else f"{work['duration']} s"
    rate = f"target {work['rate']:,.0f}/s" if work["rate"] else "max rate"
    print(f"bench: {work['connections']} connection(s) x window {work['window']}, {limit}, "
          f"{rate}, {work['size']} {work['encoding']} characters "
          f"({work['parts_per_message']} part(s)), receipts {'on' if work['receipts'] else 'off'}"
          f", {work['processes']} process(es)", file=out)
    if report["interrupted"]:
        print(f"  interrupted by {report['interrupted']}: sending stopped early"
              + (", receipts not waited for" if work["receipts"] else ""), file=out)
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


def _distinct(lines: list[str]) -> list[str]:
    """Each line once, with how many times it came when more than once."""
    counted: dict[str, int] = {}
    for line in lines:
        counted[line] = counted.get(line, 0) + 1
    return [line if n == 1 else f"{line} ({n} times)" for line, n in counted.items()]


def bench_outcome(report: dict[str, Any]) -> tuple[int, str | None]:
    """The exit code of a bench run and, when it is not 0, why.

    Interrupted: 128 + the signal. A connection that could not be opened, or failed: 3.
    Every submit_sm answered (whatever its status) and every receipt asked for arrived: 0;
    otherwise 4.
    """
    interrupted = report["interrupted"]
    if interrupted:
        return (128 + signal.Signals[interrupted],
                f"interrupted by {interrupted}; the report covers what was done until then")
    shortfalls = []
    if report["unanswered"]:
        shortfalls.append(f"{report['unanswered']:,} submit_sm unanswered")
    if report["workload"]["receipts"] and report["receipts_missing"]:
        shortfalls.append(f"{report['receipts_missing']:,} receipts missing")
    if report["errors"]:
        return EXIT_CONNECT, "; ".join(_distinct(report["errors"]) + shortfalls)
    if shortfalls:
        return EXIT_TIMEOUT, "; ".join(shortfalls)
    return 0, None


def bench_command(args: argparse.Namespace) -> int:
    config = bench_config(args)
    if not config.count and not config.duration:
        return fail("bench needs --count or --duration", EXIT_USAGE)
    show = args.progress == "on" or (args.progress == "auto" and sys.stderr.isatty())
    processes = min(args.processes, config.connections)
    interruption = Interruption()
    started = time.monotonic()
    if processes > 1:
        store = multiprocessing.get_context("fork").Array("q", FIELDS * processes, lock=False)
        counters = Counters(store)
        progress = Progress(config, counters, sys.stderr) if show else None
        stats = run_processes(config, processes, progress, store, interruption)
    else:
        counters = Counters()
        progress = Progress(config, counters, sys.stderr) if show else None
        stats = trio.run(_bench_until_signal, config, counters, (0, 1), STOP_SIGNALS,
                         interruption, progress.draw if progress is not None else None)
    elapsed = time.monotonic() - started
    for signum in STOP_SIGNALS:  # the run is over: any signal now is a second one
        signal.signal(signum, lambda signum, frame: interruption.exit_now(signum))
    settle_receipts(stats)
    if progress is not None:
        progress.draw(final=True)
    report = summary(config, stats, elapsed, processes)
    report["interrupted"] = interruption.reason
    code, reason = bench_outcome(report)
    report["exit_code"], report["failure"] = code, reason
    if args.json:
        print(json.dumps(report), flush=True)
    else:
        print_report(report, sys.stdout)
        sys.stdout.flush()
    if reason is not None:
        fail(reason, code)
    return code


# -- entry --------------------------------------------------------------------------------


async def replay_command(args: argparse.Namespace) -> int:
    """`esme replay`: 0 when nothing differs, 1 when something does, 2 for a bad file."""
    try:
        passwords = passwords_from_toml(args.accounts) if args.accounts else {}
        report = await replay_capture(args.file, host=args.host, port=args.port,
                                      passwords=passwords, default_password=args.password,
                                      fast=args.fast, wait=args.wait)
    except (CaptureFileError, MissingPassword) as error:
        return fail(str(error), EXIT_USAGE)
    if report.unreachable:
        return fail(report.unreachable[0], EXIT_CONNECT)
    for line in report.differences:
        print(line)
    if not report.texts:
        print("note: the capture masks the texts; the replay sent '*' octets in their place",
              file=sys.stderr)
    print(f"replayed {report.sessions} sessions, {report.requests} requests; compared "
          f"{report.answers} answers and {report.receipts} receipts: "
          f"{len(report.differences)} differences", file=sys.stderr)
    return 1 if report.differences else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "replay":
            return trio.run(replay_command, args)
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
