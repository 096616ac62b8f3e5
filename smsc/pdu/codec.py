"""decode(frame) → Pdu and encode(Pdu) → bytes, for every SMPP 3.4 PDU.

Two paths share `table.PDU_TABLE`: the construct path parses and builds with the declared
Structs, and the fast path runs Python functions generated once, at import, from the same
Structs (runs of integer fields become one struct call; C-strings use bytes.find). A property
test proves both paths give the same objects, the same bytes and the same errors.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

import construct as cs  # type: ignore[import-untyped]

from smsc.pdu import fields
from smsc.pdu.constants import CommandStatus
from smsc.pdu.errors import DecodeError, EncodeError
from smsc.pdu.fields import CStr, FieldError, LengthPrefixedOctets, SmppTime
from smsc.pdu.messages import (
    MESSAGE_CLASSES,
    DistributionListDest,
    Pdu,
    Prebuilt,
    SmeDest,
    UnsuccessSme,
)
from smsc.pdu.table import SPECS, PduSpec
from smsc.pdu.tlv import MAX_TLVS, add_repeat, decode_tlv_value, decode_tlvs, encode_tlvs

HEADER = struct.Struct(">IIII")
HEADER_SIZE = 16
RINVCMDLEN = CommandStatus.ESME_RINVCMDLEN

CLASSES: dict[int, type[Pdu]] = {cls.command_id: cls for cls in MESSAGE_CLASSES}


class Header(NamedTuple):
    command_length: int
    command_id: int
    command_status: int
    sequence_number: int


def peek_header(data: bytes) -> Header:
    """The four header fields of the first 16 octets (the caller ensures there are 16)."""
    return Header(*HEADER.unpack_from(data))


def _check_header(data: bytes) -> tuple[PduSpec, int, int, int]:
    end = len(data)
    if end < HEADER_SIZE:
        raise DecodeError(RINVCMDLEN, f"{end} octets is shorter than a PDU header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != end:
        raise DecodeError(
            RINVCMDLEN,
            f"command_length {length} but {end} octets given",
            command_id=command_id,
            sequence_number=sequence,
        )
    spec = SPECS.get(command_id)
    if spec is None:
        raise DecodeError(
            CommandStatus.ESME_RINVCMDID,
            f"unknown command_id 0x{command_id:08X}",
            command_id=command_id,
            sequence_number=sequence,
        )
    return spec, end, status, sequence


# -- the construct path ----------------------------------------------------------------------


def _dests_from_container(entries: Any) -> tuple[SmeDest | DistributionListDest, ...]:
    return tuple(
        SmeDest(e["dest_addr_ton"], e["dest_addr_npi"], e["destination_addr"])
        if e["dest_flag"] == fields.DEST_FLAG_SME
        else DistributionListDest(e["dl_name"])
        for e in entries
    )


def _unsuccess_from_container(entries: Any) -> tuple[UnsuccessSme, ...]:
    return tuple(
        UnsuccessSme(e.dest_addr_ton, e.dest_addr_npi, e.destination_addr, e.error_status_code)
        for e in entries
    )


def _dests_to_container(dests: Any) -> list[dict[str, Any]]:
    return [
        {"dest_flag": fields.DEST_FLAG_SME, "dest_addr_ton": d.dest_addr_ton,
         "dest_addr_npi": d.dest_addr_npi, "destination_addr": d.destination_addr}
        if isinstance(d, SmeDest)
        else {"dest_flag": fields.DEST_FLAG_DL, "dl_name": d.dl_name}
        for d in dests
    ]


def _unsuccess_to_container(entries: Any) -> list[dict[str, Any]]:
    return [
        {"dest_addr_ton": u.dest_addr_ton, "dest_addr_npi": u.dest_addr_npi,
         "destination_addr": u.destination_addr, "error_status_code": u.error_status_code}
        for u in entries
    ]


_FROM_CONTAINER = {"dest_address": _dests_from_container,
                   "unsuccess_sme": _unsuccess_from_container}
_TO_CONTAINER = {"dest_address": _dests_to_container, "unsuccess_sme": _unsuccess_to_container}


def _from_container(spec: PduSpec, parsed: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in spec.field_names:
        convert = _FROM_CONTAINER.get(name)
        values[name] = parsed[name] if convert is None else convert(parsed[name])
    return values


def _to_container(spec: PduSpec, pdu: Pdu) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in spec.field_names:
        convert = _TO_CONTAINER.get(name)
        value = getattr(pdu, name)
        values[name] = value if convert is None else convert(value)
    return values


def _parse_body_with_construct(spec: PduSpec, data: bytes, end: int) -> dict[str, Any]:
    stream = io.BytesIO(data[HEADER_SIZE:end])
    try:
        parsed = spec.body.parse_stream(stream)
    except FieldError as error:
        raise DecodeError(error.status, str(error)) from None
    except cs.ConstructError as error:
        raise DecodeError(RINVCMDLEN, f"body shorter than its fields: {error}") from None
    values = _from_container(spec, parsed)
    rest = stream.read()
    tlvs: dict[int, Any] = {}
    repeats: dict[int, list[Any]] = {}
    tlv_stream = io.BytesIO(rest)
    count = 0
    while tlv_stream.tell() < len(rest):
        count += 1
        if count > MAX_TLVS:
            raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, "too many TLVs")
        if len(rest) - tlv_stream.tell() < 4:
            raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, "truncated TLV header")
        try:
            tlv = fields.Tlv.parse_stream(tlv_stream)
        except cs.ConstructError:
            raise DecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, "TLV overruns PDU") from None
        value = decode_tlv_value(tlv.tag, tlv.value, tlv.tag in spec.tlvs)
        if tlv.tag in tlvs:
            add_repeat(tlvs, repeats, tlv.tag, value)
        else:
            tlvs[tlv.tag] = value
    for tag, repeated in repeats.items():
        tlvs[tag] = tuple(repeated)
    values["tlvs"] = tlvs
    return values


def decode_with_construct(data: bytes) -> Pdu:
    """Reference decoder: the construct layouts of the table, interpreted."""
    spec, end, status, sequence = _check_header(data)
    cls = CLASSES[spec.command_id]
    try:
        values = _parse_body_with_construct(spec, data, end)
    except DecodeError as error:
        if status and spec.is_response:
            return cls(sequence_number=sequence, command_status=status)
        error.command_id = spec.command_id
        error.sequence_number = sequence
        raise
    return cls(sequence_number=sequence, command_status=status, **values)


def encode_with_construct(pdu: Pdu) -> bytes:
    """Reference encoder: builds the body with the table's construct layouts."""
    spec = SPECS[pdu.command_id]
    if pdu.command_status and spec.is_response:
        body = b""
    else:
        try:
            body = spec.body.build(_to_container(spec, pdu))
        except (cs.ConstructError, UnicodeEncodeError, AttributeError, TypeError) as error:
            raise EncodeError(f"{spec.name}: {error}") from None
        body += encode_tlvs(pdu.tlvs)
    return HEADER.pack(
        HEADER_SIZE + len(body), pdu.command_id, pdu.command_status, pdu.sequence_number
    ) + body


