"""Distribution lists: per account, named lists of destinations a submit_multi may name
(dest_flag 2) instead of addresses.

Read from `[[accounts.distribution_lists]]` at start and changed at runtime through the
control API (`control/distribution_lists_api.py`); runtime changes last until the process
ends. Owned by app.py and handed to the submit preparation and the API: no global state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from smsc.config import (
    MAX_LIST_ADDRESS,
    MAX_LIST_MEMBERS,
    MAX_LIST_NAME,
    AccountConfig,
    list_problems,
)

MAX_NAME = MAX_LIST_NAME
MAX_ADDRESS = MAX_LIST_ADDRESS
MAX_MEMBERS = MAX_LIST_MEMBERS


@dataclass(frozen=True, slots=True)
class Member:
    """One destination of a list, as a submit_multi's SME address would give it."""

    ton: int
    npi: int
    address: str


@dataclass(frozen=True, slots=True)
class DistributionList:
    name: str
    members: tuple[Member, ...]


class DistributionLists:
    """Every account's lists by (system_id, name); changed only through `put` and
    `delete`, from the trio thread."""

    def __init__(self, accounts: Iterable[AccountConfig] = ()) -> None:
        self._lists: dict[str, dict[str, DistributionList]] = {}
        for account in accounts:
            for config in account.distribution_lists:
                self.put(account.system_id, DistributionList(config.name, tuple(
                    Member(config.dest_addr_ton, config.dest_addr_npi, address)
                    for address in config.members)))

    def get(self, system_id: str, name: str) -> DistributionList | None:
        lists = self._lists.get(system_id)
        return None if lists is None else lists.get(name)

    def of(self, system_id: str) -> list[DistributionList]:
        """The account's lists, by name."""
        return sorted(self._lists.get(system_id, {}).values(), key=lambda dl: dl.name)

    def put(self, system_id: str, dl: DistributionList) -> bool:
        """Create or replace a list; True when it is new."""
        lists = self._lists.setdefault(system_id, {})
        created = dl.name not in lists
        lists[dl.name] = dl
        return created

    def forget_account(self, system_id: str) -> None:
        """Remove every list of a deleted account."""
        self._lists.pop(system_id, None)

    def delete(self, system_id: str, name: str) -> bool:
        """Remove a list; False when there was none."""
        lists = self._lists.get(system_id)
        return lists is not None and lists.pop(name, None) is not None


def check_list(name: str, members: Iterable[tuple[int, int, str]]) -> list[str]:
    """What is wrong with a list (empty when nothing): `smsc.config.list_problems`, the
    rules the config and the API share."""
    return [message for _, message in list_problems(name, list(members))]
