"""BindAuthenticator: answers bind requests and keeps the account each link is bound as.

A bind is checked against the listener it came in on (the accounts it allows), the client
certificate (the account's allowed_cert_subjects), the accounts (password, address, bind
mode) and the account's max_binds over the live binds (on a PostgreSQL store shared by
several nodes, over every live node's: `ClusterBinds`, answered once it has counted), unless
its address is shut out after failed binds (`FailedBinds`); a refusal is answered and the
session closed, an acceptance gets the account's window and the SMSC's system_id (and, for a
3.4 or 5.0 peer, sc_interface_version: the version the session speaks from then on, 0x34 or
0x50). Once the session reports the bind complete, the link joins the bind registry that
delivery reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

import trio

from smsc.accounts import (
    CREDENTIAL_FAILURES,
    Account,
    Accounts,
    FailedBinds,
    certificate_subject,
)
from smsc.clock import Clock
from smsc.delivery.receivers import BindRegistry
from smsc.metrics import SmscMetrics
from smsc.pdu import Pdu, make_response
from smsc.pdu.constants import CommandStatus, SmppVersion, Tag
from smsc.server.link import Link
from smsc.session import BindType
from smsc.session.states import BIND_TYPE_OF

log = logging.getLogger("smsc.service")


@dataclass(frozen=True, slots=True)
class ListenerPolicy:
    """What a listener lets bind: its name (for the logs) and the system_ids allowed on it
    (empty: every account)."""

    name: str
    accounts: frozenset[str] = frozenset()


class ClusterBinds(Protocol):
    """The nodes sharing a PostgreSQL store (`smsc.cluster.node.ClusterNode`): a bind the
    account allows is admitted there (max_binds across the nodes) before it is answered."""

    def admit(self, link: Link, system_id: str, bind_mode: str, max_binds: int,
              window: int, answer: Callable[[bool | None], None]) -> None:
        """Decide, later, and call `answer`: True (admitted), False (max_binds bound across
        the nodes), None (the database could not say)."""

    def ended(self, link: Link) -> None:
        """The link admitted earlier unbound or closed."""


NO_POLICY = ListenerPolicy("")
"""Connections no listener accepted (outbind, attached streams): every account may bind."""


def peer_certificate(link: Link) -> tuple[str, str | None] | None:
    """The subject (RFC 4514) and common name of the link's verified client certificate,
    None when it has none (plain TCP, or TLS without one)."""
    stream = link.stream
    if not isinstance(stream, trio.SSLStream):
        return None
    certificate = stream.getpeercert()
    if not certificate:
        return None
    return certificate_subject(certificate)


class BindAuthenticator:
    """See the module docstring; the service hands it the bind events of every link."""

    def __init__(self, *, accounts: Accounts, binds: BindRegistry, metrics: SmscMetrics,
                 clock: Clock, system_id: str, failed_binds: FailedBinds,
                 cluster: ClusterBinds | None = None) -> None:
        self.accounts = accounts
        self.cluster = cluster
        """Where binds are admitted across nodes (None: this process alone)."""
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
        self._policy: dict[int, ListenerPolicy] = {}
        """id(link) → the policy of the listener that accepted it."""
        self._links: dict[int, Link] = {}
        """id(link) → link, for the links with an account (`links_of`)."""

    def account_of(self, link: Link) -> Account | None:
        return self._account_of.get(id(link))

    def arrived(self, link: Link, policy: ListenerPolicy) -> None:
        """A listener accepted `link`: its binds answer to `policy`."""
        self._policy[id(link)] = policy

    def links_of(self, system_id: str) -> Iterator[Link]:
        """The links bound (or binding) as `system_id`."""
        for key, account in list(self._account_of.items()):
            if account.system_id == system_id:
                yield self._links[key]

    def apply_window(self, account: Account) -> None:
        """Give the links bound as `account` its (changed) window."""
        window = account.config.window
        for link in self.links_of(account.system_id):
            link.session.limits = replace(link.session.limits, window=window)

    def _refusal(self, link: Link, system_id: str, now: float) -> CommandStatus | None:
        """ESME_RBINDFAIL when the listener or the client certificate rules the bind out
        (checked before the password, which such a refusal tells nothing about); a
        certificate refused counts as a failed bind, as a wrong password does."""
        policy = self._policy.get(id(link), NO_POLICY)
        if policy.accounts and system_id not in policy.accounts:
            log.info("%s bind refused: ESME_RBINDFAIL (%s not allowed on listener %s)",
                     link.peer, system_id, policy.name)
            return CommandStatus.ESME_RBINDFAIL
        account = self.accounts.get(system_id)
        if account is None or not account.config.allowed_cert_subjects:
            return None
        subject, common_name = peer_certificate(link) or (None, None)
        if account.subject_allowed(subject, common_name):
            return None
        wait = self.failed_binds.failed(link.peer_ip, now)
        log.info("%s bind refused: ESME_RBINDFAIL (client certificate %s not allowed for %s; "
                 "binds from %s refused for %.3g s)", link.peer,
                 repr(subject) if subject is not None else "missing", system_id,
                 link.peer_ip, wait)
        return CommandStatus.ESME_RBINDFAIL

    def answer(self, link: Link, message: Pdu) -> None:
        """Accept or refuse a bind request."""
        bind_type = BIND_TYPE_OF[message.command_id]
        system_id: str = message.system_id  # type: ignore[attr-defined]
        address = link.peer_ip
        now = self.clock.monotonic()
        result: Account | CommandStatus
        if self.failed_binds.blocked(address, now):
            result = CommandStatus.ESME_RBINDFAIL  # decided before any credential is read
        elif (refusal := self._refusal(link, system_id, now)) is not None:
            link.send(make_response(message, refusal))
            link.session.close("bind refused")
            return
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
        if self.cluster is not None:  # answered once the nodes have counted it
            self.cluster.admit(link, system_id, bind_type.value, result.config.max_binds,
                               result.config.window,
                               partial(self._admitted, link, message, result))
            return
        self._accept(link, message, result)

    def _admitted(self, link: Link, message: Pdu, account: Account,
                  admitted: bool | None) -> None:
        """The nodes' answer to a bind: admitted, refused as one node's max_binds would be
        (ESME_RBINDFAIL), or ESME_RSYSERR when the database could not say."""
        if not link.is_open:  # (closed meanwhile: its row goes again)
            if admitted:
                assert self.cluster is not None
                self.cluster.ended(link)
            return
        if not admitted:
            status = CommandStatus.ESME_RSYSERR if admitted is None else \
                CommandStatus.ESME_RBINDFAIL
            log.info("%s bind refused: %s (%s)", link.peer, status.name,
                     "the store could not count its binds" if admitted is None else
                     f"{account.system_id}'s max_binds {account.config.max_binds} bound "
                     "across the nodes")
            link.send(make_response(message, status))
            link.session.close("bind refused")
            return
        self._accept(link, message, account)

    def _accept(self, link: Link, message: Pdu, result: Account) -> None:
        self._account_of[id(link)] = result
        self._links[id(link)] = link
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
        log.info("%s bound as %s (%s) on listener %s", link.peer, system_id, bind_type.value,
                 self._policy.get(id(link), NO_POLICY).name or "-")

    def unbound(self, link: Link) -> None:
        system_id = self._registered.pop(id(link), None)
        if system_id is not None:
            self.binds.remove(system_id, link)
        if self.cluster is not None:
            self.cluster.ended(link)

    def closed(self, link: Link) -> None:
        self.unbound(link)
        self._account_of.pop(id(link), None)
        self._links.pop(id(link), None)
        self._policy.pop(id(link), None)
