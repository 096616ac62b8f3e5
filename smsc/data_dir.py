"""DataDirLock: one SMSC process per data directory.

Two processes writing one SQLite store would hand out the same message ids and re-attempt
each other's messages, so `smsc serve` takes an exclusive lock on `smsc.lock` in the data
directory before it opens anything there, and refuses to start when another process holds
it. The lock is the operating system's (flock): it ends with the process, however it ends,
so a crash never leaves a stale lock behind. The file names the holder for the refusal.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from types import TracebackType

LOCK_NAME = "smsc.lock"


class DataDirInUse(Exception):
    """Another process holds the data directory; the message is one line for the operator."""


class DataDirLock:
    """Held from `acquire` (or entering the `with`) until `release` (or leaving it)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.directory = Path(data_dir)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise DataDirInUse naming the directory and the holder."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise DataDirInUse(
                f"data directory {self.directory} is in use by {holder or 'another process'}"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} ({' '.join(_command())})\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor ends the lock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _command() -> list[str]:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return [name, *sys.argv[1:3]]
