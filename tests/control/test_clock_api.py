"""The clock's endpoints over real HTTP: reading it, advancing it by seconds or to a time, and
the JSON errors for what would run it backwards or cannot be read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from smsc.config import ControlConfig, SimulationConfig

from .helpers import client


async def test_read_and_advance_the_clock(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0),
                                           simulation=SimulationConfig(time_scale=2.5)))
    with trio.fail_after(10):
        async with client(running) as http:
            clock = (await http.get("/v1/clock")).json()
            assert set(clock) == {"now", "scale", "real", "advanced"}
            assert clock["scale"] == 2.5 and clock["advanced"] == 0
            now = datetime.fromisoformat(clock["now"])
            real = datetime.fromisoformat(clock["real"])
            assert now.tzinfo is not None and real.tzinfo is not None

            moved = await http.post("/v1/clock/advance", json={"seconds": 3600})
            assert moved.status_code == 200, moved.text
            # (what real time added while the request ran, at 2.5 times, was not jumped)
            assert 3590 < moved.json()["advanced"] <= 3600
            after = datetime.fromisoformat(moved.json()["now"])
            assert after - now >= timedelta(hours=1)

            target = after + timedelta(days=2)
            moved = await http.post("/v1/clock/advance", json={"to": target.isoformat()})
            assert datetime.fromisoformat(moved.json()["now"]) >= target
            naive = (target + timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None)
            moved = await http.post("/v1/clock/advance", json={"to": naive.isoformat()})
            assert moved.status_code == 200  # a time without offset is UTC
            assert datetime.fromisoformat(moved.json()["now"]) >= naive.replace(tzinfo=UTC)
            # the API's other times are the simulated ones
            status_now = running.control.clock.wall()
            assert status_now >= naive.replace(tzinfo=UTC)


async def test_bad_advances_get_json_errors(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0, max_body_bytes=100)))
    with trio.fail_after(10):
        async with client(running) as http:
            now = datetime.fromisoformat((await http.get("/v1/clock")).json()["now"])
            refusals = {
                '{"seconds": -1}': (422, "time never runs backwards"),
                f'{{"to": "{(now - timedelta(seconds=5)).isoformat()}"}}': (
                    422, "is in the past"),
                '{"seconds": 1, "to": "2030-01-01T00:00:00Z"}': (422, "either seconds or to"),
                "{}": (422, "either seconds or to"),
                '{"seconds": "ten"}': (422, "seconds must be a number"),
                '{"to": "tomorrow"}': (422, "to must be an ISO 8601 time"),
                '{"minutes": 1}': (422, "unknown field 'minutes'"),
                '{"seconds": 1e12}': (422, "seconds must be at most"),
                "[1]": (400, "the body must be a JSON object"),
                "not json": (400, "the body must be JSON"),
                '{"to": "' + "9" * 200 + '"}': (413, "larger than 100 octets"),
            }
            for body, (status, error) in refusals.items():
                answer = await http.post("/v1/clock/advance", content=body)
                assert answer.status_code == status, (body, answer.text)
                assert error in answer.json()["error"], (body, answer.text)
            assert (await http.get("/v1/clock")).json()["advanced"] == 0
            wrong = await http.put("/v1/clock", json={})
            assert wrong.status_code == 405 and "error" in wrong.json()
