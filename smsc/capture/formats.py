"""Capture records out of a session's octets: JSON lines and pcap packets (pure, no I/O).

A session's octets come in chunks as read and written; `PduSplitter` cuts each direction's
stream into whole PDUs for the JSON lines, and `TcpFlow` wraps each chunk into synthetic
Ethernet/IPv4 (or IPv6)/TCP framing with sequence and acknowledgement numbers that follow
the octets, so Wireshark reads the file as the TCP connection it was.

Passwords are always masked; short_message and message_payload are shown (as hex) only when
`texts` is set, otherwise as their length, and then masked in the PDU's hex as well.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import struct
from datetime import UTC, datetime
from typing import Any

from smsc.pdu import DecodeError, Pdu, decode, encode
from smsc.pdu.constants import CommandId, Tag

SECRET_FIELDS = frozenset({"password"})
TEXT_FIELDS = frozenset({"short_message"})
TEXT_TLVS = frozenset({int(Tag.message_payload)})
MASK_BYTE = b"*"
HEADER_SIZE = 16
MAX_SEGMENT = 65000
"""Largest TCP payload of one synthetic packet (an IPv4 packet holds at most 65,535 octets)."""


def redacted(pdu: Pdu, *, texts: bool) -> Pdu:
    """A copy with the password (always) and the message text (unless `texts`) masked, same
    lengths, so the hex keeps the PDU's shape."""
    changes: dict[str, Any] = {}
    for spec in dataclasses.fields(pdu):
        value = getattr(pdu, spec.name)
        if spec.name in SECRET_FIELDS and value:
            changes[spec.name] = "*" * len(value)
        elif not texts and spec.name in TEXT_FIELDS and value:
            changes[spec.name] = MASK_BYTE * len(value)
    if not texts and any(tag in pdu.tlvs for tag in TEXT_TLVS):
        changes["tlvs"] = {tag: (MASK_BYTE * len(v) if tag in TEXT_TLVS else v)
                           for tag, v in pdu.tlvs.items()}
    return dataclasses.replace(pdu, **changes) if changes else pdu


class PduSplitter:
    """Whole PDUs out of one direction's octets, however they were chunked (by the length in
    each header; a length below 16 ends the splitting: what follows cannot be framed)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.lost = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.lost:
            return []
        buffer = self._buffer
        buffer += data
        pdus = []
        start = 0
        while len(buffer) - start >= 4:
            length = int.from_bytes(buffer[start:start + 4], "big")
            if length < HEADER_SIZE:
                self.lost = True
                break
            if len(buffer) - start < length:
                break
            pdus.append(bytes(buffer[start:start + length]))
            start += length
        del buffer[:start]
        return pdus


def _plain(value: Any) -> Any:
    """A decoded field as JSON: octets as hex, records as objects, enums as their names."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {spec.name: _plain(getattr(value, spec.name))
                for spec in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _tag_name(tag: int) -> str:
    return Tag(tag).name if tag in Tag._value2member_map_ else f"0x{tag:04X}"


def pdu_fields(pdu: Pdu, *, texts: bool) -> dict[str, Any]:
    """The PDU's body fields and TLVs by name; the password masked, texts as their length
    unless `texts`."""
    fields: dict[str, Any] = {}
    for spec in dataclasses.fields(pdu):
        name = spec.name
        if name in ("sequence_number", "command_status", "tlvs"):
            continue
        value = getattr(pdu, name)
        if name in SECRET_FIELDS:
            fields[name] = "***" if value else ""
        elif name in TEXT_FIELDS and not texts:
            fields[name] = {"length": len(value)}
        else:
            fields[name] = _plain(value)
    if pdu.tlvs:
        fields["tlvs"] = {
            _tag_name(tag): ({"length": len(value)} if tag in TEXT_TLVS and not texts
                             else _plain(value))
            for tag, value in pdu.tlvs.items()
        }
    return fields


