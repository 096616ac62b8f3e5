"""AccountAdmin: accounts created, changed and deleted while the SMSC runs.

The control API (`/v1/accounts`) and a configuration reload (SIGHUP) change the accounts
through it; nothing is written back to the config file. A bind always looks its account up
anew, so every change applies to the next bind. Live sessions follow too, as far as SMPP
lets them: they hold the account's `Account` object, which changes in place, so the password
and address rules (checked at bind only) apply from the next bind, while the throttle
(submit_rate, submit_burst), source-address rules, validity limits and max_pending apply to
the next submit of every session, and a changed window to the next deliver_sm of every
session bound as the account. A deleted account's sessions are unbound (the SMSC sends
unbind and closes the connection once answered, or after `unbind_timeout`).

An account's `mo_addresses` and `receipt_dialect` apply at once: every creation, deletion or
change of them hands the accounts now in force to `on_accounts`, which rebuilds MO routing,
the ESME-to-ESME lookup of submits and the receipts' choice of dialect (a deleted account's
addresses stop routing to it). What other components took from the configuration at start
(outbind, distribution_lists) needs a restart: `RESTART_ONLY`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence

import trio

from smsc.accounts import Accounts
from smsc.clock import Clock
from smsc.config import AccountConfig
from smsc.delivery.receivers import BindRegistry
from smsc.server.authentication import BindAuthenticator

log = logging.getLogger("smsc.accounts")

RESTART_ONLY = ("outbind_host", "outbind_port", "outbind_password", "outbind_retry",
                "distribution_lists")
"""Account keys read once at start by outbind and distribution lists (changed at runtime
under /v1/accounts/{system_id}/distribution-lists instead)."""


class UnknownDialect(ValueError):
    """An account names a receipt dialect the running configuration does not have."""

_DEFAULTS = AccountConfig()


def live_part(config: AccountConfig, running: AccountConfig | None) -> AccountConfig:
    """`config` with its RESTART_ONLY keys as they are in effect: those of the running
    account, or the defaults for a new one."""
    base = running if running is not None else _DEFAULTS
    return dataclasses.replace(config, **{key: getattr(base, key) for key in RESTART_ONLY})


def restart_keys(config: AccountConfig, running: AccountConfig | None) -> list[str]:
    """The RESTART_ONLY keys in which `config` differs from what is in effect."""
    base = running if running is not None else _DEFAULTS
    return [key for key in RESTART_ONLY if getattr(config, key) != getattr(base, key)]


class AccountAdmin:
    """See the module docstring."""

    def __init__(self, *, accounts: Accounts, authenticator: BindAuthenticator,
                 binds: BindRegistry, clock: Clock, pending_limits: dict[str, int],
                 pending_limited: set[str], unbind_timeout: float,
                 on_change: Callable[[tuple[str, ...]], None] | None = None,
                 on_accounts: Sequence[Callable[[tuple[AccountConfig, ...]], None]] = (),
                 on_delete: Sequence[Callable[[str], None]] = (),
                 receipt_dialects: frozenset[str] = frozenset({"appendix_b"})) -> None:
        self.accounts = accounts
        self.authenticator = authenticator
        self.binds = binds
        self.clock = clock
        self.pending_limits = pending_limits
        """The store's max_pending per system_id (its own dict, changed in place)."""
        self.pending_limited = pending_limited
        """The delivery scheduler's set of accounts with a max_pending (changed in place)."""
        self.unbind_timeout = unbind_timeout
        self.on_change = on_change
        """Hears the system_ids whenever an account is created or deleted (the metrics'
        list of configured accounts)."""
        self.on_accounts = on_accounts
        """Hear the accounts in force whenever the mo_addresses they claim or the receipt
        dialects they name may have changed (MO routing, the ESME-to-ESME lookup and the
        receipts rebuild theirs from them)."""
        self.on_delete = on_delete
        """Hear the system_id of each account deleted (its distribution lists go with it,
        not to come back with a new account of that name)."""
        self.receipt_dialects = receipt_dialects
        """The dialect names an account may give (those the SMSC started with)."""
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Hold the nursery that unbinds a deleted account's sessions."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def configs(self) -> list[AccountConfig]:
        return [account.config for account in self.accounts]

    def get(self, system_id: str) -> AccountConfig | None:
        account = self.accounts.get(system_id)
        return account.config if account is not None else None

    def put(self, config: AccountConfig) -> bool:
        """Create the account or change it (in place, live sessions included); returns
        whether it was created.

        Raises:
            UnknownDialect: its receipt_dialect is none of `receipt_dialects`.
        """
        if config.receipt_dialect and config.receipt_dialect not in self.receipt_dialects:
            raise UnknownDialect(f"no receipt dialect named {config.receipt_dialect!r}")
        created, moved = self._put(config)
        if moved:
            self._accounts_changed()
        return created

    def _put(self, config: AccountConfig) -> tuple[bool, bool]:
        """`put` without telling `on_accounts`; returns whether the account was created and
        whether the addresses it claims or its receipt dialect changed."""
        running = self.accounts.get(config.system_id)
        created = running is None
        moved = ((config.mo_addresses, config.receipt_dialect)
                 != (running.config.mo_addresses, running.config.receipt_dialect)
                 if running is not None
                 else bool(config.mo_addresses or config.receipt_dialect))
        account = self.accounts.put(config, self.clock.monotonic())
        system_id = config.system_id
        if config.max_pending:
            self.pending_limits[system_id] = config.max_pending
            self.pending_limited.add(system_id)
        else:
            self.pending_limits.pop(system_id, None)
            self.pending_limited.discard(system_id)
        self.authenticator.apply_window(account)
        if created:
            self._changed()
        log.info("account %s %s", system_id, "created" if created else "changed")
        return created, moved

    def delete(self, system_id: str) -> int | None:
        """Delete the account and unbind its sessions; returns how many are unbound (None:
        no such account)."""
        unbinding, moved = self._delete(system_id)
        if moved:
            self._accounts_changed()
        return unbinding

    def _delete(self, system_id: str) -> tuple[int | None, bool]:
        """`delete` without telling `on_accounts`; returns how many sessions are unbound and
        whether the account claimed addresses or named a receipt dialect."""
        removed = self.accounts.remove(system_id)
        if removed is None:
            return None, False
        self.pending_limits.pop(system_id, None)
        self.pending_limited.discard(system_id)
        for hear in self.on_delete:
            hear(system_id)
        links = list(self.authenticator.links_of(system_id))
        assert self._nursery is not None, "AccountAdmin.run is not running"
        for link in links:
            self._nursery.start_soon(link.unbind, self.unbind_timeout)
        self._changed()
        log.info("account %s deleted; unbinding its %d session(s)", system_id, len(links))
        return len(links), bool(removed.config.mo_addresses or removed.config.receipt_dialect)

    def replace_all(self, configs: Iterable[AccountConfig]) -> list[str]:
        """Make the accounts those of a reloaded configuration: new ones created, changed
        ones changed, missing ones deleted. Returns the keys (`accounts[i].key`) whose change
        needs a restart (a receipt dialect the SMSC did not start with among them); the rest
        of those accounts is applied. `on_accounts` hears the accounts once, in the
        configuration's order (the first mo_addresses pattern that matches decides)."""
        wanted = list(configs)
        needs_restart = []
        names = {config.system_id for config in wanted}
        for system_id in [a.system_id for a in self.accounts if a.system_id not in names]:
            self._delete(system_id)
        for index, config in enumerate(wanted):
            running = self.get(config.system_id)
            needs_restart += [f"accounts[{index}].{key}"
                              for key in restart_keys(config, running)]
            if config.receipt_dialect not in self.receipt_dialects | {""}:
                needs_restart.append(f"accounts[{index}].receipt_dialect")
                config = dataclasses.replace(config, receipt_dialect=(
                    running.receipt_dialect if running is not None else ""))
            live = live_part(config, running)
            if live != running:
                self._put(live)
        in_force = (self.get(config.system_id) for config in wanted)
        self._accounts_changed(tuple(config for config in in_force if config is not None))
        return needs_restart

    def _accounts_changed(self, configs: tuple[AccountConfig, ...] | None = None) -> None:
        in_force = tuple(self.configs()) if configs is None else configs
        for hear in self.on_accounts:
            hear(in_force)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(tuple(account.system_id for account in self.accounts))
