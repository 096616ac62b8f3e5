"""MultiSubmits: a submit_multi's destinations stored under one message id, then answered.

The first destination stored gives the id (its first attempt held back until the answer is
out, so no receipt of the submit precedes it); the others are stored with `multi_id` set to
it; the answer lists the destinations refused (unsuccess_sme). A slow_response fault delays
the answer in a task of the service's, with every destination held until it goes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import trio

from smsc.accounts import Account
from smsc.delivery.committer import AcceptCallback
from smsc.metrics import SmscMetrics
from smsc.pdu import Pdu, SmeDest, SubmitMulti, UnsuccessSme, make_response
from smsc.pdu.constants import CommandStatus, Tag
from smsc.server.answers import AcceptedAnswers
from smsc.server.link import Link
from smsc.simulation.fate import SubmitFault
from smsc.simulation.networks import Fault
from smsc.store import AcceptRefused, NewMessage, format_message_id

S = CommandStatus
_ROK = S.ESME_ROK


class MultiSubmits:
    """Stores and answers submit_multi requests (see the module docstring)."""

    def __init__(
        self,
        *,
        accept: Callable[[NewMessage, AcceptCallback], None],
        accept_held: Callable[[NewMessage, AcceptCallback], bool],
        start_held: Callable[[int, NewMessage], None],
        metrics: SmscMetrics,
        answers: AcceptedAnswers,
        id_format: str,
        tasks: Callable[[], trio.Nursery | None],
    ) -> None:
        self.accept_one = accept
        """Where a destination after the first goes (DeliveryScheduler.accept)."""
        self.accept_held = accept_held
        self.start_held = start_held
        """The first destination is stored with its first attempt held back
        (DeliveryScheduler.accept_held, True when held) and started once answered."""
        self.metrics = metrics
        self.answers = answers
        """The congestion_state of the answer (a 5.0 session's)."""
        self.id_format = id_format
        """server.message_id_format: how the answer writes the id."""
        self.tasks = tasks
        """The service's nursery for delayed answers (None before it runs)."""

    def accept(self, link: Link, account: Account, message: SubmitMulti,
               accepted: list[tuple[SmeDest, NewMessage]], unsuccess: list[UnsuccessSme],
               fault: SubmitFault | None) -> None:
        """Store a submit_multi's destinations under one id, the first stored one's: it is
        stored alone (its first attempt held back, so that no receipt of it precedes the
        answer), then the others with `multi_id` set to it. The answer carries it, and once
        it is sent the first destination's attempt starts (every destination's, when a
        slow_response fault delays the answer: all are held until it goes out). A first
        destination the store refuses (max_pending) hands the id on to the next; a write
        that failed ends the submit at once, answered ESME_RSYSERR, as a submit_sm is."""

        def refused(dest: SmeDest, result: AcceptRefused | None) -> None:
            status = S.ESME_RSYSERR if result is None else S.ESME_RMSGQFUL
            unsuccess.append(UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi,
                                          dest.destination_addr, status))

        held = [False]
        """Whether the first destination stored is held (`accept_held`'s answer)."""
        tasks = self.tasks()
        delayed = (fault is not None and fault.fault is Fault.SLOW_RESPONSE
                   and tasks is not None)
        """Whether the answer waits (slow_response): every destination is held until then."""

        def store_first(index: int) -> None:
            held[0] = self.accept_held(accepted[index][1], partial(first_stored, index))

        def first_stored(index: int, result: int | AcceptRefused | None) -> None:
            if result is None:  # the store could not write: the next would wait for it too
                answer(None, S.ESME_RSYSERR)
                return
            if not isinstance(result, int):
                refused(accepted[index][0], result)
                if index + 1 < len(accepted):
                    store_first(index + 1)
                else:
                    answer(None, S.ESME_RSUBMITFAIL)
                return
            first = accepted[index][1]
            others = accepted[index + 1:]
            if not others:
                answer(result, then=partial(self.start_held, result, first) if held[0] else None)
                return
            held_ones = [(result, first)] if held[0] else []
            waiting = [len(others)]

            def other_stored(dest: SmeDest, new: NewMessage, is_held: list[bool],
                             outcome: int | AcceptRefused | None) -> None:
                if not isinstance(outcome, int):
                    refused(dest, outcome)
                elif is_held[0]:
                    held_ones.append((outcome, new))
                waiting[0] -= 1
                if not waiting[0]:
                    answer(result, then=partial(start_all, held_ones) if held_ones else None)

            for dest, new in others:
                new.multi_id = result
                is_held = [False]
                if delayed:  # held too: no receipt of it goes out before the late answer
                    is_held[0] = self.accept_held(new, partial(other_stored, dest, new,
                                                               is_held))
                else:
                    self.accept_one(new, partial(other_stored, dest, new, is_held))

        def start_all(held_ones: list[tuple[int, NewMessage]]) -> None:
            for message_id, new in held_ones:
                self.start_held(message_id, new)

        def answer(message_id: int | None, status: int = _ROK,
                   then: Callable[[], None] | None = None) -> None:
            """Answer the submit_multi (`status` when nothing was stored), then call `then`:
            after the answer has gone out, even when a simulated fault delays it."""
            self.metrics.record_submit(account.system_id, status)
            if not link.is_open or link.session.closed:
                pass  # the ESME is gone: what was stored is delivered, its receipts wait
            elif message_id is None:
                link.send(make_response(message, status))
            else:
                tail = self.answers.congestion.tail(link, account.system_id)
                response = make_response(
                    message, message_id=format_message_id(message_id, self.id_format),
                    unsuccess_sme=tuple(unsuccess),
                    tlvs={Tag.congestion_state: tail[-1]} if tail else {},
                )
                if fault is None:
                    link.send(response)
                elif delayed and fault is not None and tasks is not None:
                    tasks.start_soon(self._send_later, fault.delay, link, response, then)
                    return
            if then is not None:
                then()

        store_first(0)

    async def _send_later(self, delay: float, link: Link, response: Pdu,
                          then: Callable[[], None] | None = None) -> None:
        """Send `response` after `delay` (a slow_response fault), then call `then`."""
        await trio.sleep(delay)
        if link.is_open and not link.session.closed:
            link.send(response)
        if then is not None:
            then()
