"""GSM 03.38, the other alphabets, splitting and reassembly (REFERENCE.md §11)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import smpplib.gsm
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu.concat import (
    ConcatError,
    Reassembler,
    Scheme,
    capacity,
    parse_udh,
    split_binary,
    split_text,
)
from smsc.pdu.constants import DataCoding
from smsc.pdu.gsm7 import (
    BASIC,
    EXTENSION,
    GsmEncodeError,
    decode_gsm,
    encode_gsm,
    pack_septets,
    septet_count,
    unpack_septets,
)
from smsc.pdu.text import (
    TextError,
    choose_encoding,
    decode_text,
    decode_text_lenient,
    encode_text,
)

GSM_TABLE = json.loads((Path(__file__).parent.parent / "data" / "gsm0338.json").read_text())
GSM_CHARS = sorted(set(BASIC.replace("\x1b", "")) | set(EXTENSION.values()))
GSM_TEXT = st.text(st.sampled_from(GSM_CHARS))
SETTINGS = settings(max_examples=200, deadline=None)


def test_tables_match_the_shared_gsm0338_data() -> None:
    for code, entry in GSM_TABLE["basic"].items():
        if entry.get("unicode"):
            assert BASIC[int(code, 16)] == chr(int(entry["unicode"][2:], 16))
    assert {int(k, 16): chr(int(v["unicode"][2:], 16)) for k, v in
            GSM_TABLE["extension"].items()} == EXTENSION


@pytest.mark.parametrize(
    ("text", "packed"),
    [
        ("Hello", "c8329bfd06"),
        ("hellohello", "e8329bfd4697d9ec37"),
        ("12345678", "31d98c56b3dd70"),
        ("1234567", "31d98c56b3dd1a"),
        ("^{}\\[~]|€", "1bca06b5496d5e1bdea6b7f16d809b32"),
        ("\x0c", "1b05"),
    ],
)
def test_packing_examples(text: str, packed: str) -> None:
    assert pack_septets(encode_gsm(text)).hex() == packed
    assert decode_gsm(unpack_septets(bytes.fromhex(packed))) == text


def test_gsm_special_cases() -> None:
    assert encode_gsm("ç") == encode_gsm("Ç") == b"\x09"
    assert decode_gsm(b"\x09") == "Ç"
    assert decode_gsm(b"\x1b\x41") == "A"  # escape + undefined code: the basic character
    assert decode_gsm(b"\x00") == "@"  # NUL is a character, not a terminator
    assert septet_count("a€") == 3
    with pytest.raises(GsmEncodeError):
        encode_gsm("😀")


@SETTINGS
@given(GSM_TEXT)
def test_gsm_round_trips_unpacked_and_packed(text: str) -> None:
    septets = encode_gsm(text)
    assert decode_gsm(septets) == text
    unpacked = unpack_septets(pack_septets(septets))
    if not (septets.endswith(b"\r") and len(septets) % 8 == 0):  # ambiguous by 23.038 design
        assert unpacked == septets


@SETTINGS
@given(GSM_TEXT.filter(lambda t: "§" not in t and "\x0c" not in t))
def test_gsm_agrees_with_smpplib_where_its_table_is_right(text: str) -> None:
    assert smpplib.gsm.gsm_encode(text) == encode_gsm(text)


@SETTINGS
@given(st.text())
def test_ucs2_round_trips_any_text(text: str) -> None:
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    data = encode_text(text, DataCoding.UCS2)
    assert decode_text(data, DataCoding.UCS2) == text


def test_ucs2_surrogate_pair_vector() -> None:
    assert encode_text("Hi 😀", DataCoding.UCS2).hex() == "00480069" "0020d83dde00"


@pytest.mark.parametrize(
    ("coding", "text"),
    [(DataCoding.LATIN_1, "café"), (DataCoding.IA5, "plain"), (DataCoding.CYRILLIC, "Привет"),
     (0xF0, "flash"), (0xF2, "sim")],
)
def test_other_alphabets_round_trip(coding: int, text: str) -> None:
    assert decode_text(encode_text(text, coding), coding) == text


def test_binary_and_unencodable_text_are_typed_errors() -> None:
    with pytest.raises(TextError):
        encode_text("x", DataCoding.OCTET_UNSPECIFIED_2)
    with pytest.raises(TextError):
        encode_text("€", DataCoding.LATIN_1)
    with pytest.raises(TextError):
        decode_text(b"\x00\x41\x00", DataCoding.UCS2)
    lenient = decode_text_lenient(b"\xff\x41", DataCoding.SMSC_DEFAULT)
    assert lenient.problems and lenient.text


def test_choose_encoding_picks_the_narrowest() -> None:
    assert choose_encoding("Hello €")[0] == DataCoding.SMSC_DEFAULT
    assert choose_encoding("naïve")[0] == DataCoding.UCS2
    assert choose_encoding("naïve", allow_latin1=True) == (DataCoding.LATIN_1, b"na\xefve")
    assert choose_encoding("😀")[0] == DataCoding.UCS2


def test_capacities_follow_the_table() -> None:
    gsm, octets, ucs2 = DataCoding.SMSC_DEFAULT, DataCoding.OCTET_UNSPECIFIED_2, DataCoding.UCS2
    assert [capacity(gsm, h) for h in (0, 6, 7)] == [160, 153, 152]
    assert [capacity(octets, h) for h in (0, 6, 7)] == [140, 134, 133]
    assert [capacity(ucs2, h) // 2 for h in (0, 6, 7)] == [70, 67, 66]


TEXTS = st.one_of(
    GSM_TEXT.map(lambda t: (t, DataCoding.SMSC_DEFAULT)),
    st.text(min_size=1).map(
        lambda t: (t.encode("utf-16", "surrogatepass").decode("utf-16", "replace"),
                   DataCoding.UCS2)
    ),
)


@SETTINGS
@given(TEXTS, st.sampled_from([Scheme.UDH8, Scheme.UDH16, Scheme.SAR]),
       st.integers(0, 0xFFFF), st.randoms(use_true_random=False), st.integers(1, 5))
def test_split_then_reassemble_in_any_order_gives_the_text(
    sample: tuple[str, int], scheme: Scheme, reference: int, rng: random.Random, repeat: int
) -> None:
    text, coding = sample
    text = text * repeat
    parts = split_text(text, coding, scheme=scheme, reference=reference)
    for part in parts:
        assert len(part.user_data) <= (160 if coding == DataCoding.SMSC_DEFAULT else 140)
        body = parse_udh(part.user_data)[1] if part.udhi else part.user_data
        decode_text(body, coding)  # every part decodes on its own: no pair was cut
    rng.shuffle(parts)
    assembler = Reassembler()
    results = [
        assembler.add(originator="a", recipient="b", user_data=p.user_data, udhi=p.udhi,
                      sar=p.sar, now=0.0)
        for p in parts
    ]
    whole = [r for r in results if r is not None]
    assert len(whole) == 1
    assert decode_text(whole[0].user_data, coding) == text
    assert not assembler.diagnostics


def test_udh_layouts_and_payload_scheme() -> None:
    parts = split_text("x" * 200, DataCoding.SMSC_DEFAULT, scheme=Scheme.UDH8, reference=42)
    assert parts[0].user_data[:6].hex() == "0500032a0201"
    parts = split_text("x" * 200, DataCoding.SMSC_DEFAULT, scheme=Scheme.UDH16, reference=0x1234)
    assert parts[1].user_data[:7].hex() == "06080412340202"
    (payload,) = split_binary(bytes(1000), scheme=Scheme.PAYLOAD, reference=0)
    assert payload.in_payload and len(payload.user_data) == 1000
    assert split_text("short", DataCoding.SMSC_DEFAULT, scheme=Scheme.UDH8, reference=1)[0].udhi \
        is False


def test_escape_pairs_are_never_split() -> None:
    text = "€" * 100  # 200 septets
    parts = split_text(text, DataCoding.SMSC_DEFAULT, scheme=Scheme.UDH8, reference=1)
    for part in parts:
        assert not parse_udh(part.user_data)[1].endswith(b"\x1b")


@pytest.mark.parametrize("data", [b"\x05\x00\x03\x01", b"\x03\x00\x05\x01\x02", b""])
def test_malformed_udh_is_a_typed_error(data: bytes) -> None:
    with pytest.raises(ConcatError):
        parse_udh(data)


def test_reassembler_reports_inconsistent_parts_and_expires() -> None:
    assembler = Reassembler(timeout=10)
    add = assembler.add
    assert add(originator="a", recipient="b", user_data=b"\x05\x00\x03\x07\x03\x01x",
               udhi=True, sar=None, now=0) is None
    assert add(originator="a", recipient="b", user_data=b"\x05\x00\x03\x07\x02\x02y",
               udhi=True, sar=None, now=1) is None
    assert add(originator="a", recipient="b", user_data=b"\x05\x00\x03\x07\x03\x04y",
               udhi=True, sar=None, now=1) is None
    assert len(assembler.diagnostics) == 2
    assert assembler.expire(5) == 0
    assert assembler.expire(10) == 1
