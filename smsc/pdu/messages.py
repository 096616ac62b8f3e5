"""One slotted dataclass per SMPP 3.4 and 5.0 PDU, with fields named exactly as in the spec.

Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building
a submit_sm or deliver_sm three times as slow, and every PDU on the hot path is built once and
then only read. Treat a PDU as a value all the same; `SmppSession.send` is the one place that
writes to one (the sequence number of a request sent with 0).

Optional parameters live in `tlvs` (tag → value, in wire order) and are also readable by name
(`pdu.message_payload`, None when absent). Known TLVs hold typed values (int, str for C-strings,
bytes for octet strings); a tuple holds the values of a repeated tag; unknown tags keep their
raw bytes so they survive decode → encode unchanged. `tests/pdu/test_table.py` checks these
classes against `table.PDU_TABLE`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from smsc.pdu.constants import CommandId, Tag
from smsc.pdu.table import SPECS

P = TypeVar("P", bound="Pdu")


@dataclass(slots=True, kw_only=True)
class Pdu:
    """Header fields common to every PDU; command_length is computed by `encode`."""

    command_id: ClassVar[CommandId]
    sequence_number: int = 0
    command_status: int = 0
    tlvs: Mapping[int, Any] = field(default_factory=dict, repr=False)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)

    def tlv(self, tag: int) -> Any:
        return self.tlvs.get(tag)

    @property
    def unexpected_tlvs(self) -> tuple[int, ...]:
        """Tags present that SMPP 3.4 does not list for this PDU (known or unknown).

        The codec keeps them (SPEC 3.3 says to ignore, not reject); the application decides.
        """
        allowed = SPECS[self.command_id].tlvs
        return tuple(tag for tag in self.tlvs if tag not in allowed)


def _tlv_property(tag: int) -> property:
    return property(lambda self: self.tlvs.get(tag), doc=f"TLV 0x{tag:04X}, None when absent")


for _tag in Tag:
    setattr(Pdu, _tag.name, _tlv_property(int(_tag)))


@dataclass(frozen=True, slots=True)
class SmeDest:
    """A submit_multi destination with dest_flag 1 (SME address)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, slots=True)
class DistributionListDest:
    """A submit_multi destination with dest_flag 2 (distribution list name)."""

    dl_name: str = ""


@dataclass(frozen=True, slots=True)
class UnsuccessSme:
    """One entry of submit_multi_resp's unsuccess_sme list."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    error_status_code: int = 0


# -- bind / outbind -----------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _Bind(Pdu):
    system_id: str = ""
    password: str = field(default="", repr=False)
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitter(_Bind):
    command_id = CommandId.bind_transmitter


@dataclass(slots=True, kw_only=True)
class BindReceiver(_Bind):
    command_id = CommandId.bind_receiver


@dataclass(slots=True, kw_only=True)
class BindTransceiver(_Bind):
    command_id = CommandId.bind_transceiver


@dataclass(slots=True, kw_only=True)
class _BindResp(Pdu):
    system_id: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    command_id = CommandId.bind_transmitter_resp


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(_BindResp):
    command_id = CommandId.bind_receiver_resp


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    command_id = CommandId.bind_transceiver_resp


@dataclass(slots=True, kw_only=True)
class Outbind(Pdu):
    command_id = CommandId.outbind
    system_id: str = ""
    password: str = field(default="", repr=False)


# -- header-only PDUs ------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class GenericNack(Pdu):
    command_id = CommandId.generic_nack


@dataclass(slots=True, kw_only=True)
class Unbind(Pdu):
    command_id = CommandId.unbind


@dataclass(slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id = CommandId.unbind_resp


@dataclass(slots=True, kw_only=True)
class EnquireLink(Pdu):
    command_id = CommandId.enquire_link


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id = CommandId.enquire_link_resp


@dataclass(slots=True, kw_only=True)
class CancelSmResp(Pdu):
    command_id = CommandId.cancel_sm_resp


@dataclass(slots=True, kw_only=True)
class ReplaceSmResp(Pdu):
    command_id = CommandId.replace_sm_resp


# -- messages ------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class _ShortMessage(Pdu):
    """submit_sm and deliver_sm share one layout (SPEC Tables 4-10 and 4-18)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def sm_length(self) -> int:
        return len(self.short_message)


@dataclass(slots=True, kw_only=True)
class SubmitSm(_ShortMessage):
    command_id = CommandId.submit_sm


