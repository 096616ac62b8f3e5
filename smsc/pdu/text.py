"""short_message ↔ text by data_coding (SPEC 5.2.19, REFERENCE.md §8.6 and §11).

GSM 7-bit (data_coding 0 and the 0xF0 class group with bit 2 clear), IA5/ASCII (1), Latin-1 (3),
UCS2 as UTF-16BE with surrogate pairs (8), Cyrillic (6) and Hebrew (7); octet data (2, 4, 0xF4...)
is binary and has no text.
"""

from __future__ import annotations

from dataclasses import dataclass

from smsc.pdu.constants import CommandStatus, DataCoding
from smsc.pdu.gsm7 import (
    GsmEncodeError,
    decode_gsm,
    encode_gsm,
    is_gsm,
    pack_septets,
    unpack_septets,
)

_CODECS = {
    DataCoding.IA5: "ascii",
    DataCoding.LATIN_1: "latin-1",
    DataCoding.CYRILLIC: "iso8859-5",
    DataCoding.LATIN_HEBREW: "iso8859-8",
    DataCoding.UCS2: "utf-16-be",
}
BINARY_CODINGS = frozenset({DataCoding.OCTET_UNSPECIFIED, DataCoding.OCTET_UNSPECIFIED_2})


class TextError(ValueError):
    """Text that cannot be carried in (or read from) the given data_coding."""

    command_status = CommandStatus.ESME_RINVMSGLEN

    def __init__(self, message: str, data_coding: int) -> None:
        super().__init__(message)
        self.data_coding = data_coding


def is_gsm_coding(data_coding: int) -> bool:
    return data_coding == DataCoding.SMSC_DEFAULT or (
        data_coding & 0xF0 == 0xF0 and not data_coding & 0x04
    )


def is_binary_coding(data_coding: int) -> bool:
    return data_coding in BINARY_CODINGS or (
        data_coding & 0xF0 == 0xF0 and bool(data_coding & 0x04)
    )


def unit_size(data_coding: int) -> int:
    """Octets per character unit on the air: 2 for UCS2, else 1 (GSM counts septets)."""
    return 2 if data_coding == DataCoding.UCS2 else 1


def encode_text(text: str, data_coding: int, *, gsm_packed: bool = False) -> bytes:
    """The octets of `text` in `data_coding`.

    Raises:
        TextError: the text holds characters that coding cannot carry, or the coding is binary
            or unknown.
    """
    if is_gsm_coding(data_coding):
        try:
            septets = encode_gsm(text)
        except GsmEncodeError as error:
            raise TextError(str(error), data_coding) from None
        return pack_septets(septets) if gsm_packed else septets
    codec = _CODECS.get(data_coding)  # type: ignore[call-overload]
    if codec is None:
        raise TextError(f"data_coding 0x{data_coding:02X} carries no text", data_coding)
    try:
        return text.encode(codec, "surrogatepass" if codec == "utf-16-be" else "strict")
    except UnicodeEncodeError as error:
        raise TextError(str(error), data_coding) from None


@dataclass(frozen=True, slots=True)
class DecodedText:
    """Text read leniently, with what did not fit its coding."""

    text: str
    problems: tuple[str, ...] = ()


def decode_text(data: bytes, data_coding: int, *, gsm_packed: bool = False) -> str:
    """The text of `data` in `data_coding`.

    Raises:
        TextError: the octets are not valid in that coding, or the coding is binary.
    """
    if is_gsm_coding(data_coding):
        if any(octet & 0x80 for octet in data) and not gsm_packed:
            raise TextError("octet above 0x7F in unpacked GSM text", data_coding)
        return decode_gsm(unpack_septets(data) if gsm_packed else data)
    codec = _CODECS.get(data_coding)  # type: ignore[call-overload]
    if codec is None:
        raise TextError(f"data_coding 0x{data_coding:02X} carries no text", data_coding)
    if codec == "utf-16-be" and len(data) % 2:
        raise TextError("odd number of octets in UCS2", data_coding)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        raise TextError(str(error), data_coding) from None


def decode_text_lenient(data: bytes, data_coding: int, *, gsm_packed: bool = False) -> DecodedText:
    """Like `decode_text`, but replaces what it cannot read and lists the problems found."""
    try:
        return DecodedText(decode_text(data, data_coding, gsm_packed=gsm_packed))
    except TextError as error:
        problem = str(error)
    if is_gsm_coding(data_coding):
        return DecodedText(decode_gsm(bytes(o & 0x7F for o in data)), (problem,))
    codec = _CODECS.get(data_coding, "latin-1")  # type: ignore[call-overload]
    return DecodedText(data.decode(codec, "replace"), (problem,))


def choose_encoding(text: str, *, allow_latin1: bool = False) -> tuple[int, bytes]:
    """The narrowest coding that holds `text`: GSM 7-bit, then (if allowed) Latin-1, else UCS2."""
    if is_gsm(text):
        return DataCoding.SMSC_DEFAULT, encode_gsm(text)
    if allow_latin1:
        try:
            return DataCoding.LATIN_1, text.encode("latin-1")
        except UnicodeEncodeError:
            pass
    return DataCoding.UCS2, text.encode("utf-16-be", "surrogatepass")
