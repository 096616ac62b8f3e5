"""Coded SMPP 3.4 and 5.0 wire values as enums, and the esm_class / registered_delivery helpers.

The 3.4 values are from SMPP 3.4 chapter 5 (see shared REFERENCE.md §3.1, §5.2, §6-§8); the
5.0 additions (broadcast PDUs, their TLVs and statuses, congestion_state) from SMPP 5.0 chapter 4
(REFERENCE-5.0.md §2-§4). `SmppVersion` says which of them a session may use.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

RESPONSE_BIT = 0x80000000
"""Bit 31 of command_id: set on every response (REFERENCE.md §1.1)."""

SMPP_VERSION_34 = 0x34
"""interface_version / sc_interface_version value for SMPP 3.4 (REFERENCE.md §6.1)."""


class SmppVersion(IntEnum):
    """The dialect a session speaks, from the bind's interface_version (REFERENCE-5.0.md §1):
    0x00-0x33 is 3.3 (no TLVs, no data_sm), 0x34-0x4F 3.4, 0x50 and above 5.0."""

    V33 = 0x33
    V34 = 0x34
    V50 = 0x50

    @classmethod
    def of(cls, interface_version: int) -> SmppVersion:
        """The version an interface_version value stands for."""
        if interface_version >= 0x50:
            return _V50
        return _V34 if interface_version >= 0x34 else _V33


class CommandId(IntEnum):
    """command_id values (SPEC 5.1.2.1 Table 5-1)."""

    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103
    broadcast_sm = 0x00000111
    broadcast_sm_resp = 0x80000111
    query_broadcast_sm = 0x00000112
    query_broadcast_sm_resp = 0x80000112
    cancel_broadcast_sm = 0x00000113
    cancel_broadcast_sm_resp = 0x80000113

    @property
    def is_response(self) -> bool:
        return bool(self.value & RESPONSE_BIT)


class CommandStatus(IntEnum):
    """command_status values (SPEC 5.1.3 Table 5-2; REFERENCE.md §7)."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF
    # SMPP 5.0 only (V5 Table 4-45; REFERENCE-5.0.md §4): never sent on a 3.x session
    ESME_RSERTYPUNAUTH = 0x00000100
    ESME_RPROHIBITED = 0x00000101
    ESME_RSERTYPUNAVAIL = 0x00000102
    ESME_RSERTYPDENIED = 0x00000103
    ESME_RINVDCS = 0x00000104
    ESME_RINVSRCADDRSUBUNIT = 0x00000105
    ESME_RINVDSTADDRSUBUNIT = 0x00000106
    ESME_RINVBCASTFREQINT = 0x00000107
    ESME_RINVBCASTALIAS_NAME = 0x00000108
    ESME_RINVBCASTAREAFMT = 0x00000109
    ESME_RINVNUMBCAST_AREAS = 0x0000010A
    ESME_RINVBCASTCNTTYPE = 0x0000010B
    ESME_RINVBCASTMSGCLASS = 0x0000010C
    ESME_RBCASTFAIL = 0x0000010D
    ESME_RBCASTQUERYFAIL = 0x0000010E
    ESME_RBCASTCANCELFAIL = 0x0000010F
    ESME_RINVBCAST_REP = 0x00000110
    ESME_RINVBCASTSRVGRP = 0x00000111
    ESME_RINVBCASTCHANIND = 0x00000112


V50_COMMANDS = frozenset({
    CommandId.broadcast_sm, CommandId.broadcast_sm_resp, CommandId.query_broadcast_sm,
    CommandId.query_broadcast_sm_resp, CommandId.cancel_broadcast_sm,
    CommandId.cancel_broadcast_sm_resp,
})
"""Command ids of SMPP 5.0 only (0x111-0x113 and their responses)."""
V33_ABSENT_COMMANDS = frozenset({CommandId.data_sm, CommandId.data_sm_resp})
"""Commands SMPP 3.3 does not have: a 3.3 peer's data_sm is an unknown command to it."""


