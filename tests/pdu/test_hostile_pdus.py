"""The PDUs an attacker builds: repeated TLVs, floods of TLVs, fields without their NUL, and
what the framer holds of an incomplete one.

Each is refused with the status docs/hardening.md names for it, by both decoding paths.
"""

from __future__ import annotations

import sys

import pytest

from smsc.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    DecodeError,
    EncodeError,
    FrameBuffer,
    SubmitMulti,
    SubmitSm,
    decode,
    decode_with_construct,
    encode,
)
from smsc.pdu.constants import CommandId, CommandStatus, Tag
from smsc.pdu.framing import MAX_UNBOUND_COMMAND_LENGTH, largest_pdu
from smsc.pdu.table import SPECS
from smsc.pdu.tlv import MAX_TLVS

PATHS = [decode, decode_with_construct]


def submit_with_tlvs(stream: bytes, sequence: int = 77) -> bytes:
    body = encode(SubmitSm(sequence_number=sequence, destination_addr="4915100000002"))[16:]
    body += stream
    return ((16 + len(body)).to_bytes(4, "big") + int(CommandId.submit_sm).to_bytes(4, "big")
            + bytes(4) + sequence.to_bytes(4, "big") + body)


def tlv(tag: int, value: bytes = b"") -> bytes:
    return tag.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value


