"""hypothesis strategies for valid PDUs, derived from the codec table."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from smsc.pdu import MESSAGE_CLASSES, DistributionListDest, Pdu, SmeDest, UnsuccessSme
from smsc.pdu.codec import _field_kind
from smsc.pdu.table import REPEATABLE_TAGS, SPECS, TLV_SPECS, TlvType
from smsc.pdu.tlv import MAX_TLVS

LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=255)


def cstring(max_size: int) -> st.SearchStrategy[str]:
    return st.text(LATIN1_NO_NUL, max_size=max_size - 1)


def smpp_time() -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), st.text(LATIN1_NO_NUL, min_size=16, max_size=16))


def _int(size: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << (8 * size)) - 1)


_INT_SIZES = {"B": 1, "H": 2, "L": 4, "I": 4}

sme_dest = st.builds(SmeDest, _int(1), _int(1), cstring(21))
dl_dest = st.builds(DistributionListDest, cstring(21))
unsuccess = st.builds(UnsuccessSme, _int(1), _int(1), cstring(21), _int(4))


def field_strategy(subcon: Any, *, lists: tuple[int, int] = (0, 5)) -> st.SearchStrategy[Any]:
    """Values of one body field; submit_multi's lists get lists[0] to lists[1] entries (at
    most what their count octet allows)."""
    kind, arg = _field_kind(subcon)
    if kind == "int":
        return _int(_INT_SIZES[arg])
    if kind == "cstr":
        return cstring(arg.max_size)
    if kind == "time":
        return smpp_time()
    if kind == "octets":
        return st.binary(max_size=254)
    if kind == "dests":
        return st.lists(st.one_of(sme_dest, dl_dest), min_size=lists[0],
                        max_size=min(lists[1], 254)).map(tuple)
    return st.lists(unsuccess, min_size=lists[0], max_size=min(lists[1], 255)).map(tuple)


def tlv_value(tag: int) -> st.SearchStrategy[Any]:
    spec = TLV_SPECS[tag]
    if spec.type is TlvType.INT:
        return _int(spec.min_length)
    if spec.type is TlvType.CSTRING:
        return st.text(LATIN1_NO_NUL, min_size=max(spec.min_length - 1, 0),
                       max_size=spec.max_length - 1)
    return st.binary(min_size=spec.min_length, max_size=min(spec.max_length, 300))


UNKNOWN_TAGS = st.integers(0x1400, 0x3FFF).filter(lambda t: t not in TLV_SPECS)


@st.composite
def tlvs_for(draw: st.DrawFn, allowed: frozenset[int]) -> dict[int, Any]:
    tlvs: dict[int, Any] = {}
    if allowed:
        for tag in draw(st.lists(st.sampled_from(sorted(allowed)), max_size=4, unique=True)):
            tlvs[tag] = draw(tlv_value(tag))
    for tag in draw(st.lists(UNKNOWN_TAGS, max_size=2, unique=True)):
        tlvs[tag] = draw(st.binary(max_size=20))
    return tlvs


@st.composite
def pdus(draw: st.DrawFn, classes: tuple[type[Pdu], ...] = MESSAGE_CLASSES) -> Pdu:
    """A valid PDU; responses get command_status 0 so their body is kept."""
    cls = draw(st.sampled_from(classes))
    spec = SPECS[cls.command_id]
    values = {sc.name: draw(field_strategy(sc.subcon)) for sc in spec.body.subcons}
    status = 0 if spec.is_response else draw(_int(4))
    return cls(
        sequence_number=draw(_int(4)),
        command_status=status,
        tlvs=draw(tlvs_for(spec.tlvs)),
        **values,
    )


@st.composite
def crowded_tlvs(draw: st.DrawFn, allowed: frozenset[int]) -> dict[int, Any]:
    """Close to MAX_TLVS TLVs: the callback_num family repeated (when allowed), some allowed
    tags once, and distinct unknown tags for the rest."""
    total = draw(st.integers(MAX_TLVS - 28, MAX_TLVS))
    tlvs: dict[int, Any] = {}
    count = 0
    for tag in sorted(REPEATABLE_TAGS & allowed):
        values = draw(st.lists(tlv_value(tag), max_size=4))
        if len(values) == 1:
            tlvs[tag] = values[0]
        elif values:
            tlvs[tag] = tuple(values)
        count += len(values)
    single = sorted(allowed - REPEATABLE_TAGS)
    if single:
        for tag in draw(st.lists(st.sampled_from(single), unique=True, max_size=8)):
            tlvs[tag] = draw(tlv_value(tag))
            count += 1
    rest = max(total - count, 0)
    for tag in draw(st.lists(UNKNOWN_TAGS, min_size=rest, max_size=rest, unique=True)):
        tlvs[tag] = draw(st.binary(max_size=6))
    return tlvs


@st.composite
def crowded_pdus(draw: st.DrawFn, classes: tuple[type[Pdu], ...] = MESSAGE_CLASSES) -> Pdu:
    """A valid PDU as large as SMPP lets one get: up to MAX_TLVS TLVs, submit_multi with up to
    254 destinations, submit_multi_resp with up to 255 unsuccess entries."""
    cls = draw(st.sampled_from(classes))
    spec = SPECS[cls.command_id]
    values = {sc.name: draw(field_strategy(sc.subcon, lists=(200, 255)))
              for sc in spec.body.subcons}
    return cls(
        sequence_number=draw(_int(4)),
        tlvs=draw(crowded_tlvs(spec.tlvs)),
        **values,
    )
