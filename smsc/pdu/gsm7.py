"""GSM 03.38 default alphabet with its extension table (3GPP TS 23.038 §6.2.1), and packing.

Tables from shared/smpp/gsm0338.json; REFERENCE.md §11.1-§11.2 gives the rules kept here:
escape + undefined code decodes to the basic character, 0x09 decodes to Ç but ç encodes to it,
and packing pads 7 spare bits with CR, which unpacking drops again.
"""

from __future__ import annotations

ESCAPE = 0x1B
CR = 0x0D
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = {
    0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}
assert len(BASIC) == 128

ENCODE: dict[str, bytes] = {ch: bytes((code,)) for code, ch in enumerate(BASIC) if code != ESCAPE}
ENCODE.update({ch: bytes((ESCAPE, code)) for code, ch in EXTENSION.items()})
ENCODE["ç"] = bytes((0x09,))  # old unicode.org mapping (REFERENCE.md §14 #21)
GSM_CHARACTERS = frozenset(ENCODE)


class GsmEncodeError(ValueError):
    """Text holds characters the GSM default alphabet cannot carry."""

    def __init__(self, characters: str) -> None:
        super().__init__(f"not in the GSM 7-bit alphabet: {characters!r}")
        self.characters = characters


def septet_count(text: str) -> int:
    """Septets the text takes in GSM 7-bit (extension characters count twice)."""
    return sum(len(ENCODE[ch]) for ch in text)


def is_gsm(text: str) -> bool:
    return GSM_CHARACTERS.issuperset(text)


def encode_gsm(text: str) -> bytes:
    """Unpacked septets, one per octet, as SMPP short_message carries data_coding 0.

    Raises:
        GsmEncodeError: a character is in neither table.
    """
    try:
        return b"".join([ENCODE[ch] for ch in text])
    except KeyError:
        bad = "".join(sorted({ch for ch in text if ch not in ENCODE}))
        raise GsmEncodeError(bad) from None


def decode_gsm(data: bytes) -> str:
    """Text of unpacked septets; never fails (top bits ignored, stray escapes tolerated)."""
    out: list[str] = []
    escaped = False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            escaped = False
            out.append(EXTENSION.get(septet, BASIC[septet] if septet != ESCAPE else " "))
        elif septet == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[septet])
    return "".join(out)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets LSB first (23.038 §6.1.2.1), after `fill_bits` zero bits (UDH alignment).

    Seven spare bits at the end are filled with CR, as 23.038 asks.
    """
    acc = 0
    bits = fill_bits
    out = bytearray()
    for septet in septets:
        acc |= (septet & 0x7F) << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        if bits == 1:
            acc |= CR << 1
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, fill_bits: int = 0) -> bytes:
    """Septets of packed data; a final CR that only pads the last octet is dropped."""
    total_bits = len(data) * 8 - fill_bits
    count = total_bits // 7
    value = int.from_bytes(data, "little") >> fill_bits
    septets = bytes((value >> (7 * i)) & 0x7F for i in range(count))
    if count and septets[-1] == CR and total_bits % 7 == 0:
        septets = septets[:-1]
    return septets
