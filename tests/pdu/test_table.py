"""The message classes, the table and the derived lookups agree with each other."""

from __future__ import annotations

import dataclasses

import pytest

from smsc.pdu import (
    MESSAGE_CLASSES,
    CommandId,
    EncodeError,
    SubmitSm,
    SubmitSmResp,
    Tag,
    decode,
    encode,
    make_response,
    message_class,
    response_class,
)
from smsc.pdu.table import PDU_TABLE, SPECS, TLV_SPECS

HEADER_FIELDS = {"sequence_number", "command_status", "tlvs"}


@pytest.mark.parametrize("cls", MESSAGE_CLASSES, ids=lambda c: c.__name__)
def test_dataclass_fields_match_the_table(cls: type) -> None:
    spec = SPECS[cls.command_id]
    names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in HEADER_FIELDS)
    assert names == spec.field_names


def test_every_command_id_has_one_row_and_one_class() -> None:
    assert {spec.command_id for spec in PDU_TABLE} == set(CommandId)
    assert {cls.command_id for cls in MESSAGE_CLASSES} == set(CommandId)
    assert len(PDU_TABLE) == len(CommandId)


def test_every_tag_has_a_value_spec() -> None:
    assert set(TLV_SPECS) == {int(tag) for tag in Tag}


def test_response_lookups_are_derived_from_the_table() -> None:
    assert response_class(CommandId.submit_sm) is SubmitSmResp
    assert response_class(CommandId.outbind) is None
    assert response_class(CommandId.alert_notification) is None
    assert response_class(CommandId.submit_sm_resp) is None
    assert message_class(CommandId.submit_sm) is SubmitSm
    assert message_class(0x110) is None


def test_error_responses_are_encoded_without_body() -> None:
    request = SubmitSm(sequence_number=9, destination_addr="1")
    response = make_response(request, 0x14, message_id="ignored")
    assert encode(response) == bytes.fromhex("00000010800000040000001400000009")
    with pytest.raises(EncodeError):
        make_response(SubmitSmResp())


def test_tlvs_are_readable_by_name() -> None:
    pdu = decode(encode(SubmitSm(tlvs={Tag.message_payload: b"abc", Tag.sar_msg_ref_num: 7})))
    assert pdu.message_payload == b"abc"  # type: ignore[attr-defined]
    assert pdu.sar_msg_ref_num == 7  # type: ignore[attr-defined]
    assert pdu.sar_total_segments is None  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "pdu",
    [
        SubmitSm(destination_addr="1" * 21),
        SubmitSm(schedule_delivery_time="short"),
        SubmitSm(short_message=b"x" * 255),
        SubmitSm(esm_class=256),
        SubmitSm(destination_addr="€"),
        SubmitSm(tlvs={Tag.sar_msg_ref_num: 1 << 16}),
        SubmitSm(tlvs={Tag.receipted_message_id: 5}),
    ],
)
def test_values_that_do_not_fit_raise_encode_error(pdu: SubmitSm) -> None:
    with pytest.raises(EncodeError):
        encode(pdu)


def test_tlv_not_allowed_on_the_pdu_is_kept_and_unknown_tags_survive() -> None:
    data = encode(SubmitSm(tlvs={Tag.receipted_message_id: "abc", 0x1401: b"\x01\x02"}))
    pdu = decode(data)
    assert pdu.tlvs == {Tag.receipted_message_id: "abc", 0x1401: b"\x01\x02"}
    assert pdu.unexpected_tlvs == (Tag.receipted_message_id, 0x1401)
    assert SubmitSm(tlvs={Tag.message_payload: b""}).unexpected_tlvs == ()
    assert encode(pdu) == data


def test_wrong_length_of_an_allowed_tlv_is_rinvparlen() -> None:
    from smsc.pdu import DecodeError

    bad = encode(SubmitSm(sequence_number=3, tlvs={Tag.sar_total_segments: b"\x00\x02"}))
    with pytest.raises(DecodeError) as caught:
        decode(bad)
    assert caught.value.command_status == 0xC2
    assert caught.value.sequence_number == 3