@dataclass(slots=True, kw_only=True)
class DeliverSm(_ShortMessage):
    command_id = CommandId.deliver_sm


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(Pdu):
    command_id = CommandId.submit_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(Pdu):
    command_id = CommandId.deliver_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class SubmitMulti(Pdu):
    command_id = CommandId.submit_multi
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_address: tuple[SmeDest | DistributionListDest, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def number_of_dests(self) -> int:
        return len(self.dest_address)


@dataclass(slots=True, kw_only=True)
class SubmitMultiResp(Pdu):
    command_id = CommandId.submit_multi_resp
    message_id: str = ""
    unsuccess_sme: tuple[UnsuccessSme, ...] = ()

    @property
    def no_unsuccess(self) -> int:
        return len(self.unsuccess_sme)


@dataclass(slots=True, kw_only=True)
class DataSm(Pdu):
    command_id = CommandId.data_sm
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


@dataclass(slots=True, kw_only=True)
class DataSmResp(Pdu):
    command_id = CommandId.data_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class QuerySm(Pdu):
    command_id = CommandId.query_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(slots=True, kw_only=True)
class QuerySmResp(Pdu):
    command_id = CommandId.query_sm_resp
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(slots=True, kw_only=True)
class CancelSm(Pdu):
    command_id = CommandId.cancel_sm
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(slots=True, kw_only=True)
class ReplaceSm(Pdu):
    command_id = CommandId.replace_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(slots=True, kw_only=True)
class AlertNotification(Pdu):
    command_id = CommandId.alert_notification
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


# -- SMPP 5.0 broadcasts (V5 4.4 and 4.6; REFERENCE-5.0.md §2.2-§2.5) -----------------------


@dataclass(slots=True, kw_only=True)
class BroadcastSm(Pdu):
    """No destination and no short_message: the areas are TLVs, the text message_payload."""

    command_id = CommandId.broadcast_sm
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    message_id: str = ""
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0


@dataclass(slots=True, kw_only=True)
class BroadcastSmResp(Pdu):
    command_id = CommandId.broadcast_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class QueryBroadcastSm(Pdu):
    command_id = CommandId.query_broadcast_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(slots=True, kw_only=True)
class QueryBroadcastSmResp(Pdu):
    """message_state and the areas with their success are TLVs here."""

    command_id = CommandId.query_broadcast_sm_resp
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class CancelBroadcastSm(Pdu):
    command_id = CommandId.cancel_broadcast_sm
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(slots=True, kw_only=True)
class CancelBroadcastSmResp(Pdu):
    command_id = CommandId.cancel_broadcast_sm_resp


def _sequence_copier(cls: type[Pdu]) -> Callable[[Pdu, int], Pdu]:
    """A function copying a `cls` PDU with another sequence number, generated because
    dataclasses.replace costs three times as much on the hot path."""
    names = [f.name for f in fields(cls) if f.name != "sequence_number"]
    source = (
        "def copy(message, sequence_number):\n"
        "    new = new_object(cls)\n"
        + "".join(f"    set_slot(new, {name!r}, message.{name})\n" for name in names)
        + "    set_slot(new, 'sequence_number', sequence_number)\n"
        "    return new\n"
    )
    namespace: dict[str, Any] = {"cls": cls, "new_object": object.__new__,
                                 "set_slot": object.__setattr__}
    exec(compile(source, f"<copy {cls.__name__}>", "exec"), namespace)
    copier: Callable[[Pdu, int], Pdu] = namespace["copy"]
    return copier


MESSAGE_CLASSES: tuple[type[Pdu], ...] = (
    GenericNack, BindReceiver, BindReceiverResp, BindTransmitter, BindTransmitterResp,
    BindTransceiver, BindTransceiverResp, Outbind, Unbind, UnbindResp, SubmitSm, SubmitSmResp,
    SubmitMulti, SubmitMultiResp, DeliverSm, DeliverSmResp, DataSm, DataSmResp, QuerySm,
    QuerySmResp, CancelSm, CancelSmResp, ReplaceSm, ReplaceSmResp, EnquireLink, EnquireLinkResp,
    AlertNotification, BroadcastSm, BroadcastSmResp, QueryBroadcastSm, QueryBroadcastSmResp,
    CancelBroadcastSm, CancelBroadcastSmResp,
)

_COPIERS = {cls: _sequence_copier(cls) for cls in MESSAGE_CLASSES}


def with_sequence(message: P, sequence_number: int) -> P:
    """`message` with another sequence_number (what dataclasses.replace does, faster)."""
    return _COPIERS[type(message)](message, sequence_number)  # type: ignore[return-value]


NO_TLVS: Mapping[int, Any] = MappingProxyType({})
"""The TLVs of every prebuilt PDU: none, one read-only mapping shared by all."""


class Prebuilt(Pdu):
    """A PDU whose body is already prebuilt, for the hot path's own PDUs (receipts):
    writing the octets from a template costs a fraction of building the dataclass and encoding
    it field by field. The session numbers and sends it like any other (the header is added by
    `encode`); `codec.expand` turns it into the ordinary PDU for traces and tests. Subclasses
    name the command."""

    __slots__ = ("body",)

    def __init__(self, body: bytes, sequence_number: int = 0) -> None:
        self.sequence_number = sequence_number
        self.command_status = 0
        self.tlvs = NO_TLVS
        self.body = body

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(sequence_number={self.sequence_number}, "
                f"body={self.body.hex()})")

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and self.body == other.body
                and self.sequence_number == other.sequence_number)

    __hash__ = None  # type: ignore[assignment]


class PrebuiltDeliverSm(Prebuilt):
    __slots__ = ()
    command_id = CommandId.deliver_sm


class PrebuiltSubmitSmResp(Prebuilt):
    __slots__ = ()
    command_id = CommandId.submit_sm_resp


class PrebuiltDataSmResp(Prebuilt):
    __slots__ = ()
    command_id = CommandId.data_sm_resp