_V33, _V34, _V50 = SmppVersion.V33, SmppVersion.V34, SmppVersion.V50

TEMPORARY_STATUSES = frozenset(
    {
        CommandStatus.ESME_RSYSERR,
        CommandStatus.ESME_RMSGQFUL,
        CommandStatus.ESME_RTHROTTLED,
        CommandStatus.ESME_RX_T_APPN,
    }
)
"""Statuses the industry treats as "retry later" (REFERENCE.md §7, last paragraph)."""


class Ton(IntEnum):
    """Type of number (SPEC Table 5-3). Values 7..255 are reserved."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(IntEnum):
    """Numbering plan indicator (SPEC Table 5-4). Other values are reserved but accepted."""

    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    LAND_MOBILE = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    INTERNET = 14
    WAP_CLIENT_ID = 18


class DataCoding(IntEnum):
    """data_coding values with a defined alphabet (SPEC 5.2.19; REFERENCE.md §8.6)."""

    SMSC_DEFAULT = 0x00
    IA5 = 0x01
    OCTET_UNSPECIFIED = 0x02
    LATIN_1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI_JIS = 0x0D
    KS_C_5601 = 0x0E


class MessageState(IntEnum):
    """message_state values (SPEC 5.2.28). 0 and 9 are SMPP 5.0 only and never emitted."""

    SCHEDULED = 0
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8
    SKIPPED = 9

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def stat_word(self) -> str:
        """The 7-letter `stat:` word of a delivery receipt (REFERENCE.md §10.2)."""
        return _STAT_WORDS[self]


FINAL_STATES = frozenset(
    {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.DELETED,
        MessageState.UNDELIVERABLE,
        MessageState.ACCEPTED,
        MessageState.REJECTED,
        MessageState.SKIPPED,
    }
)

_STAT_WORDS = {
    MessageState.SCHEDULED: "SCHEDUL",
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.SKIPPED: "SKIPPED",
}


class Tag(IntEnum):
    """TLV tags of SMPP 3.4 (SPEC Table 5-7; REFERENCE.md §5.2)."""

    dest_addr_subunit = 0x0005
    dest_network_type = 0x0006
    dest_bearer_type = 0x0007
    dest_telematics_id = 0x0008
    source_addr_subunit = 0x000D
    source_network_type = 0x000E
    source_bearer_type = 0x000F
    source_telematics_id = 0x0010
    qos_time_to_live = 0x0017
    payload_type = 0x0019
    additional_status_info_text = 0x001D
    receipted_message_id = 0x001E
    ms_msg_wait_facilities = 0x0030
    privacy_indicator = 0x0201
    source_subaddress = 0x0202
    dest_subaddress = 0x0203
    user_message_reference = 0x0204
    user_response_code = 0x0205
    source_port = 0x020A
    destination_port = 0x020B
    sar_msg_ref_num = 0x020C
    language_indicator = 0x020D
    sar_total_segments = 0x020E
    sar_segment_seqnum = 0x020F
    sc_interface_version = 0x0210
    callback_num_pres_ind = 0x0302
    callback_num_atag = 0x0303
    number_of_messages = 0x0304
    callback_num = 0x0381
    dpf_result = 0x0420
    set_dpf = 0x0421
    ms_availability_status = 0x0422
    network_error_code = 0x0423
    message_payload = 0x0424
    delivery_failure_reason = 0x0425
    more_messages_to_send = 0x0426
    message_state = 0x0427
    ussd_service_op = 0x0501
    display_time = 0x1201
    sms_signal = 0x1203
    ms_validity = 0x1204
    alert_on_message_delivery = 0x130C
    its_reply_type = 0x1380
    its_session_info = 0x1383
    # SMPP 5.0 only (V5 Table 4-60; REFERENCE-5.0.md §3)
    congestion_state = 0x0428
    broadcast_channel_indicator = 0x0600
    broadcast_content_type = 0x0601
    broadcast_content_type_info = 0x0602
    broadcast_message_class = 0x0603
    broadcast_rep_num = 0x0604
    broadcast_frequency_interval = 0x0605
    broadcast_area_identifier = 0x0606
    broadcast_error_status = 0x0607
    broadcast_area_success = 0x0608
    broadcast_end_time = 0x0609
    broadcast_service_group = 0x060A
    billing_identification = 0x060B
    source_network_id = 0x060D
    dest_network_id = 0x060E
    source_node_id = 0x060F
    dest_node_id = 0x0610
    dest_addr_np_resolution = 0x0611
    dest_addr_np_information = 0x0612
    dest_addr_np_country = 0x0613


FAILED_BROADCAST_AREA_IDENTIFIER = Tag.broadcast_area_identifier
"""broadcast_sm_resp's failed_broadcast_area_identifier reuses tag 0x0606 (V5 Table 4-29)."""


