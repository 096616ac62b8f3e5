"""What the SMSC owes an ESME, as a deliver_sm: delivery receipts and mobile-originated messages.

Receipt text follows SMPP 3.4 Appendix B in the form of REFERENCE.md §10.4; v3.4 ESMEs also get
the receipted_message_id, message_state and network_error_code TLVs.
"""

from __future__ import annotations

from datetime import datetime

from smsc.pdu import DeliverSm
from smsc.pdu.constants import DataCoding, EsmType, MessageState, Tag
from smsc.pdu.receipt_text import TEXT_CHARS, format_receipt_text
from smsc.store.models import Message, OutboundItem, OutboundKind

GSM_NETWORK_TYPE = 3


def receipt_text(message: Message, message_id: str, state: MessageState, now: datetime) -> str:
    """The Appendix B text: `id:... sub:001 dlvrd:... submit date:... done date:... stat:...`."""
    fields = message.fields
    return format_receipt_text(
        message_id=message_id,
        stat=state.stat_word,
        submit_date=fields.submitted_at or now,
        done_date=message.final_at or now,
        err=(message.network_error_code or 0) % 1000,
        text=_printable_start(fields.payload, fields.data_coding, fields.esm_class),
    )


def _printable_start(payload: bytes, data_coding: int, esm_class: int) -> str:
    if esm_class & 0x40 and payload:
        payload = payload[1 + payload[0]:]  # skip the user data header
    if data_coding not in (DataCoding.SMSC_DEFAULT, DataCoding.IA5, DataCoding.LATIN_1):
        return ""
    text = payload[:TEXT_CHARS].decode("latin-1")
    return "".join(ch if " " <= ch <= "~" else "." for ch in text)


def build_deliver_sm(
    item: OutboundItem, *, message_id: str, with_tlvs: bool, now: datetime
) -> DeliverSm:
    """The deliver_sm for one outbound item (sequence number left for the session)."""
    message = item.message
    fields = message.fields
    if item.kind is OutboundKind.MO:
        payload = fields.payload
        mo_tlvs: dict[int, object] = {}
        if len(payload) > 254 and with_tlvs:
            mo_tlvs[Tag.message_payload] = payload
            payload = b""
        return DeliverSm(
            service_type=fields.service_type,
            source_addr_ton=fields.source_addr_ton,
            source_addr_npi=fields.source_addr_npi,
            source_addr=fields.source_addr,
            dest_addr_ton=fields.dest_addr_ton,
            dest_addr_npi=fields.dest_addr_npi,
            destination_addr=fields.destination_addr,
            esm_class=fields.esm_class & 0xC0,
            protocol_id=fields.protocol_id,
            data_coding=fields.data_coding,
            short_message=payload[:254],
            tlvs=mo_tlvs,
        )
    state = message.state if item.kind is OutboundKind.RECEIPT else MessageState.ENROUTE
    esm_type = (
        EsmType.DELIVERY_RECEIPT
        if item.kind is OutboundKind.RECEIPT
        else EsmType.INTERMEDIATE_NOTIFICATION
    )
    tlvs: dict[int, object] = {}
    if with_tlvs:
        tlvs[Tag.receipted_message_id] = message_id
        tlvs[Tag.message_state] = int(state)
        if message.network_error_code is not None:
            tlvs[Tag.network_error_code] = bytes(
                (GSM_NETWORK_TYPE,)
            ) + message.network_error_code.to_bytes(2, "big")
    return DeliverSm(
        source_addr_ton=fields.dest_addr_ton,
        source_addr_npi=fields.dest_addr_npi,
        source_addr=fields.destination_addr,
        dest_addr_ton=fields.source_addr_ton,
        dest_addr_npi=fields.source_addr_npi,
        destination_addr=fields.source_addr,
        esm_class=esm_type,
        data_coding=DataCoding.SMSC_DEFAULT,
        short_message=receipt_text(message, message_id, state, now).encode("ascii", "replace"),
        tlvs=tlvs,
    )
