"""Addresses → E.164 with phonenumbers (pure, cached): what routing rules match against.

A fresh parse costs tens of microseconds; the same destinations recur all the time in SMS
traffic, so results are cached per (TON, NPI, digits, default region).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from smsc.pdu.constants import Npi, Ton

CACHE_SIZE = 65536
_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}


@dataclass(frozen=True, slots=True)
class Number:
    """A phone number as routing sees it."""

    e164: str
    """`+` and digits, e.g. "+4915112345678"."""
    region: str | None
    """ISO 3166 region code ("DE"), None when the number belongs to no single region."""
    number_type: str
    """mobile, fixed_line, toll_free, ... or unknown."""
    valid: bool
    """Whether the number is possible and assigned in its region's plan (phonenumbers)."""


def normalise(ton: int, npi: int, address: str, default_region: str) -> Number | None:
    """The E.164 form of an SMPP address, or None for what is not a phone number
    (alphanumeric sender names, short codes that do not parse, non-ISDN plans)."""
    return _normalise(ton, npi, address, default_region)


@lru_cache(maxsize=CACHE_SIZE)
def _normalise(ton: int, npi: int, address: str, default_region: str) -> Number | None:
    if ton == Ton.ALPHANUMERIC or not address:
        return None
    if npi not in (Npi.UNKNOWN, Npi.ISDN, Npi.NATIONAL):
        return None
    digits = address.strip()
    if ton == Ton.INTERNATIONAL:
        text = digits if digits.startswith("+") else "+" + digits
    elif digits.startswith("00"):
        text = "+" + digits[2:]
    else:
        text = digits
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except NumberParseException:
        return None
    return Number(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(parsed),
        number_type=_TYPES.get(phonenumbers.number_type(parsed), "unknown"),
        valid=phonenumbers.is_valid_number(parsed),
    )
