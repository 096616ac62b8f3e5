"""Accounts (pure): bind authentication, source-address, IP and certificate rules, submit
throttling; the set of accounts changes at run time (control API, SIGHUP reload)."""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from smsc.config import AccountConfig
from smsc.pdu.constants import CommandStatus

_NO_PASSWORD = "\x00" * 9


class TokenBucket:
    """Submit throttling: `rate` tokens per second, at most `burst` saved (rate 0 = no limit).

    Time is passed in (monotonic seconds), so tests drive it explicitly.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst if burst > 0 else max(rate, 1.0)
        self._tokens = self.burst
        self._last = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        if not self.rate:
            return True
        tokens = self._tokens + (now - self._last) * self.rate
        self._last = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True


@dataclass(slots=True)
class Account:
    """An account's configuration with its compiled rules."""

    config: AccountConfig
    source_patterns: tuple[re.Pattern[str], ...] = ()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(0, 0, 0))
    system_id: str = field(init=False)
    """The config's system_id, kept as an attribute: read several times per message."""

    def __post_init__(self) -> None:
        self.system_id = self.config.system_id

    @classmethod
    def from_config(cls, config: AccountConfig, now: float = 0.0) -> Account:
        account = cls(config=config)
        account.reconfigure(config, now)
        return account

    def reconfigure(self, config: AccountConfig, now: float) -> None:
        """Take a changed configuration in place, so the sessions bound as this account
        (which hold this object) follow it from their next PDU; the token bucket is kept
        unless the rate or burst changed."""
        old = self.config
        self.config = config
        self.source_patterns = tuple(re.compile(p) for p in config.allowed_source_addrs)
        self.networks = tuple(ipaddress.ip_network(b, strict=False) for b in config.allowed_ips)
        if (old is config or old.submit_rate != config.submit_rate
                or old.submit_burst != config.submit_burst):
            self.bucket = TokenBucket(config.submit_rate, config.submit_burst, now)

    def subject_allowed(self, subject: str | None, common_name: str | None) -> bool:
        """Whether a client certificate with this subject (RFC 4514, None: no certificate)
        may bind as the account: any may when allowed_cert_subjects is empty."""
        allowed = self.config.allowed_cert_subjects
        if not allowed:
            return True
        if subject is None:
            return False
        return subject in allowed or (common_name is not None
                                      and f"CN={common_name}" in allowed)

    def source_allowed(self, source_addr: str) -> bool:
        patterns = self.source_patterns
        return not patterns or any(p.fullmatch(source_addr) for p in patterns)

    def ip_allowed(self, peer_ip: str) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address(peer_ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class MoAddresses:
    """Which account the accounts' mo_addresses give an address to (MO routing and the
    ESME-to-ESME lookup of submits), made again whenever they change: patterns without a
    regular expression's special characters in a dict (the usual short codes and long
    numbers: one lookup), the others tried in order after it. The first pattern that matches,
    in the accounts' order, decides (a literal after a regular expression is tried in order).
    """

    __slots__ = ("any", "literal", "patterns")

    def __init__(self, accounts: Sequence[AccountConfig]) -> None:
        self.literal: dict[str, str] = {}
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        for account in accounts:
            for pattern in account.mo_addresses:
                if re.escape(pattern) == pattern and not self.patterns:
                    self.literal.setdefault(pattern, account.system_id)
                else:
                    self.patterns.append((re.compile(pattern), account.system_id))
        self.any = bool(self.literal or self.patterns)
        """Whether any account claims an address (none: no lookup at all)."""

    def owner(self, address: str) -> str | None:
        """The system_id of the account the address goes to; None when no account claims it."""
        system_id = self.literal.get(address)
        if system_id is not None or not self.patterns:
            return system_id
        for pattern, system_id in self.patterns:
            if pattern.fullmatch(address):
                return system_id
        return None


class Accounts:
    """All accounts by system_id: those configured, as changed since (`put`, `remove`)."""

    def __init__(self, configs: tuple[AccountConfig, ...], now: float = 0.0) -> None:
        self._by_id = {c.system_id: Account.from_config(c, now) for c in configs}

    def get(self, system_id: str) -> Account | None:
        return self._by_id.get(system_id)

    def __iter__(self) -> Iterator[Account]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def put(self, config: AccountConfig, now: float) -> Account:
        """Create the account, or change the one with this system_id in place."""
        account = self._by_id.get(config.system_id)
        if account is None:
            account = self._by_id[config.system_id] = Account.from_config(config, now)
        else:
            account.reconfigure(config, now)
        return account

    def remove(self, system_id: str) -> Account | None:
        return self._by_id.pop(system_id, None)

    def authenticate(
        self,
        *,
        system_id: str,
        password: str,
        bind_mode: str,
        system_type: str,
        peer_ip: str,
        bound: int = 0,
    ) -> Account | CommandStatus:
        """The account a bind may use, or the status to refuse it with (REFERENCE.md §12.4).

        What does not depend on the password (an address the account does not allow, its
        binds all in use: `bound` is how many it has now) is decided before the password is
        looked at, so such a refusal says nothing of the password. An unknown system_id is
        compared against a stand-in all the same, so timing does not tell which ids exist.
        """
        account = self._by_id.get(system_id)
        if account is None:
            hmac.compare_digest(password.encode("latin-1", "replace"), _NO_PASSWORD.encode())
            return CommandStatus.ESME_RINVSYSID
        config = account.config
        if not account.ip_allowed(peer_ip) or bound >= config.max_binds:
            return CommandStatus.ESME_RBINDFAIL
        if not hmac.compare_digest(password.encode("latin-1", "replace"),
                                   config.password.encode("latin-1", "replace")):
            return CommandStatus.ESME_RINVPASWD
        if config.system_type and system_type != config.system_type:
            return CommandStatus.ESME_RINVSYSTYP
        if bind_mode not in config.bind_modes:
            return CommandStatus.ESME_RBINDFAIL
        return account


SHORT_ATTRIBUTE_NAMES = {
    "commonName": "CN", "countryName": "C", "localityName": "L",
    "stateOrProvinceName": "ST", "organizationName": "O", "organizationalUnitName": "OU",
    "streetAddress": "STREET", "domainComponent": "DC", "userId": "UID",
}
"""RFC 4514's names of subject attributes; others keep OpenSSL's long name."""


def _escape_rdn_value(value: str) -> str:
    escaped = "".join(f"\\{c}" if c in '"+,;<>\\' else ("\\00" if c == "\0" else c)
                      for c in value)
    if escaped.startswith(("#", " ")):
        escaped = "\\" + escaped
    if escaped.endswith(" ") and not escaped.endswith("\\ "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def certificate_subject(certificate: dict[str, Any]) -> tuple[str, str | None]:
    """A peer certificate as `ssl.SSLSocket.getpeercert()` gives it → its subject in RFC 4514
    form (the last RDN first) and its common name (None without one)."""
    rdns = certificate.get("subject", ())
    common_name = None
    written = []
    for rdn in reversed(rdns):
        parts = []
        for name, value in rdn:
            if name == "commonName" and common_name is None:
                common_name = value
            parts.append(f"{SHORT_ATTRIBUTE_NAMES.get(name, name)}={_escape_rdn_value(value)}")
        written.append("+".join(parts))
    return ",".join(written), common_name


CREDENTIAL_FAILURES = frozenset({CommandStatus.ESME_RINVSYSID, CommandStatus.ESME_RINVPASWD})
"""The refusals that answer a guess (of a system_id or a password)."""


class FailedBinds:
    """Exponential backoff per peer address after binds refused for their credentials.

    The first `allowed` failures in a row cost nothing (an ESME's test suite may well try a
    few wrong passwords); after the n-th beyond them an address is refused (ESME_RBINDFAIL,
    before any credential is looked at) for `base * 2**(n-1)` seconds, at most `cap`; a
    successful bind clears it. Only the failing address waits, so nobody can lock out a peer
    from another one. At most `max_addresses` are remembered: past that, those whose wait is
    over are forgotten first, then the oldest. Time is passed in (monotonic seconds).
    """

    def __init__(self, base: float, cap: float, allowed: int = 0,
                 max_addresses: int = 10_000) -> None:
        self.base = base
        self.cap = cap
        self.allowed = allowed
        self.max_addresses = max_addresses
        self._failures: dict[str, tuple[int, float]] = {}
        """address → (failures in a row, when it may try again)."""

    def blocked(self, address: str, now: float) -> bool:
        entry = self._failures.get(address)
        return entry is not None and now < entry[1]

    def failed(self, address: str, now: float) -> float:
        """Count a failure; returns how long the address must now wait."""
        if not self.base:
            return 0.0
        count = self._failures.pop(address, (0, 0.0))[0] + 1
        beyond = count - self.allowed
        wait = 0.0 if beyond <= 0 else min(self.cap, self.base * (1 << min(beyond - 1, 60)))
        self._failures[address] = (count, now + wait)
        if len(self._failures) > self.max_addresses:
            self._forget(now)
        return wait

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _forget(self, now: float) -> None:
        self._failures = {a: e for a, e in self._failures.items() if e[1] > now}
        while len(self._failures) > self.max_addresses:
            del self._failures[next(iter(self._failures))]
