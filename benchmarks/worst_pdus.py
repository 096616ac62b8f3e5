"""The costliest PDUs one can build at 64 KiB, against a plain 64 KiB submit (a benchmark, not
a test).

Each shape is 65,536 octets (but the last, which cannot grow past its 254 destinations' worth
of fields): the plain reference, a submit_sm whose message_payload fills it, and the shapes an
attacker would pick to make one PDU cost more than its length:

  tlvs-same       16,370 empty callback_num_atag TLVs (repeatable: collected until the cap)
  tlvs-distinct   16,370 empty TLVs of distinct unknown tags (ignored ones: the cap again)
  tlvs-128        128 distinct unknown TLVs (the most accepted) and a message_payload
  cstr-no-nul     a source_addr of 65,000 octets without its NUL
  cstr-max        every C-string at its maximum, data_sm's 65-octet addresses, and a payload
  multi-sme-bad   submit_multi, 254 SME destinations none of which routes (TON 7), a payload
  multi-dl        submit_multi, 254 distribution-list names of 20 characters, a payload
  multi-sme       submit_multi, 254 good SME destinations, a 58 KB unknown TLV as filler

Part 1 times the codec alone (decode, best of `--repeat` rounds of `--number` calls). Part 2
sends `--count` copies of each shape to `smsc serve` (in-memory store, its own process) over
one bound transceiver and reports the server's CPU time per PDU, from the on-CPU nanoseconds
of all its threads (/proc/PID/task/*/schedstat), until every answer is in. multi-sme is the
exception there: each copy is 254 accepted messages (the store's and the network's work for
each), so it gets a tenth of the copies and its figure is given per PDU and per destination.

Run: .venv/bin/python benchmarks/worst_pdus.py [--count 300] [--repeat 7] [--number 200]
"""

from __future__ import annotations

import argparse
import platform
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.pdu import (
    BindTransceiver,
    DataSm,
    DecodeError,
    DistributionListDest,
    FrameBuffer,
    SmeDest,
    SubmitMulti,
    SubmitSm,
    decode,
    encode,
)
from smsc.pdu.constants import CommandStatus, Tag

ROOT = Path(__file__).resolve().parent.parent
SIZE = 65536
UNKNOWN = 0x1400  # the first vendor-specific tag; 0x1400.. are unknown to the codec


def fill(pdu_of: Callable[[int], bytes]) -> bytes:
    """The PDU `pdu_of(n)` gives for the n that makes it SIZE octets (n: filler octets, each
    one octet of the PDU)."""
    overhead = len(pdu_of(0))
    data = pdu_of(SIZE - overhead)
    assert len(data) == SIZE, (len(data), SIZE)
    return data


def payload_submit(n: int) -> bytes:
    return encode(SubmitSm(source_addr="4915100000001", destination_addr="4915100000002",
                           tlvs={Tag.message_payload: b"x" * n}))


def with_tlv_stream(base: bytes, stream: bytes) -> bytes:
    body = base[16:] + stream
    return (16 + len(body)).to_bytes(4, "big") + base[4:16] + body


def empty_tlvs(tags: Callable[[int], int]) -> bytes:
    for digits in range(13, 17):  # a source_addr that leaves room for whole TLVs only
        base = encode(SubmitSm(source_addr="4" * digits, destination_addr="4915100000002"))
        if (SIZE - len(base)) % 4 == 0:
            break
    count = (SIZE - len(base)) // 4
    stream = b"".join(tags(n).to_bytes(2, "big") + b"\x00\x00" for n in range(count))
    return with_tlv_stream(base, stream)


def tlvs_128(n: int) -> bytes:
    tlvs: dict[int, object] = {UNKNOWN + i: b"" for i in range(127)}
    tlvs[Tag.message_payload] = b"x" * n
    return encode(SubmitSm(source_addr="4915100000001", destination_addr="4915100000002",
                           tlvs=tlvs))


def cstr_no_nul() -> bytes:
    head = encode(SubmitSm())
    body = head[16:19] + b"1" * (SIZE - 19)  # service_type, source ton and npi, then no NUL
    return SIZE.to_bytes(4, "big") + head[4:16] + body


def cstr_max(n: int) -> bytes:
    return encode(DataSm(service_type="CMT12", source_addr="4" * 64, destination_addr="4" * 64,
                         tlvs={Tag.message_payload: b"x" * n,
                               Tag.receipted_message_id: "9" * 64}))


def multi(dests: tuple[SmeDest | DistributionListDest, ...], filler_tag: int
          ) -> Callable[[int], bytes]:
    def build(n: int) -> bytes:
        return encode(SubmitMulti(source_addr="4915100000001", dest_address=dests,
                                  tlvs={filler_tag: b"x" * n}))
    return build


def shapes() -> dict[str, bytes]:
    good = tuple(SmeDest(1, 1, f"4915{n:016d}") for n in range(254))
    bad = tuple(SmeDest(7, 1, f"4915{n:016d}") for n in range(254))
    lists = tuple(DistributionListDest(f"list{n:016d}") for n in range(254))
    return {
        "plain": fill(payload_submit),
        "tlvs-same": empty_tlvs(lambda n: Tag.callback_num_atag),
        "tlvs-distinct": empty_tlvs(lambda n: UNKNOWN + n),
        "tlvs-128": fill(tlvs_128),
        "cstr-no-nul": cstr_no_nul(),
        "cstr-max": fill(cstr_max),
        "multi-sme-bad": fill(multi(bad, Tag.message_payload)),
        "multi-dl": fill(multi(lists, Tag.message_payload)),
        "multi-sme": fill(multi(good, UNKNOWN)),
    }


