"""SME acknowledgements and acceptance notices, in both stores."""

from __future__ import annotations

from smsc.pdu.constants import MessageState
from smsc.store import Delivered, MessageStore, NewMessage, OutboundKind, TemporaryFailure

from .test_stores import T0, accept, at, new, outcome, receipts, store

__all__ = ["store"]


def test_delivered_messages_owe_the_acknowledgements_asked_for(store: MessageStore) -> None:
    ids = accept(store, new(registered_delivery=0x0D), new(registered_delivery=0x08),
                 new(registered_delivery=0x04))
    store.claim_due(T0, 10)
    for message_id in ids:
        outcome(store, message_id, Delivered(), at(1))
    kinds = [(k, m) for k, m, _ in receipts(store)]
    assert kinds == [
        (OutboundKind.RECEIPT, ids[0]), (OutboundKind.DELIVERY_ACK, ids[0]),
        (OutboundKind.MANUAL_ACK, ids[0]), (OutboundKind.MANUAL_ACK, ids[1]),
        (OutboundKind.DELIVERY_ACK, ids[2]),
    ]


def test_failed_messages_owe_no_acknowledgement(store: MessageStore) -> None:
    (message_id,) = accept(store, new(registered_delivery=0x0D, expires_at=at(5)))
    store.claim_due(T0, 10)
    outcome(store, message_id, TemporaryFailure(27), at(1))
    assert [k for k, _, _ in receipts(store)] == [OutboundKind.RECEIPT]


def test_acceptance_notice_only_where_the_hook_asks(store: MessageStore) -> None:
    asked: list[str] = []

    def hook(message: NewMessage) -> bool:
        asked.append(message.system_id)
        return message.system_id == "acme"

    store.accepted_notice = hook
    first, _, third = accept(store, new(registered_delivery=0x11), new(registered_delivery=1),
                             new(registered_delivery=0x11, system_id="other"))
    assert asked == ["acme", "other"]  # only bit-4 messages are asked about
    assert receipts(store) == [(OutboundKind.ACCEPTED, first, MessageState.ENROUTE)]
    assert receipts(store, "other") == []
    assert third > first