def _needs_mask(pdu: Pdu, texts: bool) -> bool:
    if getattr(pdu, "password", ""):
        return True
    if texts:
        return False
    return bool(getattr(pdu, "short_message", b"")) or any(t in pdu.tlvs for t in TEXT_TLVS)


_BINDS = frozenset({int(CommandId.bind_receiver), int(CommandId.bind_transmitter),
                    int(CommandId.bind_transceiver)})
_PASSWORDS = _BINDS | {int(CommandId.outbind)}
"""Requests with a password in the body."""


def masked_octets(octets: bytes, *, texts: bool) -> bytes:
    """The PDU's octets with the password (and the texts, unless `texts`) masked in place,
    same length; a PDU the codec cannot decode has its whole body masked (a password or a
    text cannot be told apart in it), but with `texts` when it is no bind or outbind."""
    try:
        pdu = decode(octets)
    except DecodeError:
        if len(octets) > HEADER_SIZE and (
                not texts or int.from_bytes(octets[4:8], "big") in _PASSWORDS):
            return octets[:HEADER_SIZE] + MASK_BYTE * (len(octets) - HEADER_SIZE)
        return octets
    if not _needs_mask(pdu, texts):
        return octets
    try:
        masked = encode(redacted(pdu, texts=texts))
    except Exception:
        masked = b""
    if len(masked) != len(octets):
        return octets[:HEADER_SIZE] + MASK_BYTE * (len(octets) - HEADER_SIZE)
    return masked


def pdu_record(when: datetime, session: int, peer: str, system_id: str | None,
               direction: str, octets: bytes, *, texts: bool, real: float | None = None
               ) -> dict[str, Any]:
    """One capture record: the PDU's times, header, decoded fields and hex (masked as
    `redacted`). `when` is the simulated wall time, `real` the real seconds since the
    capture started (what a replay is paced on). A PDU the codec cannot decode keeps its
    header and an `error`; its hex is then the header's only, as nothing in the body can be
    told apart to mask it, but with `texts` when it is no bind or outbind: then nothing in it
    is masked, and a replay sends it as it came."""
    command_id, status, sequence = struct.unpack_from("!III", octets, 4) if len(
        octets) >= HEADER_SIZE else (0, 0, 0)
    name = (CommandId(command_id).name if command_id in CommandId._value2member_map_
            else f"0x{command_id:08X}")
    record: dict[str, Any] = {
        "time": when.isoformat(timespec="microseconds"),
        **({} if real is None else {"real": round(real, 6)}),
        "session": session,
        "peer": peer,
        "system_id": system_id or None,
        "direction": direction,
        "command": name,
        "sequence": sequence,
        "status": status,
    }
    try:
        pdu = decode(octets)
    except DecodeError as error:
        record["fields"] = None
        record["error"] = str(error)
        whole = texts and command_id not in _PASSWORDS
        record["hex"] = (octets if whole else octets[:HEADER_SIZE]).hex()
        return record
    record["fields"] = pdu_fields(pdu, texts=texts)
    record["hex"] = (masked_octets(octets, texts=texts) if _needs_mask(pdu, texts)
                     else octets).hex()
    return record


def json_lines(when: datetime, session: int, peer: str, system_id: str | None,
               direction: str, pdus: list[bytes], *, texts: bool, real: float | None = None
               ) -> str:
    """The JSON lines (each ending in a newline) of a chunk's PDUs."""
    return "".join(
        json.dumps(pdu_record(when, session, peer, system_id, direction, octets, texts=texts,
                              real=real), ensure_ascii=False) + "\n"
        for octets in pdus
    )


# -- pcap ---------------------------------------------------------------------------------

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
"""pcap global header: microsecond timestamps, link type 1 (Ethernet)."""

_SYN, _ACK, _PSH = 0x02, 0x10, 0x08
_SMSC_MAC = bytes((2, 0, 0, 0, 0, 1))
_PEER_MAC = bytes((2, 0, 0, 0, 0, 2))
"""Locally administered addresses: the capture knows no real ones."""
_CLIENT_ISN = 1000
_SERVER_ISN = 5000


