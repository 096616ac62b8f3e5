"""OutbindDialer: the SMSC calls an ESME that has mail waiting and no receiver bound.

SPEC 2.2.1 / REFERENCE.md §12.7: the SMSC connects, sends outbind (system_id, password), and
the ESME answers on the same connection with bind_receiver (or bind_transceiver), after which
it is an ordinary receiver session served like any other.
"""

from __future__ import annotations

import logging

import trio

from smsc.clock import Clock
from smsc.config import AccountConfig
from smsc.delivery.committer import Committer
from smsc.delivery.receivers import BindRegistry
from smsc.pdu import Outbind
from smsc.server.listener import SmppListener

log = logging.getLogger("smsc.outbind")
CONNECT_TIMEOUT = 10.0


class OutbindDialer:
    def __init__(
        self,
        *,
        accounts: tuple[AccountConfig, ...],
        committer: Committer,
        binds: BindRegistry,
        listener: SmppListener,
        clock: Clock,
        system_id: str,
    ) -> None:
        self.accounts = {a.system_id: a for a in accounts if a.outbind_host}
        self.committer = committer
        self.binds = binds
        self.listener = listener
        self.clock = clock
        self.system_id = system_id
        self._calling: set[str] = set()
        self._next_try: dict[str, float] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            if not self.accounts:
                return
            while True:
                waiting = await self.committer.call(self.committer.store.systems_with_outbound)
                now = self.clock.monotonic()
                for system_id in waiting:
                    account = self.accounts.get(system_id)
                    if (
                        account is None
                        or system_id in self._calling
                        or self.binds.receivers(system_id)
                        or self._next_try.get(system_id, 0.0) > now
                    ):
                        continue
                    self._calling.add(system_id)
                    nursery.start_soon(self._call, account)
                deadline = min(self._next_try.values(), default=float("inf"))
                with trio.move_on_at(max(deadline, now + 0.001)):
                    async with trio.open_nursery() as waiters:
                        async def first(wait: object) -> None:
                            await wait()  # type: ignore[operator]
                            waiters.cancel_scope.cancel()

                        waiters.start_soon(first, self.committer.wait_committed)
                        waiters.start_soon(first, self.binds.wait_changed)

    async def _call(self, account: AccountConfig) -> None:
        system_id = account.system_id
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                stream = await trio.open_tcp_stream(account.outbind_host, account.outbind_port)
        except (OSError, trio.TooSlowError) as error:
            log.info("outbind to %s:%d failed: %s", account.outbind_host, account.outbind_port,
                     error)
        else:
            log.info("outbind to %s at %s:%d", system_id, account.outbind_host,
                     account.outbind_port)
            greeting = Outbind(system_id=self.system_id, password=account.outbind_password)
            await self.listener.handle(stream, greeting)
        finally:
            self._calling.discard(system_id)
            self._next_try[system_id] = self.clock.monotonic() + account.outbind_retry
