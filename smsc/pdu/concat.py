"""Long messages: User Data Headers, splitting into parts, and reassembly (REFERENCE.md §11.4-7).

Parts carry concatenation either in a UDH (IE 0x00, 8-bit reference, or IE 0x08, 16-bit) or in
the SAR TLVs; a text may also travel whole in message_payload. Splitting never cuts a GSM escape
pair or a UTF-16 surrogate pair. Reassembly is pure: the caller passes `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from smsc.pdu.constants import DataCoding
from smsc.pdu.gsm7 import ENCODE, GsmEncodeError
from smsc.pdu.text import TextError, encode_text, is_gsm_coding

IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
MAX_USER_DATA = 140


class ConcatError(ValueError):
    """A malformed UDH or an inconsistent set of parts."""


class Scheme(Enum):
    UDH8 = "udh8"
    UDH16 = "udh16"
    SAR = "sar"
    PAYLOAD = "payload"


@dataclass(frozen=True, slots=True)
class SarInfo:
    reference: int
    total: int
    seqnum: int


@dataclass(frozen=True, slots=True)
class Part:
    """One submit's worth of user data (UDH included when `udhi`)."""

    user_data: bytes
    udhi: bool = False
    sar: SarInfo | None = None
    in_payload: bool = False
    """Send in message_payload rather than short_message."""


@dataclass(frozen=True, slots=True)
class Udh:
    elements: tuple[tuple[int, bytes], ...]

    @property
    def concat(self) -> SarInfo | None:
        for iei, data in self.elements:
            if iei == IEI_CONCAT_8 and len(data) == 3:
                return SarInfo(data[0], data[1], data[2])
            if iei == IEI_CONCAT_16 and len(data) == 4:
                return SarInfo((data[0] << 8) | data[1], data[2], data[3])
        return None

    @property
    def ports(self) -> tuple[int, int] | None:
        """(destination, source) application ports."""
        for iei, data in self.elements:
            if iei == IEI_PORTS_8 and len(data) == 2:
                return data[0], data[1]
            if iei == IEI_PORTS_16 and len(data) == 4:
                return (data[0] << 8) | data[1], (data[2] << 8) | data[3]
        return None


def parse_udh(user_data: bytes) -> tuple[Udh, bytes]:
    """Split user data that starts with a UDH into the header and the rest.

    Raises:
        ConcatError: the UDH length or an element runs past the data.
    """
    if not user_data:
        raise ConcatError("UDHI set but no user data")
    length = user_data[0]
    if length + 1 > len(user_data):
        raise ConcatError(f"UDH length {length} runs past {len(user_data)} octets of data")
    elements: list[tuple[int, bytes]] = []
    pos, end = 1, 1 + length
    while pos < end:
        if pos + 2 > end:
            raise ConcatError("UDH element header cut off")
        iei, size = user_data[pos], user_data[pos + 1]
        if pos + 2 + size > end:
            raise ConcatError(f"UDH element 0x{iei:02X} runs past the header")
        elements.append((iei, user_data[pos + 2 : pos + 2 + size]))
        pos += 2 + size
    return Udh(tuple(elements)), user_data[end:]


def concat_udh(scheme: Scheme, reference: int, total: int, seqnum: int) -> bytes:
    if scheme is Scheme.UDH16:
        return bytes((6, IEI_CONCAT_16, 4, (reference >> 8) & 0xFF, reference & 0xFF, total,
                      seqnum))
    return bytes((5, IEI_CONCAT_8, 3, reference & 0xFF, total, seqnum))


def _units(text: str, data_coding: int) -> list[bytes]:
    """The encoded octets of each character, so a split never cuts one apart."""
    if is_gsm_coding(data_coding):
        try:
            return [ENCODE[ch] for ch in text]
        except KeyError:
            raise GsmEncodeError("".join(c for c in text if c not in ENCODE)) from None
    return [encode_text(ch, data_coding) for ch in text]


def capacity(data_coding: int, header: int) -> int:
    """Octets (septets for GSM) of text that fit beside a `header`-octet UDH (§11.4)."""
    room = MAX_USER_DATA - header
    return room * 8 // 7 if is_gsm_coding(data_coding) else room - room % (
        2 if data_coding == DataCoding.UCS2 else 1
    )


