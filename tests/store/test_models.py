"""The record changes both stores share (smsc.store.models)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsc.pdu.constants import MessageState
from smsc.store.models import (
    Delivered,
    Direction,
    IllegalTransition,
    Message,
    NewMessage,
    Outcome,
    PermanentFailure,
    RetryPolicy,
    TemporaryFailure,
    Transition,
    apply_outcome,
    first_outcome,
)

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
codes = st.none() | st.integers(0, 0xFFFF)
outcomes = st.one_of(
    st.builds(Delivered, codes),
    st.builds(TemporaryFailure, codes),
    st.builds(PermanentFailure, st.sampled_from(MessageState), codes),
)


def _result(call: object) -> Transition | type[Exception]:
    try:
        return call()  # type: ignore[operator,no-any-return]
    except IllegalTransition:
        return IllegalTransition


@given(outcome=outcomes, registered_delivery=st.integers(0, 0x1F),
       direction=st.sampled_from(Direction), expires_in=st.integers(1, 7200),
       due_in=st.integers(0, 60))
def test_a_first_outcome_is_the_outcome_applied_to_the_new_enroute_record(
    outcome: Outcome, registered_delivery: int, direction: Direction, expires_in: int,
    due_in: int,
) -> None:
    new = NewMessage(system_id="acme", destination_addr="1", direction=direction,
                     registered_delivery=registered_delivery, submitted_at=T0,
                     expires_at=T0 + timedelta(seconds=expires_in))
    due, now, policy = T0 + timedelta(seconds=due_in), T0 + timedelta(seconds=1), RetryPolicy()
    enroute = Message(7, new, MessageState.ENROUTE, 0, due)
    assert _result(lambda: first_outcome(7, new, outcome, due, now, policy)) == _result(
        lambda: apply_outcome(enroute, outcome, now, policy))


def test_a_first_outcome_refuses_what_the_state_table_refuses() -> None:
    new = NewMessage(system_id="acme", destination_addr="1")
    with pytest.raises(IllegalTransition):
        first_outcome(1, new, PermanentFailure(MessageState.ACCEPTED), T0, T0, RetryPolicy())
