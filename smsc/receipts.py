"""What the SMSC owes an ESME, as a deliver_sm (or data_sm): delivery receipts, intermediate
notifications, SME acknowledgements and mobile-originated messages.

A ReceiptDialect is built once per configured dialect, with every choice (field order, label
case, id and date forms, TLVs) turned into a template and a few precomputed values, so that
building one receipt costs one string format and one PDU whatever the dialect. The default
dialect is SMPP 3.4 Appendix B in the form of REFERENCE.md §10.4 with receipted_message_id,
message_state and network_error_code for v3.4 ESMEs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from smsc.config import AccountConfig, ReceiptDialectConfig
from smsc.pdu import DataSm, DeliverSm, EncodeError, Pdu, PrebuiltDeliverSm
from smsc.pdu.concat import Scheme, split_binary, split_text
from smsc.pdu.constants import DataCoding, EsmType, MessageState, Tag
from smsc.pdu.messages import NO_TLVS
from smsc.pdu.text import decode_text
from smsc.pdu.tlv import decode_tlvs, encode_tlvs
from smsc.store.models import Message, NewMessage, OutboundItem, OutboundKind

GSM_NETWORK_TYPE = 3
_PRINTABLE = bytes(code if 0x20 <= code <= 0x7E else 0x2E for code in range(256))
"""bytes.translate table: everything outside printable ASCII becomes a dot."""
_KEPT_TLVS = frozenset({Tag.user_message_reference, Tag.sar_msg_ref_num,
                        Tag.sar_total_segments, Tag.sar_segment_seqnum})
_TEXT_CODINGS = frozenset({DataCoding.SMSC_DEFAULT, DataCoding.IA5, DataCoding.LATIN_1})
_ERR_FIELDS = {
    MessageState.DELIVERED: "delivered", MessageState.EXPIRED: "expired",
    MessageState.DELETED: "deleted", MessageState.UNDELIVERABLE: "undeliverable",
    MessageState.REJECTED: "rejected", MessageState.ENROUTE: "enroute",
    MessageState.ACCEPTED: "accepted",
}
_STAT_WORDS = {state: state.stat_word for state in MessageState}
_TWO = "{:02d}{:02d}{:02d}{:02d}{:02d}".format
_THREE = "{:02d}{:02d}{:02d}{:02d}{:02d}{:02d}".format
_FOUR = "{:04d}{:02d}{:02d}{:02d}{:02d}{:02d}".format
_DATE_PATTERNS: dict[str, Callable[[datetime], str]] = {
    "yymmddhhmm": lambda d: _TWO(d.year % 100, d.month, d.day, d.hour, d.minute),
    "yymmddhhmmss": lambda d: _THREE(d.year % 100, d.month, d.day, d.hour, d.minute, d.second),
    "yyyymmddhhmmss": lambda d: _FOUR(d.year, d.month, d.day, d.hour, d.minute, d.second),
}
"""Date writers, faster than strftime (which dominated a receipt's cost)."""
_DATE_UNITS = {"yymmddhhmm": 60, "yymmddhhmmss": 1, "yyyymmddhhmmss": 1}
"""Seconds one written date stands for: receipts of the same minute (or second) share it."""
_DATES_KEPT = 1024
_SHELLS_KEPT = 1024
# Enum members as module constants (docs/architecture.md, "Hot-path idioms").
_RECEIPT = OutboundKind.RECEIPT
_DELIVERY_RECEIPT = EsmType.DELIVERY_RECEIPT
_USER_MESSAGE_REFERENCE = Tag.user_message_reference
_new = object.__new__


def date_writer(pattern: str) -> Callable[[datetime], str]:
    """The writer of `pattern` with a small cache of the dates it wrote: most receipts carry
    the same minute twice (submitted and done) and share it with the receipts around them,
    and a lookup costs a third of a write. Dates are UTC-aware (the clock's wall time)."""
    write = _DATE_PATTERNS[pattern]
    unit = _DATE_UNITS[pattern]
    written: dict[float, str] = {}
    last: datetime | None = None
    last_text = ""

    def date(moment: datetime) -> str:
        nonlocal last, last_text
        if moment is last:  # the submits of a chunk share one time object (SmscService)
            return last_text
        key = moment.timestamp() // unit
        text = written.get(key)
        if text is None:
            if len(written) >= _DATES_KEPT:
                written.clear()
            text = written[key] = write(moment)
        last, last_text = moment, text
        return text

    return date
_ARGUMENTS = {"id": 0, "sub": 1, "dlvrd": 2, "submit date": 3, "done date": 4, "stat": 5,
              "err": 6, "text": 7}
"""Position of each field's value in the template's arguments."""

APPENDIX_B = ReceiptDialectConfig()


def id_formatter(style: str, width: int, submit_style: str) -> Callable[[int], str]:
    """The function that writes a message id in `style` ("submit" follows submit_sm_resp)."""
    if style == "submit":
        style = "hex" if submit_style == "hex" else "decimal"
    letter = {"hex": "x", "hex_upper": "X", "decimal": "d"}[style]
    spec = f"0{width}{letter}" if width else letter
    # printf-style, as a bound method: one C call per id (`format` runs in a Python frame)
    return f"%{spec}".__mod__


def printable_start(payload: bytes, data_coding: int, esm_class: int, chars: int) -> str:
    """The first `chars` characters of a text message, non-printables as dots ("" for
    binary and UCS2 messages, whose octets are no text a receipt can carry)."""
    if esm_class & 0x40 and payload:
        payload = payload[1 + payload[0]:]  # skip the user data header
    if data_coding not in _TEXT_CODINGS:
        return ""
    return payload[:chars].translate(_PRINTABLE).decode("ascii")


class ReceiptDialect:
    """One receipt dialect, compiled: builds the PDU for any outbound item."""

    def __init__(self, config: ReceiptDialectConfig, *, submit_id_format: str = "hex") -> None:
        self.config = config
        self.name = config.name
        self._data_sm = config.pdu == "data_sm"
        self._text = config.text
        self._text_id = id_formatter(config.id_format, config.id_width, submit_id_format)
        same_ids = (config.tlv_id_format, config.tlv_id_width) == (
            config.id_format, config.id_width)
        self._tlv_id = None if same_ids else id_formatter(
            config.tlv_id_format, config.tlv_id_width, submit_id_format)
        self._date = date_writer(config.date_format)
        self._shells: dict[tuple[str, str, MessageState, int],
                           tuple[bytes, bytes, bytes] | str] = {}
        """The receipt texts of a minute, state and error, all but the id and the text: as
        (before the id, between, after the text) when the id comes first (three
        concatenations, a third of what `str.format` costs), else as a format string."""
        self._done_at: datetime | None = None
        self._done = ""
        self._submitted_at: datetime | None = None
        self._submitted = ""
        """The last done and submit dates written, and the moments they were written for."""
        self._template = self._make_template(config)
        count = f"0{config.count_width}d" if config.count_width else "d"
        self._sub = format(1, count)
        self._dlvrd = (format(0, count), format(1, count))
        radix = "x" if config.err_hex else "d"
        self._err_spec = f"0{config.err_width}{radix}" if config.err_width else radix
        self._err_modulus = ((16 if config.err_hex else 10) ** config.err_width
                             if config.err_width else None)
        """err: keeps its width (Table B-1: 3 digits); larger codes wrap."""
        codes = config.err_codes
        self._err_of = {state: getattr(codes, name) for state, name in _ERR_FIELDS.items()
                        if getattr(codes, name) >= 0}
        self._text_chars = config.text_chars
        tlvs = set(config.tlvs)
        self._tlv_receipted = "receipted_message_id" in tlvs
        self._tlv_state = "message_state" in tlvs
        self._tlv_network = "network_error_code" in tlvs
        self._network_type = bytes((config.network_type,))
        self._network_on_success = config.network_error_on_success
        self._usual_tlvs = (self._tlv_receipted and self._tlv_id is None and self._tlv_state
                            and not self._network_on_success)
        """Whether a receipt without a network error code or kept TLVs (the usual one) has
        exactly the two TLVs `_USUAL_TLVS` writes: receipted_message_id in the text's id
        form, then message_state."""
        self._enroute = "enroute" in config.intermediate
        self.notifies_acceptance = "accepted" in config.intermediate
        self._manual_ack_text = config.manual_ack_text.encode("latin-1", "replace")

    @staticmethod
    def _make_template(config: ReceiptDialectConfig) -> str:
        def label(name: str) -> str:
            if config.label_case == "upper":
                return name.upper()
            if config.label_case == "spec" and name == "text":
                return "Text"
            return name

        return " ".join(
            f"{label(name)}:{{{_ARGUMENTS[name]}}}" for name in config.fields
        )

    # -- receipts ----------------------------------------------------------------------------

    def text_of(self, message: Message, message_id: bytes, state: MessageState,
                now: datetime) -> bytes:
        """The receipt text in this dialect, as the octets a receipt carries (ASCII);
        `message_id` is the text's id, already octets (the receipted_message_id TLV takes the
        same ones)."""
        fields = message.fields
        err = self._err_of.get(state)
        if err is None:
            err = message.network_error_code or 0
        if self._err_modulus is not None:
            err %= self._err_modulus
        done_at = message.final_at or now
        if done_at is self._done_at:  # a batch's receipts share their done date's object
            done = self._done
        else:
            done = self._done = self._date(done_at)
            self._done_at = done_at
        submitted_at = fields.submitted_at or now
        if submitted_at is self._submitted_at:  # and a read chunk's submits their time's
            submitted = self._submitted
        else:
            submitted = self._submitted = self._date(submitted_at)
            self._submitted_at = submitted_at
        key = (submitted, done, state, err)
        shell = self._shells.get(key)
        if shell is None:
            shell = self._shell(*key)
        chars = self._text_chars
        if not chars:
            text = b""
        elif fields.esm_class & 0x40 or fields.data_coding not in _TEXT_CODINGS:
            text = printable_start(fields.payload, fields.data_coding, fields.esm_class,
                                   chars).encode("ascii")
        else:  # the usual plain text, written here: printable ASCII octets already
            text = fields.payload[:chars].translate(_PRINTABLE)
        if type(shell) is tuple:
            before, between, after = shell
            return before + message_id + between + text + after
        return shell.format(  # type: ignore[union-attr]
            message_id.decode("ascii"), text.decode("ascii")).encode("ascii", "replace")

    def _shell(self, submitted: str, done: str, state: MessageState, err: int
               ) -> tuple[bytes, bytes, bytes] | str:
        """The template with everything but the id and the text filled in: receipts of the
        same dates, state and error share it (most of a busy minute's receipts). As octets
        (ASCII) when it is three parts, else a format string."""
        shells = self._shells
        if len(shells) >= _SHELLS_KEPT:
            shells.clear()
        written = self._template.format(
            "{0}", self._sub, self._dlvrd[state is MessageState.DELIVERED], submitted, done,
            _STAT_WORDS[state], format(err, self._err_spec), "{1}")
        shell: tuple[bytes, bytes, bytes] | str = written
        before, has_id, rest = written.partition("{0}")
        between, has_text, after = rest.partition("{1}")
        others = before + between + after
        if has_id and has_text and "{" not in others and "}" not in others:
            # the id, then the text, each once
            shell = tuple(part.encode("ascii", "replace")  # type: ignore[assignment]
                          for part in (before, between, after))
        shells[(submitted, done, state, err)] = shell
        return shell

    def build(self, item: OutboundItem, *, with_tlvs: bool, now: datetime
              ) -> DeliverSm | DataSm | None:
        """The PDU for one outbound item (sequence number left for the session); None when
        this dialect sends nothing for it (an intermediate state it does not report)."""
        kind = item.kind
        if kind is OutboundKind.RECEIPT:
            return self._receipt(item.message, item.message.state, EsmType.DELIVERY_RECEIPT,
                                 with_tlvs, now)
        if kind is OutboundKind.MO:
            return build_mo(item.message, with_tlvs=with_tlvs)
        if kind is OutboundKind.INTERMEDIATE:
            if not self._enroute:
                return None
            return self._receipt(item.message, MessageState.ENROUTE,
                                 EsmType.INTERMEDIATE_NOTIFICATION, with_tlvs, now)
        if kind is OutboundKind.ACCEPTED:
            return self._receipt(item.message, MessageState.ACCEPTED,
                                 EsmType.INTERMEDIATE_NOTIFICATION, with_tlvs, now)
        return self._acknowledgement(item.message, kind, with_tlvs)

    def build_prebuilt(self, item: OutboundItem, with_tlvs: bool, now: datetime
                       ) -> Pdu | None:
        """As `build`, with a delivery receipt as deliver_sm written straight to octets (a
        `PrebuiltDeliverSm`, the same bytes `encode(build(...))` gives, for a fraction of its
        cost); every other item, and a receipt whose fields need the codec's checks, as
        `build` makes it."""
        built = self.prebuilt_receipts([item], 0, 1, with_tlvs, now)
        return built[0] if built else self.build(item, with_tlvs=with_tlvs, now=now)

    def prebuilt_receipts(self, items: Sequence[OutboundItem], start: int, stop: int,
                      with_tlvs: bool, now: datetime) -> list[PrebuiltDeliverSm]:
        """The delivery receipts of `items[start:stop]` as deliver_sm prebuilt, in order,
        up to the first item that is not one or whose fields need the codec's checks (an
        address or a TON out of its field, an odd TLV): `build` makes that one. One call for
        a round's receipts, the usual TLVs and the receipt's text written here."""
        built: list[PrebuiltDeliverSm] = []
        if self._data_sm and with_tlvs:
            return built
        text_id_of = self._text_id
        text_of = self.text_of
        with_text = self._text or not with_tlvs
        usual_tlvs = with_tlvs and self._usual_tlvs
        append = built.append
        for index in range(start, stop):
            item = items[index]
            if item.kind is not _RECEIPT:
                break
            message = item.message
            state = message.state
            fields = message.fields
            text_id = text_id_of(fields.multi_id or message.message_id)
            # the text's id is digits (hex or decimal): ASCII, no NUL
            id_octets = text_id.encode("ascii")
            if not with_tlvs:
                tlvs = b""
            elif (usual_tlvs and message.network_error_code is None and not fields.extra
                    and len(id_octets) < 65):
                tlvs = _USUAL_TLVS % (len(id_octets) + 1, id_octets, state)
            else:
                odd_tlvs = self._receipt_tlvs(message, state, text_id)
                if odd_tlvs is None:  # a TLV needs the codec's checks
                    break
                tlvs = odd_tlvs
            text = text_of(message, id_octets, state, now) if with_text else b""
            try:
                source = fields.destination_addr.encode("latin-1")
                destination = fields.source_addr.encode("latin-1")
                # `0 in`, not `b"\x00" in`: bytes' `in` tries its operand as an int first,
                # raising and clearing a TypeError for a bytes one
                if (len(source) > 20 or len(destination) > 20 or len(text) > 254
                        or 0 in source or 0 in destination):
                    break
                body = _RECEIPT_BODY % (
                    fields.dest_addr_ton, fields.dest_addr_npi, source,
                    fields.source_addr_ton, fields.source_addr_npi, destination,
                    _DELIVERY_RECEIPT, len(text), text, tlvs)
            except (UnicodeEncodeError, OverflowError, TypeError, ValueError):
                break  # an address or a TON out of its field: the codec says what is wrong
            # PrebuiltDeliverSm(body), set slot by slot: half the cost of calling the class
            pdu = _new(PrebuiltDeliverSm)
            pdu.sequence_number = 0
            pdu.command_status = 0
            pdu.tlvs = NO_TLVS
            pdu.body = body
            append(pdu)
        return built

    def _receipt_tlvs(self, message: Message, state: MessageState, text_id: str
                      ) -> bytes | None:
        """The receipt's TLVs as octets, in `_receipt`'s order (None when one needs the
        codec's checks); `prebuilt_receipts` writes the usual two itself."""
        receipted, code, reference = self._receipt_values(message, text_id)
        parts: list[bytes] = []
        if receipted is not None:
            if len(receipted) > 64 or not receipted.isascii():
                return None
            parts.append(_RECEIPTED_TAG + (len(receipted) + 1).to_bytes(2, "big")
                         + receipted.encode("ascii") + b"\x00")
        if self._tlv_state:
            parts.append(_STATE_TLVS[state])
        if code is not None:
            if not 0 <= code <= 0xFFFF:
                return None
            parts.append(_NETWORK_TAG + self._network_type + code.to_bytes(2, "big"))
        if reference is not None:
            try:
                parts.append(encode_tlvs({Tag.user_message_reference: reference}))
            except EncodeError:
                return None
        return b"".join(parts)

    def _receipt_values(self, message: Message, text_id: str
                        ) -> tuple[str | None, int | None, Any]:
        """What this dialect puts in a receipt's TLVs besides message_state: the
        receipted_message_id, the network error code and the ESME's user_message_reference
        (None for each that is left out). `_receipt` and `_receipt_tlvs` only write them."""
        receipted = None
        if self._tlv_receipted:
            tlv_id = self._tlv_id
            receipted = text_id if tlv_id is None else tlv_id(message.public_id)
        code = None
        if self._tlv_network:
            code = message.network_error_code
            if code is None and self._network_on_success:
                code = 0
        extra = message.fields.extra
        reference = _kept_tlvs(extra).get(_USER_MESSAGE_REFERENCE) if extra else None
        return receipted, code, reference

    def _receipt(self, message: Message, state: MessageState, esm_type: int,
                 with_tlvs: bool, now: datetime) -> DeliverSm | DataSm:
        fields = message.fields
        text_id = self._text_id(message.public_id)
        tlvs: dict[int, object] = {}
        if with_tlvs:
            receipted, code, reference = self._receipt_values(message, text_id)
            if receipted is not None:
                tlvs[Tag.receipted_message_id] = receipted
            if self._tlv_state:
                tlvs[Tag.message_state] = int(state)
            if code is not None:
                tlvs[Tag.network_error_code] = self._network_type + code.to_bytes(2, "big")
            if reference is not None:
                tlvs[Tag.user_message_reference] = reference
        text = (self.text_of(message, text_id.encode("ascii"), state, now)
                if self._text or not with_tlvs else b"")
        return self._to_sender(fields, esm_type, text, tlvs, with_tlvs)

    # -- SME acknowledgements ----------------------------------------------------------------

    def _acknowledgement(self, message: Message, kind: OutboundKind,
                         with_tlvs: bool) -> DeliverSm | DataSm:
        """The recipient handset's acknowledgement (SMPP 3.4 §5.2.12 message types 0x08 and
        0x10): from the handset to the sender, carrying the original's message id and
        user_message_reference."""
        fields = message.fields
        manual = kind is OutboundKind.MANUAL_ACK
        esm_type = EsmType.MANUAL_ACK if manual else EsmType.DELIVERY_ACK
        text = self._manual_ack_text if manual else b""
        tlvs: dict[int, object] = {}
        if with_tlvs:
            tlv_id = self._tlv_id or self._text_id
            tlvs[Tag.receipted_message_id] = tlv_id(message.public_id)
            if fields.extra:
                reference = _kept_tlvs(fields.extra).get(Tag.user_message_reference)
                if reference is not None:
                    tlvs[Tag.user_message_reference] = reference
        return self._to_sender(fields, esm_type, text, tlvs, with_tlvs)

    def _to_sender(self, fields: NewMessage, esm_type: int, text: bytes,
                   tlvs: dict[int, object], with_tlvs: bool) -> DeliverSm | DataSm:
        """A notice about `fields`' message, from its recipient back to its sender: data_sm
        (the text in message_payload) when the dialect says so and the bind knows TLVs."""
        if self._data_sm and with_tlvs:
            if text:
                tlvs[Tag.message_payload] = text
            return DataSm(
                source_addr_ton=fields.dest_addr_ton, source_addr_npi=fields.dest_addr_npi,
                source_addr=fields.destination_addr, dest_addr_ton=fields.source_addr_ton,
                dest_addr_npi=fields.source_addr_npi, destination_addr=fields.source_addr,
                esm_class=esm_type, data_coding=DataCoding.SMSC_DEFAULT, tlvs=tlvs,
            )
        return DeliverSm(
            source_addr_ton=fields.dest_addr_ton, source_addr_npi=fields.dest_addr_npi,
            source_addr=fields.destination_addr, dest_addr_ton=fields.source_addr_ton,
            dest_addr_npi=fields.source_addr_npi, destination_addr=fields.source_addr,
            esm_class=esm_type, data_coding=DataCoding.SMSC_DEFAULT, short_message=text,
            tlvs=tlvs,
        )


_RECEIPT_BODY = b"\x00%c%c%b\x00%c%c%b\x00%c\x00\x00\x00\x00\x00\x00\x00\x00%c%b%b"
"""A receipt's deliver_sm body (SPEC 4.6.1): no service_type, the handset as source, the
sender as destination, esm_class, every other field empty or zero, data_coding 0, then the
text and the TLVs."""
_RECEIPTED_TAG = int(Tag.receipted_message_id).to_bytes(2, "big")
_NETWORK_TAG = int(Tag.network_error_code).to_bytes(2, "big") + (3).to_bytes(2, "big")
_USUAL_TLVS = (_RECEIPTED_TAG + b"\x00%c%b\x00" + int(Tag.message_state).to_bytes(2, "big")
               + b"\x00\x01%c")
"""receipted_message_id (its length, the id) and message_state (the state), to fill with %."""
_STATE_TLVS = {state: int(Tag.message_state).to_bytes(2, "big") + b"\x00\x01"
               + int(state).to_bytes(1, "big") for state in MessageState}


def _kept_tlvs(extra: bytes) -> dict[int, Any]:
    return decode_tlvs(extra, 0, len(extra), _KEPT_TLVS)


def build_mo(message: Message, *, with_tlvs: bool) -> DeliverSm:
    """A handset's message as deliver_sm: more than 254 octets go in message_payload, SAR
    segment fields (kept in `extra`) as TLVs. A v3.3 bind knows no TLVs: its SAR parts get
    the same facts as an 8-bit concatenation UDH (the parts were cut with room for one).
    A message longer than 254 octets for a v3.3 bind is cut here; `build_mo_parts` splits it
    instead, which is what the SMSC sends."""
    fields = message.fields
    payload, esm_class, tlvs = _mo_user_data(message, with_tlvs)
    if with_tlvs and len(payload) > 254:
        tlvs[Tag.message_payload] = payload
        payload = b""
    return _mo_pdu(fields, payload[:254], esm_class, tlvs)


def build_mo_parts(message: Message, *, with_tlvs: bool) -> list[DeliverSm]:
    """The deliver_sm PDUs of a handset's message: one, except for a v3.3 bind and a message
    longer than short_message holds (sent whole in message_payload, which 3.3 lacks): that
    goes as parts with an 8-bit concatenation UDH (reference = the message id's low octet,
    the same on every retry), cut between characters, so the ESME gets all of it."""
    payload, esm_class, tlvs = _mo_user_data(message, with_tlvs)
    if with_tlvs or len(payload) <= 254 or esm_class & 0x40:
        return [build_mo(message, with_tlvs=with_tlvs)]
    fields = message.fields
    reference = message.message_id & 0xFF
    coding = fields.data_coding
    try:
        parts = split_text(decode_text(payload, coding), coding, scheme=Scheme.UDH8,
                           reference=reference)
    except ValueError:  # not text in its coding (TextError): cut between octets
        try:
            parts = split_binary(payload, scheme=Scheme.UDH8, reference=reference)
        except ValueError:  # more than 255 parts (ConcatError): no way to send it whole
            return [build_mo(message, with_tlvs=with_tlvs)]
    return [_mo_pdu(fields, part.user_data, esm_class | 0x40, tlvs) for part in parts]


def build_mo_data_sm(message: Message) -> DataSm:
    """A message as data_sm to an ESME whose dialect asks for data_sm (3.4 binds only): its
    user data whole in message_payload (a UDH stays at its start), SAR fields as TLVs."""
    fields = message.fields
    payload, esm_class, tlvs = _mo_user_data(message, True)
    tlvs[Tag.message_payload] = payload
    return DataSm(
        service_type=fields.service_type, source_addr_ton=fields.source_addr_ton,
        source_addr_npi=fields.source_addr_npi, source_addr=fields.source_addr,
        dest_addr_ton=fields.dest_addr_ton, dest_addr_npi=fields.dest_addr_npi,
        destination_addr=fields.destination_addr, esm_class=esm_class,
        data_coding=fields.data_coding, tlvs=tlvs,
    )


def _mo_user_data(message: Message, with_tlvs: bool) -> tuple[bytes, int, dict[int, object]]:
    fields = message.fields
    payload = fields.payload
    esm_class = fields.esm_class & 0xC0
    tlvs: dict[int, object] = {}
    if fields.extra:
        kept = _kept_tlvs(fields.extra)
        if with_tlvs:
            tlvs.update(kept)
        elif Tag.sar_msg_ref_num in kept and not esm_class & 0x40:
            header = bytes((5, 0x00, 3, kept[Tag.sar_msg_ref_num] & 0xFF,
                            kept[Tag.sar_total_segments], kept[Tag.sar_segment_seqnum]))
            payload = header + payload
            esm_class |= 0x40
    return payload, esm_class, tlvs


def _mo_pdu(fields: NewMessage, short_message: bytes, esm_class: int,
            tlvs: dict[int, object]) -> DeliverSm:
    return DeliverSm(
        service_type=fields.service_type,
        source_addr_ton=fields.source_addr_ton,
        source_addr_npi=fields.source_addr_npi,
        source_addr=fields.source_addr,
        dest_addr_ton=fields.dest_addr_ton,
        dest_addr_npi=fields.dest_addr_npi,
        destination_addr=fields.destination_addr,
        esm_class=esm_class,
        protocol_id=fields.protocol_id,
        data_coding=fields.data_coding,
        short_message=short_message,
        tlvs=dict(tlvs),
    )


class ReceiptDialects:
    """Every configured dialect, built once, and which one each (account, network) uses."""

    def __init__(self, dialects: tuple[ReceiptDialectConfig, ...], *,
                 accounts: Mapping[str, str], networks: Mapping[str, str],
                 submit_id_format: str = "hex",
                 by_route: Callable[[NewMessage], str] | None = None) -> None:
        """`by_route` names the dialect of the route rule a message took ("" for none); give
        it only when some rule names one, since it runs the routing rules again."""
        built = {d.name: ReceiptDialect(d, submit_id_format=submit_id_format)
                 for d in (APPENDIX_B, *dialects)}
        self.default = built[APPENDIX_B.name]
        self._built = built
        self._by_account = {s: built[name] for s, name in accounts.items() if name}
        self._by_network = {n: built[name] for n, name in networks.items() if name}
        self._by_route = by_route
        self._only = self._the_only()
        """The one dialect every message takes, when nothing configured chooses another."""

    @property
    def names(self) -> frozenset[str]:
        """The dialects an account may name (appendix_b and the configured ones)."""
        return frozenset(self._built)

    def use_accounts(self, accounts: Sequence[AccountConfig]) -> None:
        """Each account's dialect from these accounts on (accounts changed at run time: the
        next receipt of each message reads so). Every name must be one of `names`."""
        self._by_account = {a.system_id: self._built[a.receipt_dialect]
                            for a in accounts if a.receipt_dialect}
        self._only = self._the_only()

    def _the_only(self) -> ReceiptDialect | None:
        if self._by_route or self._by_account or self._by_network:
            return None
        return self.default

    def prebuilt_receipts(self, items: Sequence[OutboundItem], start: int, with_tlvs: bool,
                      now: datetime) -> list[PrebuiltDeliverSm]:
        """`ReceiptDialect.prebuilt_receipts` from `items[start]` on, each by its message's
        dialect: as many prebuilt as can be, up to the first that cannot."""
        only = self._only
        count = len(items)
        if only is not None:
            return only.prebuilt_receipts(items, start, count, with_tlvs, now)
        for_fields = self.for_fields
        built: list[PrebuiltDeliverSm] = []
        while start < count:
            dialect = for_fields(items[start].message.fields)
            stop = start + 1
            while stop < count and for_fields(items[stop].message.fields) is dialect:
                stop += 1
            part = dialect.prebuilt_receipts(items, start, stop, with_tlvs, now)
            built += part
            if len(part) < stop - start:
                break
            start = stop
        return built

    def for_fields(self, fields: NewMessage) -> ReceiptDialect:
        """The dialect of a message with these fields: the route rule's, else the network's,
        else the account's, else Appendix B (two dict lookups when no rule names one)."""
        if self._by_route is not None:
            name = self._by_route(fields)
            if name:
                return self._built[name]
        dialect = self._by_network.get(fields.network)
        if dialect is None:
            dialect = self._by_account.get(fields.system_id, self.default)
        return dialect

    def notifies_acceptance(self, new: NewMessage) -> bool:
        """Whether the dialect of a new message sends stat:ACCEPTD when it is stored (the
        store asks only for messages whose registered_delivery has bit 4)."""
        return self.for_fields(new).notifies_acceptance

    @property
    def any_notify_acceptance(self) -> bool:
        return any(d.notifies_acceptance for d in self._built.values())

