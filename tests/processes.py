"""Commands run as real processes, their output read as it comes (no sleeps: tests wait for
the line that says the process got somewhere)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import trio

SMSC = [sys.executable, "-m", "smsc", "serve"]
"""`smsc serve` as a process of the interpreter running the tests."""


class Output:
    """What one pipe of a process has written so far."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self.stream = stream
        self.data = b""

    async def until(self, needle: bytes) -> bytes:
        """Read until `needle` has been written; returns everything so far."""
        while needle not in self.data:
            chunk = await self.stream.receive_some(65536)
            assert chunk, f"the pipe closed before {needle!r}: {self.data.decode()}"
            self.data += chunk
        return self.data

    async def lines(self, count: int) -> bytes:
        """Read until `count` lines have been written; returns everything so far."""
        while self.data.count(b"\n") < count:
            chunk = await self.stream.receive_some(65536)
            assert chunk, f"the pipe closed before {count} lines: {self.data.decode()}"
            self.data += chunk
        return self.data

    async def rest(self) -> bytes:
        """Read to the end of the pipe."""
        while chunk := await self.stream.receive_some(65536):
            self.data += chunk
        return self.data

    @property
    def text(self) -> str:
        return self.data.decode()


class Running:
    """A process with its stdout and stderr read as they come."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        assert process.stdout is not None and process.stderr is not None
        self.stdout = Output(process.stdout)
        self.stderr = Output(process.stderr)

    async def finish(self) -> int:
        """Read both pipes to their end and wait for the exit code."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.stdout.rest)
            nursery.start_soon(self.stderr.rest)
        return await self.process.wait()


@asynccontextmanager
async def launched(command: Sequence[str | int]) -> AsyncIterator[Running]:
    """`command` running with stdout and stderr piped; killed on leaving if still alive."""
    process = await trio.lowlevel.open_process(
        [str(part) for part in command], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    try:
        yield Running(process)
    finally:
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.wait()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    await pipe.aclose()


async def ports(node: Running) -> tuple[int, int]:
    """The SMPP and HTTP ports of an `smsc serve` process, from its banner."""
    banner = await node.stdout.until(b"\n")
    smpp = re.search(rb"SMPP on 127\.0\.0\.1:(\d+)", banner)
    http = re.search(rb"http://127\.0\.0\.1:(\d+)", banner)
    assert smpp and http, banner
    return int(smpp[1]), int(http[1])
