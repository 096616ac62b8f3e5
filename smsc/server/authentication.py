"""BindAuthenticator: answers bind requests and keeps the account each link is bound as.

A bind is checked against the accounts (password, address, bind mode) and the account's
max_binds over the live binds; a refusal is answered and the session closed, an acceptance
gets the account's window and the SMSC's system_id (and sc_interface_version for a 3.4
peer). Once the session reports the bind complete, the link joins the bind registry that
delivery reads.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from smsc.accounts import Account, Accounts
from smsc.delivery.receivers import BindRegistry
from smsc.metrics import SmscMetrics
from smsc.pdu import Pdu, make_response
from smsc.pdu.constants import SMPP_VERSION_34, CommandStatus, Tag
from smsc.server.link import Link
from smsc.session import BindType
from smsc.session.states import BIND_TYPE_OF

log = logging.getLogger("smsc.service")


class BindAuthenticator:
    """See the module docstring; the service hands it the bind events of every link."""

    def __init__(self, *, accounts: Accounts, binds: BindRegistry, metrics: SmscMetrics,
                 system_id: str) -> None:
        self.accounts = accounts
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
        result = self.accounts.authenticate(
            system_id=message.system_id,  # type: ignore[attr-defined]
            password=message.password,  # type: ignore[attr-defined]
            bind_mode=bind_type.value,
            system_type=message.system_type,  # type: ignore[attr-defined]
            peer_ip=link.peer_ip,
        )
        if not isinstance(result, CommandStatus) and (
            self.binds.count(result.system_id) >= result.config.max_binds
        ):
            result = CommandStatus.ESME_RBINDFAIL
        if isinstance(result, CommandStatus):
            log.info("%s bind refused: %s", link.peer, result.name)
            link.send(make_response(message, result))
            link.session.close("bind refused")
            return
        self._account_of[id(link)] = result
        link.session.limits = replace(link.session.limits, window=result.config.window)
        tlvs = {}
        if message.interface_version >= SMPP_VERSION_34:  # type: ignore[attr-defined]
            tlvs[Tag.sc_interface_version] = SMPP_VERSION_34
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