def refused(path: object, data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        path(data)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize("path", PATHS)
def test_a_64_kib_submit_of_empty_tlvs_is_refused_as_a_bad_tlv_stream(path: object) -> None:
    header_and_body = len(submit_with_tlvs(b""))
    count = (65536 - header_and_body) // 4
    for tag in (Tag.callback_num_atag, 0x1400, 0x0000):  # repeatable, vendor, reserved
        data = submit_with_tlvs(tlv(tag) * count)
        assert len(data) > 65500
        error = refused(path, data)
        assert error.command_status == CommandStatus.ESME_RINVOPTPARSTREAM
        assert (error.command_id, error.sequence_number) == (CommandId.submit_sm, 77)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("tag", [Tag.message_payload, Tag.source_network_type, 0x1401])
def test_a_tag_given_twice_is_refused_whether_allowed_known_or_unknown(
    path: object, tag: int
) -> None:
    # message_payload is allowed on submit_sm, source_network_type known but not allowed,
    # 0x1401 a vendor tag nobody defined
    value = b"\x01"
    error = refused(path, submit_with_tlvs(tlv(tag, value) + tlv(Tag.source_port, b"\x00\x01")
                                           + tlv(tag, value)))
    assert error.command_status == CommandStatus.ESME_RINVOPTPARSTREAM


@pytest.mark.parametrize("path", PATHS)
def test_the_callback_num_family_may_repeat_and_keeps_its_wire_order(path: object) -> None:
    numbers = [b"\x01\x01\x01" + str(n).encode() * 4 for n in range(3)]
    stream = b"".join(tlv(Tag.callback_num, number) + tlv(Tag.callback_num_pres_ind, bytes((n,)))
                      for n, number in enumerate(numbers))
    pdu = path(submit_with_tlvs(stream))  # type: ignore[operator]
    assert pdu.tlvs[Tag.callback_num] == tuple(numbers)
    assert pdu.tlvs[Tag.callback_num_pres_ind] == (0, 1, 2)
    assert decode(encode(pdu)) == pdu


@pytest.mark.parametrize("path", PATHS)
def test_as_many_tlvs_as_allowed_decode_and_one_more_is_refused(path: object) -> None:
    stream = b"".join(tlv(0x1400 + n) for n in range(MAX_TLVS))
    assert len(path(submit_with_tlvs(stream)).tlvs) == MAX_TLVS  # type: ignore[operator]
    error = refused(path, submit_with_tlvs(stream + tlv(0x1400 + MAX_TLVS)))
    assert error.command_status == CommandStatus.ESME_RINVOPTPARSTREAM


def test_encode_refuses_what_decode_would_refuse() -> None:
    with pytest.raises(EncodeError):
        encode(SubmitSm(tlvs={Tag.source_port: (1, 2)}))
    with pytest.raises(EncodeError):
        encode(SubmitSm(tlvs={0x1400 + n: b"" for n in range(MAX_TLVS + 1)}))
    assert decode(encode(SubmitSm(tlvs={0x1400 + n: b"" for n in range(MAX_TLVS)})))


@pytest.mark.parametrize("path", PATHS)
def test_a_c_string_without_its_nul_gets_its_field_status(path: object) -> None:
    body = encode(SubmitSm(sequence_number=5))[16:]
    # service_type (empty), source_addr_ton, source_addr_npi, then source_addr: 64 KiB of "1"
    data = body[:3] + b"1" * 65000
    frame = (16 + len(data)).to_bytes(4, "big") + encode(SubmitSm(sequence_number=5))[4:16]
    error = refused(path, frame + data)
    assert error.command_status == CommandStatus.ESME_RINVSRCADR


@pytest.mark.parametrize("path", PATHS)
def test_submit_multi_destinations_decode_with_their_statuses(path: object) -> None:
    good = encode(SubmitMulti(sequence_number=9, dest_address=()))
    head, tail = good[16:20], good[21:]  # service_type, source ton/npi/addr | after the count
    cases = {
        b"\x01\x01\x01" + b"4" * 30: CommandStatus.ESME_RINVDSTADR,  # no NUL within 21
        b"\x02" + b"d" * 30: CommandStatus.ESME_RINVDLNAME,
        b"\x03": CommandStatus.ESME_RINVDESTFLAG,
        b"\x01\x01": CommandStatus.ESME_RINVCMDLEN,  # cut off inside the address
    }
    for dests, status in cases.items():
        body = head + b"\x01" + dests + (tail if status != CommandStatus.ESME_RINVCMDLEN else b"")
        frame = (16 + len(body)).to_bytes(4, "big") + good[4:16] + body
        assert refused(path, frame).command_status == status, dests


def test_the_unbound_limit_is_the_largest_bind_the_fields_allow() -> None:
    full = BindTransceiver(system_id="s" * 15, password="p" * 8, system_type="t" * 12,
                           address_range="9" * 40)
    assert len(encode(full)) == MAX_UNBOUND_COMMAND_LENGTH == 98
    answer = BindTransceiverResp(system_id="s" * 15, tlvs={Tag.sc_interface_version: 0x50,
                                                           Tag.congestion_state: 100})
    assert largest_pdu(SPECS[CommandId.bind_transceiver_resp]) == len(encode(answer)) == 42


def test_a_frame_buffer_holds_no_more_than_its_limit_for_an_incomplete_pdu() -> None:
    frames = FrameBuffer(max_command_length=MAX_UNBOUND_COMMAND_LENGTH)
    bind = encode(BindTransceiver(system_id="a", password="b"))
    frames.feed(bind[:-1])
    assert frames.pop_all() == [] and frames.buffered == len(bind) - 1
    frames.feed(bind[-1:] + (99).to_bytes(4, "big"))  # then a PDU longer than a bind
    assert frames.pop_all() == [bind]
    with pytest.raises(DecodeError) as caught:
        frames.pop_all()
    assert caught.value.command_status == CommandStatus.ESME_RINVCMDLEN
    assert frames.buffered == 0

    frames = FrameBuffer(max_command_length=MAX_UNBOUND_COMMAND_LENGTH)
    big = encode(SubmitSm(tlvs={Tag.message_payload: b"x" * 60000}))
    frames.feed(bind + big[:4])
    assert frames.pop_all() == [bind]  # the long length waits: the limit may still change
    frames.max_command_length = 65536  # what a session does once bound
    frames.feed(big[4:])
    assert frames.pop_all() == [big]


def test_a_frame_buffer_that_lost_framing_keeps_none_of_the_octets() -> None:
    """Nothing but the garbage collector would free them otherwise: the error it raises must
    not tie the buffer (and the octets) to itself in a reference cycle."""
    data = (65536).to_bytes(4, "big") + bytes(60000)
    frames = FrameBuffer(max_command_length=MAX_UNBOUND_COMMAND_LENGTH)
    frames.feed(data)
    statuses = []
    for _ in range(2):
        try:
            frames.pop_all()
        except DecodeError as error:
            statuses.append(error.command_status)
    assert statuses == [CommandStatus.ESME_RINVCMDLEN] * 2
    assert sys.getrefcount(data) == 2  # `data` and getrefcount's argument: no one else
