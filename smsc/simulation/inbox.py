"""Handset inboxes (pure): delivered parts reassembled and decoded, with the encoding mistakes
a handset would show its user, as diagnostics tests can assert on.

Concatenation by 8- or 16-bit UDH, by SAR TLVs or whole in message_payload (smsc.pdu.concat);
time comes in as seconds since start.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from smsc.pdu.concat import (
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    ConcatError,
    Reassembler,
    SarInfo,
    parse_udh,
)
from smsc.pdu.constants import DataCoding, EsmFeature
from smsc.pdu.gsm7 import ESCAPE, EXTENSION
from smsc.pdu.text import decode_text_lenient, is_binary_coding, is_gsm_coding

REASSEMBLY_TIMEOUT = 300.0
"""Seconds a handset waits for the missing parts of a long message."""
CONCAT_IE_LENGTHS = {IEI_CONCAT_8: 3, IEI_CONCAT_16: 4}


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message as the handset shows it (all its parts put together)."""

    source_addr: str
    text: str | None
    """Decoded text; None for binary data codings."""
    data: bytes
    """User data without UDH, parts joined."""
    data_coding: int
    parts: int
    message_ids: tuple[int, ...]
    """Store ids of the parts, in the order they arrived."""
    received_at: float
    """Seconds since the SMSC started, when the last part arrived."""
    diagnostics: tuple[str, ...] = ()
    """Encoding mistakes seen in this message's parts."""


@dataclass(slots=True)
class _Handset:
    messages: deque[InboxMessage]
    reassembler: Reassembler = field(default_factory=lambda: Reassembler(REASSEMBLY_TIMEOUT))
    ids: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    notes: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    codings: dict[tuple[str, int], int] = field(default_factory=dict)
    diagnostics: list[str] = field(default_factory=list)
    """Everything seen, including parts that never made a whole message."""


class Inboxes:
    """The last `size` messages of each handset, keyed by international digits."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._handsets: dict[str, _Handset] = {}

    def receive(
        self,
        handset: str,
        *,
        source_addr: str,
        user_data: bytes,
        esm_class: int,
        data_coding: int,
        sar: SarInfo | None,
        message_id: int,
        now: float,
    ) -> InboxMessage | None:
        """Take one delivered part; returns the whole message once its last part is in."""
        box = self._handsets.get(handset)
        if box is None:
            box = self._handsets[handset] = _Handset(deque(maxlen=self.size or None))
        udhi = bool(esm_class & EsmFeature.UDHI)
        notes = _udh_notes(user_data, udhi, sar)
        reassembler = box.reassembler
        seen = len(reassembler.diagnostics)
        reassembler.expire(now)
        info = _concat_info(user_data, udhi, sar)
        whole = reassembler.add(originator=source_addr, recipient=handset, user_data=user_data,
                                udhi=udhi, sar=sar, now=now)
        notes.extend(reassembler.diagnostics[seen:])
        del reassembler.diagnostics[:]
        key = (source_addr, info.reference if info else -1)
        if whole is None or (info is not None and whole.parts > 1):
            box.ids.setdefault(key, []).append(message_id)
            coding = box.codings.setdefault(key, data_coding)
            if coding != data_coding:
                notes.append(f"reference {info.reference if info else -1}: data_coding "
                             f"0x{data_coding:02X} differs from the first part's "
                             f"0x{coding:02X}")
            box.notes.setdefault(key, []).extend(notes)
        if whole is None:
            box.diagnostics.extend(notes)
            return None
        if info is not None and whole.parts > 1:
            ids = tuple(box.ids.pop(key, [message_id]))
            notes = box.notes.pop(key, notes)
            data_coding = box.codings.pop(key, data_coding)
        else:
            ids = (message_id,)
        text = None
        if not is_binary_coding(data_coding):
            decoded = decode_text_lenient(whole.user_data, data_coding)
            text = decoded.text
            notes.extend(_text_notes(whole.user_data, data_coding) or decoded.problems)
        message = InboxMessage(source_addr, text, whole.user_data, data_coding, whole.parts, ids,
                               now, tuple(notes))
        box.messages.append(message)
        box.diagnostics.extend(notes)
        return message

    def messages(self, handset: str) -> list[InboxMessage]:
        box = self._handsets.get(handset)
        return list(box.messages) if box else []

    def diagnostics(self, handset: str) -> list[str]:
        """Every problem seen by this handset, including in parts still incomplete."""
        box = self._handsets.get(handset)
        return list(box.diagnostics) if box else []

    def handsets(self) -> list[str]:
        return sorted(self._handsets)

    def clear(self, handset: str | None = None) -> None:
        """Empty one handset's inbox (and its diagnostics and unfinished parts), or all."""
        if handset is None:
            self._handsets.clear()
        else:
            self._handsets.pop(handset, None)


def _concat_info(user_data: bytes, udhi: bool, sar: SarInfo | None) -> SarInfo | None:
    if udhi:
        try:
            udh, _ = parse_udh(user_data)
        except ConcatError:
            return None
        return udh.concat or sar
    return sar


def _udh_notes(user_data: bytes, udhi: bool, sar: SarInfo | None) -> list[str]:
    """Header mistakes the reassembler itself does not name."""
    notes: list[str] = []
    if not udhi:
        if len(user_data) >= 6 and user_data[0] in (5, 6) and user_data[1] in CONCAT_IE_LENGTHS:
            notes.append("user data starts with a concatenation header but UDHI is not set "
                         "in esm_class")
        return notes
    try:
        udh, _ = parse_udh(user_data)
    except ConcatError:
        return notes  # the reassembler reports it
    for iei, data in udh.elements:
        want = CONCAT_IE_LENGTHS.get(iei)
        if want is not None and len(data) != want:
            notes.append(f"concatenation element 0x{iei:02X} has length {len(data)}, "
                         f"not {want}")
    concat = udh.concat
    if concat is not None and sar is not None:
        notes.append("both a concatenation UDH and SAR TLVs are present")
    if concat is not None and concat.total == 0:
        notes.append("concatenation header gives 0 parts")
    return notes


def _text_notes(data: bytes, data_coding: int) -> list[str]:
    """What a GSM handset cannot show: octets outside the alphabet, undefined escapes."""
    if not is_gsm_coding(data_coding):
        if data_coding == DataCoding.UCS2 and len(data) % 2:
            return ["odd number of octets in UCS2 text"]
        return []
    notes = []
    high = sorted({octet for octet in data if octet & 0x80})
    if high:
        shown = " ".join(f"0x{octet:02X}" for octet in high[:8])
        notes.append(f"octets outside the GSM 7-bit alphabet ({shown}): text in another "
                     "coding sent as data_coding 0?")
    escaped = False
    for octet in data:
        if escaped:
            escaped = False
            if octet & 0x7F not in EXTENSION:
                notes.append(f"GSM escape followed by undefined code 0x{octet:02X}")
        elif octet == ESCAPE:
            escaped = True
    if escaped:
        notes.append("GSM escape at the end of the text")
    return notes
