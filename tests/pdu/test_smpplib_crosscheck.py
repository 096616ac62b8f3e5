"""Independent cross-check: smpplib's PDUs decode with ours, ours decode with smpplib."""

from __future__ import annotations

from typing import Any

import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu import (
    BindTransceiver,
    DeliverSm,
    QuerySm,
    SubmitSm,
    SubmitSmResp,
    decode,
    encode,
)
from smsc.pdu.constants import Tag

SETTINGS = settings(max_examples=150, deadline=None)
ADDRESS = st.text("0123456789", max_size=20)
WORD = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=5)
BYTE = st.integers(0, 255)
SEQ = st.integers(1, 0x7FFFFFFF)

message_fields = st.fixed_dictionaries({
    "service_type": WORD,
    "source_addr_ton": st.integers(0, 6),
    "source_addr_npi": BYTE,
    "source_addr": ADDRESS,
    "dest_addr_ton": st.integers(0, 6),
    "dest_addr_npi": BYTE,
    "destination_addr": ADDRESS,
    "esm_class": BYTE,
    "protocol_id": BYTE,
    "priority_flag": st.integers(0, 3),
    "registered_delivery": BYTE,
    "data_coding": BYTE,
    "short_message": st.binary(max_size=254),
})
sar = st.one_of(st.none(), st.tuples(st.integers(0, 0xFFFF), st.integers(1, 255), BYTE))


class FixedSequence:
    """What smpplib asks of a client when it numbers a PDU."""

    def __init__(self, sequence: int) -> None:
        self.sequence = sequence

    def next_sequence(self) -> int:
        return self.sequence


def parse_with_smpplib(data: bytes) -> Any:
    return smpplib.smpp.parse_pdu(data, client=FixedSequence(0), allow_unknown_opt_params=True)


def smpplib_bytes(command: str, sequence: int, **fields: Any) -> bytes:
    pdu = smpplib.smpp.make_pdu(command, client=FixedSequence(sequence), **fields)
    data: bytes = pdu.generate()
    return data


@SETTINGS
@given(message_fields, SEQ, sar)
def test_smpplib_submit_sm_decodes_with_ours(
    fields: dict[str, Any], sequence: int, sar_values: tuple[int, int, int] | None
) -> None:
    extra = {}
    if sar_values is not None:
        extra = dict(zip(("sar_msg_ref_num", "sar_total_segments", "sar_segment_seqnum"),
                         sar_values, strict=True))
    data = smpplib_bytes("submit_sm", sequence, **fields, **extra)
    pdu = decode(data)
    assert isinstance(pdu, SubmitSm)
    assert pdu.sequence_number == sequence
    for name, value in fields.items():
        assert getattr(pdu, name) == value, name
    for name, value in extra.items():
        assert getattr(pdu, name) == value


@SETTINGS
@given(message_fields, SEQ, st.text("0123456789abcdef", min_size=1, max_size=64),
       st.integers(1, 8))
def test_our_receipt_deliver_sm_decodes_with_smpplib(
    fields: dict[str, Any], sequence: int, message_id: str, state: int
) -> None:
    ours = DeliverSm(
        sequence_number=sequence,
        tlvs={Tag.receipted_message_id: message_id, Tag.message_state: state},
        **fields,
    )
    theirs = parse_with_smpplib(encode(ours))
    assert theirs.command == "deliver_sm"
    assert theirs.sequence == sequence
    for name, value in fields.items():
        got = getattr(theirs, name)
        expected = value.encode() if isinstance(value, str) else value
        assert got == expected, name
    assert theirs.receipted_message_id == message_id.encode()
    assert theirs.message_state == state


@SETTINGS
@given(SEQ, st.text("0123456789abcdef", max_size=64))
def test_submit_sm_resp_both_ways(sequence: int, message_id: str) -> None:
    theirs = parse_with_smpplib(
        encode(SubmitSmResp(sequence_number=sequence, message_id=message_id))
    )
    assert theirs.sequence == sequence and theirs.message_id == message_id.encode()
    data = smpplib_bytes("submit_sm_resp", sequence, message_id=message_id)
    assert decode(data) == SubmitSmResp(sequence_number=sequence, message_id=message_id)


@SETTINGS
@given(SEQ, st.text("abcdefghij", min_size=1, max_size=15), st.text("abc123", max_size=8),
       WORD)
def test_bind_transceiver_both_ways(sequence: int, system_id: str, password: str,
                                    system_type: str) -> None:
    data = smpplib_bytes("bind_transceiver", sequence, system_id=system_id, password=password,
                         system_type=system_type, interface_version=0x34)
    pdu = decode(data)
    assert isinstance(pdu, BindTransceiver)
    assert (pdu.system_id, pdu.password, pdu.system_type, pdu.interface_version) == (
        system_id, password, system_type, 0x34
    )
    theirs = parse_with_smpplib(encode(pdu))
    assert theirs.system_id == system_id.encode() and theirs.password == password.encode()


@SETTINGS
@given(SEQ, st.text("0123456789abcdef", min_size=1, max_size=64), ADDRESS)
def test_query_sm_both_ways(sequence: int, message_id: str, source_addr: str) -> None:
    data = smpplib_bytes("query_sm", sequence, message_id=message_id, source_addr=source_addr)
    pdu = decode(data)
    assert isinstance(pdu, QuerySm)
    assert (pdu.message_id, pdu.source_addr) == (message_id, source_addr)
    theirs = parse_with_smpplib(encode(pdu))
    assert theirs.message_id == message_id.encode()
