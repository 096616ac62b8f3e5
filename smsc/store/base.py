"""The MessageStore interface the trio shell depends on (synchronous; time passed in)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from smsc.pdu.constants import MessageState
from smsc.store.models import (
    BatchResult,
    Message,
    MessageQuery,
    NewMessage,
    OutboundItem,
    StoreBatch,
)


class MessageStore(Protocol):
    """Messages and outbound notifications; one caller at a time.

    `on_final`, when set, is called with every message as it reaches a final state.
    `accepted_notice`, when set, says whether a new MT message asking for intermediate
    notifications (registered_delivery bit 4) is owed an ACCEPTED one at once.

    Claims (of due messages and outbound items) are leases held in memory only: after a
    crash every unfinished message is due again and every unacknowledged item pending again.

    A write the store cannot make for a reason outside it (disk full, I/O error, database
    locked or corrupt) raises StoreWriteError and leaves the store, in memory and on disk, as
    if it had never been tried: no id, claim, lease, count or notice of it is kept, and
    `on_final` hears of none of it. The same write may succeed later. (The memory store
    has nothing outside it to fail.)
    """

    on_final: Callable[[Message], None] | None
    accepted_notice: Callable[[NewMessage], bool] | None

    def apply(self, batch: StoreBatch, now: datetime) -> BatchResult:
        """Write accepts, outcomes and outbound acknowledgements in one transaction."""

    def claim_due(self, now: datetime, limit: int) -> list[Message]:
        """Up to `limit` unclaimed ENROUTE messages due by `now`; expired ones finish first
        (when that write fails they stay as they were, and are tried again a little later:
        the claims are made all the same)."""

    def release(self, message_ids: list[int]) -> None:
        """Give claimed messages back unchanged."""

    def next_due_at(self) -> datetime | None:
        """When the earliest unclaimed message falls due (None when nothing waits)."""

    def retry_now(self, message_ids: list[int], now: datetime) -> int:
        """Make these pending, unclaimed messages due at `now` (a handset came back, an
        outage ended); returns how many were waiting for a later attempt."""

    def claim_outbound(self, system_id: str, limit: int) -> list[OutboundItem]:
        ...

    def release_outbound(self, item_ids: list[int]) -> None:
        ...

    def systems_with_outbound(self) -> set[str]:
        ...

    def query(self, message_id: int, system_id: str) -> Message | None:
        """The message if `system_id` owns it (others' messages are invisible)."""

    def members(self, message_id: int, system_id: str) -> list[Message]:
        """The messages of `system_id` stored with `multi_id` = `message_id`: a
        submit_multi's destinations after the first, oldest first."""

    def group(self, message_id: int, system_id: str) -> list[Message]:
        """The message the ESME knows as `message_id` and, for a submit_multi, its other
        destinations; empty when there is none (or the id is one never given out)."""

    def cancel(
        self,
        *,
        system_id: str,
        now: datetime,
        message_id: int | None = None,
        source_addr: str = "",
        destination_addr: str = "",
        service_type: str = "",
    ) -> int:
        """Cancel pending messages (DELETED, receipt if asked); returns how many. By id,
        every pending destination of a submit_multi."""

    def replace(
        self,
        *,
        message_id: int,
        system_id: str,
        source_addr: str,
        now: datetime,
        payload: bytes | None,
        schedule_at: datetime | None,
        expires_at: datetime | None,
        registered_delivery: int | None,
    ) -> bool:
        """Replace a pending message's text, schedule, validity (every pending destination
        of a submit_multi); False when none matches."""

    def pending_count(self, system_id: str) -> int:
        ...

    def find(self, query: MessageQuery) -> list[Message]:
        """Messages matching `query`, newest first, at most `query.limit`."""

    def outbound_counts(self) -> dict[str, int]:
        """system_id → receipts and MO messages owed to it (queued or awaiting a response)."""

    def depth_by_state(self) -> dict[MessageState, int]:
        ...

    def purge_finished(self, before: datetime, limit: int) -> int:
        ...

    def checkpoint_due(self) -> bool:
        """Whether to checkpoint now (a store whose caller took over checkpoints)."""

    def checkpoint_alongside(self) -> None:
        """Move most of the store's log into its main file (waits for the disk). The one
        call that may run on another thread during the others'."""

    def checkpoint(self) -> None:
        """Move the rest of the log into the main file (waits for the disk, briefly)."""

    def close(self) -> None:
        ...

