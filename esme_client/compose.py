"""Text → the submit_sm PDUs that carry it: encoding choice and long-message splitting (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from esme_client.errors import EncodingError
from smsc.pdu import SubmitSm, Tag
from smsc.pdu.concat import ConcatError, Part, Scheme, split_binary, split_text
from smsc.pdu.constants import DataCoding, EsmFeature
from smsc.pdu.gsm7 import is_gsm
from smsc.pdu.text import TextError

ENCODINGS: dict[str, int] = {
    "gsm": DataCoding.SMSC_DEFAULT,
    "ascii": DataCoding.IA5,
    "latin1": DataCoding.LATIN_1,
    "ucs2": DataCoding.UCS2,
    "cyrillic": DataCoding.CYRILLIC,
    "hebrew": DataCoding.LATIN_HEBREW,
    "binary": DataCoding.OCTET_UNSPECIFIED_2,
}
"""Names accepted for `encoding`, besides "auto" and a data_coding number."""

SCHEMES = {scheme.value: scheme for scheme in Scheme}
"""Long-message schemes by name: udh8, udh16, sar, payload."""


def choose_data_coding(text: str, encoding: str | int = "auto") -> int:
    """The data_coding to send `text` in: GSM 03.38 when every character fits, else UCS2.

    Raises:
        EncodingError: `encoding` names no known coding.
    """
    if isinstance(encoding, int):
        return encoding
    if encoding == "auto":
        return DataCoding.SMSC_DEFAULT if is_gsm(text) else DataCoding.UCS2
    try:
        return ENCODINGS[encoding]
    except KeyError:
        if encoding.isdigit() or encoding.lower().startswith("0x"):
            return int(encoding, 0)
        raise EncodingError(
            f"unknown encoding {encoding!r} (auto, {', '.join(ENCODINGS)}, or a number)"
        ) from None


def scheme_named(name: str | Scheme) -> Scheme:
    if isinstance(name, Scheme):
        return name
    try:
        return SCHEMES[name]
    except KeyError:
        raise EncodingError(
            f"unknown long-message scheme {name!r} ({', '.join(SCHEMES)})"
        ) from None


def split_message(
    content: str | bytes,
    data_coding: int,
    *,
    scheme: Scheme,
    reference: int,
) -> list[Part]:
    """The parts of a text (or of binary user data) in `data_coding`.

    Raises:
        EncodingError: the text has characters the coding cannot carry, or needs > 255 parts.
    """
    try:
        if isinstance(content, bytes):
            return split_binary(content, scheme=scheme, reference=reference)
        return split_text(content, data_coding, scheme=scheme, reference=reference)
    except (TextError, ConcatError) as error:
        raise EncodingError(str(error)) from None


def part_pdus(
    parts: list[Part], data_coding: int, fields: Mapping[str, Any], tlvs: Mapping[int, Any]
) -> list[SubmitSm]:
    """One submit_sm per part, with the UDHI bit, SAR TLVs or message_payload as the part says."""
    pdus = []
    esm_class = int(fields.get("esm_class", 0))
    base = {k: v for k, v in fields.items() if k != "esm_class"}
    for part in parts:
        part_tlvs = dict(tlvs)
        short_message = part.user_data
        if part.in_payload:
            part_tlvs[Tag.message_payload] = part.user_data
            short_message = b""
        if part.sar is not None:
            part_tlvs[Tag.sar_msg_ref_num] = part.sar.reference
            part_tlvs[Tag.sar_total_segments] = part.sar.total
            part_tlvs[Tag.sar_segment_seqnum] = part.sar.seqnum
        pdus.append(SubmitSm(
            **base,
            esm_class=esm_class | (EsmFeature.UDHI if part.udhi else 0),
            data_coding=data_coding,
            short_message=short_message,
            tlvs=part_tlvs,
        ))
    return pdus
