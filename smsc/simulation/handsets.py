"""Simulated handsets (pure): profiles by number range or pattern, runtime overrides, and the
magic numbers that force an outcome without any configuration.

Handsets are keyed by their international digits: the destination as submitted without a
leading "+" or "00" (national numbers are not rewritten, so configure what your ESME sends).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import Enum

from smsc.config import HANDSET_REPLIES, HANDSET_STATES, HandsetConfig

MAGIC_PREFIX = "447700900"
"""+44 7700 900xxx: a UK range Ofcom reserves for drama, so no real handset has it."""
MAGIC_PREFIXES = (MAGIC_PREFIX, "+" + MAGIC_PREFIX, "00" + MAGIC_PREFIX)


class Magic(Enum):
    """What a magic number forces; its value is the digit after 447700900."""

    DELIVERED = "0"
    UNDELIVERABLE = "1"
    EXPIRES = "2"
    REJECTED = "3"
    DELAYED = "4"
    THROTTLED = "5"
    ABSENT_ONCE = "6"
    SYSTEM_ERROR = "7"
    NO_RESPONSE = "8"
    DISCONNECT = "9"


MAGIC_TABLE: tuple[tuple[str, str], ...] = (
    ("+447700900 0NN", "delivered at once (DELIVRD)"),
    ("+447700900 1NN", "undeliverable (UNDELIV, error 1)"),
    ("+447700900 2NN", "handset never reachable: retried until validity ends (EXPIRED, error 27)"),
    ("+447700900 3NN", "rejected (REJECTD, error 13)"),
    ("+447700900 4NN", "delivered after NN seconds (400: after 60 s)"),
    ("+447700900 5NN", "submit answered ESME_RTHROTTLED (not stored)"),
    ("+447700900 6NN", "absent at the first attempt, delivered at the first retry"),
    ("+447700900 7NN", "submit answered ESME_RSYSERR (not stored)"),
    ("+447700900 8NN", "stored, but the submit is never answered"),
    ("+447700900 9NN", "the connection is dropped instead of answering (not stored)"),
)
"""The documented table (README.md repeats it)."""


def digits_of(address: str) -> str:
    """An address as handsets are keyed: without a leading "+" or "00"."""
    if address.startswith("+"):
        return address[1:]
    if address.startswith("00"):
        return address[2:]
    return address


def magic_of(address: str) -> tuple[Magic, int] | None:
    """The forced behaviour of a magic destination and its NN, or None (callers check
    `address.startswith(MAGIC_PREFIXES)` first, which is cheap)."""
    digits = digits_of(address)
    if len(digits) != 12 or not digits.isdigit():
        return None
    return Magic(digits[9]), int(digits[10:])


class Handsets:
    """Profiles from the configuration plus runtime overrides per number."""

    def __init__(self, profiles: tuple[HandsetConfig, ...]) -> None:
        self.profiles = profiles
        self._patterns = [
            (profile, re.compile(profile.regex) if profile.regex else None)
            for profile in profiles
        ]
        self.overrides: dict[str, HandsetConfig] = {}
        self.active = bool(profiles)
        """False when no profile or override exists: every handset is plainly online."""

    def profile_for(self, digits: str) -> HandsetConfig | None:
        override = self.overrides.get(digits)
        if override is not None:
            return override
        for profile, pattern in self._patterns:
            if profile.prefix and not digits.startswith(profile.prefix):
                continue
            if pattern is not None and not pattern.fullmatch(digits):
                continue
            return profile
        return None

    def set(
        self,
        digits: str,
        *,
        state: str | None = None,
        latency: float | None = None,
        reply: str | None = None,
        reply_text: str | None = None,
        reply_delay: float | None = None,
    ) -> HandsetConfig:
        """Override one number's profile; what is not given stays as it was. Giving a state
        ends any on/off schedule.

        Raises:
            ValueError: an unknown state or reply mode, or a negative latency.
        """
        profile = self.changed(digits, state=state, latency=latency, reply=reply,
                               reply_text=reply_text, reply_delay=reply_delay)
        self.override(digits, profile)
        return profile

    def changed(
        self,
        digits: str,
        *,
        state: str | None = None,
        latency: float | None = None,
        reply: str | None = None,
        reply_text: str | None = None,
        reply_delay: float | None = None,
    ) -> HandsetConfig:
        """The profile `set` would give the number, without giving it (a change checked
        before the nodes of a cluster are told; `override` applies it).

        Raises:
            ValueError: an unknown state or reply mode, or a negative latency.
        """
        if state is not None and state not in HANDSET_STATES:
            raise ValueError(f"state must be one of {', '.join(HANDSET_STATES)}")
        if reply is not None and reply not in HANDSET_REPLIES:
            raise ValueError(f"reply must be one of {', '.join(HANDSET_REPLIES)}")
        if latency is not None and latency < 0:
            raise ValueError("latency must not be negative")
        if reply_delay is not None and reply_delay < 0:
            raise ValueError("reply_delay must not be negative")
        base = self.profile_for(digits) or HandsetConfig(name="runtime")
        changes: dict[str, object] = {}
        if state is not None:
            changes.update(state=state, online_for=0.0, offline_for=0.0)
        if latency is not None:
            changes["latency"] = latency
        if reply is not None:
            changes["reply"] = reply
        if reply_text is not None:
            changes["reply_text"] = reply_text
        if reply_delay is not None:
            changes["reply_delay"] = reply_delay
        return dataclasses.replace(base, **changes)  # type: ignore[arg-type]

    def override(self, digits: str, profile: HandsetConfig | None) -> None:
        """The number's runtime profile from now on (None: back to the configured one)."""
        if profile is None:
            self.reset(digits)
        else:
            self.overrides[digits] = profile
            self.active = True

    def reset(self, digits: str | None = None) -> None:
        """Drop the runtime override of one number, or all of them."""
        if digits is None:
            self.overrides.clear()
        else:
            self.overrides.pop(digits, None)
        self.active = bool(self.profiles or self.overrides)


@dataclass(frozen=True, slots=True)
class HandsetStatus:
    """A handset's state at one moment."""

    state: str
    """online, offline, memory_full or failing."""
    online_at: float | None = None
    """When a scheduled handset switches on again (seconds since start), if offline."""


def status_at(profile: HandsetConfig | None, now: float) -> HandsetStatus:
    """The state of a handset with `profile` at `now` (seconds since start)."""
    if profile is None:
        return HandsetStatus("online")
    if profile.online_for and profile.offline_for:
        period = profile.online_for + profile.offline_for
        offset = now % period
        if offset < profile.online_for:
            return HandsetStatus("online")
        return HandsetStatus("offline", now - offset + period)
    return HandsetStatus(profile.state)
