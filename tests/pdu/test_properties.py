"""Codec invariants over random PDUs and random bytes (hypothesis)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu import (
    DecodeError,
    EncodeError,
    FrameBuffer,
    Pdu,
    decode,
    decode_with_construct,
    encode,
    encode_with_construct,
    with_sequence,
)
from smsc.pdu.constants import CommandStatus
from smsc.pdu.table import REPEATABLE_TAGS, TLV_SPECS, TlvType
from smsc.pdu.tlv import MAX_TLVS

from .strategies import crowded_pdus, pdus

SETTINGS = settings(max_examples=300, deadline=None)


@SETTINGS
@given(pdus())
def test_valid_pdus_round_trip(pdu: Pdu) -> None:
    data = encode(pdu)
    assert decode(data) == pdu
    assert int.from_bytes(data[:4], "big") == len(data)


@SETTINGS
@given(pdus())
def test_fast_path_and_construct_path_agree_on_valid_pdus(pdu: Pdu) -> None:
    data = encode(pdu)
    assert encode_with_construct(pdu) == data
    assert decode_with_construct(data) == decode(data)


def outcome(path: object, data: bytes) -> object:
    try:
        return path(data)  # type: ignore[operator]
    except DecodeError as error:
        return ("error", error.command_status, error.command_id, error.sequence_number)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_give_a_pdu_or_decode_error(data: bytes) -> None:
    if len(data) >= 4:
        data = len(data).to_bytes(4, "big") + data[4:]  # reach the body checks too
    assert outcome(decode, data) == outcome(decode_with_construct, data)


@SETTINGS
@given(pdus(), st.randoms(use_true_random=False), st.integers(1, 8))
def test_mutated_pdus_give_a_pdu_or_the_same_decode_error(
    pdu: Pdu, rng: random.Random, mutations: int
) -> None:
    data = bytearray(encode(pdu))
    for _ in range(mutations):
        choice = rng.randrange(4)
        position = rng.randrange(16, len(data) + 1) if len(data) > 16 else 16
        if choice == 0 and position < len(data):
            data[position] = rng.randrange(256)
        elif choice == 1 and position < len(data):
            del data[position]
        elif choice == 2:
            data.insert(position, rng.randrange(256))
        else:
            data[position:position] = b"\x00"
    data[:4] = len(data).to_bytes(4, "big")
    assert outcome(decode, bytes(data)) == outcome(decode_with_construct, bytes(data))


@SETTINGS
@given(st.lists(pdus(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_framer_gives_the_same_frames_for_any_chunking(
    messages: list[Pdu], rng: random.Random
) -> None:
    stream = b"".join(encode(m) for m in messages)
    expected = [encode(m) for m in messages]
    for chunking in ("whole", "bytes", "random"):
        frames = FrameBuffer()
        got: list[bytes] = []
        position = 0
        while position < len(stream):
            if chunking == "whole":
                size = len(stream)
            elif chunking == "bytes":
                size = 1
            else:
                size = rng.randrange(1, 40)
            frames.feed(stream[position : position + size])
            position += size
            got += frames.pop_all()
            assert frames.pop_all() == []  # all that was whole is taken
        assert got == expected, chunking
        assert all(type(frame) is bytes for frame in got), chunking
        assert frames.buffered == 0


@SETTINGS
@given(pdus(), st.integers(0, 0xFFFFFFFF))
def test_with_sequence_equals_dataclasses_replace(pdu: Pdu, sequence: int) -> None:
    copied = with_sequence(pdu, sequence)
    assert copied == dataclasses.replace(pdu, sequence_number=sequence)
    assert type(copied) is type(pdu)


# -- the largest PDUs SMPP allows, and what lies past them ------------------------------------

CROWDED = settings(max_examples=40, deadline=None)


@CROWDED
@given(crowded_pdus())
def test_crowded_pdus_round_trip_and_both_paths_agree(pdu: Pdu) -> None:
    data = encode(pdu)
    assert decode(data) == pdu
    assert encode_with_construct(pdu) == data
    assert decode_with_construct(data) == pdu


@CROWDED
@given(crowded_pdus(), st.randoms(use_true_random=False), st.integers(1, 8))
def test_mutated_crowded_pdus_give_the_same_outcome_on_both_paths(
    pdu: Pdu, rng: random.Random, mutations: int
) -> None:
    data = bytearray(encode(pdu))
    for _ in range(mutations):
        position = rng.randrange(16, len(data))
        data[position] = rng.choice((0, 1, 2, 255, rng.randrange(256)))
    assert outcome(decode, bytes(data)) == outcome(decode_with_construct, bytes(data))


def with_tlv_stream(pdu: Pdu, stream: bytes) -> bytes:
    """`pdu` encoded without its TLVs, then `stream` as its optional part."""
    body = encode(dataclasses.replace(pdu, tlvs={}))[16:] + stream
    return (16 + len(body)).to_bytes(4, "big") + encode(pdu)[4:16] + body


@CROWDED
@given(pdus(), st.integers(MAX_TLVS + 1, 600))
def test_more_tlvs_than_allowed_are_refused_alike_by_both_paths(pdu: Pdu, count: int) -> None:
    stream = b"".join((0x1400 + n).to_bytes(2, "big") + b"\x00\x00" for n in range(count))
    data = with_tlv_stream(pdu, stream)
    assert outcome(decode, data) == outcome(decode_with_construct, data)
    assert outcome(decode, data)[:2] == ("error", CommandStatus.ESME_RINVOPTPARSTREAM)  # type: ignore[index]
    with pytest.raises(EncodeError):
        encode(dataclasses.replace(pdu, tlvs={0x1400 + n: b"" for n in range(count)}))


@SETTINGS
@given(pdus(), st.sampled_from([*sorted(set(TLV_SPECS) - REPEATABLE_TAGS), 0x1400, 0x3FFF]),
       st.integers(2, 300))
def test_a_repeated_tag_that_may_not_repeat_is_refused_alike_by_both_paths(
    pdu: Pdu, tag: int, copies: int
) -> None:
    spec = TLV_SPECS.get(tag)
    value = bytes(spec.min_length) if spec is not None else b""
    if spec is not None and spec.type is TlvType.CSTRING:  # a valid one: text, then its NUL
        value = b"1" * (spec.min_length - 1) + b"\x00"
    one = tag.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value
    data = with_tlv_stream(pdu, one * copies)
    assert outcome(decode, data) == outcome(decode_with_construct, data)
    assert outcome(decode, data)[:2] == ("error", CommandStatus.ESME_RINVOPTPARSTREAM)  # type: ignore[index]
