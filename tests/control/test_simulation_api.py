"""The simulation's endpoints over real HTTP: handsets and inboxes, outages, fault mixes, reset."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import trio

from smsc.config import ControlConfig, SimulationConfig
from smsc.pdu import SubmitSm
from smsc.pdu.constants import CommandStatus

from .helpers import client, connect

NUMBER = "4915100000077"


async def state_of(http: httpx.AsyncClient, message_id: str) -> str:
    return str((await http.get(f"/v1/messages/{message_id}")).json()["state"])


async def wait_state(running: Any, http: httpx.AsyncClient, message_id: str,
                     state: str) -> None:
    while await state_of(http, message_id) != state:
        await running.committer.wait_committed()


async def test_handsets_inbox_state_and_reset(make_config: Any, start_smsc: Any,
                                              opened: list[Any]) -> None:
    config = make_config(control=ControlConfig(port=0),
                         simulation=SimulationConfig(inbox_size=10))
    running = await start_smsc(config)
    with trio.fail_after(10):
        esme = await connect(opened, running, "transmitter")
        async with client(running) as http:
            first = await esme.request(SubmitSm(source_addr="100", destination_addr=NUMBER,
                                                short_message=b"hello handset"))
            await wait_state(running, http, first.message_id, "DELIVERED")
            inbox = (await http.get(f"/v1/handsets/+{NUMBER}/inbox")).json()
            assert inbox["number"] == NUMBER
            assert [(m["source_addr"], m["text"]) for m in inbox["messages"]] == [
                ("100", "hello handset")]
            assert inbox["messages"][0]["message_ids"] == [first.message_id]
            received_at = datetime.fromisoformat(inbox["messages"][0]["received_at"])
            delivered = await http.get(f"/v1/messages/{first.message_id}")
            assert received_at <= running.control.clock.wall()
            assert received_at >= datetime.fromisoformat(delivered.json()["submitted_at"])
            listed = (await http.get("/v1/handsets")).json()["handsets"]
            assert [h["number"] for h in listed] == [NUMBER]
            assert (await http.delete(f"/v1/handsets/{NUMBER}/inbox")).status_code == 200
            assert (await http.get(f"/v1/handsets/{NUMBER}/inbox")).json()["messages"] == []

            changed = await http.patch(f"/v1/handsets/{NUMBER}", json={"state": "offline"})
            assert changed.status_code == 200, changed.text
            assert changed.json()["state"] == "offline" and changed.json()["overridden"]
            waiting = await esme.request(SubmitSm(destination_addr=NUMBER, short_message=b"w"))
            while (await http.get(f"/v1/handsets/{NUMBER}")).json()["waiting"] != 1:
                await running.committer.wait_committed()
            assert await state_of(http, waiting.message_id) == "ENROUTE"
            back = await http.patch(f"/v1/handsets/{NUMBER}", json={"state": "online"})
            assert back.json()["state"] == "online"
            await wait_state(running, http, waiting.message_id, "DELIVERED")

            for body in ({"state": "asleep"}, {"latency": -1}, {"colour": "red"},
                         {"state": 3}):
                response = await http.patch(f"/v1/handsets/{NUMBER}", json=body)
                assert response.status_code == 422, (body, response.text)
            assert (await http.get("/v1/handsets/12ab")).status_code == 400
            assert (await http.patch(f"/v1/handsets/{NUMBER}", content=b"[")).status_code == 400

            await http.patch(f"/v1/handsets/{NUMBER}", json={"state": "memory_full"})
            for content, status in [(b"[1]", 400), (b"{not json", 400),
                                    (b'{"handsets": true}', 422)]:
                refused = await http.post("/v1/reset", content=content)
                assert refused.status_code == status, (content, refused.text)
                assert set(refused.json()) == {"error"}
            assert (await http.get(f"/v1/handsets/{NUMBER}")).json()["state"] == "memory_full"
            assert (await http.post("/v1/reset", json={})).json() == {"reset": True}
            await http.patch(f"/v1/handsets/{NUMBER}", json={"state": "memory_full"})
            assert (await http.post("/v1/reset")).json() == {"reset": True}
            after = (await http.get(f"/v1/handsets/{NUMBER}")).json()
            assert after["state"] == "online" and not after["overridden"]
            assert (await http.get(f"/v1/handsets/{NUMBER}/inbox")).json()["messages"] == []
    running.shutdown.set()


async def test_outages_and_fault_mixes(make_config: Any, start_smsc: Any,
                                       opened: list[Any]) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(10):
        esme = await connect(opened, running, "transmitter")
        async with client(running) as http:
            networks = (await http.get("/v1/networks")).json()["networks"]
            assert [(n["name"], n["out"]) for n in networks] == [("default", False)]
            out = await http.post("/v1/networks/default/outage")
            assert out.status_code == 200 and out.json()["out"] is True
            held = await esme.request(SubmitSm(destination_addr=NUMBER))
            while (await http.get("/v1/networks/default")).json()["waiting"] != 1:
                await running.committer.wait_committed()
            back = await http.delete("/v1/networks/default/outage")
            assert back.json()["out"] is False
            await wait_state(running, http, held.message_id, "DELIVERED")
            before = running.control.clock.wall()
            timed = await http.post("/v1/networks/default/outage", json={"duration": 30})
            ends_at = datetime.fromisoformat(timed.json()["outage_ends_at"])
            assert before + timedelta(seconds=30) <= ends_at
            assert ends_at <= running.control.clock.wall() + timedelta(seconds=30)
            listed = (await http.get("/v1/networks")).json()["networks"][0]
            assert datetime.fromisoformat(listed["outage_ends_at"]) == ends_at
            await http.delete("/v1/networks/default/outage")

            faults = await http.put("/v1/networks/default/faults", json={"throttled": 1.0})
            assert faults.status_code == 200 and faults.json()["faults"]["throttled"] == 1.0
            refused = await esme.request(SubmitSm(destination_addr=NUMBER))
            assert refused.command_status == CommandStatus.ESME_RTHROTTLED
            assert (await http.put("/v1/networks/default/faults", json={})).status_code == 200
            accepted = await esme.request(SubmitSm(destination_addr=NUMBER))
            assert accepted.command_status == CommandStatus.ESME_ROK

            for body in ({"throttled": 2}, {"throttled": 0.6, "disconnect": 0.6},
                         {"sometimes": 0.1}, {"throttled": "x"}):
                response = await http.put("/v1/networks/default/faults", json=body)
                assert response.status_code == 422, (body, response.text)
            for bad in ({"duration": 0}, {"duration": "soon"}, {"until": 1}):
                response = await http.post("/v1/networks/default/outage", json=bad)
                assert response.status_code == 422, (bad, response.text)
            # an unknown field is worded one way whichever endpoint refuses it
            for method, path in [("PUT", "/v1/networks/default/faults"),
                                 ("POST", "/v1/networks/default/outage"),
                                 ("PATCH", f"/v1/handsets/{NUMBER}"), ("POST", "/v1/mo"),
                                 ("POST", "/v1/reset")]:
                response = await http.request(method, path, json={"colour": "red"})
                assert response.status_code == 422, (path, response.text)
                assert response.json() == {"error": "unknown field 'colour'"}, path
            assert (await http.get("/v1/networks/elsewhere")).status_code == 404
            assert (await http.post("/v1/networks/elsewhere/outage")).status_code == 404
            assert (await http.put("/v1/networks/elsewhere/faults", json={})).status_code == 404
    running.shutdown.set()


async def test_the_simulation_state_names_the_seed_in_force(make_config: Any,
                                                           start_smsc: Any) -> None:
    config = make_config(control=ControlConfig(port=0), simulation=SimulationConfig(seed=7))
    running = await start_smsc(config)
    with trio.fail_after(10):
        async with client(running) as http:
            state = await http.get("/v1/simulation")
            assert state.json() == {"seed": "7", "shared": False, "applied": 0}
            assert (await http.get("/v1/simulation?applied=x")).status_code == 400
            assert (await http.get("/v1/simulation?timeout=61")).status_code == 400
            assert (await http.get("/v1/simulation?since=1")).status_code == 400
