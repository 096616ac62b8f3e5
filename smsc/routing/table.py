"""Route rules (pure): which simulated network a message goes to; first match wins."""

from __future__ import annotations

import re
from dataclasses import dataclass

from smsc.config import NO_NETWORK, RouteConfig, RoutingConfig
from smsc.routing.numbers import Number, normalise


@dataclass(frozen=True, slots=True)
class Route:
    network: str | None
    """The network's name; None when no network takes the message."""
    number: Number | None
    """The parsed destination; None when it is not a number or no rule needed it."""


class RoutingTable:
    """Ordered rules over the destination (E.164, region, type), the account and the source."""

    def __init__(self, config: RoutingConfig, network_names: tuple[str, ...]) -> None:
        self.config = config
        self.rules = [(rule, re.compile(rule.regex) if rule.regex else None)
                      for rule in config.rules]
        default = config.default_network or network_names[0]
        self.default = None if default == NO_NETWORK else default
        # parsing a number costs tens of microseconds: only when a rule or validation needs it
        self.needs_number = config.validate_numbers or any(
            rule.prefix or rule.region or rule.number_type for rule in config.rules
        )
        self.trivial = not config.rules and not config.validate_numbers
        """No rule and no validation: every message goes to `default`."""

    def resolve(self, *, ton: int, npi: int, destination: str, account: str,
                source: str) -> Route:
        number = (
            normalise(ton, npi, destination, self.config.default_region)
            if self.needs_number
            else None
        )
        for rule, pattern in self.rules:
            if _matches(rule, pattern, number, destination, account, source):
                return Route(None if rule.network == NO_NETWORK else rule.network, number)
        return Route(self.default, number)

    def rule_for(self, *, ton: int, npi: int, destination: str, account: str,
                 source: str) -> RouteConfig | None:
        """The first rule that matches (None when the default network takes the message)."""
        number = (
            normalise(ton, npi, destination, self.config.default_region)
            if self.needs_number
            else None
        )
        for rule, pattern in self.rules:
            if _matches(rule, pattern, number, destination, account, source):
                return rule
        return None


def _matches(rule: RouteConfig, pattern: re.Pattern[str] | None, number: Number | None,
             destination: str, account: str, source: str) -> bool:
    if rule.account and rule.account != account:
        return False
    if rule.source_prefix and not source.startswith(rule.source_prefix):
        return False
    if pattern is not None and not pattern.fullmatch(destination):
        return False
    if rule.prefix or rule.region or rule.number_type:
        if number is None:
            return False
        if rule.prefix and not number.e164.startswith("+" + rule.prefix.lstrip("+")):
            return False
        if rule.region and number.region != rule.region:
            return False
        if rule.number_type and number.number_type != rule.number_type:
            return False
    return True
