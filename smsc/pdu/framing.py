"""FrameBuffer: bytes in any chunking → whole PDUs, length-checked before any body is kept."""

from __future__ import annotations

import struct

import construct as cs  # type: ignore[import-untyped]

from smsc.pdu.constants import CommandId, CommandStatus
from smsc.pdu.errors import DecodeError
from smsc.pdu.fields import CStr
from smsc.pdu.table import SPECS, TLV_SPECS, PduSpec

HEADER_SIZE = 16
DEFAULT_MAX_COMMAND_LENGTH = 65536
_unpack_length = struct.Struct(">I").unpack_from


def largest_pdu(spec: PduSpec) -> int:
    """The longest PDU of `spec` that breaks no field limit: every C-string at its maximum,
    every TLV it may carry at its longest (only for bodies of integers and C-strings)."""
    size = HEADER_SIZE
    for field in spec.body.subcons:
        subcon = field.subcon
        if isinstance(subcon, CStr):
            size += subcon.max_size
        elif isinstance(subcon, cs.FormatField):
            size += subcon.sizeof()
        else:
            raise TypeError(f"{spec.name}.{field.name} has no fixed maximum")
    return size + sum(4 + TLV_SPECS[tag].max_length for tag in spec.tlvs)


UNBOUND_COMMANDS = (
    CommandId.bind_transmitter, CommandId.bind_receiver, CommandId.bind_transceiver,
    CommandId.bind_transmitter_resp, CommandId.bind_receiver_resp,
    CommandId.bind_transceiver_resp, CommandId.outbind, CommandId.enquire_link,
    CommandId.enquire_link_resp, CommandId.generic_nack,
)
"""What either side may send before the session is bound (SPEC Table 2-1)."""

MAX_UNBOUND_COMMAND_LENGTH = max(largest_pdu(SPECS[c]) for c in UNBOUND_COMMANDS)
"""The longest PDU legal before a bind succeeds (a bind request with every field full: 98
octets). A session keeps its FrameBuffer to this until it is bound, so an unauthenticated
peer can make it hold no more than this for an incomplete PDU (docs/hardening.md)."""


class FrameBuffer:
    """Splits a TCP byte stream into PDUs by command_length (REFERENCE.md §1).

    A command_length below 16 or above `max_command_length` means framing is lost: `pop_all`
    raises DecodeError(ESME_RINVCMDLEN) and the buffer refuses further use, since the stream
    cannot be resynchronised (REFERENCE.md §12.5). `max_command_length` may change between
    calls (a session raises it from MAX_UNBOUND_COMMAND_LENGTH once bound); each length is
    checked against it as soon as its four octets are in, so no more than that limit, less
    one octet, is ever held for an incomplete PDU.
    """

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        self.max_command_length = max_command_length
        self._buffer: bytes | bytearray = b""
        """What was received and not yet returned, from `_start` on: the bytes received while
        nothing was left over (a chunk of whole PDUs, the usual case, is sliced into frames
        without another copy), a bytearray that grows while a PDU is still incomplete (a
        peer trickling a PDU costs no copy of it per chunk)."""
        self._start = 0
        self._broken: tuple[str, int | None, int | None] | None = None
        """Why framing was lost (message, command_id, sequence_number), once it was: each
        call raises a new DecodeError from it. Keeping the error itself would keep, through
        its traceback, the frame of the call that raised it, this buffer and the octets it
        held: a reference cycle only the garbage collector frees, which `smsc serve` runs
        rarely (app.tune_garbage_collector)."""

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as a frame."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        start = self._start
        if start == len(buffer):
            self._buffer = bytes(data)
        elif isinstance(buffer, bytearray):
            if start:
                del buffer[:start]
            buffer += data
        else:
            self._buffer = bytearray(memoryview(buffer)[start:])
            self._buffer += data
        self._start = 0

    def pop_all(self) -> list[bytes]:
        """Every whole PDU buffered, in order (empty when more bytes are needed): one loop
        over a received chunk of many PDUs. A bad command_length after good frames ends the
        list there; the next call raises.

        Raises:
            DecodeError: the first command_length is out of bounds (framing lost).
        """
        if self._broken is not None:
            raise self._framing_lost()
        buffer = self._buffer
        start = self._start
        end = len(buffer)
        limit = self.max_command_length
        frames: list[bytes | bytearray] = []
        while end - start >= 4:
            length = _unpack_length(buffer, start)[0]
            if length < HEADER_SIZE or length > limit:
                if frames:
                    break
                self._lose_framing(length)
                raise self._framing_lost()
            stop = start + length
            if stop > end:
                break
            frames.append(buffer[start:stop])
            start = stop
        self._start = start
        if type(buffer) is not bytes:
            return [bytes(frame) for frame in frames]
        return frames  # type: ignore[return-value]  # slices of bytes are bytes

    def _framing_lost(self) -> DecodeError:
        message, command_id, sequence = self._broken  # type: ignore[misc]
        return DecodeError(CommandStatus.ESME_RINVCMDLEN, message, command_id=command_id,
                           sequence_number=sequence)

    def _lose_framing(self, length: int) -> None:
        """Refuse the stream from here on: `length`, at `_start`, cannot be a PDU's."""
        buffer = self._buffer
        start = self._start
        sequence = None
        command_id = None
        if len(buffer) - start >= HEADER_SIZE:
            command_id = int.from_bytes(buffer[start + 4 : start + 8], "big")
            sequence = int.from_bytes(buffer[start + 12 : start + 16], "big")
        self._broken = (f"command_length {length} outside 16..{self.max_command_length}",
                        command_id, sequence)
        self._buffer = b""
        self._start = 0
