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

What other components took from the configuration at start (mo_addresses, outbind,
receipt_dialect, distribution_lists) needs a restart: `RESTART_ONLY`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

import trio

from smsc.accounts import Accounts
from smsc.clock import Clock
from smsc.config import AccountConfig
from smsc.delivery.receivers import BindRegistry
from smsc.server.authentication import BindAuthenticator

log = logging.getLogger("smsc.accounts")

RESTART_ONLY = ("mo_addresses", "outbind_host", "outbind_port", "outbind_password",
                "outbind_retry", "receipt_dialect", "distribution_lists")
"""Account keys read once at start by MO routing (and ESME-to-ESME submits), outbind,
receipts and distribution lists (changed at runtime under
/v1/accounts/{system_id}/distribution-lists instead)."""

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
                 on_change: Callable[[tuple[str, ...]], None] | None = None) -> None:
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
        whether it was created."""
        created = self.accounts.get(config.system_id) is None
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
        return created

    def delete(self, system_id: str) -> int | None:
        """Delete the account and unbind its sessions; returns how many are unbound (None:
        no such account)."""
        if self.accounts.remove(system_id) is None:
            return None
        self.pending_limits.pop(system_id, None)
        self.pending_limited.discard(system_id)
        links = list(self.authenticator.links_of(system_id))
        assert self._nursery is not None, "AccountAdmin.run is not running"
        for link in links:
            self._nursery.start_soon(link.unbind, self.unbind_timeout)
        self._changed()
        log.info("account %s deleted; unbinding its %d session(s)", system_id, len(links))
        return len(links)

    def replace_all(self, configs: Iterable[AccountConfig]) -> list[str]:
        """Make the accounts those of a reloaded configuration: new ones created, changed
        ones changed, missing ones deleted. Returns the keys (`accounts[i].key`) whose change
        needs a restart; the rest of those accounts is applied."""
        wanted = list(configs)
        needs_restart = []
        names = {config.system_id for config in wanted}
        for system_id in [a.system_id for a in self.accounts if a.system_id not in names]:
            self.delete(system_id)
        for index, config in enumerate(wanted):
            running = self.get(config.system_id)
            needs_restart += [f"accounts[{index}].{key}"
                              for key in restart_keys(config, running)]
            live = live_part(config, running)
            if live != running:
                self.put(live)
        return needs_restart

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(tuple(account.system_id for account in self.accounts))
