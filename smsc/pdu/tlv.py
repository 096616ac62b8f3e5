"""Optional parameters: the TLV stream of a PDU body ↔ an ordered {tag: value} mapping.

Rules from SPEC 3.3 / REFERENCE.md §5.1: a truncated TLV header or a length running past the
PDU is ESME_RINVOPTPARSTREAM; a known TLV allowed on the PDU with a value length outside its
range is ESME_RINVPARLEN; TLVs not allowed on the PDU and unknown tags are kept, not rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smsc.pdu.constants import CommandStatus
from smsc.pdu.errors import DecodeError, EncodeError
from smsc.pdu.table import REPEATABLE_TAGS, TLV_SPECS, TlvType


def decode_tlv_value(tag: int, raw: bytes, allowed: bool) -> Any:
    """The typed value of one TLV; raw bytes for unknown tags and tolerated odd values."""
    spec = TLV_SPECS.get(tag)
    if spec is None:
        return raw
    length = len(raw)
    if not spec.min_length <= length <= spec.max_length:
        if allowed:
            raise DecodeError(
                CommandStatus.ESME_RINVPARLEN, f"TLV 0x{tag:04X} has length {length}"
            )
        return raw
    if spec.type is TlvType.INT:
        return int.from_bytes(raw, "big")
    if spec.type is TlvType.CSTRING:
        if raw[-1:] != b"\x00" or 0 in raw[:-1]:
            if allowed:
                raise DecodeError(
                    CommandStatus.ESME_RINVOPTPARAMVAL, f"TLV 0x{tag:04X} is not a C-string"
                )
            return raw
        return raw[:-1].decode("latin-1")
    return raw


_INT_RANGES = {
    tag: (spec.min_length, spec.max_length)
    for tag, spec in TLV_SPECS.items()
    if spec.type is TlvType.INT
}


def decode_tlvs(
    data: bytes, pos: int, end: int, allowed: frozenset[int]
) -> dict[int, Any]:
    """Parse data[pos:end] as a TLV stream (wire order kept)."""
    tlvs: dict[int, Any] = {}
    int_ranges = _INT_RANGES
    from_bytes = int.from_bytes
    while pos < end:
        if pos + 4 > end:
            raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, "truncated TLV header")
        tag = (data[pos] << 8) | data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4
        if pos + length > end:
            raise DecodeError(
                CommandStatus.ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} overruns the PDU"
            )
        raw = data[pos : pos + length]
        pos += length
        sizes = int_ranges.get(tag)
        if sizes is not None and sizes[0] <= length <= sizes[1]:
            value: Any = from_bytes(raw, "big")  # the common case, kept short
        else:
            value = decode_tlv_value(tag, raw, tag in allowed)
        if tag in tlvs:
            add_tlv(tlvs, tag, value, tag in allowed)
        else:
            tlvs[tag] = value
    return tlvs


def add_tlv(tlvs: dict[int, Any], tag: int, value: Any, allowed: bool) -> None:
    """Store one decoded TLV; repeated tags collect into a tuple of their values."""
    if tag not in tlvs:
        tlvs[tag] = value
        return
    if allowed and tag not in REPEATABLE_TAGS:
        raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} repeated")
    previous = tlvs[tag]
    tlvs[tag] = (*previous, value) if isinstance(previous, tuple) else (previous, value)


def encode_tlv_value(tag: int, value: Any) -> bytes:
    """Wire octets of one TLV value; bytes are sent as they are."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    spec = TLV_SPECS.get(tag)
    if spec is None:
        raise EncodeError(f"unknown TLV 0x{tag:04X} needs a bytes value")
    if spec.type is TlvType.INT:
        if not isinstance(value, int) or value < 0:
            raise EncodeError(f"TLV 0x{tag:04X} needs a non-negative int")
        size = spec.min_length if value < (1 << (8 * spec.min_length)) else spec.max_length
        try:
            return value.to_bytes(size, "big")
        except OverflowError:
            raise EncodeError(f"TLV 0x{tag:04X} value {value} too large") from None
    if spec.type is TlvType.CSTRING and isinstance(value, str):
        octets = value.encode("latin-1") + b"\x00"
        if len(octets) > spec.max_length or 0 in octets[:-1]:
            raise EncodeError(f"TLV 0x{tag:04X} C-string too long")
        return octets
    raise EncodeError(f"TLV 0x{tag:04X} has a value of the wrong type: {value!r}")


_INT_HEADERS = {
    tag: (tag.to_bytes(2, "big") + size.to_bytes(2, "big"), size, 1 << (8 * size))
    for tag, (size, _) in _INT_RANGES.items()
}


_CSTRING_LIMITS = {
    tag: (tag.to_bytes(2, "big"), spec.max_length)
    for tag, spec in TLV_SPECS.items()
    if spec.type is TlvType.CSTRING
}


def encode_tlvs(tlvs: Mapping[int, Any]) -> bytes:
    parts = []
    int_headers = _INT_HEADERS
    cstrings = _CSTRING_LIMITS
    for tag, value in tlvs.items():
        fast = int_headers.get(tag)
        if fast is not None and type(value) is int and 0 <= value < fast[2]:
            parts.append(fast[0] + value.to_bytes(fast[1], "big"))
            continue
        text = cstrings.get(tag)
        if text is not None and type(value) is str:  # receipted_message_id on every receipt
            octets = value.encode("latin-1") + b"\x00"
            if len(octets) <= text[1] and 0 not in octets[:-1]:
                parts.append(text[0] + len(octets).to_bytes(2, "big") + octets)
                continue
        values = value if isinstance(value, tuple) else (value,)
        for one in values:
            octets = encode_tlv_value(tag, one)
            if len(octets) > 0xFFFF or not 0 <= tag <= 0xFFFF:
                raise EncodeError(f"TLV 0x{tag:04X} does not fit")
            parts.append(tag.to_bytes(2, "big") + len(octets).to_bytes(2, "big") + octets)
    return b"".join(parts)
