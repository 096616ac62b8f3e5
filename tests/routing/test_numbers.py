"""SMPP addresses normalised to E.164 with phonenumbers."""

from __future__ import annotations

import pytest

from smsc.pdu.constants import Npi, Ton
from smsc.routing.numbers import normalise


@pytest.mark.parametrize(
    ("ton", "npi", "address", "e164", "region", "kind"),
    [
        (Ton.INTERNATIONAL, Npi.ISDN, "4915112345678", "+4915112345678", "DE", "mobile"),
        (Ton.INTERNATIONAL, Npi.ISDN, "+447400123456", "+447400123456", "GB", "mobile"),
        (Ton.NATIONAL, Npi.ISDN, "015112345678", "+4915112345678", "DE", "mobile"),
        (Ton.UNKNOWN, Npi.UNKNOWN, "004915112345678", "+4915112345678", "DE", "mobile"),
        (Ton.UNKNOWN, Npi.ISDN, "+12025550123", "+12025550123", "US", "fixed_line_or_mobile"),
    ],
)
def test_numbers_become_e164(ton: int, npi: int, address: str, e164: str, region: str,
                             kind: str) -> None:
    number = normalise(ton, npi, address, "DE")
    assert number is not None
    assert (number.e164, number.region, number.number_type) == (e164, region, kind)


@pytest.mark.parametrize(
    ("ton", "npi", "address"),
    [
        (Ton.ALPHANUMERIC, Npi.UNKNOWN, "ACME"),
        (Ton.UNKNOWN, Npi.UNKNOWN, ""),
        (Ton.UNKNOWN, Npi.INTERNET, "10.0.0.1"),
        (Ton.INTERNATIONAL, Npi.ISDN, "abc"),
    ],
)
def test_what_is_not_a_phone_number_gives_none(ton: int, npi: int, address: str) -> None:
    assert normalise(ton, npi, address, "DE") is None


def test_validity_is_reported_not_enforced() -> None:
    impossible = normalise(Ton.INTERNATIONAL, Npi.ISDN, "4900", "DE")
    assert impossible is not None and not impossible.valid


def test_results_are_cached_per_address() -> None:
    first = normalise(Ton.INTERNATIONAL, Npi.ISDN, "4915199999999", "DE")
    assert normalise(Ton.INTERNATIONAL, Npi.ISDN, "4915199999999", "DE") is first