# -- the generated fast path -------------------------------------------------------------------

_INT_CODES = {"B": 1, "H": 2, "L": 4, "I": 4}


def _field_kind(subcon: Any) -> tuple[str, Any]:
    if isinstance(subcon, cs.FormatField):
        return "int", subcon.fmtstr[-1]
    if isinstance(subcon, SmppTime):
        return "time", subcon
    if isinstance(subcon, CStr):
        return "cstr", subcon
    if isinstance(subcon, LengthPrefixedOctets):
        return "octets", subcon
    if subcon is fields.dest_addresses:
        return "dests", subcon
    if subcon is fields.unsuccess_smes:
        return "unsuccess", subcon
    raise TypeError(f"no fast path for {subcon!r}")


def _groups(spec: PduSpec) -> list[tuple[str, list[str], Any]]:
    """Fields in order, with consecutive integers merged into one struct group."""
    groups: list[tuple[str, list[str], Any]] = []
    for sc in spec.body.subcons:
        kind, arg = _field_kind(sc.subcon)
        if kind == "int" and groups and groups[-1][0] == "int":
            groups[-1][1].append(sc.name)
            groups[-1] = ("int", groups[-1][1], groups[-1][2] + arg)
        else:
            groups.append((kind, [sc.name], arg))
    return groups


