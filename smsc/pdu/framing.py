"""FrameBuffer: bytes in any chunking → whole PDUs, length-checked before any body is kept."""

from __future__ import annotations

from smsc.pdu.constants import CommandStatus
from smsc.pdu.errors import DecodeError

HEADER_SIZE = 16
DEFAULT_MAX_COMMAND_LENGTH = 65536


class FrameBuffer:
    """Splits a TCP byte stream into PDUs by command_length (REFERENCE.md §1).

    A command_length below 16 or above `max_command_length` means framing is lost: `pop`
    raises DecodeError(ESME_RINVCMDLEN) and the buffer refuses further use, since the stream
    cannot be resynchronised (REFERENCE.md §12.5).
    """

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        self.max_command_length = max_command_length
        self._buffer = bytearray()
        self._start = 0
        self._broken: DecodeError | None = None

    @property
    def buffered(self) -> int:
        """Octets received but not yet returned as a frame."""
        return len(self._buffer) - self._start

    def feed(self, data: bytes) -> None:
        if self._start and self._start == len(self._buffer):
            self._buffer.clear()
            self._start = 0
        self._buffer += data

    def pop(self) -> bytes | None:
        """The next whole PDU, or None when more bytes are needed.

        Raises:
            DecodeError: command_length is out of bounds (framing lost).
        """
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer
        start = self._start
        available = len(buffer) - start
        if available < 4:
            return None
        length = int.from_bytes(buffer[start : start + 4], "big")
        if length < HEADER_SIZE or length > self.max_command_length:
            sequence = None
            command_id = None
            if available >= HEADER_SIZE:
                command_id = int.from_bytes(buffer[start + 4 : start + 8], "big")
                sequence = int.from_bytes(buffer[start + 12 : start + 16], "big")
            self._broken = DecodeError(
                CommandStatus.ESME_RINVCMDLEN,
                f"command_length {length} outside 16..{self.max_command_length}",
                command_id=command_id,
                sequence_number=sequence,
            )
            self._buffer = bytearray()
            self._start = 0
            raise self._broken
        if available < length:
            return None
        frame = bytes(buffer[start : start + length])
        start += length
        if start == len(buffer):
            buffer.clear()
            start = 0
        elif start > 65536:
            del buffer[:start]
            start = 0
        self._start = start
        return frame