# --- esm_class (SPEC 5.2.12; REFERENCE.md §8.4) ---------------------------------------------

ESM_MODE_MASK = 0x03
ESM_TYPE_MASK = 0x3C
ESM_FEATURE_MASK = 0xC0


class EsmMode(IntEnum):
    DEFAULT = 0x00
    DATAGRAM = 0x01
    FORWARD = 0x02
    STORE_AND_FORWARD = 0x03


class EsmType(IntEnum):
    NORMAL = 0x00
    DELIVERY_RECEIPT = 0x04
    DELIVERY_ACK = 0x08
    MANUAL_ACK = 0x10
    CONVERSATION_ABORT = 0x18
    INTERMEDIATE_NOTIFICATION = 0x20


class EsmFeature(IntFlag):
    UDHI = 0x40
    REPLY_PATH = 0x80


def esm_mode(esm_class: int) -> int:
    return esm_class & ESM_MODE_MASK


def esm_type(esm_class: int) -> int:
    return esm_class & ESM_TYPE_MASK


def has_udhi(esm_class: int) -> bool:
    return bool(esm_class & EsmFeature.UDHI)


# --- registered_delivery (SPEC 5.2.17; REFERENCE.md §8.5) -----------------------------------

RECEIPT_MASK = 0x03
SME_ACK_MASK = 0x0C
INTERMEDIATE_NOTIFICATION_BIT = 0x10


class ReceiptRequest(IntEnum):
    """The SMSC delivery receipt bits (1..0) of registered_delivery."""

    NONE = 0x00
    ON_FINAL = 0x01
    ON_FAILURE = 0x02
    ON_SUCCESS = 0x03  # reserved in 3.4, success-only in 5.0 (REFERENCE.md §14 #6)


def receipt_request(registered_delivery: int) -> ReceiptRequest:
    return ReceiptRequest(registered_delivery & RECEIPT_MASK)


def wants_intermediate(registered_delivery: int) -> bool:
    return bool(registered_delivery & INTERMEDIATE_NOTIFICATION_BIT)


_NO_RECEIPT = ReceiptRequest.NONE
_ON_FINAL = ReceiptRequest.ON_FINAL
_ON_FAILURE = ReceiptRequest.ON_FAILURE
_DELIVERED = MessageState.DELIVERED
"""For `wants_receipt`, once per final message: Enum members as module constants
(docs/architecture.md, "Hot-path idioms")."""


def wants_receipt(registered_delivery: int, final_state: MessageState) -> bool:
    """Whether a message that reached `final_state` owes its sender a delivery receipt."""
    request = registered_delivery & RECEIPT_MASK  # compared as ints: no enum built per call
    if request == _NO_RECEIPT:
        return False
    if request == _ON_FINAL:
        return True
    delivered = final_state is _DELIVERED
    if request == _ON_FAILURE:
        return not delivered
    return delivered