_USUALLY_SET = frozenset({"source_addr", "destination_addr"})
"""C-strings rarely empty: decoded without first testing for the empty one (the others, empty
in most PDUs, test for it first and skip the search for their NUL)."""


def _decoder_source(spec: PduSpec) -> str:
    lines = [
        "def decode_body(data, end, sequence, status):",
        "    pos = 16",
    ]
    for index, (kind, names, arg) in enumerate(_groups(spec)):
        if kind == "int":
            size = sum(_INT_CODES[c] for c in arg)
            lines += [
                f"    if pos + {size} > end: raise short('{names[0]}')",
                f"    {', '.join(names)}, = unpack_{index}(data, pos)",
                f"    pos += {size}",
            ]
        elif kind in ("cstr", "time"):
            name = names[0]
            usually_set = name in _USUALLY_SET
            if not usually_set:
                lines += [
                    "    if pos < end and not data[pos]:  # empty: the usual service_type, times",
                    f"        {name} = ''",
                    "        pos += 1",
                    "    else:",
                ]
            # the NUL is looked for only where it may be (`end` is len(data)): a field
            # without one costs its maximum, never the rest of the PDU
            inner = [
                f"    nul = data.find(b'\\x00', pos, pos + {arg.max_size})",
                f"    if nul < 0: raise bad({arg.status}, "
                f"'{name}: no NUL within {arg.max_size} octets')",
                f"    {name} = data[pos:nul].decode('latin-1')",
                "    pos = nul + 1",
            ]
            if kind == "time":
                inner.append(
                    f"    if len({name}) not in (0, 16): "
                    f"raise bad({arg.status}, '{name}: must be empty or 16 characters')"
                )
            lines += inner if usually_set else ["    " + line for line in inner]
        elif kind == "octets":
            name = names[0]
            lines += [
                f"    if pos >= end: raise short('{name}')",
                "    size = data[pos]",
                "    pos += 1",
                f"    if pos + size > end: raise short('{name}')",
                f"    {name} = data[pos:pos + size]",
                "    pos += size",
            ]
        else:
            lines.append(f"    {names[0]}, pos = {kind}(data, pos, end)")
    all_names = [name for _, names, _ in _groups(spec) for name in names]
    # built slot by slot: four times as fast as the dataclass's keyword __init__ (every
    # field is set, so the result is the same object)
    lines += [
        "    pdu = new(cls)",
        "    pdu.sequence_number = sequence",
        "    pdu.command_status = status",
        *(f"    pdu.{n} = {n}" for n in all_names),
        "    pdu.tlvs = decode_tlvs(data, pos, end, allowed) if pos < end else {}",
        "    return pdu",
    ]
    return "\n".join(lines)


