"""SmscMetrics' PDU counters: one int key per (command_id, status), named at scrape time."""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from smsc.metrics import FINAL_BUCKETS, SmscMetrics, pdu_key, split_pdu_key
from smsc.pdu.constants import CommandId, CommandStatus, MessageState
from smsc.store.models import Message, NewMessage

uint32 = st.integers(min_value=0, max_value=0xFFFFFFFF)


@given(uint32, uint32)
def test_pdu_key_round_trips(command_id: int, status: int) -> None:
    assert split_pdu_key(pdu_key(command_id, status)) == (command_id, status)


def test_status_zero_is_the_command_id_itself() -> None:
    assert pdu_key(CommandId.submit_sm, 0) == int(CommandId.submit_sm)


def test_counts_are_named_by_command_and_status() -> None:
    metrics = SmscMetrics()
    metrics.count_received(CommandId.submit_sm)
    metrics.count_received(CommandId.submit_sm)
    metrics.count_sent(CommandId.submit_sm_resp, CommandStatus.ESME_RTHROTTLED)
    metrics.count_received(CommandId.deliver_sm_resp, 0x12345)  # no such status
    metrics.count_received(0x00FFFF00, 0)  # no such command
    assert metrics.value("smsc_pdus_received_total", command="submit_sm",
                         status="ESME_ROK") == 2
    assert metrics.value("smsc_pdus_sent_total", command="submit_sm_resp",
                         status="ESME_RTHROTTLED") == 1
    assert metrics.value("smsc_pdus_sent_total", command="submit_sm_resp",
                         status="ESME_ROK") is None
    assert metrics.value("smsc_pdus_received_total", command="deliver_sm_resp",
                         status="unknown") == 1
    assert metrics.value("smsc_pdus_received_total", command="unknown",
                         status="ESME_ROK") == 1


def test_unknown_codes_share_one_key() -> None:
    metrics = SmscMetrics()
    for command_id in (0x00FFFF00, 0x00FFFF01, 0x00FFFF02):
        metrics.count_received(command_id, 0x54321)
    assert len(metrics.pdus_received) == 1
    assert metrics.value("smsc_pdus_received_total", command="unknown",
                         status="unknown") == 3


def test_submits_attempts_and_finished_are_counted_by_both_labels() -> None:
    metrics = SmscMetrics()
    for account, status in [("a", 0), ("a", 0), ("b", 0), ("a", CommandStatus.ESME_RTHROTTLED)]:
        metrics.record_submit(account, status, 0.001)
    for network, result in [("n1", "delivered"), ("n1", "absent"), ("n2", "delivered")]:
        metrics.record_attempt(network, result)
    assert metrics.value("smsc_submits_total", account="a", status="ESME_ROK") == 2
    assert metrics.value("smsc_submits_total", account="b", status="ESME_ROK") == 1
    assert metrics.value("smsc_submits_total", account="a", status="ESME_RTHROTTLED") == 1
    assert metrics.value("smsc_throttled_total", account="a") == 1
    assert metrics.value("smsc_submit_response_seconds_count") == 4
    assert metrics.value("smsc_delivery_attempts_total", network="n1", result="delivered") == 1
    assert metrics.value("smsc_delivery_attempts_total", network="n1", result="absent") == 1
    assert metrics.value("smsc_delivery_attempts_total", network="n2", result="delivered") == 1


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]),
                          st.sampled_from([0, CommandStatus.ESME_RTHROTTLED]),
                          st.floats(min_value=0, max_value=30), st.integers(1, 50)),
                max_size=8))
def test_submits_recorded_together_count_as_recorded_one_by_one(
    runs: list[tuple[str, int, float, int]]
) -> None:
    together, one_by_one = SmscMetrics(), SmscMetrics()
    for account, status, seconds, count in runs:
        together.record_submits(account, status, seconds, count)
        for _ in range(count):
            one_by_one.record_submit(account, status, seconds)
    assert together.submits == one_by_one.submits
    assert together.throttled == one_by_one.throttled
    assert together.submit_response.counts == one_by_one.submit_response.counts
    assert abs(together.submit_response.total - one_by_one.submit_response.total) < 1e-6 * (
        1 + one_by_one.submit_response.total)


_MOMENTS = [None, *(datetime(2026, 12, 3, 16, 0, second, tzinfo=UTC) for second in (0, 1, 30))]


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3),
                          st.sampled_from([MessageState.DELIVERED, MessageState.EXPIRED])),
                max_size=12))
def test_final_latency_is_each_message_s_own_whatever_times_they_share(
    messages: list[tuple[int, int, MessageState]]
) -> None:
    """Messages sharing time objects (a commit's final time, a chunk's submit time) are each
    observed by their own latency; a message missing either time is counted but not observed,
    and one finished before its submit time counts as zero seconds."""
    metrics = SmscMetrics()
    expected = [0] * (len(FINAL_BUCKETS) + 1)
    total = 0.0
    for submitted, final, state in messages:
        fields = NewMessage(system_id="a", destination_addr="1", payload=b"",
                            submitted_at=_MOMENTS[submitted], network="n")
        metrics.record_final(Message(1, fields, state, 1, None, _MOMENTS[final]))
        if submitted and final:
            seconds = (_MOMENTS[final] - _MOMENTS[submitted]).total_seconds()  # type: ignore[operator]
            expected[bisect_left(FINAL_BUCKETS, seconds)] += 1
            total += max(seconds, 0.0)
    assert metrics.final_latency.counts == expected
    assert metrics.final_latency.total == total
    assert sum(sum(by.values()) for by in metrics.finished.values()) == len(messages)
