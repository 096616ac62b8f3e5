"""THE table of SMPP PDUs: per command id its name, body layout, allowed TLVs, response.

Body layouts are construct Structs built from `fields`; everything else in the codec (the fast
paths, the reverse lookups, the message classes' field lists) is derived from this table.
Sources: SPEC chapter 4 as restated in REFERENCE.md §4 and §5.3; the SMPP 5.0 PDUs and TLV
lists from V5 chapter 4 as restated in REFERENCE-5.0.md §2-§3. The TLV lists are 5.0's (a
superset of 3.4's): which of them a 3.x session is ever sent is the sender's business.
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
BROADCAST_SM = cs.Struct(
    service_type,
    *_source(),
    message_id,
    "priority_flag" / Int8,
    "schedule_delivery_time" / SmppTime(S.ESME_RINVSCHED),
    "validity_period" / SmppTime(S.ESME_RINVEXPIRY),
    "replace_if_present_flag" / Int8,
    "data_coding" / Int8,
    "sm_default_msg_id" / Int8,
)
BROADCAST_SM_RESP = cs.Struct(message_id)
QUERY_BROADCAST_SM = cs.Struct(message_id, *_source())
QUERY_BROADCAST_SM_RESP = cs.Struct(message_id)
CANCEL_BROADCAST_SM = cs.Struct(service_type, message_id, *_source())


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
    # SMPP 5.0 (REFERENCE-5.0.md §3; where the sources disagree, its §6)
    T.congestion_state: _int(1),
    T.broadcast_channel_indicator: _int(1),
    T.broadcast_content_type: TlvSpec(TlvType.OCTETS, 3, 3),
    T.broadcast_content_type_info: TlvSpec(TlvType.OCTETS, 1, 255),
    T.broadcast_message_class: _int(1),
    T.broadcast_rep_num: _int(2),
    T.broadcast_frequency_interval: TlvSpec(TlvType.OCTETS, 3, 3),
    T.broadcast_area_identifier: TlvSpec(TlvType.OCTETS, 1, 101),  # format octet + ≤100
    T.broadcast_error_status: _int(4),
    T.broadcast_area_success: _int(1),
    T.broadcast_end_time: TlvSpec(TlvType.CSTRING, 1, 17),  # 16 characters and the NUL
    T.broadcast_service_group: TlvSpec(TlvType.OCTETS, 1, 255),
    T.billing_identification: TlvSpec(TlvType.OCTETS, 1, 1024),
    T.source_network_id: TlvSpec(TlvType.CSTRING, 7, 66),
    T.dest_network_id: TlvSpec(TlvType.CSTRING, 7, 66),
    T.source_node_id: TlvSpec(TlvType.OCTETS, 6, 6),
    T.dest_node_id: TlvSpec(TlvType.OCTETS, 6, 6),
    T.dest_addr_np_resolution: _int(1),
    T.dest_addr_np_information: TlvSpec(TlvType.OCTETS, 10, 10),
    T.dest_addr_np_country: TlvSpec(TlvType.OCTETS, 1, 5),  # kept opaque (§6 #5)
}
REPEATABLE_TAGS = frozenset({
    T.callback_num, T.callback_num_pres_ind, T.callback_num_atag,
    T.broadcast_area_identifier, T.broadcast_error_status, T.broadcast_area_success,
})
"""Tags that may occur more than once in one PDU (SPEC Table 4-10; V5 Tables 4-26, 4-29 and
4-39: one broadcast area identifier, and its status or success, per area)."""

_V50_SUBMISSION = frozenset({
    T.billing_identification, T.dest_addr_np_country, T.dest_addr_np_information,
    T.dest_addr_np_resolution, T.dest_network_id, T.dest_node_id, T.source_network_id,
    T.source_node_id,
})
"""What V5 Table 4-20 adds to the submission TLVs (submit_sm, submit_multi, data_sm)."""
_V50_DELIVERY = frozenset({
    T.dest_addr_np_country, T.dest_addr_np_information, T.dest_addr_np_resolution,
    T.dest_network_id, T.dest_node_id, T.source_network_id, T.source_node_id,
    T.ussd_service_op,
})
"""What V5 Table 4-24 adds to the delivery TLVs (deliver_sm, data_sm)."""
_RESPONSE = frozenset({T.congestion_state})
"""Every response may carry congestion_state (V5 2.9)."""
SUBMISSION_RESP_TLVS = _RESPONSE | {
    T.additional_status_info_text, T.delivery_failure_reason, T.dpf_result,
    T.network_error_code,
}
DELIVERY_RESP_TLVS = _RESPONSE | {
    T.additional_status_info_text, T.delivery_failure_reason, T.network_error_code,
}
BROADCAST_SM_TLVS = frozenset({
    T.broadcast_area_identifier, T.broadcast_content_type, T.broadcast_rep_num,
    T.broadcast_frequency_interval, T.alert_on_message_delivery, T.broadcast_channel_indicator,
    T.broadcast_content_type_info, T.broadcast_message_class, T.broadcast_service_group,
    T.callback_num, T.callback_num_atag, T.callback_num_pres_ind, T.dest_addr_subunit,
    T.dest_subaddress, T.destination_port, T.display_time, T.language_indicator,
    T.message_payload, T.ms_validity, T.payload_type, T.privacy_indicator, T.sms_signal,
    T.source_addr_subunit, T.source_port, T.source_subaddress, T.user_message_reference,
})
"""V5 Tables 4-26 and 4-28."""
BROADCAST_SM_REQUIRED_TLVS = (
    T.broadcast_area_identifier, T.broadcast_content_type, T.broadcast_rep_num,
    T.broadcast_frequency_interval,
)
"""TLVs every broadcast_sm carries (V5 Table 4-26): absent → ESME_RMISSINGOPTPARAM."""
BROADCAST_SM_RESP_TLVS = _RESPONSE | {T.broadcast_area_identifier, T.broadcast_error_status}
QUERY_BROADCAST_SM_RESP_TLVS = _RESPONSE | {
    T.message_state, T.broadcast_area_identifier, T.broadcast_area_success,
    T.broadcast_end_time, T.user_message_reference,
}

SUBMIT_SM_TLVS = frozenset({
    T.user_message_reference, T.source_port, T.source_addr_subunit, T.destination_port,
    T.dest_addr_subunit, T.sar_msg_ref_num, T.sar_total_segments, T.sar_segment_seqnum,
    T.more_messages_to_send, T.payload_type, T.message_payload, T.privacy_indicator,
    T.callback_num, T.callback_num_pres_ind, T.callback_num_atag, T.source_subaddress,
    T.dest_subaddress, T.user_response_code, T.display_time, T.sms_signal, T.ms_validity,
    T.ms_msg_wait_facilities, T.number_of_messages, T.alert_on_message_delivery,
    T.language_indicator, T.its_reply_type, T.its_session_info, T.ussd_service_op,
}) | _V50_SUBMISSION
SUBMIT_MULTI_TLVS = frozenset({
    T.user_message_reference, T.source_port, T.source_addr_subunit, T.destination_port,
    T.dest_addr_subunit, T.sar_msg_ref_num, T.sar_total_segments, T.sar_segment_seqnum,
    T.payload_type, T.message_payload, T.privacy_indicator, T.callback_num,
    T.callback_num_pres_ind, T.callback_num_atag, T.source_subaddress, T.dest_subaddress,
    T.display_time, T.sms_signal, T.ms_validity, T.ms_msg_wait_facilities,
    T.alert_on_message_delivery, T.language_indicator,
}) | _V50_SUBMISSION
DELIVER_SM_TLVS = frozenset({
    T.user_message_reference, T.source_port, T.destination_port, T.sar_msg_ref_num,
    T.sar_total_segments, T.sar_segment_seqnum, T.user_response_code, T.privacy_indicator,
    T.payload_type, T.message_payload, T.callback_num, T.source_subaddress, T.dest_subaddress,
    T.language_indicator, T.its_session_info, T.network_error_code, T.message_state,
    T.receipted_message_id,
}) | _V50_DELIVERY
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
}) | _V50_SUBMISSION | _V50_DELIVERY
DATA_SM_RESP_TLVS = SUBMISSION_RESP_TLVS
NONE: frozenset[int] = frozenset()
_BIND_RESP_TLVS = _RESPONSE | {T.sc_interface_version}


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
    _row(C.bind_receiver_resp, BIND_RESP, _BIND_RESP_TLVS),
    _row(C.bind_transmitter, BIND),
    _row(C.bind_transmitter_resp, BIND_RESP, _BIND_RESP_TLVS),
    _row(C.bind_transceiver, BIND),
    _row(C.bind_transceiver_resp, BIND_RESP, _BIND_RESP_TLVS),
    _row(C.outbind, OUTBIND, resp=False),
    _row(C.unbind, EMPTY),
    _row(C.unbind_resp, EMPTY, _RESPONSE),
    _row(C.submit_sm, SUBMIT_SM, SUBMIT_SM_TLVS),
    _row(C.submit_sm_resp, SUBMIT_SM_RESP, SUBMISSION_RESP_TLVS),
    _row(C.submit_multi, SUBMIT_MULTI, SUBMIT_MULTI_TLVS),
    _row(C.submit_multi_resp, SUBMIT_MULTI_RESP, SUBMISSION_RESP_TLVS),
    _row(C.deliver_sm, SUBMIT_SM, DELIVER_SM_TLVS),
    _row(C.deliver_sm_resp, DELIVER_SM_RESP, DELIVERY_RESP_TLVS),
    _row(C.data_sm, DATA_SM, DATA_SM_TLVS),
    _row(C.data_sm_resp, DATA_SM_RESP, DATA_SM_RESP_TLVS),
    _row(C.query_sm, QUERY_SM),
    _row(C.query_sm_resp, QUERY_SM_RESP, _RESPONSE),
    _row(C.cancel_sm, CANCEL_SM),
    _row(C.cancel_sm_resp, EMPTY, _RESPONSE),
    _row(C.replace_sm, REPLACE_SM),
    _row(C.replace_sm_resp, EMPTY, _RESPONSE),
    _row(C.enquire_link, EMPTY),
    _row(C.enquire_link_resp, EMPTY, _RESPONSE),
    _row(C.alert_notification, ALERT_NOTIFICATION, frozenset({T.ms_availability_status}),
         resp=False),
    _row(C.broadcast_sm, BROADCAST_SM, BROADCAST_SM_TLVS),
    _row(C.broadcast_sm_resp, BROADCAST_SM_RESP, BROADCAST_SM_RESP_TLVS),
    _row(C.query_broadcast_sm, QUERY_BROADCAST_SM, frozenset({T.user_message_reference})),
    _row(C.query_broadcast_sm_resp, QUERY_BROADCAST_SM_RESP, QUERY_BROADCAST_SM_RESP_TLVS),
    _row(C.cancel_broadcast_sm, CANCEL_BROADCAST_SM,
         frozenset({T.broadcast_content_type, T.user_message_reference})),
    _row(C.cancel_broadcast_sm_resp, EMPTY, _RESPONSE),
)

SPECS: dict[int, PduSpec] = {spec.command_id: spec for spec in PDU_TABLE}
"""command_id → its row."""
