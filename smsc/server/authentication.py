"""BindAuthenticator: answers bind requests and keeps the account each link is bound as.

A bind is checked against the accounts (password, address, bind mode) and the account's
max_binds over the live binds, unless its address is shut out after failed binds
(`FailedBinds`); a refusal is answered and the session closed, an acceptance
gets the account's window and the SMSC's system_id (and, for a 3.4 or 5.0 peer,
sc_interface_version: the version the session speaks from then on, 0x34 or 0x50). Once
the session reports the bind complete, the link joins the bind registry that delivery reads.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from smsc.accounts import CREDENTIAL_FAILURES, Account, Accounts, FailedBinds
from smsc.clock import Clock
from smsc.delivery.receivers import BindRegistry
from smsc.metrics import SmscMetrics
from smsc.pdu import Pdu, make_response
from smsc.pdu.constants import CommandStatus, SmppVersion, Tag
from smsc.server.link import Link
from smsc.session import BindType
from smsc.session.states import BIND_TYPE_OF

log = logging.getLogger("smsc.service")


class BindAuthenticator:
    """See the module docstring; the service hands it the bind events of every link."""

    def __init__(self, *, accounts: Accounts, binds: BindRegistry, metrics: SmscMetrics,
                 clock: Clock, system_id: str, failed_binds: FailedBinds) -> None:
        self.accounts = accounts
        self.clock = clock
        self.failed_binds = failed_binds
        """Backoff per address after binds refused for their credentials."""
        self.binds = binds
        self.metrics = metrics
        self.system_id = system_id
        """What bind responses name this SMSC (server.system_id)."""
        self._account_of: dict[int, Account] = {}
        """id(link) → the account it bound as (from the accepted bind request on)."""
        self._registered: dict[int, str] = {}
        """id(link) → the system_id it is registered under in `binds` (once bound)."""

    def account_of(self, link: Link) -> Account | None:
        return self._account_of.get(id(link))

    def answer(self, link: Link, message: Pdu) -> None:
        """Accept or refuse a bind request."""
        bind_type = BIND_TYPE_OF[message.command_id]
        system_id: str = message.system_id  # type: ignore[attr-defined]
        address = link.peer_ip
        now = self.clock.monotonic()
        result: Account | CommandStatus
        if self.failed_binds.blocked(address, now):
            result = CommandStatus.ESME_RBINDFAIL  # decided before any credential is read
        else:
            result = self.accounts.authenticate(
                system_id=system_id,
                password=message.password,  # type: ignore[attr-defined]
                bind_mode=bind_type.value,
                system_type=message.system_type,  # type: ignore[attr-defined]
                peer_ip=address,
                bound=self.binds.count(system_id),
            )
        if isinstance(result, CommandStatus):
            if result in CREDENTIAL_FAILURES:
                wait = self.failed_binds.failed(address, now)
                log.info("%s bind refused: %s (binds from %s refused for %.3g s)",
                         link.peer, result.name, address, wait)
            else:
                log.info("%s bind refused: %s", link.peer, result.name)
            link.send(make_response(message, result))
            link.session.close("bind refused")
            return
        self.failed_binds.succeeded(address)
        self._account_of[id(link)] = result
        link.session.limits = replace(link.session.limits, window=result.config.window)
        tlvs = {}
        version = link.session.version  # (the session took it from the bind request)
        if version >= SmppVersion.V34:  # a 3.3 peer gets no TLVs (REFERENCE.md §6.1)
            tlvs[Tag.sc_interface_version] = int(version)
        link.send(make_response(message, system_id=self.system_id, tlvs=tlvs))

    def bound(self, link: Link, bind_type: BindType, system_id: str) -> None:
        """The session completed the bind: the link may now receive deliveries."""
        self.binds.add(system_id, link)
        self._registered[id(link)] = system_id
        self.metrics.record_bind(system_id, bind_type.value)
        log.info("%s bound as %s (%s)", link.peer, system_id, bind_type.value)

    def unbound(self, link: Link) -> None:
        system_id = self._registered.pop(id(link), None)
        if system_id is not None:
            self.binds.remove(system_id, link)

    def closed(self, link: Link) -> None:
        self.unbound(link)
        self._account_of.pop(id(link), None)
