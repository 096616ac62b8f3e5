"""Mobile-originated traffic: a handset's message to a short code or long number, stored and
delivered to the account that owns that address as deliver_sm (waiting while it is unbound)."""

from __future__ import annotations

import itertools
import re

import trio

from smsc.clock import Clock
from smsc.config import AccountConfig
from smsc.delivery.committer import Committer
from smsc.pdu.concat import Scheme, split_text
from smsc.pdu.constants import EsmFeature
from smsc.pdu.text import choose_encoding
from smsc.store import AcceptRefused, Direction, NewMessage


class NoRoute(LookupError):
    """No account claims the destination address."""


class StoreFailed(RuntimeError):
    """The store refused or failed to keep an MO message."""


class MobileOriginator:
    def __init__(self, *, accounts: tuple[AccountConfig, ...], committer: Committer,
                 clock: Clock) -> None:
        self.routes = [
            (re.compile(pattern), account.system_id)
            for account in accounts
            for pattern in account.mo_addresses
        ]
        self.committer = committer
        self.clock = clock
        self._references = itertools.count(1)

    def account_for(self, destination_addr: str) -> str:
        for pattern, system_id in self.routes:
            if pattern.fullmatch(destination_addr):
                return system_id
        raise NoRoute(destination_addr)

    async def send_text(
        self, source_addr: str, destination_addr: str, text: str, *, source_addr_ton: int = 1,
        source_addr_npi: int = 1, dest_addr_ton: int = 0, dest_addr_npi: int = 0,
        data_coding: int | None = None, system_id: str | None = None,
    ) -> list[int]:
        """Store a handset's text (split into UDH parts when long); returns the message ids.

        `data_coding` forces an alphabet (e.g. 8 for UCS2); by default the smallest that
        carries the text is chosen. `system_id` names the receiving account directly (a
        handset's reply goes to the account that wrote to it); otherwise the account's
        mo_addresses decide.

        Raises:
            NoRoute: no account owns `destination_addr`.
            StoreFailed: the store did not keep it.
            TextError: the text cannot be written in the forced data_coding.
        """
        if system_id is None:
            system_id = self.account_for(destination_addr)
        if data_coding is None:
            data_coding, _ = choose_encoding(text)
        reference = next(self._references) & 0xFF
        parts = split_text(text, data_coding, scheme=Scheme.UDH8, reference=reference)
        now = self.clock.wall()
        messages = [
            NewMessage(
                system_id=system_id, direction=Direction.MO, destination_addr=destination_addr,
                source_addr=source_addr, source_addr_ton=source_addr_ton,
                source_addr_npi=source_addr_npi, dest_addr_ton=dest_addr_ton,
                dest_addr_npi=dest_addr_npi, payload=part.user_data, data_coding=data_coding,
                esm_class=EsmFeature.UDHI if part.udhi else 0, submitted_at=now,
            )
            for part in parts
        ]
        return await self._store(messages)

    async def _store(self, messages: list[NewMessage]) -> list[int]:
        results: list[int | AcceptRefused | None] = []
        done = trio.Event()

        def collect(result: int | AcceptRefused | None) -> None:
            results.append(result)
            if len(results) == len(messages):
                done.set()

        for message in messages:
            self.committer.accept(message, collect)
        await done.wait()
        ids = [r for r in results if isinstance(r, int)]
        if len(ids) != len(messages):
            raise StoreFailed(f"{len(messages) - len(ids)} of {len(messages)} parts not stored")
        return ids
