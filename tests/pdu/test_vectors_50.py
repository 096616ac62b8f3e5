"""Every byte-exact SMPP 5.0 vector of the shared reference (REFERENCE-5.0.md) as a test: both
codec paths decode each valid one to the reference's fields and encode it back octet for
octet; each malformed one is refused with the status the reference names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from smsc.pdu import (
    BroadcastSm,
    DecodeError,
    decode,
    decode_with_construct,
    encode,
    encode_with_construct,
)
from smsc.pdu.broadcast import BroadcastRefused, area_name, read_broadcast
from smsc.pdu.constants import Tag

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "vectors-5.0.json").read_text())[
    "vectors"
]
VALID = [v for v in VECTORS if not v["malformed"]]
MALFORMED = [v for v in VECTORS if v["malformed"]]
TAG_NAMES = {"failed_broadcast_area_identifier": "broadcast_area_identifier"}


def expected_tlv(name: str, value: Any) -> Any:
    """The reference's decoded TLV value as our codec holds it."""
    if isinstance(value, dict):
        if "format" in value:
            return bytes((value["format"],)) + value["data"].encode("latin-1")
        if "network" in value:
            return bytes((value["network"],)) + value["content_type"].to_bytes(2, "big")
        return bytes((value["unit"],)) + value["interval"].to_bytes(2, "big")
    if name == "message_payload":
        return value.encode("latin-1")
    return value


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
@pytest.mark.parametrize("path", ["fast", "construct"])
def test_valid_vector_decodes_to_the_reference_and_encodes_back(vector: dict[str, Any],
                                                                path: str) -> None:
    data = bytes.fromhex(vector["hex"])
    decoder, encoder = ((decode, encode) if path == "fast"
                        else (decode_with_construct, encode_with_construct))
    pdu = decoder(data)
    decoded = vector["decoded"]
    assert pdu.command_id == int(decoded["command_id"], 16)
    assert pdu.command_status == int(decoded["command_status"], 16)
    assert pdu.sequence_number == decoded["sequence_number"]
    body = decoded.get("body") or {}
    for name, value in body.items():
        if name == "sc_interface_version":  # (the reference lists it with the body)
            assert pdu.tlvs[Tag.sc_interface_version] == value
        else:
            assert getattr(pdu, name) == value, name
    for name, value in (decoded.get("tlvs") or {}).items():
        tag = Tag[TAG_NAMES.get(name, name)]
        assert pdu.tlvs[tag] == expected_tlv(name, value), name
    assert encoder(pdu) == data


def test_the_broadcast_vector_reads_as_the_reference_says() -> None:
    (vector,) = [v for v in VALID if v["name"] == "broadcast_sm_area_name_payload"]
    pdu = decode(bytes.fromhex(vector["hex"]))
    assert isinstance(pdu, BroadcastSm)
    broadcast = read_broadcast(pdu)
    assert [area_name(area) for area in broadcast.areas] == ["London"]
    assert broadcast.rep_num == 3
    assert broadcast.interval == 31 * 60
    assert broadcast.content_type == bytes.fromhex("000033")
    assert broadcast.payload == b"Storm warning"


def _reference_status(vector: dict[str, Any]) -> int:
    found = re.search(r"\(0x([0-9A-Fa-f]{8})\)", vector["expected_server_reaction"])
    assert found is not None
    return int(found.group(1), 16)


@pytest.mark.parametrize("vector", MALFORMED, ids=[v["name"] for v in MALFORMED])
def test_malformed_vector_is_refused_with_the_reference_status(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    try:
        pdu = decode(data)
    except DecodeError as error:
        status = error.command_status
        with pytest.raises(DecodeError) as caught:
            decode_with_construct(data)
        assert caught.value.command_status == status
    else:
        assert isinstance(pdu, BroadcastSm)
        with pytest.raises(BroadcastRefused) as refused:
            read_broadcast(pdu)
        status = refused.value.status
    assert status == _reference_status(vector)


def _broadcast(**tlvs: Any) -> BroadcastSm:
    values: dict[int, Any] = {
        Tag.broadcast_area_identifier: b"\x00London",
        Tag.broadcast_content_type: bytes.fromhex("000033"),
        Tag.broadcast_rep_num: 1,
        Tag.broadcast_frequency_interval: bytes.fromhex("080005"),
    }
    values.update({Tag[name]: value for name, value in tlvs.items()})
    return decode(encode(BroadcastSm(source_addr="1", tlvs=values)))  # type: ignore[return-value]


@pytest.mark.parametrize(("tlvs", "status"), [
    ({"broadcast_area_identifier": (b"\x00London", b"\x03xy")}, 0x109),
    ({"broadcast_area_identifier": b"\x00" + b"n" * 101}, 0x0C2),  # the codec: over 101
    ({"broadcast_frequency_interval": bytes.fromhex("070005")}, 0x107),
    ({"broadcast_content_type": bytes.fromhex("040001")}, 0x10B),
    ({"broadcast_message_class": 4}, 0x10C),
    ({"broadcast_channel_indicator": 2}, 0x112),
])
def test_a_broadcast_no_network_can_carry_is_refused_with_its_status(tlvs: dict[str, Any],
                                                                     status: int) -> None:
    try:
        pdu = _broadcast(**tlvs)
    except DecodeError as error:
        assert error.command_status == status
        return
    with pytest.raises(BroadcastRefused) as refused:
        read_broadcast(pdu)
    assert refused.value.status == status


def test_several_areas_and_as_often_as_possible() -> None:
    broadcast = read_broadcast(_broadcast(
        broadcast_area_identifier=(b"\x00London", b"\x01\x02\x03"),
        broadcast_frequency_interval=bytes.fromhex("000000")))
    assert [area_name(a) for a in broadcast.areas] == ["London", "010203"]
    assert broadcast.interval == 0.0
