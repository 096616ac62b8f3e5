"""Optional parameters: the TLV stream of a PDU body ↔ an ordered {tag: value} mapping.

Rules from SPEC 3.3 / REFERENCE.md §5.1: a truncated TLV header or a length running past the
PDU is ESME_RINVOPTPARSTREAM; a known TLV allowed on the PDU with a value length outside its
range is ESME_RINVPARLEN; TLVs not allowed on the PDU and unknown tags are kept, not rejected.

Two more, so that no PDU costs more than its length allows (docs/hardening.md): a tag other
than the callback_num family (the only ones SPEC Table 4-10 lets repeat) given twice, and a
stream of more than MAX_TLVS TLVs, are ESME_RINVOPTPARSTREAM too. Repeated callback_num TLVs
are collected in wire order into a tuple, once, at the end: decoding stays linear.
"""

from __future__ import annotations

import struct
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


MAX_TLVS = 128
"""Most TLVs one PDU may carry. SMPP 3.4 allows at most 38 distinct tags on any PDU (data_sm),
and only the callback_num family may repeat; the rest of a longer stream could only be
ignored tags, each one more step of the decode loop for every session to wait on."""

_RINVOPTPARSTREAM = CommandStatus.ESME_RINVOPTPARSTREAM
_TLV_SLOTS = range(MAX_TLVS)
_unpack_tag_length = struct.Struct(">HH").unpack_from


def decode_tlvs(
    data: bytes, pos: int, end: int, allowed: frozenset[int]
) -> dict[int, Any]:
    """Parse data[pos:end] as a TLV stream (wire order kept)."""
    tlvs: dict[int, Any] = {}
    repeats: dict[int, list[Any]] | None = None
    int_ranges = _INT_RANGES
    from_bytes = int.from_bytes
    unpack = _unpack_tag_length
    for _ in _TLV_SLOTS:
        if pos >= end:
            break
        if pos + 4 > end:
            raise DecodeError(_RINVOPTPARSTREAM, "truncated TLV header")
        tag, length = unpack(data, pos)
        pos += 4
        if pos + length > end:
            raise DecodeError(_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} overruns the PDU")
        raw = data[pos : pos + length]
        pos += length
        sizes = int_ranges.get(tag)
        if sizes is not None and sizes[0] <= length <= sizes[1]:
            value: Any = from_bytes(raw, "big")  # the common case, kept short
        else:
            value = decode_tlv_value(tag, raw, tag in allowed)
        if tag in tlvs:
            if repeats is None:
                repeats = {}
            add_repeat(tlvs, repeats, tag, value)
        else:
            tlvs[tag] = value
    else:
        if pos < end:
            raise DecodeError(_RINVOPTPARSTREAM, f"more than {MAX_TLVS} TLVs")
    if repeats:
        for tag, values in repeats.items():
            tlvs[tag] = tuple(values)
    return tlvs


def add_repeat(
    tlvs: dict[int, Any], repeats: dict[int, list[Any]], tag: int, value: Any
) -> None:
    """Note one more occurrence of a tag already in `tlvs`; the caller turns each list in
    `repeats` into the tag's tuple once the stream is read.

    Raises:
        DecodeError: ESME_RINVOPTPARSTREAM, the tag is not one that may repeat.
    """
    if tag not in REPEATABLE_TAGS:
        raise DecodeError(_RINVOPTPARSTREAM, f"TLV 0x{tag:04X} repeated")
    values = repeats.get(tag)
    if values is None:
        repeats[tag] = [tlvs[tag], value]
    else:
        values.append(value)


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
    """The TLV stream of `tlvs`; a tuple value is a repeated tag, its values in order.

    Raises:
        EncodeError: a value does not fit its tag, a tag that may not repeat has a tuple, or
            there are more than MAX_TLVS TLVs (what `decode_tlvs` would refuse).
    """
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
        if isinstance(value, tuple):
            if tag not in REPEATABLE_TAGS:
                raise EncodeError(f"TLV 0x{tag:04X} may not repeat")
            values = value
        else:
            values = (value,)
        for one in values:
            octets = encode_tlv_value(tag, one)
            if len(octets) > 0xFFFF or not 0 <= tag <= 0xFFFF:
                raise EncodeError(f"TLV 0x{tag:04X} does not fit")
            parts.append(tag.to_bytes(2, "big") + len(octets).to_bytes(2, "big") + octets)
    if len(parts) > MAX_TLVS:
        raise EncodeError(f"{len(parts)} TLVs: at most {MAX_TLVS} fit one PDU")
    return b"".join(parts)
