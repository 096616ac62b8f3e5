"""Delivery receipt text (SPEC Appendix B, REFERENCE.md §10.2-§10.4): format and parse.

We emit only the canonical form; we parse the variants real SMSCs send (§10.3): `Text:` or
`text:`, dates of 10, 12 or 14 digits, any id up to 64 characters, unpadded or alphanumeric err,
missing fields and any order.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

TEXT_CHARS = 20
_FIELD = re.compile(
    r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err|text):"
)
_DATE_FORMATS = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S", 14: "%Y%m%d%H%M%S"}


@dataclass(frozen=True, slots=True)
class ReceiptText:
    id: str
    sub: int | None = None
    dlvrd: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    stat: str | None = None
    err: str | None = None
    text: str | None = None


def format_date(moment: datetime) -> str:
    """`YYMMDDhhmm` of the receipt's submit date / done date fields."""
    return moment.strftime("%y%m%d%H%M")


def format_receipt_text(
    *,
    message_id: str,
    stat: str,
    submit_date: datetime,
    done_date: datetime,
    err: int = 0,
    sub: int = 1,
    dlvrd: int | None = None,
    text: str = "",
) -> str:
    """The canonical Appendix B line of REFERENCE.md §10.4."""
    if dlvrd is None:
        dlvrd = 1 if stat == "DELIVRD" else 0
    fields = (
        ("id", message_id),
        ("sub", f"{sub:03d}"),
        ("dlvrd", f"{dlvrd:03d}"),
        ("submit date", format_date(submit_date)),
        ("done date", format_date(done_date)),
        ("stat", stat),
        ("err", f"{err:03d}"),
        ("text", text[:TEXT_CHARS]),
    )
    return " ".join(f"{label}:{value}" for label, value in fields)


def _parse_date(value: str) -> datetime | None:
    pattern = _DATE_FORMATS.get(len(value))
    if pattern is None or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, pattern).replace(tzinfo=UTC)
    except ValueError:
        return None


def _parse_int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def parse_receipt_text(text: str) -> ReceiptText | None:
    """The fields of a receipt text, or None when the text is not a receipt (no `id:`)."""
    matches = list(_FIELD.finditer(text))
    values: dict[str, str] = {}
    for index, match in enumerate(matches):
        label = match.group(1).lower()
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        raw = text[match.end() : end]
        values.setdefault(label, raw if label == "text" else raw.strip())
    if "id" not in values or not values["id"]:
        return None
    return ReceiptText(
        id=values["id"],
        sub=_parse_int(values.get("sub", "")),
        dlvrd=_parse_int(values.get("dlvrd", "")),
        submit_date=_parse_date(values.get("submit date", "")),
        done_date=_parse_date(values.get("done date", "")),
        stat=values.get("stat") or None,
        err=values.get("err") or None,
        text=values.get("text"),
    )


def receipt_ids_match(text_id: str, tlv_id: str) -> bool:
    """Whether a receipt's text id and receipted_message_id name the same message (§10.3 #4).

    Peers write one in decimal and the other in hex; both readings are tried.
    """
    if text_id.lower() == tlv_id.lower():
        return True
    readings: list[set[int]] = []
    for value in (text_id, tlv_id):
        numbers = set()
        for base in (10, 16):
            with contextlib.suppress(ValueError):
                numbers.add(int(value, base))
        readings.append(numbers)
    return bool(readings[0] & readings[1])