def split_address(address: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); ('0.0.0.0', 0) when it is none of them."""
    host, _, port = address.rpartition(":")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        return "0.0.0.0", 0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class TcpFlow:
    """One TCP connection as synthetic packets: the peer (the ESME) is the client, the SMSC
    the server; each direction's sequence number follows its octets."""

    def __init__(self, peer: str, local: str) -> None:
        peer_host, self.peer_port = split_address(peer)
        local_host, self.local_port = split_address(local)
        try:
            self.peer_ip = ipaddress.ip_address(peer_host)
            self.local_ip = ipaddress.ip_address(local_host)
        except ValueError:
            self.peer_ip = self.local_ip = ipaddress.ip_address("0.0.0.0")
        if self.peer_ip.version != self.local_ip.version:  # a v4 peer on a v6 socket
            self.peer_ip = _as_v4(self.peer_ip)
            self.local_ip = _as_v4(self.local_ip)
        self._seq = {"in": _CLIENT_ISN + 1, "out": _SERVER_ISN + 1}
        self._ip_id = 0

    def handshake(self, at: float) -> bytes:
        """SYN, SYN-ACK, ACK: the connection's opening, so readers see it start."""
        return b"".join((
            self._packet("in", _CLIENT_ISN, 0, _SYN, b"", at),
            self._packet("out", _SERVER_ISN, _CLIENT_ISN + 1, _SYN | _ACK, b"", at),
            self._packet("in", _CLIENT_ISN + 1, _SERVER_ISN + 1, _ACK, b"", at),
        ))

    def segments(self, direction: str, data: bytes, at: float) -> bytes:
        """The packets carrying `data` ("in": from the peer; "out": from the SMSC)."""
        other = "out" if direction == "in" else "in"
        out = []
        for start in range(0, len(data), MAX_SEGMENT):
            chunk = data[start:start + MAX_SEGMENT]
            seq = self._seq[direction]
            out.append(self._packet(direction, seq, self._seq[other], _ACK | _PSH, chunk, at))
            self._seq[direction] = (seq + len(chunk)) & 0xFFFFFFFF
        return b"".join(out)

    def _packet(self, direction: str, seq: int, ack: int, flags: int, payload: bytes,
                at: float) -> bytes:
        if direction == "in":
            src, dst, sport, dport = self.peer_ip, self.local_ip, self.peer_port, self.local_port
        else:
            src, dst, sport, dport = self.local_ip, self.peer_ip, self.local_port, self.peer_port
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
        segment_length = len(tcp) + len(payload)
        pseudo = src.packed + dst.packed + (
            struct.pack("!BBH", 0, 6, segment_length) if src.version == 4
            else struct.pack("!IxxxB", segment_length, 6))
        checksum = _checksum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", checksum) + tcp[18:]
        if src.version == 4:
            self._ip_id = (self._ip_id + 1) & 0xFFFF
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + segment_length, self._ip_id,
                             0x4000, 64, 6, 0, src.packed, dst.packed)
            ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
            ethertype = 0x0800
        else:
            ip = struct.pack("!IHBB16s16s", 6 << 28, segment_length, 6, 64, src.packed,
                             dst.packed)
            ethertype = 0x86DD
        macs = _SMSC_MAC + _PEER_MAC if direction == "in" else _PEER_MAC + _SMSC_MAC
        ethernet = macs + struct.pack("!H", ethertype)  # destination, source, type
        frame = ethernet + ip + tcp + payload
        seconds = int(at)
        micros = int((at - seconds) * 1_000_000)
        return struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame


def _as_v4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        return mapped if mapped is not None else ipaddress.IPv4Address("0.0.0.0")
    return address


def iso_time(posix: float) -> datetime:
    """A POSIX time as an aware UTC datetime (the records' `time`)."""
    return datetime.fromtimestamp(posix, UTC)
