"""RecentAcknowledgements: how long acknowledgements are remembered, and how many."""

from __future__ import annotations

from smsc.control.recent import RecentAcknowledgements
from smsc.store import Message, NewMessage, OutboundItem, OutboundKind

R = OutboundKind.RECEIPT


def test_entries_live_at_least_min_age_then_go() -> None:
    recent = RecentAcknowledgements(now=0.0, min_age=30.0, floor=4, ceiling=1000)
    for message_id in range(10):
        recent.add(message_id, R)
    recent.tick(29.0)
    assert recent.get(0) is R  # too young to retire
    recent.tick(30.0)  # the first generation becomes the previous one
    assert recent.get(0) is R and recent.get(9) is R
    recent.add(10, OutboundKind.MO)
    recent.tick(45.0)
    assert recent.get(0) is R  # the new generation is not 30 s old yet
    for message_id in range(11, 20):
        recent.add(message_id, R)
    recent.tick(60.0)
    assert recent.get(0) is None and recent.get(9) is None
    assert recent.get(10) is OutboundKind.MO and recent.get(19) is R


def test_the_last_floor_half_are_kept_however_old() -> None:
    recent = RecentAcknowledgements(now=0.0, min_age=30.0, floor=10, ceiling=1000)
    for message_id in range(4):
        recent.add(message_id, R)
    for second in range(1, 3600):
        recent.tick(float(second))
    assert all(recent.get(i) is R for i in range(4))  # fewer than floor / 2: never retired


def test_the_ceiling_bounds_what_is_held_at_any_rate() -> None:
    recent = RecentAcknowledgements(now=0.0, min_age=30.0, floor=10, ceiling=100)
    for message_id in range(1000):
        recent.add(message_id, R)
        assert len(recent) <= 100
    assert recent.get(999) is R and recent.get(0) is None


def test_size_levels_off_at_a_steady_rate() -> None:
    recent = RecentAcknowledgements(now=0.0, min_age=30.0, floor=100, ceiling=10**6)
    sizes = []
    message_id = 0
    for second in range(1, 301):
        for _ in range(100):  # 100 acknowledgements per second
            recent.add(message_id, R)
            message_id += 1
        recent.tick(float(second))
        sizes.append(len(recent))
    assert max(sizes[60:]) == max(sizes)  # the peak is reached within 2 × min_age
    assert max(sizes) <= 2 * 30 * 100 + 100


def test_items_added_together_are_kept_as_added_one_by_one() -> None:
    together = RecentAcknowledgements(now=0.0, min_age=30.0, floor=4, ceiling=8)
    one_by_one = RecentAcknowledgements(now=0.0, min_age=30.0, floor=4, ceiling=8)
    kinds = [R, OutboundKind.MO, OutboundKind.INTERMEDIATE]
    items = [OutboundItem(n, "acme", kinds[n % 3], Message(1000 + n, NewMessage("acme", "1")))
             for n in range(4)]
    together.add_items(items)  # reaches half the ceiling: the generation rotates
    for item in items:
        one_by_one.add(item.message.message_id, item.kind)
    for n in range(4):
        assert together.get(1000 + n) is one_by_one.get(1000 + n) is kinds[n % 3]
    assert len(together) == len(one_by_one) == 4
    together.add_items(items[:1])
    one_by_one.add(1000, R)
    together.tick(31.0)
    one_by_one.tick(31.0)
    assert [together.get(n) for n in range(1000, 1004)] == [
        one_by_one.get(n) for n in range(1000, 1004)]