def split_text(text: str, data_coding: int, *, scheme: Scheme, reference: int) -> list[Part]:
    """The parts that carry `text`; one plain part when it fits in a single message.

    Raises:
        TextError / GsmEncodeError: the text does not fit the coding.
    """
    try:
        units = _units(text, data_coding)
    except GsmEncodeError as error:
        raise TextError(str(error), data_coding) from None
    return _split(units, data_coding, scheme, reference)


def split_binary(data: bytes, *, scheme: Scheme, reference: int) -> list[Part]:
    units = [data[i : i + 1] for i in range(len(data))]
    return _split(units, DataCoding.OCTET_UNSPECIFIED_2, scheme, reference)


def _split(units: list[bytes], data_coding: int, scheme: Scheme, reference: int) -> list[Part]:
    whole = b"".join(units)
    if scheme is Scheme.PAYLOAD:
        return [Part(whole, in_payload=True)]
    if len(whole) <= capacity(data_coding, 0):
        return [Part(whole)]
    header = 7 if scheme is Scheme.UDH16 else 6
    room = capacity(data_coding, header)
    chunks: list[bytes] = []
    current = bytearray()
    for unit in units:
        if len(current) + len(unit) > room:
            chunks.append(bytes(current))
            current = bytearray()
        current += unit
    chunks.append(bytes(current))
    total = len(chunks)
    if total > 255:
        raise ConcatError(f"{total} parts: more than 255")
    if scheme is Scheme.SAR:
        return [
            Part(chunk, sar=SarInfo(reference & 0xFFFF, total, seq))
            for seq, chunk in enumerate(chunks, 1)
        ]
    return [
        Part(concat_udh(scheme, reference, total, seq) + chunk, udhi=True)
        for seq, chunk in enumerate(chunks, 1)
    ]


# -- reassembly -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reassembled:
    originator: str
    recipient: str
    user_data: bytes
    parts: int


@dataclass(slots=True)
class _Pending:
    total: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Collects parts of concatenated messages in any order; pure, time passed in."""

    def __init__(self, timeout: float = 300.0) -> None:
        self.timeout = timeout
        self._pending: dict[tuple[str, str, int], _Pending] = {}
        self.diagnostics: list[str] = []

    def add(
        self,
        *,
        originator: str,
        recipient: str,
        user_data: bytes,
        udhi: bool,
        sar: SarInfo | None,
        now: float,
    ) -> Reassembled | None:
        """Add one message; returns the whole message once its last part is in.

        A message that is not part of a concatenation comes straight back.
        """
        info = sar
        payload = user_data
        if udhi:
            try:
                udh, payload = parse_udh(user_data)
            except ConcatError as error:
                self.diagnostics.append(str(error))
                return Reassembled(originator, recipient, user_data, 1)
            info = udh.concat or sar
        if info is None or info.total <= 1:
            return Reassembled(originator, recipient, payload, 1)
        if not 1 <= info.seqnum <= info.total:
            self.diagnostics.append(f"part {info.seqnum} of {info.total} is out of range")
            return None
        key = (originator, recipient, info.reference)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(info.total, now)
        elif pending.total != info.total:
            self.diagnostics.append(
                f"reference {info.reference}: total changed from {pending.total} to {info.total}"
            )
            return None
        if info.seqnum in pending.parts:
            self.diagnostics.append(f"reference {info.reference}: part {info.seqnum} repeated")
        pending.parts[info.seqnum] = payload
        if len(pending.parts) < pending.total:
            return None
        del self._pending[key]
        data = b"".join(pending.parts[i] for i in range(1, pending.total + 1))
        return Reassembled(originator, recipient, data, pending.total)

    def expire(self, now: float) -> int:
        """Drop incomplete messages older than the timeout; returns how many."""
        old = [k for k, p in self._pending.items() if now - p.started >= self.timeout]
        for key in old:
            pending = self._pending.pop(key)
            self.diagnostics.append(
                f"reference {key[2]}: {len(pending.parts)} of {pending.total} parts, timed out"
            )
        return len(old)
