"""SMPP absolute and relative time strings (REFERENCE.md §9 worked examples)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu.smpp_time import (
    SmppTimeError,
    format_absolute,
    format_relative,
    parse_smpp_time,
)

NOW = datetime(2024, 1, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("150203040506708+", datetime(2015, 2, 3, 2, 5, 6, 700000, tzinfo=UTC)),
        ("250101120000004+", datetime(2025, 1, 1, 11, 0, tzinfo=UTC)),
        ("991231235959948-", datetime(2000, 1, 1, 11, 59, 59, 900000, tzinfo=UTC)),
        ("000007000000000R", NOW + timedelta(days=7)),
        ("000001000000000R", NOW + timedelta(days=1)),
        ("020610233429000R", datetime(2026, 8, 11, 11, 34, 29, tzinfo=UTC)),
        ("010203040506000R", datetime(2025, 4, 3, 16, 5, 6, tzinfo=UTC)),
        ("", None),
    ],
)
def test_worked_examples(value: str, expected: datetime | None) -> None:
    assert parse_smpp_time(value, NOW) == expected


def test_century_pivot_is_configurable() -> None:
    assert parse_smpp_time("370101000000000+", NOW).year == 2037
    assert parse_smpp_time("380101000000000+", NOW).year == 1938
    assert parse_smpp_time("380101000000000+", NOW, pivot=50).year == 2038


@pytest.mark.parametrize(
    "value",
    ["1502030405067", "151303040506700+", "150232040506700+", "150203250506700+",
     "150203040506749+", "150203040506700X", "15020304050670a+", "１50203040506700+"],
)
def test_malformed_times_raise_the_typed_error(value: str) -> None:
    with pytest.raises(SmppTimeError):
        parse_smpp_time(value, NOW)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2036, 12, 31)),
    st.integers(-48, 48),
)
def test_absolute_round_trip_to_a_tenth(moment: datetime, quarters: int) -> None:
    moment = moment.replace(tzinfo=UTC, microsecond=moment.microsecond // 100000 * 100000)
    assert parse_smpp_time(format_absolute(moment, quarters), NOW) == moment


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 99 * 86400))
def test_relative_round_trip(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_smpp_time(format_relative(delta), NOW) == NOW + delta