def outcome(data: bytes) -> str:
    try:
        pdu = decode(data)
    except DecodeError as error:
        return CommandStatus(error.command_status).name
    return f"decoded, {len(pdu.tlvs)} TLVs"


def codec_part(samples: dict[str, bytes], repeat: int, number: int) -> dict[str, float]:
    timings: dict[str, float] = {}

    def decode_quietly(data: bytes) -> int:
        try:
            decode(data)
        except DecodeError as error:
            return error.command_status
        return 0

    for name, data in samples.items():
        rounds = timeit.repeat(partial(decode_quietly, data), repeat=repeat, number=number)
        timings[name] = min(rounds) / number * 1e6
    return timings


def cpu_ns(pid: int) -> int:
    """Nanoseconds every thread of `pid` spent on a CPU so far."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError):
            continue
    return total


def exchange(sock: socket.socket, frames: FrameBuffer, pdus: list[bytes]) -> list[int]:
    """Send `pdus` (from a thread) and return the command_status of each answer."""
    sender = threading.Thread(target=sock.sendall, args=(b"".join(pdus),))
    sender.start()
    statuses: list[int] = []
    while len(statuses) < len(pdus):
        data = sock.recv(1 << 16)
        if not data:
            raise SystemExit("worst_pdus: the SMSC closed the connection")
        frames.feed(data)
        for frame in frames.pop_all():
            answer = decode(frame)
            if answer.command_id & 0x80000000:
                statuses.append(answer.command_status)
    sender.join()
    return statuses


def numbered(data: bytes, first: int, count: int) -> list[bytes]:
    return [data[:12] + (first + n).to_bytes(4, "big") + data[16:] for n in range(count)]


def wait_idle(pid: int) -> int:
    """The server's CPU counter once it stopped moving (deliveries of what it accepted)."""
    last = cpu_ns(pid)
    while True:
        time.sleep(0.3)
        now = cpu_ns(pid)
        if now - last < 3_000_000:  # under 1% of a core: idle but for its timers
            return now
        last = now


def server_part(samples: dict[str, bytes], count: int) -> dict[str, tuple[float, str]]:
    results: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "worst.toml"
        config.write_text(
            "[server]\nenquire_link_timer = 0.0\n[store]\nkind = \"memory\"\n"
            "retention = 3600.0\n[control]\nenabled = false\n")
        server = subprocess.Popen(
            [sys.executable, "-m", "smsc", "serve", "--config", str(config), "--port", "0",
             "--log-level", "error"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            assert server.stdout is not None
            found = re.search(r"SMPP on [^:]+:(\d+)", server.stdout.readline().decode())
            if found is None:
                raise SystemExit("worst_pdus: the SMSC did not start")
            sequence = 2
            for name, data in samples.items():
                copies = count // 10 if name == "multi-sme" else count
                with socket.create_connection(("127.0.0.1", int(found.group(1)))) as sock:
                    frames = FrameBuffer(max_command_length=1 << 20)
                    bind = BindTransceiver(sequence_number=1, system_id="smppclient1",
                                           password="password")
                    if exchange(sock, frames, [encode(bind)]) != [0]:
                        raise SystemExit("worst_pdus: bind refused")
                    exchange(sock, frames, numbered(data, sequence, 3))  # warm up
                    before = wait_idle(server.pid)
                    statuses = exchange(sock, frames, numbered(data, sequence + 3, copies))
                    after = wait_idle(server.pid)
                    sequence += copies + 3
                answers = sorted({CommandStatus(s).name for s in statuses})
                results[name] = ((after - before) / copies / 1000, ", ".join(answers))
        finally:
            server.terminate()
            server.wait(timeout=60)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=300, help="copies sent per shape")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=200)
    args = parser.parse_args()
    samples = shapes()
    print(f"python {platform.python_version()} on {platform.machine()}")
    codec = codec_part(samples, args.repeat, args.number)
    server = server_part(samples, args.count)
    plain_codec = codec["plain"]
    plain_server = server["plain"][0]
    print(f"{'shape':<15}{'octets':>7}  {'decode µs':>10}{'× plain':>8}  "
          f"{'server µs/PDU':>14}{'× plain':>8}  codec outcome / server answer")
    for name, data in samples.items():
        cost, answers = server[name]
        print(f"{name:<15}{len(data):>7}  {codec[name]:>10.1f}{codec[name] / plain_codec:>8.1f}"
              f"  {cost:>14.0f}{cost / plain_server:>8.1f}  {outcome(data)} / {answers}")
    per_dest = server["multi-sme"][0] / 254
    print(f"multi-sme per destination: {per_dest:.0f} µs ({per_dest / plain_server:.2f} × a "
          f"plain submit)")


if __name__ == "__main__":
    main()
