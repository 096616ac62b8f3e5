"""Message and outbound item ids from PostgreSQL sequences, a block at a time.

Each sequence counts in steps of `ID_BLOCK`: one `nextval` reserves the block of ids from
what it returns, so a store counts its ids in memory and asks the database once per block,
and stores sharing a database never hand out the same id. A block is never given back:
the ids a store held when it stopped are skipped, never reused.

A transaction needs its new ids to follow on from each other (a batch's rows are written
under consecutive ids counted from the first). `room` keeps at least half a block ahead of
the next id before a transaction starts, jumping to a fresh block when the next one the
sequence gives does not follow on (another store took it); a transaction that needs more
than that (`cover`) extends the block it is in, and fails as a fault, to be tried again from
the fresh block, only when the block after it is taken.
"""

from __future__ import annotations

from typing import Any

import psycopg


class IdGap(Exception):
    """The ids a transaction counted run past its block into one another store holds."""


class IdBlocks:
    """The ids reserved from one sequence of blocks of `size` ids: up to `end`."""

    def __init__(self, sequence: str, size: int) -> None:
        self._next_block = f"SELECT nextval('{sequence}')"
        self.size = size
        self.end = 0
        """The last id reserved."""
        self.jump: int | None = None
        """A fresh block's first id, where the next transaction starts (after a gap)."""

    def _take(self, connection: psycopg.Connection[Any]) -> int:
        row = connection.execute(self._next_block).fetchone()
        assert row is not None
        start: int = row[0]
        return start

    def first(self, connection: psycopg.Connection[Any]) -> int:
        """The first id of a block of our own (at open)."""
        start = self._take(connection)
        self.end = start + self.size - 1
        return start

    def room(self, connection: psycopg.Connection[Any], next_id: int) -> int:
        """Where the next transaction's ids start: `next_id`, with half a block or more
        reserved past it, or a fresh block's first id."""
        if self.jump is not None:
            next_id, self.jump = self.jump, None
        if self.end - next_id + 1 >= self.size // 2:
            return next_id
        start = self._take(connection)
        if start == self.end + 1:
            self.end += self.size
            return next_id
        self.end = start + self.size - 1
        return start

    def cover(self, connection: psycopg.Connection[Any], last_id: int) -> None:
        """Reserve up to `last_id`, the ids following on; IdGap when another store holds
        the next block (which the next transaction then starts from)."""
        while last_id > self.end:
            start = self._take(connection)
            if start != self.end + 1:
                self.jump = start
                self.end = start + self.size - 1
                raise IdGap(f"ids past {last_id - 1} are another store's")
            self.end += self.size
