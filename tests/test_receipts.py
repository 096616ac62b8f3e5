"""Receipt dialects, compiled: the default is the canonical Appendix B line, every option
changes only what it names, and our parser reads every dialect back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.config import ErrCodes, ReceiptDialectConfig
from smsc.pdu import DataSm, DeliverSm, EncodeError, PrebuiltDeliverSm, decode, encode, expand
from smsc.pdu.constants import MessageState, Tag
from smsc.pdu.receipt_text import format_receipt_text, parse_receipt_text, receipt_ids_match
from smsc.pdu.tlv import encode_tlvs
from smsc.receipts import ReceiptDialect, ReceiptDialects, date_writer, printable_start
from smsc.store import Message, NewMessage, OutboundItem, OutboundKind

SUBMITTED = datetime(2026, 12, 1, 23, 59, 58, tzinfo=UTC)
DONE = datetime(2026, 12, 2, 0, 1, 7, tzinfo=UTC)


def message(state: MessageState = MessageState.DELIVERED, error: int | None = None,
            **fields: object) -> Message:
    values: dict[str, object] = {
        "system_id": "a", "source_addr": "4915100000001", "destination_addr": "4915100000002",
        "payload": b"Hello\x01world, a message longer than twenty", "submitted_at": SUBMITTED,
        "registered_delivery": 1,
    }
    values.update(fields)
    return Message(3054, NewMessage(**values), state, 1, None, DONE, error)  # type: ignore[arg-type]


def receipt(dialect: ReceiptDialectConfig, msg: Message | None = None,
            kind: OutboundKind = OutboundKind.RECEIPT, *, with_tlvs: bool = True,
            submit_id_format: str = "hex") -> DeliverSm | DataSm:
    item = OutboundItem(1, "a", kind, msg or message())
    pdu = ReceiptDialect(dialect, submit_id_format=submit_id_format).build(
        item, with_tlvs=with_tlvs, now=DONE)
    assert pdu is not None
    return decode(encode(pdu))  # type: ignore[return-value]


def test_default_is_the_canonical_appendix_b_line_with_every_tlv() -> None:
    pdu = receipt(ReceiptDialectConfig())
    assert isinstance(pdu, DeliverSm) and pdu.esm_class == 0x04 and pdu.data_coding == 0
    assert pdu.short_message.decode() == format_receipt_text(
        message_id="bee", stat="DELIVRD", submit_date=SUBMITTED, done_date=DONE,
        text="Hello.world, a message",
    )
    assert pdu.receipted_message_id == "bee"  # type: ignore[attr-defined]
    assert pdu.message_state == MessageState.DELIVERED  # type: ignore[attr-defined]
    assert pdu.network_error_code is None  # type: ignore[attr-defined]
    assert (pdu.source_addr, pdu.destination_addr) == ("4915100000002", "4915100000001")


def test_v33_binds_get_the_text_and_no_tlvs() -> None:
    pdu = receipt(ReceiptDialectConfig(text=False), with_tlvs=False)
    assert pdu.tlvs == {} and pdu.short_message.startswith(b"id:bee ")  # type: ignore[union-attr]


def test_ids_dates_case_fields_and_padding() -> None:
    config = ReceiptDialectConfig(
        name="x", id_format="decimal", id_width=10, tlv_id_format="hex_upper",
        date_format="yyyymmddhhmmss", label_case="upper", count_width=0, err_width=0,
        fields=("stat", "id", "err", "done date", "sub", "dlvrd"),
    )
    text = receipt(config, message(MessageState.UNDELIVERABLE, 27)).short_message.decode()  # type: ignore[union-attr]
    assert text == "STAT:UNDELIV ID:0000003054 ERR:27 DONE DATE:20261202000107 SUB:1 DLVRD:0"
    pdu = receipt(config)
    parsed = parse_receipt_text(pdu.short_message.decode())  # type: ignore[union-attr]
    assert parsed is not None and parsed.done_date == DONE and parsed.submit_date is None
    assert pdu.receipted_message_id == "BEE"  # type: ignore[attr-defined]
    assert receipt_ids_match(parsed.id, pdu.receipted_message_id)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("fields", "expected"), [
    (("id", "text", "stat"), "id:bee text:Hello.world, a messa stat:DELIVRD"),
    (("text", "id", "stat"), "text:Hello.world, a messa id:bee stat:DELIVRD"),
    (("stat", "text"), "stat:DELIVRD text:Hello.world, a messa"),
    (("id", "err"), "id:bee err:000"),
])
def test_the_id_and_the_text_go_where_the_fields_put_them(fields: tuple[str, ...],
                                                           expected: str) -> None:
    dialect = ReceiptDialectConfig(fields=fields)
    for _ in range(2):  # written, then from the shell kept for the minute
        assert receipt(dialect).short_message.decode() == expected  # type: ignore[union-attr]


def test_spec_labels_seconds_and_hex_ids_from_a_decimal_smsc() -> None:
    config = ReceiptDialectConfig(name="x", label_case="spec", date_format="yymmddhhmmss",
                                  id_format="hex", text_chars=5)
    pdu = receipt(config, submit_id_format="decimal")
    text = pdu.short_message.decode()  # type: ignore[union-attr]
    assert text.startswith("id:bee ") and text.endswith(" Text:Hello")
    assert "submit date:261201235958 " in text
    assert pdu.receipted_message_id == "3054"  # type: ignore[attr-defined]  # as submit_sm_resp
    parsed = parse_receipt_text(text)
    assert parsed is not None and parsed.submit_date == SUBMITTED and parsed.text == "Hello"
    assert receipt_ids_match(parsed.id, pdu.receipted_message_id)  # type: ignore[attr-defined]


def test_err_mapping_and_network_error_code() -> None:
    config = ReceiptDialectConfig(
        name="x", err_hex=True, err_codes=ErrCodes(delivered=0, expired=0x1F),
        network_type=1, network_error_on_success=True,
    )
    expired = receipt(config, message(MessageState.EXPIRED, 27))
    assert "err:01f" in expired.short_message.decode()  # type: ignore[union-attr]
    assert expired.network_error_code == b"\x01\x00\x1b"  # type: ignore[attr-defined]
    undeliv = receipt(config, message(MessageState.UNDELIVERABLE, 300))
    assert "err:12c" in undeliv.short_message.decode()  # type: ignore[union-attr]
    delivered = receipt(config, message(MessageState.DELIVERED, None))
    assert "err:000" in delivered.short_message.decode()  # type: ignore[union-attr]
    assert delivered.network_error_code == b"\x01\x00\x00"  # type: ignore[attr-defined]
    wide = receipt(ReceiptDialectConfig(), message(MessageState.UNDELIVERABLE, 1234))
    assert "err:234" in wide.short_message.decode()  # type: ignore[union-attr]


def test_tlv_only_and_chosen_tlvs() -> None:
    pdu = receipt(ReceiptDialectConfig(name="x", text=False))
    assert pdu.short_message == b""  # type: ignore[union-attr]
    assert pdu.receipted_message_id == "bee"  # type: ignore[attr-defined]
    assert pdu.message_state == MessageState.DELIVERED  # type: ignore[attr-defined]
    only_id = receipt(ReceiptDialectConfig(name="y", tlvs=("receipted_message_id",)),
                      message(MessageState.UNDELIVERABLE, 5))
    assert set(only_id.tlvs) == {Tag.receipted_message_id}


def test_data_sm_receipts_carry_the_text_in_message_payload() -> None:
    pdu = receipt(ReceiptDialectConfig(name="x", pdu="data_sm"))
    assert isinstance(pdu, DataSm) and pdu.esm_class == 0x04
    parsed = parse_receipt_text(pdu.message_payload.decode())  # type: ignore[attr-defined]
    assert parsed is not None and parsed.id == "bee" and parsed.stat == "DELIVRD"
    tlv_only = receipt(ReceiptDialectConfig(name="y", pdu="data_sm", text=False))
    assert Tag.message_payload not in tlv_only.tlvs
    # a v3.3 bind knows no data_sm: it gets the deliver_sm
    assert isinstance(receipt(ReceiptDialectConfig(name="z", pdu="data_sm"), with_tlvs=False),
                      DeliverSm)


def test_intermediate_notices_follow_the_dialect() -> None:
    enroute = receipt(ReceiptDialectConfig(), message(MessageState.ENROUTE),
                      OutboundKind.INTERMEDIATE)
    assert enroute.esm_class == 0x20 and "stat:ENROUTE" in enroute.short_message.decode()  # type: ignore[union-attr]
    assert enroute.message_state == MessageState.ENROUTE  # type: ignore[attr-defined]
    quiet = ReceiptDialect(ReceiptDialectConfig(name="x", intermediate=()))
    item = OutboundItem(1, "a", OutboundKind.INTERMEDIATE, message(MessageState.ENROUTE))
    assert quiet.build(item, with_tlvs=True, now=DONE) is None


def test_sme_acknowledgements_come_from_the_handset_with_the_references() -> None:
    original = message(extra=encode_tlvs({Tag.user_message_reference: 77}))
    delivery = receipt(ReceiptDialectConfig(), original, OutboundKind.DELIVERY_ACK)
    manual = receipt(ReceiptDialectConfig(manual_ack_text="YES"), original,
                     OutboundKind.MANUAL_ACK)
    assert (delivery.esm_class, manual.esm_class) == (0x08, 0x10)
    assert delivery.short_message == b"" and manual.short_message == b"YES"  # type: ignore[union-attr]
    for ack in (delivery, manual):
        assert ack.source_addr == "4915100000002" and ack.destination_addr == "4915100000001"
        assert ack.user_message_reference == 77  # type: ignore[attr-defined]
        assert ack.receipted_message_id == "bee"  # type: ignore[attr-defined]
    assert receipt(ReceiptDialectConfig(), original).user_message_reference == 77  # type: ignore[attr-defined]


@pytest.mark.parametrize(("network", "system_id", "expected"), [
    ("n1", "a", "net"), ("n2", "a", "acct"), ("n2", "b", "appendix_b")])
def test_network_dialect_wins_over_the_account_one(network: str, system_id: str,
                                                   expected: str) -> None:
    dialects = ReceiptDialects(
        (ReceiptDialectConfig(name="net"), ReceiptDialectConfig(name="acct")),
        accounts={"a": "acct", "b": ""}, networks={"n1": "net", "n2": ""},
    )
    chosen = dialects.for_fields(message(network=network, system_id=system_id).fields)
    assert chosen.name == expected


def test_acceptance_notice_says_acceptd() -> None:
    dialect = ReceiptDialectConfig(name="x", intermediate=("accepted",))
    pdu = receipt(dialect, message(MessageState.ENROUTE), OutboundKind.ACCEPTED)
    assert pdu.esm_class == 0x20 and pdu.message_state == MessageState.ACCEPTED  # type: ignore[attr-defined]
    parsed = parse_receipt_text(pdu.short_message.decode())  # type: ignore[union-attr]
    assert parsed is not None and parsed.stat == "ACCEPTD" and parsed.dlvrd == 0
    dialects = ReceiptDialects((dialect,), accounts={"a": "x"}, networks={})
    assert dialects.any_notify_acceptance
    assert dialects.notifies_acceptance(message().fields)
    assert not dialects.notifies_acceptance(message(system_id="b").fields)
    assert not ReceiptDialects((), accounts={}, networks={}).any_notify_acceptance


@settings(max_examples=200, deadline=None)
@given(moments=st.lists(st.datetimes(min_value=datetime(2000, 1, 1),
                                     max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
                        min_size=1, max_size=50),
       pattern=st.sampled_from(["yymmddhhmm", "yymmddhhmmss", "yyyymmddhhmmss"]))
def test_cached_dates_read_as_written(moments: list[datetime], pattern: str) -> None:
    date = date_writer(pattern)
    strftime_form = {"yymmddhhmm": "%y%m%d%H%M", "yymmddhhmmss": "%y%m%d%H%M%S",
                     "yyyymmddhhmmss": "%Y%m%d%H%M%S"}[pattern]
    # each written, then found again: by its minute (or second), and by being the same object
    for moment in moments + moments[::-1] + [m for m in moments for _ in (1, 2)]:
        assert date(moment) == moment.strftime(strftime_form)


def test_printable_start_turns_everything_else_into_dots() -> None:
    assert printable_start(b"Hi\x00\x1f\x7f\xe9 there", 0, 0, 20) == "Hi.... there"
    assert printable_start(b"\x05\x00\x03\x01\x02\x01Part", 0, 0x40, 20) == "Part"
    assert printable_start("Grüße".encode("utf-16-be"), 8, 0, 20) == ""  # UCS2: no text


_ADDRESSES = st.from_regex(r"[0-9]{0,20}", fullmatch=True) | st.text(
    st.characters(min_codepoint=0, max_codepoint=0x17F), max_size=24)
"""Mostly numbers as they come, sometimes what no address field holds (too long, NUL, not
latin-1)."""
_OCTETS = st.integers(0, 255) | st.just(256)


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(list(MessageState)),
    error=st.none() | st.integers(0, 0xFFFF),
    source=_ADDRESSES,
    destination=_ADDRESSES,
    tons=st.tuples(*(_OCTETS for _ in range(4))),
    reference=st.none() | st.integers(0, 0xFFFF),
    dialect=st.builds(
        ReceiptDialectConfig,
        pdu=st.sampled_from(("deliver_sm", "data_sm")), text=st.booleans(),
        id_format=st.sampled_from(("submit", "hex", "decimal")),
        id_width=st.sampled_from((0, 10, 64)), tlv_id_width=st.sampled_from((0, 64, 65)),
        network_error_on_success=st.booleans(),
        tlvs=st.sampled_from(((), ("message_state",),
                              ("receipted_message_id", "message_state", "network_error_code")))),
    with_tlvs=st.booleans(),
    kind=st.sampled_from((OutboundKind.RECEIPT, OutboundKind.RECEIPT, OutboundKind.DELIVERY_ACK)),
)
def test_prebuilt_receipts_are_the_bytes_the_codec_writes(
    state: MessageState, error: int | None, source: str, destination: str,
    tons: tuple[int, int, int, int], reference: int | None,
    dialect: ReceiptDialectConfig, with_tlvs: bool, kind: OutboundKind,
) -> None:
    """Whatever the dialect and the fields, a prebuilt receipt is what building the PDU and
    encoding it gives, and where the codec refuses a field the prebuilt path refuses it too."""
    extra = b"" if reference is None else encode_tlvs({Tag.user_message_reference: reference})
    msg = message(state, error, source_addr=source, destination_addr=destination,
                  source_addr_ton=tons[0], source_addr_npi=tons[1], dest_addr_ton=tons[2],
                  dest_addr_npi=tons[3], extra=extra)
    item = OutboundItem(1, "a", kind, msg)
    compiled = ReceiptDialect(dialect)
    built = compiled.build(item, with_tlvs=with_tlvs, now=DONE)
    prebuilt = compiled.build_prebuilt(item, with_tlvs=with_tlvs, now=DONE)
    assert built is not None and prebuilt is not None
    built.sequence_number = prebuilt.sequence_number = 77
    try:
        expected = encode(built)
    except EncodeError:
        with pytest.raises(EncodeError):
            encode(prebuilt)
        return
    assert encode(prebuilt) == expected
    assert expand(prebuilt) == decode(expected)


@pytest.mark.parametrize(("tlv_id_width", "address"), [
    (64, "1" * 20), (65, "1" * 20), (0, "1" * 21), (0, "é" * 20), (0, "\u0100")])
def test_prebuilt_receipts_at_the_field_limits(tlv_id_width: int, address: str) -> None:
    """The longest receipted_message_id and address that fit, and one over: prebuilt or
    refused exactly as the codec does."""
    item = OutboundItem(1, "a", OutboundKind.RECEIPT, message(source_addr=address))
    compiled = ReceiptDialect(ReceiptDialectConfig(tlv_id_width=tlv_id_width))
    built = compiled.build(item, with_tlvs=True, now=DONE)
    prebuilt = compiled.build_prebuilt(item, with_tlvs=True, now=DONE)
    assert built is not None and prebuilt is not None
    try:
        expected = encode(built)
    except EncodeError:
        assert not isinstance(prebuilt, PrebuiltDeliverSm)
        return
    assert isinstance(prebuilt, PrebuiltDeliverSm) and encode(prebuilt) == expected


_RUN_DIALECTS = (ReceiptDialectConfig(name="upper", label_case="upper", id_format="decimal"),
                 ReceiptDialectConfig(name="v33ish", tlvs=("message_state",), text=False))


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(st.tuples(
        st.sampled_from((OutboundKind.RECEIPT, OutboundKind.RECEIPT, OutboundKind.RECEIPT,
                         OutboundKind.MO, OutboundKind.DELIVERY_ACK)),
        st.sampled_from(("a", "b", "c")),
        st.sampled_from((MessageState.DELIVERED, MessageState.UNDELIVERABLE)),
        st.none() | st.integers(0, 0xFFFF),
        st.from_regex(r"[0-9]{0,20}", fullmatch=True) | st.just("1" * 21),
    ), max_size=12),
    start=st.integers(0, 3),
    with_tlvs=st.booleans(),
    by_account=st.booleans(),
)
def test_a_run_of_receipts_is_each_one_prebuilt_up_to_the_first_that_is_not(
    entries: list[tuple[OutboundKind, str, MessageState, int | None, str]], start: int,
    with_tlvs: bool, by_account: bool,
) -> None:
    """`prebuilt_receipts` gives, from `start` on, exactly the prebuilt receipts `build_prebuilt`
    gives one by one, each in its own account's dialect, and stops at the first item that is
    not a receipt prebuilt (an MO message, an acknowledgement, an address too long)."""
    dialects = ReceiptDialects(
        _RUN_DIALECTS, accounts={"a": "upper", "b": "v33ish", "c": ""} if by_account else {},
        networks={})
    items = [OutboundItem(index, system_id, kind,
                          Message(3054 + index, message(system_id=system_id,
                                                        source_addr=address).fields,
                                  state, 1, None, DONE, error))
             for index, (kind, system_id, state, error, address) in enumerate(entries)]
    expected: list[bytes] = []
    for item in items[start:]:
        pdu = dialects.for_fields(item.message.fields).build_prebuilt(item, with_tlvs, DONE)
        if item.kind is not OutboundKind.RECEIPT or not isinstance(pdu, PrebuiltDeliverSm):
            break
        expected.append(encode(pdu))
    run = dialects.prebuilt_receipts(items, start, with_tlvs, DONE)
    assert [encode(pdu) for pdu in run] == expected


def test_common_receipts_are_prebuilt() -> None:
    item = OutboundItem(1, "a", OutboundKind.RECEIPT, message())
    for with_tlvs in (True, False):
        pdu = ReceiptDialect(ReceiptDialectConfig()).build_prebuilt(item, with_tlvs=with_tlvs,
                                                                    now=DONE)
        assert isinstance(pdu, PrebuiltDeliverSm)


def test_receipts_sharing_dates_keep_their_own_ids_texts_and_errors() -> None:
    """One compiled dialect, many receipts of the same minute: each text is its own."""
    compiled = ReceiptDialect(ReceiptDialectConfig())
    cases = [(3054, b"first {0} {1}", MessageState.DELIVERED, None),
             (3055, b"second", MessageState.DELIVERED, None),
             (3056, b"third", MessageState.UNDELIVERABLE, 27),
             (3057, b"fourth", MessageState.UNDELIVERABLE, 28)]
    for message_id, text, state, error in cases:
        msg = Message(message_id, message(payload=text).fields, state, 1, None, DONE, error)
        line = compiled.text_of(msg, format(message_id, "x").encode(), state, DONE).decode()
        parsed = parse_receipt_text(line)
        assert parsed is not None
        assert (parsed.id, parsed.stat, parsed.text) == (
            format(message_id, "x"), state.stat_word, text.decode())
        assert parsed.err == ("000" if error is None else f"{error:03d}")
