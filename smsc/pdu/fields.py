"""construct building blocks for SMPP bodies: bounded C-strings, times, short_message, TLVs.

Each block raises `FieldError(status)` for a value SMPP rejects, so a decode failure always
knows which command_status to answer with (REFERENCE.md §12.5).
"""

from __future__ import annotations

from typing import Any

import construct as cs  # type: ignore[import-untyped]

from smsc.pdu.constants import CommandStatus

Int8 = cs.Int8ub
Int16 = cs.Int16ub
Int32 = cs.Int32ub


class FieldError(cs.ConstructError):  # type: ignore[misc]
    """A field value SMPP rejects; `status` is the command_status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CStr(cs.Construct):  # type: ignore[misc]
    """C-Octet String of at most `max_size` octets including the NUL (REFERENCE.md §2).

    Characters are kept as Latin-1 so that every octet 0x01..0xFF round-trips unchanged.
    """

    def __init__(self, max_size: int, status: int) -> None:
        super().__init__()
        self.max_size = max_size
        self.status = status

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        octets = bytearray()
        while True:
            chunk = stream.read(1)
            if not chunk:
                raise FieldError(self.status, f"{path}: no NUL before the end of the PDU")
            if chunk == b"\x00":
                break
            octets += chunk
            if len(octets) >= self.max_size:
                raise FieldError(self.status, f"{path}: longer than {self.max_size - 1} octets")
        return octets.decode("latin-1")

    def _build(self, obj: str, stream: Any, context: Any, path: str) -> str:
        data = obj.encode("latin-1")
        if len(data) >= self.max_size or 0 in data:
            raise cs.ConstructError(f"{path}: {obj!r} does not fit C-string max {self.max_size}")
        stream.write(data + b"\x00")
        return obj


class SmppTime(CStr):
    """Time C-string: empty, or exactly 16 characters (REFERENCE.md §9)."""

    def __init__(self, status: int) -> None:
        super().__init__(17, status)

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        value: str = super()._parse(stream, context, path)
        if len(value) not in (0, 16):
            raise FieldError(self.status, f"{path}: must be empty or 16 characters")
        return value

    def _build(self, obj: str, stream: Any, context: Any, path: str) -> str:
        if len(obj) not in (0, 16):
            raise cs.ConstructError(f"{path}: must be empty or 16 characters")
        return super()._build(obj, stream, context, path)


class LengthPrefixedOctets(cs.Construct):  # type: ignore[misc]
    """sm_length (1 octet) followed by that many octets; sm_length 255 is not allowed."""

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        prefix = stream.read(1)
        if not prefix:
            raise FieldError(CommandStatus.ESME_RINVCMDLEN, f"{path}: body ends before sm_length")
        length = prefix[0]
        data: bytes = stream.read(length)
        if len(data) != length:
            raise FieldError(CommandStatus.ESME_RINVCMDLEN, f"{path}: sm_length overruns the PDU")
        return data

    def _build(self, obj: bytes, stream: Any, context: Any, path: str) -> bytes:
        if len(obj) > 254:
            raise cs.ConstructError(f"{path}: short_message longer than 254 octets")
        stream.write(bytes((len(obj),)) + obj)
        return obj


short_message = LengthPrefixedOctets()

DEST_FLAG_SME = 1
DEST_FLAG_DL = 2

SmeAddress = cs.Struct(
    "dest_addr_ton" / Int8,
    "dest_addr_npi" / Int8,
    "destination_addr" / CStr(21, CommandStatus.ESME_RINVDSTADR),
)


class DestAddresses(cs.Construct):  # type: ignore[misc]
    """submit_multi's number_of_dests and dest_address list (SPEC Tables 4-13..4-15)."""

    _dl_name = CStr(21, CommandStatus.ESME_RINVDLNAME)

    def _parse(self, stream: Any, context: Any, path: str) -> list[dict[str, Any]]:
        count = stream.read(1)
        if not count:
            raise FieldError(CommandStatus.ESME_RINVCMDLEN, f"{path}: no number_of_dests")
        entries = []
        for _ in range(count[0]):
            flag = stream.read(1)
            if not flag:
                raise FieldError(CommandStatus.ESME_RINVCMDLEN, f"{path}: dest_address cut off")
            if flag[0] == DEST_FLAG_SME:
                try:
                    entries.append({"dest_flag": 1, **SmeAddress._parsereport(stream, context,
                                                                            path)})
                except cs.StreamError as error:
                    raise FieldError(CommandStatus.ESME_RINVCMDLEN, str(error)) from None
            elif flag[0] == DEST_FLAG_DL:
                entries.append({"dest_flag": 2, "dl_name": self._dl_name._parse(stream, context,
                                                                                 path)})
            else:
                raise FieldError(CommandStatus.ESME_RINVDESTFLAG, f"{path}: dest_flag {flag[0]}")
        return entries

    def _build(self, obj: list[dict[str, Any]], stream: Any, context: Any, path: str) -> Any:
        if len(obj) > 254:
            raise cs.ConstructError(f"{path}: more than 254 destinations")
        stream.write(bytes((len(obj),)))
        for entry in obj:
            stream.write(bytes((entry["dest_flag"],)))
            if entry["dest_flag"] == DEST_FLAG_SME:
                SmeAddress._build(entry, stream, context, path)
            else:
                self._dl_name._build(entry["dl_name"], stream, context, path)
        return obj


UnsuccessSme = cs.Struct(
    "dest_addr_ton" / Int8,
    "dest_addr_npi" / Int8,
    "destination_addr" / CStr(21, CommandStatus.ESME_RINVDSTADR),
    "error_status_code" / Int32,
)

unsuccess_smes = cs.PrefixedArray(Int8, UnsuccessSme)
dest_addresses = DestAddresses()

Tlv = cs.Struct(
    "tag" / Int16,
    "length" / Int16,
    "value" / cs.Bytes(cs.this.length),
)
"""One optional parameter: Tag, Length (of the value only), Value (REFERENCE.md §5.1)."""

Header = cs.Struct(
    "command_length" / Int32,
    "command_id" / Int32,
    "command_status" / Int32,
    "sequence_number" / Int32,
)
