"""What the client hands back: submit results, receipts and deliveries (frozen values)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smsc.pdu import MessageState, Pdu, Tag, UnsuccessSme
from smsc.pdu.concat import Reassembler, SarInfo
from smsc.pdu.constants import EsmType, esm_type, has_udhi
from smsc.pdu.receipt_text import parse_receipt_text
from smsc.pdu.text import decode_text_lenient, is_binary_coding

_STATES_BY_WORD = {state.stat_word: state for state in MessageState}


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The SMSC's ids for a submitted text: one per part of a long message."""

    message_ids: tuple[str, ...]
    data_coding: int
    submitted_at: float
    """trio.current_time() when the first part was sent."""

    @property
    def message_id(self) -> str:
        return self.message_ids[0]

    @property
    def parts(self) -> int:
        return len(self.message_ids)


@dataclass(frozen=True, slots=True)
class SubmitMultiResult:
    message_ids: tuple[str, ...]
    unsuccessful: tuple[UnsuccessSme, ...]
    """Destinations the SMSC refused (with their error_status_code), over all parts."""
    data_coding: int
    submitted_at: float

    @property
    def message_id(self) -> str:
        return self.message_ids[0]


@dataclass(frozen=True, slots=True)
class QueryResult:
    message_id: str
    state: MessageState | int
    final_date: str
    error_code: int


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    """An accepted broadcast_sm (SMPP 5.0): its id, and the areas the SMSC refused with why
    (name or hex of the area → command_status)."""

    message_id: str
    failed_areas: dict[str, int]


@dataclass(frozen=True, slots=True)
class BroadcastQueryResult:
    """query_broadcast_sm_resp: the broadcast's state, each area's success (percentage of its
    cells that took it; 255 not known) and, once over, when it ended (SMPP time text)."""

    message_id: str
    state: MessageState | int
    area_success: dict[str, int]
    end_time: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt, from the TLVs where present and the Appendix B text otherwise."""

    message_id: str
    state: MessageState | None
    stat: str | None
    err: str | None
    network_error_code: bytes | None
    submit_date: datetime | None
    done_date: datetime | None
    text: str | None
    latency: float | None
    """Seconds from our submit_sm to this receipt, when this client sent the message."""
    intermediate: bool = False

    @property
    def delivered(self) -> bool:
        return self.state is MessageState.DELIVERED


@dataclass(frozen=True, slots=True)
class Delivery:
    """A deliver_sm or data_sm from the SMSC: a mobile-originated message or a receipt.

    Long MO messages come whole: `parts` says how many PDUs carried them.
    """

    pdu: Pdu
    source_addr: str
    destination_addr: str
    data_coding: int
    user_data: bytes
    text: str | None
    parts: int
    receipt: Receipt | None
    received_at: float

    @property
    def is_receipt(self) -> bool:
        return self.receipt is not None


def user_data_of(pdu: Pdu) -> bytes:
    payload = pdu.tlvs.get(Tag.message_payload)
    if payload:
        return bytes(payload)
    return bytes(getattr(pdu, "short_message", b""))


def is_receipt_pdu(pdu: Pdu) -> bool:
    """By the esm_class message type first (REFERENCE.md §10.3 #8): SME acknowledgements
    carry receipted_message_id too but are the recipient's messages, not receipts."""
    kind = esm_type(int(getattr(pdu, "esm_class", 0)))
    if kind in (EsmType.DELIVERY_ACK, EsmType.MANUAL_ACK):
        return False
    return kind in (EsmType.DELIVERY_RECEIPT, EsmType.INTERMEDIATE_NOTIFICATION) or (
        Tag.receipted_message_id in pdu.tlvs
    )


def receipted_id(pdu: Pdu) -> str:
    """The id of the message a receipt is about: receipted_message_id, else the text's id:."""
    tlv_id = pdu.tlvs.get(Tag.receipted_message_id)
    if tlv_id:
        return str(tlv_id)
    parsed = parse_receipt_text(user_data_of(pdu).decode("latin-1"))
    return parsed.id if parsed is not None else ""


def receipt_of(pdu: Pdu, latency_for: dict[str, float], now: float) -> Receipt:
    """Read a receipt PDU; pops the submit time of a final receipt from `latency_for`."""
    parsed = parse_receipt_text(user_data_of(pdu).decode("latin-1"))
    tlv_id = pdu.tlvs.get(Tag.receipted_message_id)
    message_id = str(tlv_id) if tlv_id else (parsed.id if parsed is not None else "")
    raw_state = pdu.tlvs.get(Tag.message_state)
    state: MessageState | None = None
    if raw_state is not None:
        try:
            state = MessageState(raw_state)
        except ValueError:
            state = None
    if state is None and parsed is not None and parsed.stat:
        state = _STATES_BY_WORD.get(parsed.stat.upper())
    intermediate = esm_type(int(getattr(pdu, "esm_class", 0))) == (
        EsmType.INTERMEDIATE_NOTIFICATION
    )
    key = message_id.lower()
    if intermediate or (state is not None and not state.is_final):
        submitted = latency_for.get(key)
    else:
        submitted = latency_for.pop(key, None)
    return Receipt(
        message_id=message_id,
        state=state,
        stat=parsed.stat if parsed is not None else None,
        err=parsed.err if parsed is not None else None,
        network_error_code=pdu.tlvs.get(Tag.network_error_code),
        submit_date=parsed.submit_date if parsed is not None else None,
        done_date=parsed.done_date if parsed is not None else None,
        text=parsed.text if parsed is not None else None,
        latency=None if submitted is None else now - submitted,
        intermediate=intermediate,
    )


def mobile_originated(pdu: Pdu, reassembler: Reassembler, now: float) -> Delivery | None:
    """The whole MO message once its last part is in (None while parts are missing)."""
    source = str(getattr(pdu, "source_addr", ""))
    destination = str(getattr(pdu, "destination_addr", ""))
    tlvs = pdu.tlvs
    sar = None
    if Tag.sar_msg_ref_num in tlvs and Tag.sar_total_segments in tlvs:
        sar = SarInfo(tlvs[Tag.sar_msg_ref_num], tlvs[Tag.sar_total_segments],
                      tlvs.get(Tag.sar_segment_seqnum, 1))
    reassembler.expire(now)
    whole = reassembler.add(
        originator=source, recipient=destination, user_data=user_data_of(pdu),
        udhi=has_udhi(int(getattr(pdu, "esm_class", 0))), sar=sar, now=now,
    )
    if whole is None:
        return None
    data_coding = int(getattr(pdu, "data_coding", 0))
    text = None
    if not is_binary_coding(data_coding):
        text = decode_text_lenient(whole.user_data, data_coding).text
    return Delivery(pdu, source, destination, data_coding, whole.user_data, text, whole.parts,
                    None, now)