def _encoder_source(spec: PduSpec) -> str:
    """One function per PDU: each field to octets (empty C-strings without encoding), then
    one join of them all."""
    lines = ["def encode_body(pdu):"]
    parts: list[str] = []
    for index, (kind, names, arg) in enumerate(_groups(spec)):
        part = f"v{index}"
        if kind == "int":
            lines.append(f"    {part} = pack_{index}({', '.join('pdu.' + n for n in names)})")
            parts.append(part)
        elif kind in ("cstr", "time"):
            name = names[0]
            lines += [
                f"    {part} = pdu.{name}",
                f"    if {part} == '':",
                f"        {part} = NUL",
                "    else:",
                f"        {part} = {part}.encode('latin-1')",
                f"        if len({part}) >= {arg.max_size} or 0 in {part}:",
                f"            raise EncodeError('{name} does not fit C-string max {arg.max_size}')",
            ]
            if kind == "time":
                lines.append(
                    f"        if len({part}) != 16: "
                    f"raise EncodeError('{name} must be empty or 16 characters')"
                )
            lines.append(f"        {part} += NUL")
            parts.append(part)
        elif kind == "octets":
            lines += [
                f"    {part} = pdu.{names[0]}",
                f"    if len({part}) > 254: raise EncodeError('short_message over 254 octets')",
            ]
            parts += [f"LENGTH_OCTET[len({part})]", part]
        else:
            lines.append(f"    {part} = encode_{kind}(pdu.{names[0]})")
            parts.append(part)
    lines += [
        "    tlvs = pdu.tlvs",
        f"    return b''.join(({''.join(part + ', ' for part in parts)}"
        "(encode_tlvs(tlvs) if tlvs else b''),))",
    ]
    return "\n".join(lines)


def _short(name: str) -> DecodeError:
    return DecodeError(RINVCMDLEN, f"body ends inside {name}")


def _bad(status: int, message: str) -> DecodeError:
    return DecodeError(status, message)


_RINVDSTADR = CommandStatus.ESME_RINVDSTADR
_RINVDLNAME = CommandStatus.ESME_RINVDLNAME
_RINVDESTFLAG = CommandStatus.ESME_RINVDESTFLAG
_ADDRESS_SIZE = 21
"""destination_addr and dl_name in submit_multi's lists: C-strings of at most 21 octets."""


def _parse_dests(data: bytes, pos: int, end: int) -> tuple[Any, int]:
    """number_of_dests and the dest_address list, as `fields.DestAddresses` parses them (same
    values, same statuses), in one pass over the octets."""
    if pos >= end:
        raise DecodeError(RINVCMDLEN, "dest_address: no number_of_dests")
    count = data[pos]
    pos += 1
    find = data.find
    dests: list[SmeDest | DistributionListDest] = []
    for _ in range(count):
        if pos >= end:
            raise DecodeError(RINVCMDLEN, "dest_address: dest_address cut off")
        flag = data[pos]
        if flag == fields.DEST_FLAG_SME:
            if pos + 3 > end:
                raise DecodeError(RINVCMDLEN, "dest_address: SME address cut off")
            ton = data[pos + 1]
            npi = data[pos + 2]
            pos += 3
            nul = find(b"\x00", pos, pos + _ADDRESS_SIZE)
            if nul < 0:
                raise DecodeError(_RINVDSTADR, "destination_addr: no NUL within 21 octets")
            dests.append(SmeDest(ton, npi, data[pos:nul].decode("latin-1")))
        elif flag == fields.DEST_FLAG_DL:
            pos += 1
            nul = find(b"\x00", pos, pos + _ADDRESS_SIZE)
            if nul < 0:
                raise DecodeError(_RINVDLNAME, "dl_name: no NUL within 21 octets")
            dests.append(DistributionListDest(data[pos:nul].decode("latin-1")))
        else:
            raise DecodeError(_RINVDESTFLAG, f"dest_address: dest_flag {flag}")
        pos = nul + 1
    return tuple(dests), pos


