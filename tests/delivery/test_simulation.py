"""Simulated networks and handsets through whole SMSC runs: ESME sessions over in-memory
streams, trio's autojump MockClock for time (no real waiting)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio
import trio.testing

from smsc.config import (
    AccountConfig,
    FaultMixConfig,
    HandsetConfig,
    NetworkConfig,
    OutageConfig,
    OutcomeMixConfig,
    RouteConfig,
    RoutingConfig,
    SimulationConfig,
)
from smsc.pdu import AlertNotification, DataSm, DeliverSm, SmeDest, SubmitMulti, SubmitSm
from smsc.pdu.concat import Scheme, split_text
from smsc.pdu.constants import CommandStatus, EsmFeature, Tag
from smsc.pdu.receipt_text import parse_receipt_text
from smsc.session import ConnectionClosed, RequestReceived, ResponseReceived

from ..esme import Esme
from ..esme import connect as attach

S = CommandStatus
SOURCE = "4915100000001"


async def connect(running: Any) -> Esme:
    """A bound transceiver on the running SMSC."""
    esme = await attach(running)
    assert (await esme.bind()).command_status == S.ESME_ROK
    return esme


def submit(destination: str, **fields: Any) -> SubmitSm:
    values = {"source_addr": SOURCE, "destination_addr": destination,
              "short_message": b"hello", "registered_delivery": 1}
    values.update(fields)
    return SubmitSm(**values)


async def receipt_stat(esme: Esme) -> tuple[str, str, float]:
    receipt = await esme.next_request()
    assert isinstance(receipt, DeliverSm) and receipt.esm_class & 0x04
    parsed = parse_receipt_text(receipt.short_message.decode())
    assert parsed is not None
    return parsed.stat, parsed.err, trio.current_time()


def with_retry(config: Any, *schedule: float) -> Any:
    return dataclasses.replace(config, store=dataclasses.replace(config.store,
                                                                  retry_schedule=schedule))


# -- magic numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("destination", "stat", "err", "after"), [
    ("447700900001", "DELIVRD", "000", 0),
    ("+447700900101", "UNDELIV", "001", 0),
    ("447700900301", "REJECTD", "013", 0),
    ("00447700900412", "DELIVRD", "000", 12),
    ("447700900400", "DELIVRD", "000", 60),
    ("447700900601", "DELIVRD", "000", 10),  # absent once, delivered at the first retry
])
async def test_magic_numbers_force_delivery_outcomes(
    make_config: Any, start_smsc: Any, autojump_clock: Any, destination: str, stat: str,
    err: str, after: float,
) -> None:
    running = await start_smsc(with_retry(make_config(), 10.0))
    esme = await connect(running)
    started = trio.current_time()
    assert (await esme.request(submit(destination))).command_status == S.ESME_ROK
    got_stat, got_err, at = await receipt_stat(esme)
    assert (got_stat, got_err) == (stat, err)
    assert round(at - started) == after


async def test_magic_number_that_never_answers_expires(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(accounts=(AccountConfig(default_validity=100.0),))
    running = await start_smsc(with_retry(config, 30.0))
    esme = await connect(running)
    started = trio.current_time()
    await esme.request(submit("447700900201"))
    stat, err, at = await receipt_stat(esme)
    assert (stat, err) == ("EXPIRED", "027") and 90 <= at - started <= 100


@pytest.mark.parametrize(("destination", "status"), [
    ("447700900501", S.ESME_RTHROTTLED),
    ("447700900701", S.ESME_RSYSERR),
])
async def test_magic_numbers_refuse_at_submit(
    make_config: Any, start_smsc: Any, autojump_clock: Any, destination: str, status: int
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    assert (await esme.request(submit(destination))).command_status == status
    assert running.store.pending_count("smppclient1") == 0  # not stored


async def test_magic_number_that_gets_no_response_is_still_delivered(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.send(submit("447700900801"))
    events = [await esme.next_event()]
    while not isinstance(events[-1], RequestReceived):
        events.append(await esme.next_event())
    assert isinstance(events[-1].message, DeliverSm)  # the receipt...
    assert not any(isinstance(e, ResponseReceived) for e in events)  # ...but no submit_sm_resp
    assert running.store.pending_count("smppclient1") == 0  # stored and delivered


async def test_magic_number_that_drops_the_connection(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await esme.send(submit("447700900901"))
    assert isinstance(await esme.closed(), ConnectionClosed)
    assert running.store.pending_count("smppclient1") == 0


# -- handsets -------------------------------------------------------------------------------


async def test_offline_handset_waits_and_goes_out_at_once_when_switched_on(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(with_retry(make_config(), 600.0))
    esme = await connect(running)
    view = await running.simulation.set_handset("+4915100000009", state="offline")
    assert view.state == "offline" and view.overridden
    started = trio.current_time()
    await esme.request(submit("4915100000009"))
    await trio.sleep(30)
    assert running.simulation.handset("4915100000009").waiting == 1
    await running.simulation.set_handset("4915100000009", state="online")
    stat, _, at = await receipt_stat(esme)
    assert stat == "DELIVRD" and round(at - started) == 30  # not at the 600 s retry


async def test_alert_notification_when_a_handset_that_set_dpf_asked_for_comes_back(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(handsets=(HandsetConfig(name="off", prefix="49170", state="offline"),))
    running = await start_smsc(with_retry(config, 600.0))
    esme = await connect(running)
    resp = await esme.request(DataSm(source_addr=SOURCE, destination_addr="491700000001",
                                     tlvs={Tag.message_payload: b"hi", Tag.set_dpf: 1}))
    assert resp.command_status == S.ESME_ROK
    await esme.request(DataSm(source_addr=SOURCE, destination_addr="491700000002",
                              tlvs={Tag.message_payload: b"no alert", Tag.set_dpf: 0}))
    await trio.sleep(5)
    await running.simulation.set_handset("491700000001", state="online")
    await running.simulation.set_handset("491700000002", state="online")
    alert = await esme.next_request()
    assert isinstance(alert, AlertNotification)
    assert alert.source_addr == "491700000001" and alert.esme_addr == SOURCE
    assert alert.tlvs[Tag.ms_availability_status] == 0
    assert running.simulation.alerts_sent == 1


async def test_scheduled_handset_switches_on_and_its_messages_go_out(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    handset = HandsetConfig(name="night", prefix="49171", online_for=100.0, offline_for=50.0)
    running = await start_smsc(with_retry(make_config(handsets=(handset,)), 900.0))
    esme = await connect(running)
    started = trio.current_time()
    await trio.sleep(110)  # offline from 100 s to 150 s
    assert running.simulation.handset("491710000001").state == "offline"
    await esme.request(submit("491710000001"))
    stat, _, at = await receipt_stat(esme)
    assert stat == "DELIVRD" and round(at - started) == 150


@pytest.mark.parametrize(("state", "stat", "err"), [
    ("failing", "UNDELIV", "001"),
])
async def test_failing_handset(
    make_config: Any, start_smsc: Any, autojump_clock: Any, state: str, stat: str, err: str
) -> None:
    config = make_config(handsets=(HandsetConfig(prefix="49172", state=state),))
    running = await start_smsc(config)
    esme = await connect(running)
    await esme.request(submit("491720000001"))
    assert (await receipt_stat(esme))[:2] == (stat, err)


async def test_memory_full_handset_waits_until_memory_is_freed(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(handsets=(HandsetConfig(prefix="49173", state="memory_full"),),
                         accounts=(AccountConfig(default_validity=50.0),))
    running = await start_smsc(with_retry(config, 20.0))
    esme = await connect(running)
    await esme.request(submit("491730000001", registered_delivery=0x11))
    intermediate = await esme.next_request()
    assert intermediate.esm_class == 0x20  # type: ignore[attr-defined]
    assert intermediate.network_error_code == b"\x03\x00\x20"  # type: ignore[attr-defined]
    await running.simulation.set_handset("491730000001", state="online")
    assert (await receipt_stat(esme))[0] == "DELIVRD"


async def test_slow_handset_adds_latency(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(handsets=(HandsetConfig(prefix="49174", latency=7.0),),
                         networks=(NetworkConfig(latency=2.0),))
    running = await start_smsc(config)
    esme = await connect(running)
    started = trio.current_time()
    await esme.request(submit("491740000001"))
    assert round((await receipt_stat(esme))[2] - started) == 9


async def test_inbox_reassembles_and_reports_encoding_mistakes(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    config = make_config(simulation=SimulationConfig(inbox_size=10))
    running = await start_smsc(config)
    esme = await connect(running)
    text = "A long message " * 20
    parts = split_text(text, 0, scheme=Scheme.UDH16, reference=0x1234)
    for part in reversed(parts):
        await esme.request(submit("4915100000042", short_message=part.user_data,
                                  esm_class=EsmFeature.UDHI, registered_delivery=0))
    sar = split_text("Second " * 30, 0, scheme=Scheme.SAR, reference=7)
    for part in sar:
        assert part.sar is not None
        await esme.request(submit("4915100000042", short_message=part.user_data,
                                  registered_delivery=0, tlvs={
                                      Tag.sar_msg_ref_num: part.sar.reference,
                                      Tag.sar_total_segments: part.sar.total,
                                      Tag.sar_segment_seqnum: part.sar.seqnum}))
    await esme.request(submit("4915100000042", short_message=b"caf\xe9", registered_delivery=0))
    await esme.request(DataSm(source_addr=SOURCE, destination_addr="4915100000042",
                              tlvs={Tag.message_payload: ("payload " * 40).encode()}))
    await trio.sleep(1)
    inbox = running.simulation.inbox("+4915100000042")
    assert [m.text for m in inbox][:2] == [text, "Second " * 30]
    assert inbox[3].text == "payload " * 40
    assert [m.parts for m in inbox] == [len(parts), len(sar), 1, 1]
    assert inbox[0].diagnostics == () and len(inbox[0].message_ids) == len(parts)
    assert any("outside the GSM 7-bit alphabet" in d for d in inbox[2].diagnostics)
    running.simulation.clear_inbox("4915100000042")
    assert running.simulation.inbox("4915100000042") == []


async def test_inbox_reports_inconsistent_segment_counts_and_bad_udh(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(simulation=SimulationConfig(inbox_size=10)))
    esme = await connect(running)
    number = "4915100000043"
    for udh in (b"\x05\x00\x03\x09\x03\x01", b"\x05\x00\x03\x09\x02\x02",
                b"\x06\x00\x04\x09\x02\x02\x01",
                b"\x04\x00\x03\x09\x02"):
        await esme.request(submit(number, short_message=udh + b"abc", esm_class=0x40,
                                  registered_delivery=0))
    await trio.sleep(1)
    problems = running.simulation.diagnostics(number)
    assert any("total changed from 3 to 2" in p for p in problems)
    assert any("has length 4, not 3" in p for p in problems)
    assert any("runs past" in p for p in problems)


async def test_echo_and_auto_reply_handsets_answer_with_mo(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    handsets = (HandsetConfig(prefix="49175", reply="echo"),
                HandsetConfig(prefix="49176", reply="auto_reply", reply_text="STOP",
                              reply_delay=30.0))
    running = await start_smsc(make_config(handsets=handsets))
    esme = await connect(running)
    started = trio.current_time()
    await esme.request(submit("491750000001", short_message=b"ping", registered_delivery=0))
    await esme.request(submit("491760000001", short_message=b"offer", registered_delivery=0))
    got = {}
    for _ in range(2):
        mo = await esme.next_request()
        assert isinstance(mo, DeliverSm) and not mo.esm_class & 0x04
        assert mo.destination_addr == SOURCE
        got[mo.source_addr] = (mo.short_message, round(trio.current_time() - started))
    assert got == {"491750000001": (b"ping", 0), "491760000001": (b"STOP", 30)}
    await running.simulation.set_handset("491750000001", reply="none")
    await esme.request(submit("491750000001", short_message=b"quiet", registered_delivery=1))
    assert (await receipt_stat(esme))[0] == "DELIVRD"  # a receipt, and no echo before it


# -- networks --------------------------------------------------------------------------------


async def test_runtime_outage_holds_messages_until_it_ends(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(with_retry(make_config(), 600.0))
    esme = await connect(running)
    view = await running.simulation.start_outage("default")
    assert view.out and view.outage_ends_at is None
    started = trio.current_time()
    await esme.request(submit("4915100000001"))
    await trio.sleep(20)
    assert running.simulation.network("default").waiting == 1
    await running.simulation.stop_outage("default")
    stat, _, at = await receipt_stat(esme)
    assert stat == "DELIVRD" and round(at - started) == 20


async def test_timed_and_scheduled_outages_end_by_themselves(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    networks = (NetworkConfig(outages=(OutageConfig(start=0.0, duration=40.0),)),)
    running = await start_smsc(with_retry(make_config(networks=networks), 900.0))
    esme = await connect(running)
    started = trio.current_time()
    await esme.request(submit("4915100000001"))
    stat, _, at = await receipt_stat(esme)
    assert stat == "DELIVRD" and round(at - started) == 40
    await running.simulation.start_outage("default", duration=15.0)
    await esme.request(submit("4915100000001"))
    stat, _, at2 = await receipt_stat(esme)
    assert stat == "DELIVRD" and round(at2 - at) == 15


async def test_fault_mix_set_at_runtime(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)
    await running.simulation.set_faults("default", FaultMixConfig(throttled=1.0))
    assert (await esme.request(submit("4915100000001"))).command_status == S.ESME_RTHROTTLED
    await running.simulation.set_faults("default", FaultMixConfig(slow_response=1.0,
                                                            slow_response_delay=8.0))
    started = trio.current_time()
    assert (await esme.request(submit("4915100000001"))).command_status == S.ESME_ROK
    assert round(trio.current_time() - started) == 8
    await running.simulation.reset()
    assert running.simulation.network("default").faults == FaultMixConfig()
    with pytest.raises(ValueError):
        await running.simulation.set_faults("default",
                                            FaultMixConfig(throttled=0.7, disconnect=0.7))


async def run_mixed_traffic(make_config: Any, start_smsc: Any, seed: int) -> list[str]:
    network = NetworkConfig(
        name="mixed", latency=2.0, latency_distribution="exponential",
        outcomes=OutcomeMixConfig(delivered=6, undeliverable=2, rejected=1, absent=1),
        faults=FaultMixConfig(throttled=0.2),
    )
    config = make_config(networks=(network,), simulation=SimulationConfig(seed=seed),
                         accounts=(AccountConfig(default_validity=30.0),))
    running = await start_smsc(with_retry(config, 60.0))
    esme = await connect(running)
    results: dict[str, str] = {}
    for n in range(40):
        resp = await esme.request(submit(f"49151000{n:05d}"))
        if resp.command_status != S.ESME_ROK:
            results[f"{n}"] = "throttled"
        else:
            results[resp.message_id] = str(n)  # type: ignore[attr-defined]
    stats = {}
    while len(stats) < sum(1 for v in results.values() if v != "throttled"):
        receipt = await esme.next_request()
        parsed = parse_receipt_text(receipt.short_message.decode())
        assert parsed is not None
        stats[results[parsed.id]] = parsed.stat
    outcome = [stats.get(str(n), results.get(str(n), "?")) for n in range(40)]
    running.shutdown.set()
    return outcome


async def test_the_same_seed_gives_the_same_outcomes(
    make_config: Any, nursery: trio.Nursery, autojump_clock: Any
) -> None:
    from smsc.app import run

    async def start(config: Any) -> Any:
        return await nursery.start(run, config)

    first = await run_mixed_traffic(make_config, start, seed=7)
    second = await run_mixed_traffic(make_config, start, seed=7)
    other = await run_mixed_traffic(make_config, start, seed=8)
    assert first == second
    assert first != other
    assert {"DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "throttled"} <= set(first)


async def test_routing_picks_networks_with_their_own_behaviour(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    networks = (NetworkConfig(name="fast"), NetworkConfig(name="slow", latency=30.0,
                                                          result="rejected"))
    routing = RoutingConfig(rules=(RouteConfig(network="slow", prefix="+44"),))
    running = await start_smsc(make_config(networks=networks, routing=routing))
    esme = await connect(running)
    started = trio.current_time()
    await esme.request(submit("4420000000", dest_addr_ton=1))
    stat, err, at = await receipt_stat(esme)
    assert (stat, err, round(at - started)) == ("REJECTD", "013", 30)


async def test_submit_multi_meets_the_first_destinations_faults(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config())
    esme = await connect(running)

    def multi(*destinations: str) -> SubmitMulti:
        return SubmitMulti(source_addr=SOURCE, short_message=b"hi", dest_address=tuple(
            SmeDest(1, 1, d) for d in destinations))

    resp = await esme.request(multi("447700900501", "4915100000001"))
    assert resp.command_status == S.ESME_RTHROTTLED
    await running.simulation.set_faults("default", FaultMixConfig(slow_response=1.0,
                                                            slow_response_delay=6.0))
    started = trio.current_time()
    resp = await esme.request(multi("4915100000001", "4915100000002"))
    assert resp.command_status == S.ESME_ROK and round(trio.current_time() - started) == 6


async def test_throughput_cap_spaces_deliveries(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    networks = (NetworkConfig(max_rate=0.5, latency=1.0, latency_distribution="uniform",
                              latency_spread=0.0),)
    running = await start_smsc(make_config(networks=networks))
    esme = await connect(running)
    started = trio.current_time()
    for n in range(4):
        await esme.request(submit(f"491510000000{n}"))
    times = [round((await receipt_stat(esme))[2] - started) for _ in range(4)]
    assert times == [1, 3, 5, 7]  # one attempt every 2 s, each taking 1 s


async def test_inbox_reports_parts_in_different_codings(
    make_config: Any, start_smsc: Any, autojump_clock: Any
) -> None:
    running = await start_smsc(make_config(simulation=SimulationConfig(inbox_size=10)))
    esme = await connect(running)
    for seq, (coding, text) in enumerate(((0, b"ab"), (3, b"cd")), 1):
        await esme.request(submit("4915100000044", esm_class=0x40, data_coding=coding,
                                  short_message=bytes((5, 0, 3, 1, 2, seq)) + text,
                                  registered_delivery=0))
    await trio.sleep(1)
    (message,) = running.simulation.inbox("4915100000044")
    assert message.text == "abcd" and message.parts == 2
    assert any("data_coding 0x03 differs" in d for d in message.diagnostics)
