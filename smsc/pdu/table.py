"""THE table of SMPP 3.4 PDUs: per command id its name, body layout, allowed TLVs, response.

Body layouts are construct Structs built from `fields`; everything else in the codec (the fast
paths, the reverse lookups, the message classes' field lists) is derived from this table.
Sources: SPEC chapter 4 as restated in REFERENCE.md §4 and §5.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import construct as cs  # type: ignore[import-untyped]

from smsc.pdu.constants import CommandId, CommandStatus, Tag
from smsc.pdu.fields import (
    CStr,
    Int8,
    SmppTime,
    dest_addresses,
    short_message,
    unsuccess_smes,
)

S = CommandStatus
C = CommandId


def _c(max_size: int, status: int = S.ESME_RINVCMDLEN) -> CStr:
    return CStr(max_size, status)


service_type = "service_type" / _c(6, S.ESME_RINVSERTYP)
message_id = "message_id" / _c(65, S.ESME_RINVMSGID)


def _source(max_size: int = 21) -> tuple[cs.Subconstruct, ...]:
    return (
        "source_addr_ton" / Int8,
        "source_addr_npi" / Int8,
        "source_addr" / _c(max_size, S.ESME_RINVSRCADR),
    )


def _dest(max_size: int = 21) -> tuple[cs.Subconstruct, ...]:
    return (
        "dest_addr_ton" / Int8,
        "dest_addr_npi" / Int8,
        "destination_addr" / _c(max_size, S.ESME_RINVDSTADR),
    )


BIND = cs.Struct(
    "system_id" / _c(16, S.ESME_RINVSYSID),
    "password" / _c(9, S.ESME_RINVPASWD),
    "system_type" / _c(13, S.ESME_RINVSYSTYP),
    "interface_version" / Int8,
    "addr_ton" / Int8,
    "addr_npi" / Int8,
    "address_range" / _c(41),
)
BIND_RESP = cs.Struct("system_id" / _c(16, S.ESME_RINVSYSID))
OUTBIND = cs.Struct("system_id" / _c(16, S.ESME_RINVSYSID), "password" / _c(9, S.ESME_RINVPASWD))

_MESSAGE_TAIL = (
    "esm_class" / Int8,
    "protocol_id" / Int8,
    "priority_flag" / Int8,
    "schedule_delivery_time" / SmppTime(S.ESME_RINVSCHED),
    "validity_period" / SmppTime(S.ESME_RINVEXPIRY),
    "registered_delivery" / Int8,
    "replace_if_present_flag" / Int8,
    "data_coding" / Int8,
    "sm_default_msg_id" / Int8,
    "short_message" / short_message,
)
SUBMIT_SM = cs.Struct(service_type, *_source(), *_dest(), *_MESSAGE_TAIL)
SUBMIT_SM_RESP = cs.Struct(message_id)
SUBMIT_MULTI = cs.Struct(service_type, *_source(), "dest_address" / dest_addresses, *_MESSAGE_TAIL)
SUBMIT_MULTI_RESP = cs.Struct(message_id, "unsuccess_sme" / unsuccess_smes)
DELIVER_SM_RESP = cs.Struct(message_id)
DATA_SM = cs.Struct(
    service_type,
    *_source(65),
    *_dest(65),
    "esm_class" / Int8,
    "registered_delivery" / Int8,
    "data_coding" / Int8,
)
DATA_SM_RESP = cs.Struct(message_id)
QUERY_SM = cs.Struct(message_id, *_source())
QUERY_SM_RESP = cs.Struct(
    message_id,
    "final_date" / SmppTime(S.ESME_RINVCMDLEN),
    "message_state" / Int8,
    "error_code" / Int8,
)
CANCEL_SM = cs.Struct(service_type, message_id, *_source(), *_dest())
REPLACE_SM = cs.Struct(
    message_id,
    *_source(),
    "schedule_delivery_time" / SmppTime(S.ESME_RINVSCHED),
    "validity_period" / SmppTime(S.ESME_RINVEXPIRY),
    "registered_delivery" / Int8,
    "sm_default_msg_id" / Int8,
    "short_message" / short_message,
)
ALERT_NOTIFICATION = cs.Struct(
    *_source(65),
    "esme_addr_ton" / Int8,
    "esme_addr_npi" / Int8,
    "esme_addr" / _c(65, S.ESME_RINVDSTADR),
)
EMPTY = cs.Struct()


class TlvType(Enum):
    INT = "int"
    CSTRING = "cstring"
    OCTETS = "octets"


@dataclass(frozen=True, slots=True)
class TlvSpec:
    """Value type and allowed value length range of one TLV (REFERENCE.md §5.2)."""

    type: TlvType
    min_length: int
    max_length: int


def _int(size: int, min_size: int | None = None) -> TlvSpec:
    return TlvSpec(TlvType.INT, min_size or size, size)


T = Tag
TLV_SPECS: dict[int, TlvSpec] = {
    T.dest_addr_subunit: _int(1),
    T.dest_network_type: _int(1),
    T.dest_bearer_type: _int(1),
    T.dest_telematics_id: _int(2),
    T.source_addr_subunit: _int(1),
    T.source_network_type: _int(1),
    T.source_bearer_type: _int(1),
    T.source_telematics_id: _int(2, 1),  # 1 octet in SPEC, 2 in several libraries (§14 #1)
    T.qos_time_to_live: _int(4),
    T.payload_type: _int(1),
    T.additional_status_info_text: TlvSpec(TlvType.CSTRING, 1, 256),
    T.receipted_message_id: TlvSpec(TlvType.CSTRING, 1, 65),
    T.ms_msg_wait_facilities: _int(1),
    T.privacy_indicator: _int(1),
    T.source_subaddress: TlvSpec(TlvType.OCTETS, 2, 23),
    T.dest_subaddress: TlvSpec(TlvType.OCTETS, 2, 23),
    T.user_message_reference: _int(2),
    T.user_response_code: _int(1),
    T.source_port: _int(2),
    T.destination_port: _int(2),
    T.sar_msg_ref_num: _int(2),
    T.language_indicator: _int(1),
    T.sar_total_segments: _int(1),
    T.sar_segment_seqnum: _int(1),
    T.sc_interface_version: _int(1),
    T.callback_num_pres_ind: _int(1),
    T.callback_num_atag: TlvSpec(TlvType.OCTETS, 0, 65),
    T.number_of_messages: _int(1),
    T.callback_num: TlvSpec(TlvType.OCTETS, 4, 19),
    T.dpf_result: _int(1),
    T.set_dpf: _int(1),
    T.ms_availability_status: _int(1),
    T.network_error_code: TlvSpec(TlvType.OCTETS, 3, 3),
    T.message_payload: TlvSpec(TlvType.OCTETS, 0, 65535),
    T.delivery_failure_reason: _int(1),
    T.more_messages_to_send: _int(1),
    T.message_state: _int(1),
    T.ussd_service_op: TlvSpec(TlvType.OCTETS, 1, 1),
    T.display_time: _int(1),
    T.sms_signal: _int(2),
    T.ms_validity: _int(1),
    T.alert_on_message_delivery: TlvSpec(TlvType.OCTETS, 0, 1),
    T.its_reply_type: _int(1),
    T.its_session_info: TlvSpec(TlvType.OCTETS, 2, 2),
}
REPEATABLE_TAGS = frozenset({T.callback_num, T.callback_num_pres_ind, T.callback_num_atag})
"""Tags that may occur more than once in one PDU (SPEC Table 4-10)."""

SUBMIT_SM_TLVS = frozenset({
    T.user_message_reference, T.source_port, T.source_addr_subunit, T.destination_port,
    T.dest_addr_subunit, T.sar_msg_ref_num, T.sar_total_segments, T.sar_segment_seqnum,
    T.more_messages_to_send, T.payload_type, T.message_payload, T.privacy_indicator,
    T.callback_num, T.callback_num_pres_ind, T.callback_num_atag, T.source_subaddress,
    T.dest_subaddress, T.user_response_code, T.display_time, T.sms_signal, T.ms_validity,
    T.ms_msg_wait_facilities, T.number_of_messages, T.alert_on_message_delivery,
    T.language_indicator, T.its_reply_type, T.its_session_info, T.ussd_service_op,
})
SUBMIT_MULTI_TLVS = frozenset({
    T.user_message_reference, T.source_port, T.source_addr_subunit, T.destination_port,
    T.dest_addr_subunit, T.sar_msg_ref_num, T.sar_total_segments, T.sar_segment_seqnum,
    T.payload_type, T.message_payload, T.privacy_indicator, T.callback_num,
    T.callback_num_pres_ind, T.callback_num_atag, T.source_subaddress, T.dest_subaddress,
    T.display_time, T.sms_signal, T.ms_validity, T.ms_msg_wait_facilities,
    T.alert_on_message_delivery, T.language_indicator,
})
DELIVER_SM_TLVS = frozenset({
    T.user_message_reference, T.source_port, T.destination_port, T.sar_msg_ref_num,
    T.sar_total_segments, T.sar_segment_seqnum, T.user_response_code, T.privacy_indicator,
    T.payload_type, T.message_payload, T.callback_num, T.source_subaddress, T.dest_subaddress,
    T.language_indicator, T.its_session_info, T.network_error_code, T.message_state,
    T.receipted_message_id,
})
DATA_SM_TLVS = frozenset({
    T.source_port, T.source_addr_subunit, T.source_network_type, T.source_bearer_type,
    T.source_telematics_id, T.destination_port, T.dest_addr_subunit, T.dest_network_type,
    T.dest_bearer_type, T.dest_telematics_id, T.sar_msg_ref_num, T.sar_total_segments,
    T.sar_segment_seqnum, T.more_messages_to_send, T.qos_time_to_live, T.payload_type,
    T.message_payload, T.set_dpf, T.receipted_message_id, T.message_state, T.network_error_code,
    T.user_message_reference, T.privacy_indicator, T.callback_num, T.callback_num_pres_ind,
    T.callback_num_atag, T.source_subaddress, T.dest_subaddress, T.user_response_code,
    T.display_time, T.sms_signal, T.ms_validity, T.ms_msg_wait_facilities, T.number_of_messages,
    T.alert_on_message_delivery, T.language_indicator, T.its_reply_type, T.its_session_info,
})
DATA_SM_RESP_TLVS = frozenset({
    T.delivery_failure_reason, T.network_error_code, T.additional_status_info_text, T.dpf_result,
})
NONE: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class PduSpec:
    """One row of the table."""

    command_id: CommandId
    body: cs.Struct
    tlvs: frozenset[int]
    response_id: CommandId | None
    """The response to this request; None for responses and for outbind/alert_notification."""

    @property
    def name(self) -> str:
        return self.command_id.name

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(sc.name for sc in self.body.subcons)

    @property
    def is_response(self) -> bool:
        return self.command_id.is_response

    @property
    def body_on_error(self) -> bool:
        """Whether the body is sent when command_status != 0: never (REFERENCE.md §4.14)."""
        return not self.is_response


def _row(
    command_id: CommandId, body: cs.Struct, tlvs: frozenset[int] = NONE, *, resp: bool = True
) -> PduSpec:
    response = CommandId(command_id | 0x80000000) if resp and not command_id.is_response else None
    return PduSpec(command_id, body, tlvs, response)


PDU_TABLE: tuple[PduSpec, ...] = (
    _row(C.generic_nack, EMPTY),
    _row(C.bind_receiver, BIND),
    _row(C.bind_receiver_resp, BIND_RESP, frozenset({T.sc_interface_version})),
    _row(C.bind_transmitter, BIND),
    _row(C.bind_transmitter_resp, BIND_RESP, frozenset({T.sc_interface_version})),
    _row(C.bind_transceiver, BIND),
    _row(C.bind_transceiver_resp, BIND_RESP, frozenset({T.sc_interface_version})),
    _row(C.outbind, OUTBIND, resp=False),
    _row(C.unbind, EMPTY),
    _row(C.unbind_resp, EMPTY),
    _row(C.submit_sm, SUBMIT_SM, SUBMIT_SM_TLVS),
    _row(C.submit_sm_resp, SUBMIT_SM_RESP),
    _row(C.submit_multi, SUBMIT_MULTI, SUBMIT_MULTI_TLVS),
    _row(C.submit_multi_resp, SUBMIT_MULTI_RESP),
    _row(C.deliver_sm, SUBMIT_SM, DELIVER_SM_TLVS),
    _row(C.deliver_sm_resp, DELIVER_SM_RESP),
    _row(C.data_sm, DATA_SM, DATA_SM_TLVS),
    _row(C.data_sm_resp, DATA_SM_RESP, DATA_SM_RESP_TLVS),
    _row(C.query_sm, QUERY_SM),
    _row(C.query_sm_resp, QUERY_SM_RESP),
    _row(C.cancel_sm, CANCEL_SM),
    _row(C.cancel_sm_resp, EMPTY),
    _row(C.replace_sm, REPLACE_SM),
    _row(C.replace_sm_resp, EMPTY),
    _row(C.enquire_link, EMPTY),
    _row(C.enquire_link_resp, EMPTY),
    _row(C.alert_notification, ALERT_NOTIFICATION, frozenset({T.ms_availability_status}),
         resp=False),
)

SPECS: dict[int, PduSpec] = {spec.command_id: spec for spec in PDU_TABLE}
"""command_id → its row."""
