"""The pure simulation: latency distributions, caps, mixes, outages, handsets, magic numbers."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from smsc.config import (
    ErrorCodesConfig,
    FaultMixConfig,
    HandsetConfig,
    NetworkConfig,
    OutageConfig,
    OutcomeMixConfig,
    SimulationConfig,
)
from smsc.simulation.fate import Simulation
from smsc.simulation.handsets import MAGIC_TABLE, Handsets, Magic, digits_of, magic_of, status_at
from smsc.simulation.networks import Fault, Result, SimulatedNetwork, outage_end


def test_default_network_hands_out_one_prebuilt_attempt_without_drawing() -> None:
    network = SimulatedNetwork(NetworkConfig())
    rng = random.Random(1)
    state = rng.getstate()
    first = network.attempt(0.0, rng)
    assert first is network.attempt(5.0, rng)
    assert first.result is Result.DELIVERED and first.delay == 0 and not first.follow_up
    assert rng.getstate() == state


@pytest.mark.parametrize(("distribution", "spread", "mean", "low", "high"), [
    ("uniform", 1.0, 3.0, 2.0, 4.0),
    ("normal", 0.5, 3.0, 0.0, math.inf),
    ("exponential", 0.0, 3.0, 0.0, math.inf),
])
def test_latency_distributions(distribution: str, spread: float, mean: float, low: float,
                               high: float) -> None:
    network = SimulatedNetwork(NetworkConfig(latency=3.0, latency_distribution=distribution,
                                             latency_spread=spread))
    rng = random.Random(3)
    delays = [network.attempt(0.0, rng).delay for _ in range(4000)]
    assert abs(statistics.fmean(delays) - mean) < 0.15
    assert low <= min(delays) and max(delays) <= high
    if distribution == "normal":
        assert abs(statistics.stdev(delays) - spread) < 0.05


def test_outcome_mix_proportions_and_standard_error_codes() -> None:
    mix = OutcomeMixConfig(delivered=70, absent=10, undeliverable=15, rejected=5)
    network = SimulatedNetwork(NetworkConfig(outcomes=mix))
    rng = random.Random(5)
    attempts = [network.attempt(0.0, rng) for _ in range(10000)]
    share = {r: sum(a.result is r for a in attempts) / len(attempts) for r in Result}
    assert abs(share[Result.DELIVERED] - 0.70) < 0.02
    assert abs(share[Result.UNDELIVERABLE] - 0.15) < 0.02
    codes = {a.result: a.network_error_code for a in attempts}
    assert codes == {Result.DELIVERED: None, Result.ABSENT: 27, Result.UNDELIVERABLE: 1,
                     Result.REJECTED: 13}


def test_error_codes_are_drawn_from_the_configured_lists_or_overridden() -> None:
    mix = OutcomeMixConfig(undeliverable=1, rejected=1)
    codes = ErrorCodesConfig(undeliverable=(1, 11), rejected=(21,))
    network = SimulatedNetwork(NetworkConfig(outcomes=mix, error_codes=codes))
    rng = random.Random(2)
    seen = {(a.result, a.network_error_code) for a in
            (network.attempt(0.0, rng) for _ in range(200))}
    assert seen == {(Result.UNDELIVERABLE, 1), (Result.UNDELIVERABLE, 11),
                    (Result.REJECTED, 21)}
    fixed = SimulatedNetwork(NetworkConfig(result="rejected", error_code=99, error_codes=codes))
    assert fixed.attempt(0.0, rng).network_error_code == 99


def test_throughput_cap_spaces_attempts() -> None:
    network = SimulatedNetwork(NetworkConfig(max_rate=4.0))
    rng = random.Random(0)
    assert [network.attempt(10.0, rng).delay for _ in range(5)] == [0, 0.25, 0.5, 0.75, 1.0]
    assert network.attempt(20.0, rng).delay == 0  # the queue drained meanwhile


def test_scheduled_outages_repeat() -> None:
    outages = (OutageConfig(start=100.0, duration=10.0, every=60.0),)
    assert outage_end(outages, 99.0) is None
    assert outage_end(outages, 105.0) == 110.0
    assert outage_end(outages, 115.0) is None
    assert outage_end(outages, 165.0) == 170.0
    network = SimulatedNetwork(NetworkConfig(outages=outages))
    attempt = network.attempt(162.0, random.Random(0))
    assert attempt.result is Result.ABSENT and attempt.network_error_code == 34
    assert attempt.retry_at == 170.0 and attempt.wait_key == "network:default"


def test_runtime_outage_until_stopped_or_for_a_duration() -> None:
    network = SimulatedNetwork(NetworkConfig())
    network.start_outage(0.0)
    assert network.outage_end(1e9) == math.inf
    network.stop_outage()
    assert network.outage_end(1.0) is None
    network.start_outage(10.0, 5.0)
    assert network.outage_end(12.0) == 15.0 and network.outage_end(15.0) is None


def test_fault_mix_draws_each_fault_in_proportion() -> None:
    network = SimulatedNetwork(NetworkConfig(faults=FaultMixConfig(
        throttled=0.1, system_error=0.1, slow_response=0.1, no_response=0.1, disconnect=0.1)))
    rng = random.Random(9)
    faults = [network.submit_fault(rng.random()) for _ in range(10000)]
    for fault in Fault:
        assert abs(faults.count(fault) / len(faults) - 0.1) < 0.015
    assert abs(faults.count(None) / len(faults) - 0.5) < 0.02
    assert SimulatedNetwork(NetworkConfig()).submit_fault(0.0) is None


def test_magic_numbers_parse_in_every_written_form() -> None:
    assert magic_of("447700900412") == (Magic.DELAYED, 12)
    assert magic_of("+447700900301") == (Magic.REJECTED, 1)
    assert magic_of("00447700900999") == (Magic.DISCONNECT, 99)
    assert magic_of("4477009001") is None
    assert len(MAGIC_TABLE) == len(Magic)
    assert digits_of("+4915100") == digits_of("004915100") == "4915100"


def test_handset_profiles_first_match_and_runtime_overrides() -> None:
    handsets = Handsets((HandsetConfig(name="a", prefix="4915", state="offline"),
                         HandsetConfig(name="b", regex=r"49\d+", state="failing")))
    assert handsets.profile_for("491511").name == "a"  # type: ignore[union-attr]
    assert handsets.profile_for("491621").name == "b"  # type: ignore[union-attr]
    assert handsets.profile_for("441") is None
    profile = handsets.set("491511", state="online", reply="echo")
    assert (profile.name, profile.state, profile.reply) == ("a", "online", "echo")
    with pytest.raises(ValueError):
        handsets.set("491511", state="sleeping")
    handsets.reset("491511")
    assert handsets.profile_for("491511").state == "offline"  # type: ignore[union-attr]


def test_handset_schedule() -> None:
    profile = HandsetConfig(online_for=10.0, offline_for=5.0)
    assert status_at(profile, 3.0).state == "online"
    assert status_at(profile, 12.0).state == "offline"
    assert status_at(profile, 12.0).online_at == 15.0
    assert status_at(profile, 16.0).state == "online"


def test_same_seed_same_outcomes_and_networks_do_not_disturb_each_other() -> None:
    configs = (NetworkConfig(name="a", outcomes=OutcomeMixConfig(delivered=1, absent=1)),
               NetworkConfig(name="b", outcomes=OutcomeMixConfig(delivered=1, rejected=1)))

    def outcomes(interleave: bool, seed: int = 11) -> list[Result]:
        simulation = Simulation(networks=configs, handsets=(),
                                settings=SimulationConfig(seed=seed))
        a, b = simulation.networks["a"], simulation.networks["b"]
        results = []
        for n in range(50):
            if interleave:
                simulation.attempt(b, f"49{n}", 0, 0.0, simulation.fate("1", f"49{n}", b"b"))
            fate = simulation.fate("1", f"49{n}", b"a")
            results.append(simulation.attempt(a, f"49{n}", 0, 0.0, fate).result)
        return results

    plain = Simulation(networks=(NetworkConfig(),), handsets=(), settings=SimulationConfig())
    default = plain.networks["default"]
    assert not default.draws
    assert plain.attempt(default, "4915100000002", 0, 0.0, b"") is plain.attempt(
        default, "4915100000003", 3, 9.0, b"x")  # the default path allocates nothing
    assert outcomes(False) == outcomes(True)
    assert len(set(outcomes(False))) == 2
    assert outcomes(False) != outcomes(False, seed=12)
