"""Delivery receipt text: the canonical form we emit and the variants we read (§10)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu import decode
from smsc.pdu.receipt_text import (
    format_receipt_text,
    parse_receipt_text,
    receipt_ids_match,
)

VECTORS = json.loads((Path(__file__).parent.parent / "data" / "vectors.json").read_text())


def test_canonical_form() -> None:
    text = format_receipt_text(
        message_id="2a", stat="DELIVRD", submit_date=datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
        done_date=datetime(2024, 1, 2, 3, 5, tzinfo=UTC), text="hello world, a long text",
    )
    assert text == (
        "id:2a sub:001 dlvrd:001 submit date:2401020304 done date:2401020305 stat:DELIVRD "
        "err:000 text:hello world, a long "
    )


@pytest.mark.parametrize("name", ["deliver_sm_dlr_appendix_b",
                                  "deliver_sm_dlr_with_network_error_code"])
def test_receipts_inside_the_vectors(name: str) -> None:
    vector = next(v for v in VECTORS["vectors"] if v["name"] == name)
    pdu = decode(bytes.fromhex(vector["hex"]))
    expected = vector["decoded"]["interpretation"]["delivery_receipt"]
    parsed = parse_receipt_text(pdu.short_message.decode("latin-1"))
    assert parsed is not None
    assert parsed.id == expected["id"]
    assert parsed.stat == expected["stat"]
    assert parsed.err == expected["err"]
    assert parsed.sub == int(expected["sub"]) and parsed.dlvrd == int(expected["dlvrd"])
    assert parsed.submit_date is not None and parsed.done_date is not None
    assert receipt_ids_match(parsed.id, pdu.receipted_message_id)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("id:123 sub:1 dlvrd:1 submit date:1002101730 done date:1002101731 stat:DELIVRD "
         "err:0 Text:hi", "text", "hi"),
        ("id:abc-DEF_1 stat:UNDELIV err:21b", "err", "21b"),
        ("stat:EXPIRED id:77 submit date:20240102030405", "submit_date",
         datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("id:77 done date:240102030405 stat:DELIVRD", "done_date",
         datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("id:5", "stat", None),
    ],
)
def test_variants(text: str, field: str, value: object) -> None:
    parsed = parse_receipt_text(text)
    assert parsed is not None
    assert getattr(parsed, field) == value


def test_non_receipts_give_none() -> None:
    assert parse_receipt_text("hello there") is None
    assert parse_receipt_text("") is None


def test_id_matching_across_bases() -> None:
    assert receipt_ids_match("0059113978", "38601fa")
    assert receipt_ids_match("ABC", "abc")
    assert not receipt_ids_match("12", "13")


@settings(max_examples=100, deadline=None)
@given(
    st.text("0123456789abcdef-", min_size=1, max_size=64),
    st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"]),
    st.integers(0, 999),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20).filter(
        lambda t: ":" not in t
    ),
)
def test_format_then_parse(message_id: str, stat: str, err: int, text: str) -> None:
    moment = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)
    parsed = parse_receipt_text(format_receipt_text(
        message_id=message_id, stat=stat, submit_date=moment, done_date=moment, err=err,
        text=text,
    ))
    assert parsed is not None
    assert (parsed.id, parsed.stat, parsed.err, parsed.text) == (
        message_id, stat, f"{err:03d}", text
    )
    assert parsed.submit_date == moment == parsed.done_date
