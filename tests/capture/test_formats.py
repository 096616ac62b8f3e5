"""The capture's pure formatting: framing across chunks, masking, records, TCP numbering."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from smsc.capture.formats import PduSplitter, TcpFlow, masked_octets, pdu_record
from smsc.pdu import BindTransceiver, SubmitSm, decode, encode
from smsc.pdu.constants import Tag

WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_splitter_frames_pdus_however_they_are_chunked() -> None:
    pdus = [encode(SubmitSm(destination_addr=str(n), short_message=b"x" * n,
                            sequence_number=n)) for n in range(1, 6)]
    stream = b"".join(pdus)
    for size in (1, 3, 16, 17, 100, len(stream)):
        splitter = PduSplitter()
        out: list[bytes] = []
        for start in range(0, len(stream), size):
            out += splitter.feed(stream[start:start + size])
        assert out == pdus, size


def test_a_length_below_the_header_stops_the_splitting() -> None:
    splitter = PduSplitter()
    assert splitter.feed(struct.pack("!IIII", 8, 4, 0, 1)) == []
    assert splitter.lost and splitter.feed(encode(SubmitSm(sequence_number=1))) == []


def test_a_record_masks_the_password_always_and_texts_unless_asked() -> None:
    bind = encode(BindTransceiver(system_id="acct", password="hunter2", sequence_number=1))
    record = pdu_record(WHEN, 3, "127.0.0.1:40000", None, "in", bind, texts=True)
    assert record["command"] == "bind_transceiver" and record["sequence"] == 1
    assert record["fields"]["password"] == "***" and record["fields"]["system_id"] == "acct"
    assert b"hunter2".hex() not in record["hex"] and len(record["hex"]) == 2 * len(bind)
    assert decode(bytes.fromhex(record["hex"])).system_id == "acct"  # type: ignore[attr-defined]
    submit = encode(SubmitSm(destination_addr="4915100000001", short_message=b"secret text",
                             tlvs={Tag.message_payload: b"more text"}, sequence_number=2))
    hidden = pdu_record(WHEN, 3, "p", "acct", "in", submit, texts=False)
    assert hidden["fields"]["short_message"] == {"length": 11}
    assert hidden["fields"]["tlvs"] == {"message_payload": {"length": 9}}
    assert b"secret text".hex() not in hidden["hex"] and b"more text".hex() not in hidden["hex"]
    shown = pdu_record(WHEN, 3, "p", "acct", "in", submit, texts=True)
    assert shown["fields"]["short_message"] == b"secret text".hex()
    assert shown["hex"] == submit.hex()
    assert shown["time"] == "2026-12-07T12:00:00.000000+00:00" and shown["system_id"] == "acct"


def test_an_undecodable_pdu_keeps_its_header_and_an_error() -> None:
    """Its body whole only when texts are shown and it is no bind: nothing else in it is
    secret then."""
    broken = struct.pack("!IIII", 20, 4, 0, 9) + b"\xff\xff\xff\xff"
    record = pdu_record(WHEN, 1, "p", None, "in", broken, texts=False)
    assert record["command"] == "submit_sm" and record["fields"] is None and record["error"]
    assert record["hex"] == broken[:16].hex()
    assert pdu_record(WHEN, 1, "p", None, "in", broken, texts=True)["hex"] == broken.hex()
    bad_bind = struct.pack("!IIII", 24, 9, 0, 1) + b"abcdefgh"  # no terminators
    assert masked_octets(bad_bind, texts=True) == bad_bind[:16] + b"*" * 8
    assert masked_octets(broken, texts=False) == broken[:16] + b"*" * 4
    assert masked_octets(broken, texts=True) == broken
    assert pdu_record(WHEN, 1, "p", None, "in", bad_bind, texts=True)["hex"] == (
        bad_bind[:16].hex())


def _tcp(packet: bytes) -> tuple[int, int, int, bytes]:
    frame = packet[16:]
    tcp = frame[14 + 20:]
    _, _, seq, ack, _, flags = struct.unpack_from("!HHIIBB", tcp)
    return seq, ack, flags, tcp[20:]


def test_tcp_numbers_follow_each_direction() -> None:
    flow = TcpFlow("127.0.0.1:40000", "127.0.0.1:2775")
    flow.handshake(1.0)
    first = flow.segments("in", b"a" * 10, 1.0)
    answer = flow.segments("out", b"b" * 7, 1.0)
    second = flow.segments("in", b"c" * 5, 1.0)
    in_seq, in_ack, _, payload = _tcp(first)
    out_seq, out_ack, _, _ = _tcp(answer)
    assert payload == b"a" * 10 and out_ack == in_seq + 10
    seq2, ack2, _, _ = _tcp(second)
    assert seq2 == in_seq + 10 and ack2 == out_seq + 7 == in_ack + 7
    big = flow.segments("out", b"x" * 70000, 2.0)
    assert big.count(b"\x08\x00\x45") == 2  # two IPv4 packets: no segment over 65,000 octets
