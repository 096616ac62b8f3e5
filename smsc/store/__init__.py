"""Store-and-forward: message records, outcomes, retry policy, and the stores (sans-IO)."""

from smsc.store.base import MessageStore
from smsc.store.errors import StoreOpenError, StoreWriteError
from smsc.store.memory import MemoryStore
from smsc.store.models import (
    AcceptRefused,
    BatchResult,
    Delivered,
    Direction,
    Message,
    MessageQuery,
    NewMessage,
    OutboundItem,
    OutboundKind,
    PermanentFailure,
    RetryPolicy,
    StoreBatch,
    TemporaryFailure,
    format_message_id,
    parse_message_id,
)

__all__ = [
    "AcceptRefused",
    "BatchResult",
    "Delivered",
    "Direction",
    "MemoryStore",
    "Message",
    "MessageQuery",
    "MessageStore",
    "NewMessage",
    "OutboundItem",
    "OutboundKind",
    "PermanentFailure",
    "RetryPolicy",
    "StoreBatch",
    "StoreOpenError",
    "StoreWriteError",
    "TemporaryFailure",
    "format_message_id",
    "parse_message_id",
]
