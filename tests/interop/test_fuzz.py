"""A bounded live-server fuzz run: mutated PDUs of every kind over real sockets, while a
probe ESME keeps submitting beside them (longer runs: benchmarks/fuzz.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

import trio

from ..fuzzing import SEEDS, run_fuzz
from .test_bad_input import good_esme_still_works


async def test_mutated_pdus_of_every_kind_leave_the_server_serving(
    make_config: Any, start_smsc: Any
) -> None:
    config = make_config()
    config = dataclasses.replace(config, server=dataclasses.replace(
        config.server, pdu_read_timer=0.5, response_timer=1.0, session_init_timer=2.0))
    running = await start_smsc(config)
    with trio.fail_after(50):
        report = await run_fuzz(running.smpp_port, seed=20261207, connections=60,
                                per_connection=40)
    assert report.sent == 60 * 40 and report.connections >= 60
    assert report.answers > 0  # the server answered what it could read
    assert report.closed_by_server > 0  # and hung up on what it could not
    assert report.probe_latencies  # the probe was answered throughout
    await good_esme_still_works(running.smpp_port)
    running.shutdown.set()


def test_every_request_kind_is_fuzzed() -> None:
    kinds = {type(make()).__name__ for make in SEEDS}
    assert {"BindTransmitter", "BindReceiver", "BindTransceiver", "SubmitSm", "SubmitMulti",
            "DataSm", "QuerySm", "CancelSm", "ReplaceSm", "EnquireLink", "Unbind"} <= kinds
