"""The store's typed errors, and the log of a stretch of failing writes."""

from __future__ import annotations

import logging

from smsc.pdu.constants import CommandStatus

log = logging.getLogger("smsc.store")


class StoreOpenError(Exception):
    """The database cannot be opened or is not an SMSC store. The message is one line that
    names the file and the problem (the command line prints it and exits 2)."""


class StoreWriteError(Exception):
    """A write failed for a reason outside what it wrote (disk full, I/O error, database
    locked or corrupt). Nothing of it was kept, on disk or in the store's memory: the same
    write may succeed once the fault clears. A submit it held is answered with `status`."""

    status = CommandStatus.ESME_RSYSERR


class WriteFaults:
    """Counts failed writes from the first of a stretch to the next success, and logs the
    stretch twice: at its first failure, and with the count once writes work again (not a
    line per failed write: a full disk fails every batch until it is freed)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.failed = 0
        """Writes failed since the last success."""

    def failure(self, error: BaseException) -> None:
        if not self.failed:
            log.warning("store writes failing: %s: %s", self.where, error)
        self.failed += 1

    def success(self) -> None:
        if self.failed:
            log.warning("store writes recovered after %d failed transactions", self.failed)
            self.failed = 0
