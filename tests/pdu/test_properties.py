"""Codec invariants over random PDUs and random bytes (hypothesis)."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu import (
    DecodeError,
    FrameBuffer,
    Pdu,
    decode,
    decode_with_construct,
    encode,
    encode_with_construct,
    with_sequence,
)

from .strategies import pdus

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
