"""A trivial SMPP responder, so that `esme bench` itself is what gets measured.

Answers every bind with ESME_ROK, every submit_sm with a pre-built submit_sm_resp (only the
sequence number changes), enquire_link and unbind with their responses, and anything else with
generic_nack. No store, no session state: per PDU it does one header unpack and one join.
With `--receipts` it also sends a deliver_sm receipt for every submit_sm that asks for one.

Run: .venv/bin/python benchmarks/responder.py --port 2776 [--processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import struct
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from smsc.pdu import DeliverSm, encode
from smsc.pdu.constants import Tag

HEADER = struct.Struct(">IIII")
SEQ = struct.Struct(">I")
MESSAGE_ID = b"1"
SUBMIT_RESP_HEAD = struct.pack(">II", 16 + len(MESSAGE_ID) + 1, 0x80000004) + b"\0\0\0\0"
SUBMIT_RESP_TAIL = MESSAGE_ID + b"\0"
BINDS = {1, 2, 9}


PLACEHOLDER = b"@@@@@@@@@@@@"
MESSAGE_IDS = itertools.count((os.getpid() & 0xFFFF) << 32)
"""Unique over every connection (and, by the pid, over every responder process)."""


def receipt_template() -> list[bytes]:
    """A deliver_sm receipt cut where its sequence number and message id go."""
    pdu = encode(DeliverSm(
        source_addr="4915100000002", destination_addr="4242", esm_class=0x04,
        short_message=(b"id:" + PLACEHOLDER + b" sub:001 dlvrd:001 submit date:2601010000 "
                       b"done date:2601010000 stat:DELIVRD err:000 text:"),
        tlvs={Tag.receipted_message_id: PLACEHOLDER.decode(), Tag.message_state: 2},
    ))
    return [pdu[:12], *pdu[16:].split(PLACEHOLDER)]


class Responder(asyncio.Protocol):
    def __init__(self, receipts: bool) -> None:
        self.buffer = b""
        self.receipts = receipts
        self.receipt_parts = receipt_template()
        self.sequence = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        view = self.buffer + data if self.buffer else data
        end = len(view)
        pos = 0
        out = []
        append = out.append
        unpack_from = HEADER.unpack_from
        pack = SEQ.pack
        head, tail = SUBMIT_RESP_HEAD, SUBMIT_RESP_TAIL
        while end - pos >= 16:
            length, command_id, _, sequence = unpack_from(view, pos)
            if length < 16:
                self.transport.close()
                return
            if end - pos < length:
                break
            if command_id == 4:
                if self.receipts:
                    self._submit_with_receipt(view[pos:pos + length], sequence, append)
                else:
                    append(head)
                    append(pack(sequence))
                    append(tail)
            elif command_id in BINDS:
                body = b"responder\0"
                append(struct.pack(">IIII", 16 + len(body), command_id | 0x80000000, 0,
                                   sequence) + body)
            elif command_id in (0x15, 6):
                append(struct.pack(">IIII", 16, command_id | 0x80000000, 0, sequence))
                if command_id == 6:
                    self.transport.write(b"".join(out))
                    self.transport.close()
                    return
            elif not command_id & 0x80000000:
                append(struct.pack(">IIII", 16, 0x80000000, 3, sequence))
            pos += length
        self.buffer = view[pos:] if pos < end else b""
        if out:
            self.transport.write(b"".join(out))

    def _submit_with_receipt(self, frame: bytes, sequence: int,
                             append: Callable[[bytes], None]) -> None:
        """A unique message id (8 hex digits) and, when registered_delivery asks, a receipt."""
        message_id = b"%012x" % next(MESSAGE_IDS)
        append(struct.pack(">IIII", 16 + 13, 0x80000004, 0, sequence) + message_id + b"\0")
        # the SMPP body: skip service_type and the addresses to reach registered_delivery
        pos = frame.index(b"\0", 16) + 3  # service_type, source ton/npi
        pos = frame.index(b"\0", pos) + 3  # source_addr, dest ton/npi
        pos = frame.index(b"\0", pos) + 4  # destination_addr, esm_class, pid, priority
        pos = frame.index(b"\0", pos) + 1  # schedule_delivery_time
        pos = frame.index(b"\0", pos) + 1  # validity_period
        if frame[pos] & 0x03:
            self.sequence = self.sequence % 0x7FFFFFFF + 1
            head, *rest = self.receipt_parts
            append(head + SEQ.pack(self.sequence) + message_id.join(rest))


async def serve(host: str, port: int, receipts: bool, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Responder(receipts), host, port,
                                      reuse_port=reuse_port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"responder: SMPP on {host}:{bound} (pid {os.getpid()})", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2776)
    parser.add_argument("--receipts", action="store_true",
                        help="send a receipt for every submit_sm asking for one")
    parser.add_argument("--processes", type=int, default=1,
                        help="processes sharing the port (SO_REUSEPORT)")
    args = parser.parse_args()
    children = []
    for _ in range(args.processes - 1):
        pid = os.fork()
        if pid == 0:
            children = []
            break
        children.append(pid)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.receipts, args.processes > 1))


if __name__ == "__main__":
    main()
