"""The capture file: tapped chunks buffered on the trio thread, written from a worker thread.

Per chunk the hot path appends one tuple to a list. The writer task wakes on a timer (or when
the list is long), swaps the list out and hands it to a worker thread, which cuts the chunks
into PDUs and formats them (`smsc.capture.formats`) and writes the file: the trio loop never
waits on the disk. A write that fails (a full disk) stops the capture with one log line; the
SMSC goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import trio

from smsc.capture.formats import (
    PCAP_HEADER,
    PduSplitter,
    TcpFlow,
    json_lines,
    masked_octets,
)
from smsc.capture.tap import Tap
from smsc.clock import Clock
from smsc.session import SmppSession

log = logging.getLogger("smsc.capture")

FLUSH_INTERVAL = 0.5
"""Seconds between writes at most (what a crash may lose)."""
FLUSH_CHUNKS = 2048
"""Chunks buffered that wake the writer before its timer."""
MAX_BEHIND = 500_000
"""Chunks buffered while a write is still under way that stop the capture: the SMSC serves
faster than the capture can be written, and would otherwise buffer without bound."""

_Chunk = tuple[float, float, "SessionCapture", str, str, bytes]
"""(trio time, simulated time, session, direction, system_id then, octets): the simulated
time is read when the chunk comes, as the clock may be advanced before it is written."""


class SessionCapture:
    """One session's part of the capture: its id, addresses and per-direction framing (the
    framing and TCP state are touched only by the worker thread, one batch at a time)."""

    def __init__(self, capture: CaptureFile, number: int, peer: str, local: str) -> None:
        self.number = number
        self.peer = peer
        self._pending = capture._pending
        self._wake = capture._wake_if_full
        self._wake_at = min(FLUSH_CHUNKS, capture.max_behind + 1)
        self._monotonic = capture.clock.monotonic
        self._simulated = capture.clock.simulated
        self.splitters = {"in": PduSplitter(), "out": PduSplitter()}
        self.flow = TcpFlow(peer, local) if capture.pcap else None
        self.opened = False
        """Whether the pcap has the connection's handshake already."""

    def __call__(self, session: SmppSession, direction: str, data: bytes) -> None:
        pending = self._pending
        pending.append((self._monotonic(), self._simulated(), self, direction,
                        session.system_id, data))
        if len(pending) >= self._wake_at:
            self._wake()


class CaptureFile:
    """Every PDU of every tapped session, as JSON lines, or pcap when the name ends .pcap."""

    def __init__(self, path: Path, *, clock: Clock, texts: bool,
                 max_behind: int = MAX_BEHIND) -> None:
        self.path = path
        self.max_behind = max_behind
        self.clock = clock
        self.started = clock.monotonic()
        """trio time when the capture started: records' `real` counts from it."""
        self.texts = texts
        self.pcap = path.suffix.lower() == ".pcap"
        self._file: BinaryIO | None = None
        self._pending: list[_Chunk] = []
        self._wakeup = trio.Event()
        self._sessions = 0
        self.stopped = False
        """True once a write failed: nothing more is written."""

    def open(self) -> None:
        """Create (truncate) the file; raises OSError when it cannot be."""
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by `run`
        if self.pcap:
            self._file.write(PCAP_HEADER)

    def tap_for(self, peer: str, local: str) -> Tap:
        """The tap of a new session (numbered from 1 in the order they start)."""
        self._sessions += 1
        return SessionCapture(self, self._sessions, peer, local)

    def _wake_if_full(self) -> None:
        self._wakeup.set()
        if len(self._pending) > self.max_behind and not self.stopped:
            self._stop(f"{self.max_behind:,} chunks waiting to be written (the SMSC is faster "
                       "than the capture)")

    def _stop(self, reason: str) -> None:
        self.stopped = True
        self._pending.clear()
        log.error("capture to %s stopped: %s", self.path, reason)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Write what is buffered every FLUSH_INTERVAL (sooner when much is), until
        cancelled; then the rest, and close the file."""
        if self._file is None:
            self.open()
        task_status.started()
        try:
            while True:
                with trio.move_on_after(FLUSH_INTERVAL):
                    await self._wakeup.wait()
                self._wakeup = trio.Event()
                await self.flush()
        finally:
            with trio.CancelScope(shield=True):
                await self.flush()
                self.close()

    def close(self) -> None:
        """Close the file (what is still buffered is not written)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    async def flush(self) -> None:
        """Write everything buffered so far, from a worker thread."""
        if not self._pending:
            return
        batch = self._pending[:]
        self._pending.clear()
        if self.stopped or self._file is None:
            return
        await trio.to_thread.run_sync(self._write, batch)

    def _write(self, batch: list[_Chunk]) -> None:
        """Format and write one batch (worker thread)."""
        file = self._file
        assert file is not None
        format_chunk: Callable[[_Chunk], bytes] = (
            self._pcap_packets if self.pcap else self._json_lines)
        try:
            file.write(b"".join(format_chunk(chunk) for chunk in batch))
            file.flush()
        except OSError as error:
            self._stop(str(error.strerror or error))
        except Exception as error:  # a PDU it cannot format must not stop the SMSC
            self._stop(f"cannot format a PDU: {error!r}")

    def _json_lines(self, chunk: _Chunk) -> bytes:
        at, simulated, session, direction, system_id, data = chunk
        pdus = session.splitters[direction].feed(data)
        if not pdus:
            return b""
        return json_lines(self.clock.wall_of(simulated), session.number, session.peer,
                          system_id, direction, pdus, texts=self.texts,
                          real=at - self.started).encode()

    def _pcap_packets(self, chunk: _Chunk) -> bytes:
        _, simulated, session, direction, _, data = chunk
        flow = session.flow
        assert flow is not None
        pdus = session.splitters[direction].feed(data)
        if not pdus:
            return b""
        texts = self.texts
        data = b"".join(masked_octets(octets, texts=texts) for octets in pdus)
        posix = self.clock.wall_of(simulated).timestamp()
        opening = b""
        if not session.opened:
            session.opened = True
            opening = flow.handshake(posix)
        return opening + flow.segments(direction, data, posix)