def _parse_unsuccess(data: bytes, pos: int, end: int) -> tuple[Any, int]:
    """no_unsuccess and the unsuccess_sme list, as `fields.unsuccess_smes` parses them."""
    if pos >= end:
        raise DecodeError(RINVCMDLEN, "unsuccess_sme: no no_unsuccess")
    count = data[pos]
    pos += 1
    find = data.find
    entries: list[UnsuccessSme] = []
    for _ in range(count):
        if pos + 2 > end:
            raise DecodeError(RINVCMDLEN, "unsuccess_sme: entry cut off")
        ton = data[pos]
        npi = data[pos + 1]
        pos += 2
        nul = find(b"\x00", pos, pos + _ADDRESS_SIZE)
        if nul < 0:
            raise DecodeError(_RINVDSTADR, "destination_addr: no NUL within 21 octets")
        address = data[pos:nul].decode("latin-1")
        pos = nul + 5
        if pos > end:
            raise DecodeError(RINVCMDLEN, "unsuccess_sme: error_status_code cut off")
        entries.append(UnsuccessSme(ton, npi, address, _unpack_status(data, nul + 1)[0]))
    return tuple(entries), pos


_unpack_status = struct.Struct(">I").unpack_from
_SME_FLAG = bytes((fields.DEST_FLAG_SME,))
_DL_FLAG = bytes((fields.DEST_FLAG_DL,))


def _address_octets(value: str) -> bytes:
    octets = value.encode("latin-1")
    if len(octets) >= _ADDRESS_SIZE or 0 in octets:
        raise EncodeError(f"{value!r} does not fit C-string max {_ADDRESS_SIZE}")
    return octets + b"\x00"


def _encode_dests(dests: Any) -> bytes:
    """number_of_dests and the dest_address list, as `fields.DestAddresses` builds them."""
    if len(dests) > 254:
        raise EncodeError("dest_address: more than 254 destinations")
    parts = [bytes((len(dests),))]
    try:
        for dest in dests:
            if isinstance(dest, SmeDest):
                parts += (_SME_FLAG, bytes((dest.dest_addr_ton, dest.dest_addr_npi)),
                          _address_octets(dest.destination_addr))
            else:
                parts += (_DL_FLAG, _address_octets(dest.dl_name))
    except ValueError as error:  # a TON or NPI outside 0..255, a non-Latin-1 address
        raise EncodeError(f"dest_address: {error}") from None
    return b"".join(parts)


def _encode_unsuccess(entries: Any) -> bytes:
    """no_unsuccess and the unsuccess_sme list, as `fields.unsuccess_smes` builds them."""
    try:
        parts = [bytes((len(entries),))]
        for entry in entries:
            parts += (bytes((entry.dest_addr_ton, entry.dest_addr_npi)),
                      _address_octets(entry.destination_addr),
                      entry.error_status_code.to_bytes(4, "big"))
    except (ValueError, OverflowError) as error:  # more than 255 entries, a field too big
        raise EncodeError(f"unsuccess_sme: {error}") from None
    return b"".join(parts)


def _compile(spec: PduSpec) -> tuple[Callable[..., Pdu], Callable[[Pdu], bytes]]:
    namespace: dict[str, Any] = {
        "cls": CLASSES[spec.command_id],
        "new": object.__new__,
        "allowed": spec.tlvs,
        "decode_tlvs": decode_tlvs,
        "encode_tlvs": encode_tlvs,
        "short": _short,
        "bad": _bad,
        "dests": _parse_dests,
        "unsuccess": _parse_unsuccess,
        "encode_dests": _encode_dests,
        "encode_unsuccess": _encode_unsuccess,
        "EncodeError": EncodeError,
        "NUL": b"\x00",
        "LENGTH_OCTET": tuple(bytes((n,)) for n in range(256)),
    }
    for index, (kind, _, arg) in enumerate(_groups(spec)):
        if kind == "int":
            packer = struct.Struct(">" + arg)
            namespace[f"unpack_{index}"] = packer.unpack_from
            namespace[f"pack_{index}"] = packer.pack
    exec(compile(_decoder_source(spec), f"<decode {spec.name}>", "exec"), namespace)
    exec(compile(_encoder_source(spec), f"<encode {spec.name}>", "exec"), namespace)
    return namespace["decode_body"], namespace["encode_body"]


