"""A simulated fate is a function of the message, not of history: the same messages asked
for in any order, with their attempts interleaved in any way, meet the same fates."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.config import (
    ErrorCodesConfig,
    FaultMixConfig,
    HandsetConfig,
    NetworkConfig,
    OutcomeMixConfig,
    SimulationConfig,
)
from smsc.simulation import fate as fate_module
from smsc.simulation.draws import Draws, identity
from smsc.simulation.fate import Repeats, Simulation
from smsc.simulation.networks import Fault, Result

NETWORKS = (
    NetworkConfig(
        name="flaky", latency=1.5, latency_distribution="exponential",
        outcomes=OutcomeMixConfig(delivered=55, absent=30, undeliverable=10, rejected=5),
        error_codes=ErrorCodesConfig(absent=(27, 31), undeliverable=(1, 5, 11)),
        faults=FaultMixConfig(throttled=0.1, system_error=0.1, slow_response=0.1,
                              no_response=0.05, disconnect=0.05),
    ),
    NetworkConfig(
        name="carrier", latency=2.0, latency_distribution="normal", latency_spread=0.7,
        outcomes=OutcomeMixConfig(delivered=70, absent=20, rejected=10),
        error_codes=ErrorCodesConfig(rejected=(13, 21), memory_full=(32, 33)),
    ),
    NetworkConfig(name="uniform", latency=3.0, latency_distribution="uniform",
                  latency_spread=1.0, outcomes=OutcomeMixConfig(delivered=1, absent=1)),
)
HANDSETS = (
    HandsetConfig(name="full", prefix="4917099", state="memory_full"),
    HandsetConfig(name="broken", prefix="4915200", state="failing"),
    HandsetConfig(name="slow", prefix="4916099", latency=20.0),
)
SOURCES = ("4242", "Shop")
ROUTES = {"4930111": "flaky", "4930222": "uniform", "4917099001": "carrier",
          "4915200002": "flaky", "4916099003": "carrier", "1202555": "carrier"}
"""Destination → network: routing depends on the destination only."""
DESTINATIONS = tuple(ROUTES)
TEXTS = (b"hello", b"your code is 1234", b"", b"\x05\x00\x03\x01\x02\x01part")
ATTEMPTS = 4

Message = tuple[str, str, bytes, str]
"""source, destination, payload, network"""
Copy = tuple[Message, int]
"""A message and which copy of it (0: the first sent)."""
Seen = dict[Copy, tuple[object, ...]]

messages = st.lists(
    st.builds(lambda source, destination, text: (source, destination, text, ROUTES[destination]),
              st.sampled_from(SOURCES), st.sampled_from(DESTINATIONS), st.sampled_from(TEXTS)),
    min_size=1, max_size=40,
)


def simulation(seed: int = 7) -> Simulation:
    return Simulation(networks=NETWORKS, handsets=HANDSETS, settings=SimulationConfig(seed=seed))


def play(traffic: list[Message], order: random.Random, seed: int = 7) -> Seen:
    """Submit `traffic` (its copies of one message in their order) with every message's
    faults and attempts asked for at random moments after its submit; what each copy met."""
    sim = simulation(seed)
    copies: Counter[Message] = Counter()
    pending: list[tuple[Copy, bytes, int]] = []
    """Submitted copies, their fate and the next attempt to ask for."""
    seen: Seen = {}
    queue = list(traffic)
    while queue or pending:
        if queue and (not pending or order.random() < 0.5):
            message = queue.pop(0)
            source, destination, payload, network = message
            copy = (message, copies[message])
            copies[message] += 1
            fault = sim.submit_fault(network, destination, source=source, payload=payload)
            seen[copy] = (fault,)
            pending.append((copy, sim.fate(source, destination, payload), 0))
            continue
        index = order.randrange(len(pending))
        copy, fate, attempts = pending[index]
        attempt = sim.attempt(sim.networks[copy[0][3]], copy[0][1], attempts, 5.0, fate)
        seen[copy] += (attempt.result, attempt.network_error_code, attempt.delay)
        if attempts + 1 == ATTEMPTS:
            pending.pop(index)
        else:
            pending[index] = (copy, fate, attempts + 1)
    return seen


def shuffled_keeping_copies_in_order(traffic: list[Message], order: random.Random
                                     ) -> list[Message]:
    """Another sending order of the same traffic (copies of one message cannot be told
    apart, so only distinct messages trade places)."""
    return order.sample(traffic, len(traffic))


@settings(max_examples=60, deadline=None)
@given(messages, st.randoms(use_true_random=False), st.randoms(use_true_random=False))
def test_fates_do_not_depend_on_the_order_they_are_asked_for(
    traffic: list[Message], first: random.Random, second: random.Random
) -> None:
    reordered = shuffled_keeping_copies_in_order(traffic, second)
    assert play(traffic, first) == play(reordered, second)


def test_the_fates_follow_the_seed_and_the_configured_mix() -> None:
    traffic = [(SOURCES[0], "4930111", f"text {n}".encode(), "flaky") for n in range(3000)]
    seen = play(traffic, random.Random(1))
    results = Counter(fates[1] for fates in seen.values())
    assert abs(results[Result.ABSENT] / len(traffic) - 0.30) < 0.04
    assert abs(results[Result.DELIVERED] / len(traffic) - 0.55) < 0.04
    faults = Counter(getattr(fates[0], "fault", None) for fates in seen.values())
    assert abs(faults[Fault.THROTTLED] / len(traffic) - 0.1) < 0.03
    assert abs(faults[None] / len(traffic) - 0.6) < 0.04
    assert seen != play(traffic, random.Random(1), seed=8)


def test_copies_of_one_message_get_fates_of_their_own() -> None:
    """A load test sending one text to one number still sees the configured mix."""
    traffic = [(SOURCES[0], "4930111", b"same", "flaky")] * 2000
    seen = play(traffic, random.Random(2))
    share = sum(fates[1] is Result.DELIVERED for fates in seen.values()) / len(traffic)
    assert abs(share - 0.55) < 0.04


def test_a_message_is_its_source_destination_and_payload() -> None:
    sim = simulation()
    assert sim.fate("4242", "4930111", b"a") != sim.fate("4242", "4930111", b"a")  # a copy
    assert sim.known_fate("4242", "4930111", b"a") == simulation().fate("4242", "4930111", b"a")
    assert len({identity("4242", "4930111", b"a"), identity("4243", "4930111", b"a"),
                identity("4242", "4930112", b"a"), identity("4242", "4930111", b"b"),
                identity("42424930111", "", b"a")}) == 5
    sim.reset()  # counts copies anew
    assert sim.fate("4242", "4930111", b"a") == simulation().fate("4242", "4930111", b"a")


def test_repeats_keep_two_generations() -> None:
    repeats = Repeats(limit=2)
    assert [repeats.count(b"a"), repeats.count(b"a"), repeats.count(b"b")] == [0, 1, 0]
    assert repeats.count(b"c") == 0  # the first generation was full: it becomes the old one
    assert repeats.count(b"a") == 2  # still known
    assert repeats.count(b"d") == repeats.count(b"e") == 0
    assert repeats.count(b"b") == 0  # two generations later, forgotten


def test_a_copy_given_back_is_the_next_one_counted() -> None:
    repeats = Repeats()
    assert [repeats.count(b"a") for _ in range(3)] == [0, 1, 2]
    repeats.give_back(b"a", 2)  # the last counted: the count goes down
    assert repeats.count(b"a") == 2
    repeats.give_back(b"a", 0)  # copies after it were counted already: a gap, taken first
    repeats.give_back(b"a", 1)
    assert [repeats.count(b"a") for _ in range(3)] == [0, 1, 3]
    repeats.give_back(b"a", 2)
    repeats.give_back(b"a", 3)  # the top, and the gap just below it closes too
    assert repeats.gaps == {}
    assert [repeats.count(b"a") for _ in range(2)] == [2, 3]
    repeats.give_back(b"a", 7)  # never counted (e.g. before a reset): nothing changes
    repeats.give_back(b"b", 0)
    assert (repeats.count(b"a"), repeats.count(b"b")) == (4, 0)


@given(st.lists(st.booleans(), max_size=30), st.randoms(use_true_random=False))
def test_copies_given_back_leave_the_numbers_of_the_rest_as_if_never_counted(
    stored: list[bool], order: random.Random
) -> None:
    """However many copies are counted before the refused ones among them are given back,
    and in whatever order those come back, the copies stored plus those counted afterwards
    hold the numbers 0, 1, 2... as if the refused had never been counted."""
    repeats = Repeats()
    numbers = [repeats.count(b"m") for _ in stored]
    refused = [n for n, kept in zip(numbers, stored, strict=True) if not kept]
    order.shuffle(refused)
    for number in refused:
        repeats.give_back(b"m", number)
    later = [repeats.count(b"m") for _ in range(len(refused) + 2)]
    kept = [n for n, keep in zip(numbers, stored, strict=True) if keep]
    assert sorted(kept + later) == list(range(len(kept) + len(later)))


def test_without_a_seed_each_run_draws_its_own() -> None:
    unseeded = [Simulation(networks=NETWORKS, handsets=HANDSETS, settings=SimulationConfig())
                for _ in range(2)]
    seeded = [simulation(3), simulation(3)]
    assert SimulationConfig().seed is None
    assert unseeded[0].seed != unseeded[1].seed  # 64 random bits each
    assert seeded[0].seed == seeded[1].seed == 3

    def latencies(sim: Simulation) -> list[float]:
        network = sim.networks["flaky"]
        return [sim.attempt(network, "4930111", 0, 0.0, sim.fate("4242", "4930111", b"%d" % n))
                .delay for n in range(20)]

    assert latencies(unseeded[0]) != latencies(unseeded[1])  # fresh randomness each run
    assert latencies(seeded[0]) == latencies(seeded[1])
    kept = unseeded[0].seed
    unseeded[0].reset()  # a reset starts again from the run's own seed
    assert unseeded[0].seed == kept


def test_draws_are_uniform_and_a_function_of_their_input() -> None:
    numbers = [Draws(b"k", b"fate", step).random() for step in range(20000)]
    assert all(0 <= n < 1 for n in numbers)
    assert abs(sum(numbers) / len(numbers) - 0.5) < 0.01
    long = Draws(b"k", b"fate", 3)
    sequence = [long.random() for _ in range(25)]  # beyond one digest's nine
    again = Draws(b"k", b"fate", 3)
    assert [again.random() for _ in range(25)] == sequence
    assert len(set(sequence)) == 25


def one_stream_per_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Draws as they were before: every decision on a network takes the next numbers of one
    stream, whatever message it decides."""
    streams: dict[bytes, random.Random] = {}

    def stream(key: bytes, fate: bytes, step: int) -> random.Random:
        return streams.setdefault(key, random.Random(key))

    monkeypatch.setattr(fate_module, "Draws", stream)


def test_the_order_check_catches_a_shared_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = [(source, destination, text, ROUTES[destination]) for source in SOURCES
               for destination in DESTINATIONS for text in TEXTS] * 2
    reordered = shuffled_keeping_copies_in_order(traffic, random.Random(5))
    assert play(traffic, random.Random(3)) == play(reordered, random.Random(4))
    one_stream_per_network(monkeypatch)
    assert play(traffic, random.Random(3)) != play(reordered, random.Random(4))
