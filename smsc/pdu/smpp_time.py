"""SMPP time strings (SPEC 7.1.1, REFERENCE.md §9): absolute `YYMMDDhhmmsstnnp` and relative `R`.

`now` is always passed in; results are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

CENTURY_PIVOT = 38
"""Two-digit years below this are 20xx, the rest 19xx (SPEC Appendix C)."""


class SmppTimeError(ValueError):
    """A time string that is neither empty nor a valid absolute or relative SMPP time."""


def _digits(value: str, start: int, end: int) -> int:
    part = value[start:end]
    if not part.isascii() or not part.isdigit():
        raise SmppTimeError(f"{value!r}: {part!r} is not a number")
    return int(part)


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_smpp_time(value: str, now: datetime, *, pivot: int = CENTURY_PIVOT) -> datetime | None:
    """The instant `value` names (None for the empty string).

    Raises:
        SmppTimeError: wrong length, non-digits, out-of-range fields or a bad sign.
    """
    if value == "":
        return None
    if len(value) != 16:
        raise SmppTimeError(f"{value!r}: must be 16 characters")
    sign = value[15]
    years, months, days = _digits(value, 0, 2), _digits(value, 2, 4), _digits(value, 4, 6)
    hours, minutes, seconds = _digits(value, 6, 8), _digits(value, 8, 10), _digits(value, 10, 12)
    tenths, quarters = _digits(value, 12, 13), _digits(value, 13, 15)
    if sign == "R":
        moment = add_months(now, years * 12 + months)
        return moment + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if sign not in "+-":
        raise SmppTimeError(f"{value!r}: last character must be +, - or R")
    if quarters > 48:
        raise SmppTimeError(f"{value!r}: UTC offset beyond 48 quarter hours")
    year = (2000 if years < pivot else 1900) + years
    try:
        local = datetime(year, months, days, hours, minutes, seconds, tenths * 100000, tzinfo=UTC)
    except ValueError as error:
        raise SmppTimeError(f"{value!r}: {error}") from None
    offset = timedelta(minutes=15 * quarters)
    return local - offset if sign == "+" else local + offset


def format_absolute(moment: datetime, offset_quarters: int = 0) -> str:
    """16-character absolute form of `moment`, written as local time `offset_quarters` ahead."""
    local = moment.astimezone(UTC) + timedelta(minutes=15 * offset_quarters)
    sign = "+" if offset_quarters >= 0 else "-"
    return (
        f"{local:%y%m%d%H%M%S}{local.microsecond // 100000}{abs(offset_quarters):02d}{sign}"
    )


def format_relative(delta: timedelta) -> str:
    """Relative form counting days, hours, minutes and seconds (years and months stay 0)."""
    total = int(delta.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days > 99:
        raise SmppTimeError("relative times above 99 days need months")
    return f"0000{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"
