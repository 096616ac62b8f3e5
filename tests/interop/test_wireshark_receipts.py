"""Wireshark's SMPP dissector (tshark) reads our receipts, acknowledgements and MO parts as we
mean them. Skipped where tshark is not installed (Debian: apt-get install tshark)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smsc.config import ReceiptDialectConfig
from smsc.pdu import encode
from smsc.pdu.constants import MessageState, Tag
from smsc.pdu.tlv import encode_tlvs
from smsc.receipts import ReceiptDialect, build_mo
from smsc.store import Direction, Message, NewMessage, OutboundItem, OutboundKind

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
FIELDS = ("smpp.command_id", "smpp.esm.submit.msg_type", "smpp.receipted_message_id",
          "smpp.message_state", "smpp.network_error.type", "smpp.network_error.code",
          "smpp.user_message_reference", "smpp.sar_msg_ref_num", "smpp.sar_segment_seqnum",
          "smpp.message_payload", "_ws.malformed")


def pcap(pdus: list[bytes]) -> bytes:
    """A capture of raw IPv4 packets, one PDU each, on a TCP stream from port 2775."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    seq = 1
    for index, data in enumerate(pdus):
        tcp = struct.pack("!HHIIBBHHH", 2775, 40000, seq, 1, 5 << 4, 0x18, 65535, 0, 0)
        seq += len(data)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(data), index, 0, 64, 6, 0,
                         bytes((127, 0, 0, 1)), bytes((127, 0, 0, 1)))
        packet = ip + tcp + data
        out.append(struct.pack("<IIII", index, 0, len(packet), len(packet)) + packet)
    return b"".join(out)


def dissect(pdus: list[bytes], tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "receipts.pcap"
    path.write_bytes(pcap(pdus))
    command = ["tshark", "-r", str(path), "-d", "tcp.port==2775,smpp", "-T", "fields",
               "-E", "separator=|"]
    for name in FIELDS:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return [dict(zip(FIELDS, line.split("|"), strict=True))
            for line in done.stdout.splitlines()]


def message(**fields: object) -> Message:
    values: dict[str, object] = {"system_id": "a", "source_addr": "4915100000001",
                                 "destination_addr": "4915100000002", "payload": b"hi",
                                 "submitted_at": NOW}
    values.update(fields)
    return Message(0xBEE, NewMessage(**values), MessageState.UNDELIVERABLE, 1, None, NOW, 27)  # type: ignore[arg-type]


def test_tshark_reads_dialect_receipts_acks_and_mo(tmp_path: Path) -> None:
    original = message(extra=encode_tlvs({Tag.user_message_reference: 7}))
    dialects = [ReceiptDialect(ReceiptDialectConfig()),
                ReceiptDialect(ReceiptDialectConfig(name="d", pdu="data_sm", network_type=1))]
    pdus = []
    for dialect in dialects:
        for kind in (OutboundKind.RECEIPT, OutboundKind.DELIVERY_ACK, OutboundKind.MANUAL_ACK,
                     OutboundKind.ACCEPTED):
            pdu = dialect.build(OutboundItem(1, "a", kind, original), with_tlvs=True, now=NOW)
            assert pdu is not None
            pdus.append(encode(pdu))
    mo = message(direction=Direction.MO, data_coding=8, payload="Привет".encode("utf-16-be"),
                 extra=encode_tlvs({Tag.sar_msg_ref_num: 300, Tag.sar_total_segments: 2,
                                    Tag.sar_segment_seqnum: 2}))
    pdus.append(encode(build_mo(mo, with_tlvs=True)))
    rows = dissect(pdus, tmp_path)
    assert len(rows) == len(pdus)
    assert all(row["_ws.malformed"] == "" for row in rows)
    commands = [row["smpp.command_id"] for row in rows]
    assert commands == ["0x00000005"] * 4 + ["0x00000103"] * 4 + ["0x00000005"]
    # message types, shifted as Wireshark shows them: receipt, SME ack, manual ack, intermediate
    assert [row["smpp.esm.submit.msg_type"] for row in rows[:8]] == ["0x01", "0x02", "0x04",
                                                                    "0x08"] * 2
    for row in rows[:8]:
        assert row["smpp.receipted_message_id"] == "bee"
        assert row["smpp.user_message_reference"] == "0x0007"
    assert [rows[i]["smpp.message_state"] for i in (0, 3, 4, 7)] == ["5", "6", "5", "6"]
    assert (rows[0]["smpp.network_error.type"], rows[0]["smpp.network_error.code"]) == (
        "3", "0x001b")
    assert rows[4]["smpp.network_error.type"] == "1"
    assert bytes.fromhex(rows[4]["smpp.message_payload"]).startswith(b"id:bee ")
    assert (rows[8]["smpp.sar_msg_ref_num"], rows[8]["smpp.sar_segment_seqnum"]) == (
        "300", "2")
