"""Keyed draws (pure): the random numbers of one simulated decision, as a function of the
message it decides and nothing else.

A simulated fate must not depend on when it is decided, on the load, or on which decisions
came before it, so no decision reads a shared random stream. A message is known by its
identity in the traffic: a hash of its source address, destination address and payload,
plus how many stored messages with that same identity came before it (`Fate`). A decision
hashes that, the step it decides (an attempt number, or the submit) and a key made of the
seed and the network, with blake2b, and cuts its uniform numbers from the 512-bit digest
(about 1 µs a decision that draws; see docs/simulation.md).
"""

from __future__ import annotations

from hashlib import blake2b

SUBMIT_STEP = 0xFFFFFFFF
"""The step of the submit-time decision (delivery attempts count up from 0)."""
IDENTITY_SIZE = 8
"""Octets of a message identity."""
_BITS = 53
_MASK = (1 << _BITS) - 1
_SCALE = 2.0**-_BITS
_FULL = 1 << (512 // _BITS * _BITS)
"""A marker above the nine 53-bit numbers cut from one 512-bit digest: once only it is
left, the digest is used up."""
_KEEP = _FULL - 1
_SPENT = 1

Fate = bytes
"""A message's identity in the traffic (IDENTITY_SIZE octets) followed by how many stored
messages with that identity came before it (four octets)."""


def identity(source: str, destination: str, payload: bytes) -> bytes:
    """What makes a message the same message in two runs: its addresses and payload."""
    digest = blake2b((source + "\0" + destination + "\0").encode("utf-8", "surrogatepass"),
                     digest_size=IDENTITY_SIZE)
    digest.update(payload)
    return digest.digest()


def fate_of(identity: bytes, repeat: int) -> Fate:
    """The fate of the `repeat`-th message with `identity` (0: the first)."""
    return identity + repeat.to_bytes(4, "little")


def parts_of(fate: Fate) -> tuple[bytes, int]:
    """The identity and the copy number a fate was made of (`fate_of` undone)."""
    return fate[:IDENTITY_SIZE], int.from_bytes(fate[IDENTITY_SIZE:], "little")


def network_key(seed: int, network: str) -> bytes:
    """What goes first in the hash of each of one network's decisions under `seed` (a prefix
    rather than blake2b's key, which would cost a second compression per decision)."""
    return blake2b(f"{seed}/{network}".encode(), digest_size=32).digest()


def draw(key: bytes, fate: Fate, step: int) -> float:
    """The one uniform number in [0, 1) of a decision that draws once (a submit's fault)."""
    digest = blake2b(key + fate + step.to_bytes(4, "little"), digest_size=8).digest()
    return (int.from_bytes(digest, "little") & _MASK) * _SCALE


class Draws:
    """The uniform numbers of one decision: `random()` as random.Random's, each call the next
    53 bits of the decision's digest (hashed at the first call, so a decision that draws
    nothing hashes nothing; a tenth call hashes again, with a round number)."""

    __slots__ = ("_bits", "_material", "_round")

    def __init__(self, key: bytes, fate: Fate, step: int) -> None:
        self._material = key + fate + step.to_bytes(4, "little")
        self._bits = _SPENT
        self._round = 0

    def random(self) -> float:
        """The next uniform number in [0, 1)."""
        bits = self._bits
        if bits == _SPENT:
            bits = self._digest()
        self._bits = bits >> _BITS
        return (bits & _MASK) * _SCALE

    def _digest(self) -> int:
        material = self._material
        if self._round:  # (never with the draws a network makes today)
            material += self._round.to_bytes(4, "little")  # (a longer input)
        self._round += 1
        digest = blake2b(material, digest_size=64).digest()
        return int.from_bytes(digest, "little") & _KEEP | _FULL
