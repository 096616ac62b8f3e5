"""Every byte-exact vector of the shared SMPP reference as a test (REFERENCE.md §13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smsc.pdu import (
    DecodeError,
    EnquireLink,
    FrameBuffer,
    GenericNack,
    SmeDest,
    decode,
    decode_with_construct,
    encode,
    encode_with_construct,
)
from smsc.pdu.constants import CommandStatus, Tag

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "vectors.json").read_text())[
    "vectors"
]
VALID = [v for v in VECTORS if not v["name"].startswith("malformed")]
MALFORMED = [v for v in VECTORS if v["name"].startswith("malformed")]


def expected_status(vector: dict[str, Any]) -> int:
    decoded = vector["decoded"]
    reply = decoded.get("error_reply") or decoded.get("fatal")
    return int(reply["status"].split()[0], 16)


def check_body(pdu: Any, body: dict[str, Any]) -> None:
    for name, value in body.items():
        if name == "sm_length":
            assert len(pdu.short_message) == value
        elif name == "short_message_hex":
            assert pdu.short_message == bytes.fromhex(value)
        elif name == "number_of_dests":
            assert pdu.number_of_dests == value
        elif name == "no_unsuccess":
            assert pdu.no_unsuccess == value
        elif name in ("dest_addresses", "dest_address"):
            for got, want in zip(pdu.dest_address, value, strict=True):
                if want["dest_flag"] == 1:
                    assert isinstance(got, SmeDest)
                    assert got.destination_addr == want["destination_addr"]
                    assert got.dest_addr_ton == want["dest_addr_ton"]
                else:
                    assert got.dl_name == want["dl_name"]
        elif name in ("unsuccess_smes", "unsuccess_sme"):
            for got, want in zip(pdu.unsuccess_sme, value, strict=True):
                assert got.destination_addr == want["destination_addr"]
                assert got.error_status_code == int(str(want["error_status_code"]), 0)
        elif name.endswith("_hex"):
            assert getattr(pdu, name[: -len("_hex")]) == bytes.fromhex(value)
        else:
            assert getattr(pdu, name) == value, name


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_valid_vector_decodes_to_its_fields_and_reencodes(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    decoded = vector["decoded"]
    pdu = decode(data)
    assert pdu.command_id == int(decoded["command_id"], 16)
    assert pdu.command_status == int(decoded["command_status"], 16)
    assert pdu.sequence_number == decoded["sequence_number"]
    if decoded.get("body") and not (pdu.is_response and pdu.command_status):
        check_body(pdu, decoded["body"])
    for tlv in decoded.get("tlvs", []):
        raw = bytes.fromhex(tlv["value_hex"])
        value = pdu.tlvs[int(tlv["tag"], 16)]
        expected = tlv.get("value", raw)
        if isinstance(expected, str) and not isinstance(value, str):
            expected = raw
        assert value in (expected, raw), tlv
        if "name" in tlv and tlv["name"] in Tag.__members__:
            assert getattr(pdu, tlv["name"]) == value
    assert decode_with_construct(data) == pdu
    if pdu.is_response and pdu.command_status and len(data) > 16:
        # tolerated on input, never emitted (REFERENCE.md §14 #12)
        assert encode(pdu) == data[:16].replace(data[:4], (16).to_bytes(4, "big"), 1)
    else:
        assert encode(pdu) == data
        assert encode_with_construct(pdu) == data


@pytest.mark.parametrize(
    "vector",
    [v for v in MALFORMED if v["decoded"].get("error_reply")],
    ids=lambda v: v["name"],
)
def test_malformed_body_raises_the_expected_status(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    for path in (decode, decode_with_construct):
        with pytest.raises(DecodeError) as caught:
            path(data)
        assert caught.value.command_status == expected_status(vector)
        assert caught.value.sequence_number == vector["decoded"]["sequence_number"]


@pytest.mark.parametrize("name", ["malformed_length_below_16", "malformed_huge_length"])
def test_framer_reports_lost_framing(name: str) -> None:
    vector = next(v for v in MALFORMED if v["name"] == name)
    frames = FrameBuffer()
    frames.feed(bytes.fromhex(vector["hex"]))
    with pytest.raises(DecodeError) as caught:
        frames.pop_all()
    assert caught.value.command_status == expected_status(vector)
    with pytest.raises(DecodeError):
        frames.pop_all()  # framing cannot be recovered on this connection


def test_pop_all_gives_the_good_frames_before_lost_framing() -> None:
    good = encode(EnquireLink(sequence_number=5))
    bad = (8).to_bytes(4, "big") + bytes(12)
    frames = FrameBuffer()
    frames.feed(good + good + bad)
    assert frames.pop_all() == [good, good]
    with pytest.raises(DecodeError) as caught:
        frames.pop_all()
    assert caught.value.command_status == CommandStatus.ESME_RINVCMDLEN
    with pytest.raises(DecodeError):
        frames.pop_all()  # lost for good, however often it is read


def test_framer_waits_for_an_incomplete_header() -> None:
    vector = next(v for v in MALFORMED if v["name"] == "malformed_header_incomplete_15_octets")
    frames = FrameBuffer()
    frames.feed(bytes.fromhex(vector["hex"]))
    assert frames.pop_all() == []
    assert frames.buffered == 15


def test_unknown_command_then_enquire_link_yields_two_frames() -> None:
    vector = next(
        v for v in MALFORMED if v["name"] == "malformed_unknown_command_id_then_enquire_link"
    )
    frames = FrameBuffer()
    frames.feed(bytes.fromhex(vector["hex"]))
    first, second = frames.pop_all()
    assert frames.pop_all() == []
    assert first is not None and second is not None
    with pytest.raises(DecodeError) as caught:
        decode(first)
    assert caught.value.command_status == 0x03
    assert caught.value.sequence_number == 0x0A342EE7
    assert decode(second).sequence_number == 0x0A342EE7


def test_generic_nack_vector_round_trips() -> None:
    vector = next(v for v in VALID if v["name"] == "generic_nack_invmsglen")
    pdu = decode(bytes.fromhex(vector["hex"]))
    assert isinstance(pdu, GenericNack)
