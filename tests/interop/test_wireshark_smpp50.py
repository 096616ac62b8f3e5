"""Wireshark's SMPP dissector (tshark) reads our encoded SMPP 5.0 PDUs as we mean them, with
no malformed packet. Skipped where tshark is not installed.

One exception, Wireshark's and not ours (REFERENCE-5.0.md §6 #1): tshark 4.0 decodes
broadcast_rep_num (2 octets, V5 4.8.4.13; node-smpp and Rusmpp agree) as 1 octet and loses
the rest of the PDU. broadcast_sm is checked up to that TLV, and without it in full."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from smsc.pdu import (
    BindTransceiverResp,
    BroadcastSm,
    BroadcastSmResp,
    CancelBroadcastSm,
    CancelBroadcastSmResp,
    DeliverSmResp,
    Pdu,
    QueryBroadcastSm,
    QueryBroadcastSmResp,
    SubmitSm,
    SubmitSmResp,
    encode,
)
from smsc.pdu.constants import Tag as T

from .test_wireshark_receipts import pcap

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
FIELDS = ("smpp.command_id", "smpp.sequence_number", "smpp.SC_interface_version",
          "smpp.congestion_state", "smpp.message_id", "smpp.source_addr",
          "smpp.broadcast_area_identifier", "smpp.broadcast_area_identifier.format",
          "smpp.broadcast_content_type.type", "smpp.broadcast_frequency_interval.unit",
          "smpp.broadcast_frequency_interval.value", "smpp.broadcast_error_status",
          "smpp.broadcast_area_success", "smpp.message_state", "smpp.billing_id",
          "smpp.source_network_id", "smpp.source_node_id", "smpp.dest_addr_np_resolution",
          "smpp.dest_addr_np_info", "smpp.message_payload", "smpp.broadcast_rep_num",
          "_ws.malformed", "_ws.expert.message")
AREAS = (b"\x00London", b"\x00Atlantis")
BROADCAST_TLVS = {T.broadcast_area_identifier: AREAS,
                  T.broadcast_content_type: bytes.fromhex("000033"),
                  T.broadcast_frequency_interval: bytes.fromhex("09001f"),
                  T.message_payload: b"Storm warning"}


def dissect(pdus: list[Pdu], tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "smpp50.pcap"
    path.write_bytes(pcap([encode(pdu) for pdu in pdus]))
    command = ["tshark", "-r", str(path), "-d", "tcp.port==2775,smpp",
               "-o", "tcp.desegment_tcp_streams:FALSE", "-T", "fields", "-E", "separator=|"]
    for name in FIELDS:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return [dict(zip(FIELDS, line.split("|"), strict=True))
            for line in done.stdout.splitlines()]


def test_tshark_reads_our_5_0_pdus_without_a_malformed_packet(tmp_path: Path) -> None:
    pdus: list[Pdu] = [
        BindTransceiverResp(sequence_number=1, system_id="SMSC",
                            tlvs={T.sc_interface_version: 0x50, T.congestion_state: 12}),
        BroadcastSm(sequence_number=2, source_addr="447700900123", tlvs=BROADCAST_TLVS),
        BroadcastSmResp(sequence_number=2, message_id="bc1",
                        tlvs={T.broadcast_area_identifier: AREAS[1],
                              T.broadcast_error_status: 0x108, T.congestion_state: 85}),
        QueryBroadcastSm(sequence_number=3, message_id="bc1", source_addr="447700900123"),
        QueryBroadcastSmResp(sequence_number=3, message_id="bc1",
                             tlvs={T.message_state: 1, T.broadcast_area_identifier: AREAS,
                                   T.broadcast_area_success: (100, 0)}),
        CancelBroadcastSm(sequence_number=4, message_id="bc1", source_addr="447700900123"),
        CancelBroadcastSmResp(sequence_number=4),
        SubmitSm(sequence_number=5, destination_addr="4915100000002",
                 tlvs={T.billing_identification: b"\x80ab", T.source_network_id: "126201",
                       T.source_node_id: b"123456", T.dest_addr_np_resolution: 2,
                       T.dest_addr_np_information: b"0123456789"}),
        SubmitSmResp(sequence_number=5, message_id="abc123", tlvs={T.congestion_state: 85}),
        DeliverSmResp(sequence_number=6, tlvs={T.congestion_state: 95}),
    ]
    rows = dissect(pdus, tmp_path)
    assert [row["_ws.malformed"] for row in rows] == [""] * len(pdus)
    assert [row["_ws.expert.message"] for row in rows] == [""] * len(pdus)
    assert [int(row["smpp.command_id"], 16) for row in rows] == [p.command_id for p in pdus]
    bind, broadcast, broadcast_resp, query, query_resp, cancel, _, submit, resp, ack = rows
    assert (bind["smpp.SC_interface_version"], bind["smpp.congestion_state"]) == ("80", "12")
    assert broadcast["smpp.broadcast_area_identifier"] == ",".join(a.hex() for a in AREAS)
    assert broadcast["smpp.broadcast_content_type.type"] == "0x0033"
    assert (broadcast["smpp.broadcast_frequency_interval.unit"],
            broadcast["smpp.broadcast_frequency_interval.value"]) == ("0x09", "31")
    assert broadcast["smpp.message_payload"] == b"Storm warning".hex()
    assert broadcast_resp["smpp.broadcast_error_status"] == "0x00000108"
    assert query["smpp.message_id"] == "bc1" and cancel["smpp.source_addr"] == "447700900123"
    assert (query_resp["smpp.message_state"], query_resp["smpp.broadcast_area_success"]) == (
        "1", "100,0")
    assert submit["smpp.billing_id"] == "806162"
    assert (submit["smpp.source_network_id"], submit["smpp.source_node_id"]) == (
        "126201", b"123456".hex())
    assert submit["smpp.dest_addr_np_info"] == b"0123456789".hex()
    assert resp["smpp.congestion_state"] == "85" and ack["smpp.congestion_state"] == "95"


def test_tshark_reads_broadcast_sm_up_to_its_broadcast_rep_num(tmp_path: Path) -> None:
    """With broadcast_rep_num last, everything before it is read; tshark reads the value
    00 03 as 1 octet (0) and then runs out of PDU (the same PDU without that TLV reads clean,
    above)."""
    pdu = BroadcastSm(sequence_number=7, source_addr="447700900123",
                      tlvs={**BROADCAST_TLVS, T.broadcast_rep_num: 3})
    (row,) = dissect([pdu], tmp_path)
    assert row["smpp.broadcast_area_identifier"] == ",".join(a.hex() for a in AREAS)
    assert row["smpp.message_payload"] == b"Storm warning".hex()
    assert row["smpp.broadcast_rep_num"] == "0"
    assert "Unreassembled" in row["_ws.expert.message"]
