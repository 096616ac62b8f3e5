"""broadcast_sm's TLVs read into one checked value (SMPP 5.0 4.4, 4.8.4; REFERENCE-5.0.md §3).

The codec keeps the broadcast TLVs as the octets they are (their lengths checked); this reads
what they mean and refuses, with the status V5 Table 4-45 names, what no broadcast can carry:
a required TLV missing, a reserved area format, frequency unit, content network, message
class or channel.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsc.pdu.constants import CommandStatus, Tag
from smsc.pdu.messages import BroadcastSm
from smsc.pdu.table import BROADCAST_SM_REQUIRED_TLVS

S = CommandStatus

AREA_NAME, AREA_ELLIPSOID_ARC, AREA_POLYGON = 0x00, 0x01, 0x02
"""broadcast_area_identifier formats (V5 4.8.4.7); the others are reserved."""
_AREA_FORMATS = frozenset({AREA_NAME, AREA_ELLIPSOID_ARC, AREA_POLYGON})

AS_OFTEN_AS_POSSIBLE = 0x00
FREQUENCY_UNIT_SECONDS: dict[int, int] = {
    0x08: 1, 0x09: 60, 0x0A: 3600, 0x0B: 86400, 0x0C: 7 * 86400, 0x0D: 30 * 86400,
    0x0E: 365 * 86400,
}
"""broadcast_frequency_interval's unit octet → seconds (months as 30 days, years as 365)."""


class BroadcastRefused(Exception):
    """A broadcast_sm that cannot be broadcast; carries the SMPP status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """What one broadcast_sm asks for, its TLVs read."""

    areas: tuple[bytes, ...]
    """Each broadcast_area_identifier as sent: format octet, then the area's data."""
    content_type: bytes
    """broadcast_content_type: network octet and the 16-bit content type."""
    rep_num: int
    """How many times to broadcast; 0 = until cancelled or expired."""
    interval: float
    """Seconds between repetitions; 0 = as often as possible."""
    payload: bytes
    """message_payload (broadcast_sm has no short_message)."""


def area_name(area: bytes) -> str:
    """An area identifier as text: the name of a format-0 area, else its octets in hex."""
    if area[:1] == bytes((AREA_NAME,)):
        return area[1:].decode("latin-1")
    return area.hex()


def name_area(name: str) -> bytes:
    """The broadcast_area_identifier of an area given by name (format 0x00)."""
    return bytes((AREA_NAME,)) + name.encode("latin-1")


def read_broadcast(pdu: BroadcastSm) -> BroadcastRequest:
    """The checked broadcast of `pdu` (an area's length, at most 100 octets after its format,
    the codec has checked: ESME_RINVPARLEN).

    Raises:
        BroadcastRefused: with the status to answer (missing TLV 0xC3; reserved area format
            0x109, frequency unit 0x107, content network 0x10B, message class 0x10C, channel
            indicator 0x112).
    """
    tlvs = pdu.tlvs
    for tag in BROADCAST_SM_REQUIRED_TLVS:
        if tag not in tlvs:
            raise BroadcastRefused(S.ESME_RMISSINGOPTPARAM, f"{Tag(tag).name} missing")
    raw_areas = tlvs[Tag.broadcast_area_identifier]
    areas = raw_areas if isinstance(raw_areas, tuple) else (raw_areas,)
    for area in areas:
        if area[0] not in _AREA_FORMATS:
            raise BroadcastRefused(S.ESME_RINVBCASTAREAFMT, f"area format {area[0]}")
    # (the codec has checked the lengths: these are 3 octets, an int and 3 octets)
    content_type: bytes = tlvs[Tag.broadcast_content_type]
    if content_type[0] > 3:  # 0 generic, 1 GSM, 2 TDMA, 3 CDMA
        raise BroadcastRefused(S.ESME_RINVBCASTCNTTYPE, f"content network {content_type[0]}")
    rep_num: int = tlvs[Tag.broadcast_rep_num]
    frequency: bytes = tlvs[Tag.broadcast_frequency_interval]
    unit, count = frequency[0], int.from_bytes(frequency[1:3], "big")
    if unit == AS_OFTEN_AS_POSSIBLE:
        interval = 0.0
    elif unit in FREQUENCY_UNIT_SECONDS:
        interval = float(FREQUENCY_UNIT_SECONDS[unit] * count)
    else:
        raise BroadcastRefused(S.ESME_RINVBCASTFREQINT, f"frequency unit 0x{unit:02X}")
    message_class = tlvs.get(Tag.broadcast_message_class)
    if isinstance(message_class, int) and message_class > 3:
        raise BroadcastRefused(S.ESME_RINVBCASTMSGCLASS, f"message class {message_class}")
    channel = tlvs.get(Tag.broadcast_channel_indicator)
    if isinstance(channel, int) and channel > 1:
        raise BroadcastRefused(S.ESME_RINVBCASTCHANIND, f"channel indicator {channel}")
    payload = tlvs.get(Tag.message_payload)
    return BroadcastRequest(areas, content_type, rep_num, interval,
                            payload if isinstance(payload, bytes) else b"")


def frequency_interval(seconds: float) -> bytes:
    """The broadcast_frequency_interval for every `seconds` (0: as often as possible): the
    smallest unit whose count fits 16 bits, rounded to it.

    Raises:
        ValueError: negative, or more than 65535 years.
    """
    if seconds < 0:
        raise ValueError(f"negative interval {seconds}")
    if seconds == 0:
        return bytes(3)
    for unit, size in FREQUENCY_UNIT_SECONDS.items():
        count = round(seconds / size)
        if count <= 0xFFFF:
            return bytes((unit,)) + max(count, 1).to_bytes(2, "big")
    raise ValueError(f"interval {seconds} s does not fit")
