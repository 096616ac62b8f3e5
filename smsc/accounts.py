"""Accounts (pure): bind authentication, source-address and IP rules, submit throttling."""

from __future__ import annotations

import hmac
import ipaddress
import re
from dataclasses import dataclass, field

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
        return cls(
            config=config,
            source_patterns=tuple(re.compile(p) for p in config.allowed_source_addrs),
            networks=tuple(ipaddress.ip_network(b, strict=False) for b in config.allowed_ips),
            bucket=TokenBucket(config.submit_rate, config.submit_burst, now),
        )

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


class Accounts:
    """All configured accounts by system_id."""

    def __init__(self, configs: tuple[AccountConfig, ...], now: float = 0.0) -> None:
        self._by_id = {c.system_id: Account.from_config(c, now) for c in configs}

    def get(self, system_id: str) -> Account | None:
        return self._by_id.get(system_id)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._by_id.values())

    def authenticate(
        self,
        *,
        system_id: str,
        password: str,
        bind_mode: str,
        system_type: str,
        peer_ip: str,
    ) -> Account | CommandStatus:
        """The account a bind may use, or the status to refuse it with (REFERENCE.md §12.4)."""
        account = self._by_id.get(system_id)
        expected = account.config.password if account is not None else _NO_PASSWORD
        # compare even for unknown ids, so timing does not tell which ids exist
        password_ok = hmac.compare_digest(
            password.encode("latin-1", "replace"), expected.encode("latin-1", "replace")
        )
        if account is None:
            return CommandStatus.ESME_RINVSYSID
        if not password_ok:
            return CommandStatus.ESME_RINVPASWD
        if account.config.system_type and system_type != account.config.system_type:
            return CommandStatus.ESME_RINVSYSTYP
        if bind_mode not in account.config.bind_modes or not account.ip_allowed(peer_ip):
            return CommandStatus.ESME_RBINDFAIL
        return account