_FAST: dict[int, tuple[Callable[..., Pdu], Callable[[Pdu], bytes], bool, type[Pdu]]] = {}
"""Keyed by plain ints: the header's command_id is one, and an int finds an IntEnum key only
after a rich comparison of the two types (twice the cost of the lookup)."""
for _spec in SPECS.values():
    _decode_body, _encode_body = _compile(_spec)
    _FAST[int(_spec.command_id)] = (
        _decode_body, _encode_body, _spec.is_response, CLASSES[_spec.command_id]
    )
_DECODERS: dict[int, Callable[..., Pdu]] = {key: entry[0] for key, entry in _FAST.items()}
"""`_FAST`'s decoders alone: `decode` looks one up per PDU."""

_unpack_header = HEADER.unpack_from
_pack_header = HEADER.pack


def decode(data: bytes) -> Pdu:
    """Decode one whole PDU.

    Raises:
        DecodeError: the octets are not a valid PDU; carries the status to answer with and,
            when the header was readable, the command_id and sequence_number.
    """
    end = len(data)
    if end < HEADER_SIZE:
        raise DecodeError(RINVCMDLEN, f"{end} octets is shorter than a PDU header")
    length, command_id, status, sequence = _unpack_header(data)
    decode_body = _DECODERS.get(command_id)
    if length != end or decode_body is None:
        _check_header(data)  # raises the precise error
    try:
        return decode_body(data, end, sequence, status)  # type: ignore[misc]
    except DecodeError as error:
        _, _, is_response, cls = _FAST[command_id]
        if status and is_response:
            # a failed response's body is optional and ignored when broken (§4.14)
            return cls(sequence_number=sequence, command_status=status)
        error.command_id = command_id
        error.sequence_number = sequence
        raise
    except (IndexError, UnicodeDecodeError, struct.error) as error:  # pragma: no cover
        raise DecodeError(
            RINVCMDLEN, f"malformed body: {error}", command_id=command_id,
            sequence_number=sequence,
        ) from None


def encode(pdu: Pdu) -> bytes:
    """Encode one PDU; a response with a non-zero command_status gets no body (§4.14).

    Raises:
        EncodeError: a field value does not fit its SMPP field.
    """
    command_id = pdu.command_id
    if isinstance(pdu, Prebuilt):
        body = pdu.body
        return _pack_header(HEADER_SIZE + len(body), command_id, 0, pdu.sequence_number) + body
    _, encode_body, is_response, _ = _FAST[command_id]
    if is_response and pdu.command_status:
        body = b""
    else:
        try:
            body = encode_body(pdu)
        except (UnicodeEncodeError, struct.error, TypeError, AttributeError) as error:
            raise EncodeError(f"{command_id.name}: {error}") from None
    try:
        return _pack_header(
            HEADER_SIZE + len(body), command_id, pdu.command_status, pdu.sequence_number
        ) + body
    except struct.error as error:
        raise EncodeError(f"{command_id.name} header: {error}") from None


def expand(pdu: Pdu) -> Pdu:
    """The ordinary PDU a `Prebuilt` one stands for (any other PDU as it is)."""
    if isinstance(pdu, Prebuilt):
        return decode(encode(pdu))
    return pdu


def message_class(command_id: int) -> type[Pdu] | None:
    return CLASSES.get(command_id)


def response_class(request_command_id: int) -> type[Pdu] | None:
    """The response PDU class of a request; None for outbind, alert_notification, responses."""
    spec = SPECS.get(request_command_id)
    if spec is None or spec.response_id is None:
        return None
    return CLASSES[spec.response_id]


def is_response(command_id: int) -> bool:
    return bool(command_id & 0x80000000)


def make_response(request: Pdu, command_status: int = 0, **fields: Any) -> Pdu:
    """The response to `request` with its sequence number (no body when status != 0).

    Raises:
        EncodeError: `request` has no response PDU (outbind, alert_notification, responses).
    """
    cls = response_class(request.command_id)
    if cls is None:
        raise EncodeError(f"{request.command_id.name} has no response")
    return cls(sequence_number=request.sequence_number, command_status=command_status, **fields)
