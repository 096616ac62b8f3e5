"""The control API and /metrics over real HTTP on 127.0.0.1 (httpx), after known traffic."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import platform
from typing import Any

import trio
import trio.testing

from smsc.config import AccountConfig, ControlConfig
from smsc.pdu import DeliverSm, EnquireLink, SubmitSm
from smsc.pdu.constants import CommandStatus

from ..esme import Esme
from ..waiting import until
from .helpers import client, connect

OK = CommandStatus.ESME_ROK


def samples(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_metrics_count_known_traffic(make_config: Any, start_smsc: Any,
                                           opened: list[Esme]) -> None:
    accounts = (AccountConfig(),
                AccountConfig(system_id="other", password="secret", submit_rate=0.001,
                              submit_burst=1))
    running = await start_smsc(make_config(control=ControlConfig(port=0), accounts=accounts))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        for n in range(3):
            resp = await esme.request(SubmitSm(destination_addr=f"491510000000{n}",
                                               registered_delivery=1, short_message=b"m"))
            assert resp.command_status == OK
        bad = await esme.request(SubmitSm(destination_addr=""))
        assert bad.command_status == CommandStatus.ESME_RINVDSTADR
        for _ in range(3):
            assert isinstance(await esme.next_request(), DeliverSm)  # receipts, answered
        await esme.request(EnquireLink())  # in order: the answers above are processed now
        throttled = await connect(opened, running, "transmitter", system_id="other",
                                  password="secret")
        statuses = [(await throttled.request(SubmitSm(destination_addr="4915100000009")))
                    .command_status for _ in range(3)]
        assert statuses == [OK, CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RTHROTTLED]
        await running.committer.wait_idle()

    async with client(running) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    me, other = 'account="smppclient1"', 'account="other"'
    assert values[f'smsc_submits_total{{{me},status="ESME_ROK"}}'] == 3
    assert values[f'smsc_submits_total{{{me},status="ESME_RINVDSTADR"}}'] == 1
    assert values[f'smsc_submits_total{{{other},status="ESME_ROK"}}'] == 1
    assert values[f'smsc_submits_total{{{other},status="ESME_RTHROTTLED"}}'] == 2
    assert values[f"smsc_throttled_total{{{other}}}"] == 2
    assert values[f'smsc_bound_sessions{{{me},mode="transceiver"}}'] == 1
    assert values[f'smsc_bound_sessions{{{other},mode="transmitter"}}'] == 1
    assert values[f'smsc_binds_total{{{me},mode="transceiver"}}'] == 1
    assert values[f"smsc_deliveries_acknowledged_total{{{me}}}"] == 3
    assert values[f"smsc_window_in_flight{{{me}}}"] == 0
    assert values[f"smsc_window_size{{{me}}}"] == 10
    assert values['smsc_pdus_received_total{command="submit_sm",status="ESME_ROK"}'] == 7
    assert values['smsc_pdus_received_total{command="bind_transceiver",status="ESME_ROK"}'] == 1
    assert values['smsc_pdus_received_total{command="deliver_sm_resp",status="ESME_ROK"}'] == 3
    assert values['smsc_pdus_sent_total{command="deliver_sm",status="ESME_ROK"}'] == 3
    assert values['smsc_pdus_sent_total{command="submit_sm_resp",status="ESME_ROK"}'] == 4
    assert values['smsc_pdus_sent_total{command="submit_sm_resp",status="ESME_RTHROTTLED"}'] == 2
    assert values['smsc_pdus_sent_total{command="enquire_link_resp",status="ESME_ROK"}'] == 1
    assert values['smsc_delivery_attempts_total{network="default",result="delivered"}'] == 4
    assert values['smsc_messages_finished_total{network="default",state="DELIVERED"}'] == 4
    assert values["smsc_message_final_seconds_count"] == 4
    assert values['smsc_finished_messages_kept{state="DELIVERED"}'] == 4
    assert values["smsc_queue_messages"] == 0
    assert values[f"smsc_deliveries_pending{{{me}}}"] == 0
    assert values[f"smsc_deliveries_pending{{{other}}}"] == 0
    assert values["smsc_store_committed_messages_total"] == 4
    assert values["smsc_submit_response_seconds_count"] == 4  # the ones that were stored
    assert values['smsc_submit_response_seconds_bucket{le="+Inf"}'] == 4
    assert values["smsc_store_commit_seconds_count"] >= 1
    running.shutdown.set()


async def test_receipts_waiting_for_a_receiver_are_pending(make_config: Any,
                                                           start_smsc: Any,
                                                           opened: list[Esme]) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(10):
        esme = await connect(opened, running, "transmitter")
        for n in range(2):
            await esme.request(SubmitSm(destination_addr=f"4915100000{n}", registered_delivery=1))
        while (running.metrics.value("smsc_messages_finished_total", network="default",
                                     state="DELIVERED") or 0) < 2:
            await running.committer.wait_committed()
    async with client(running) as http:
        values = samples((await http.get("/metrics")).text)
    assert values['smsc_deliveries_pending{account="smppclient1"}'] == 2
    assert values['smsc_finished_messages_kept{state="DELIVERED"}'] == 2
    assert values["smsc_queue_messages"] == 0
    running.shutdown.set()


async def test_gauges_read_zero_for_configured_accounts_with_nothing(
        make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    async with client(running) as http:
        values = samples((await http.get("/metrics")).text)
    for account in ("smppclient1", "other"):
        for mode in ("transmitter", "receiver", "transceiver"):
            assert values[f'smsc_bound_sessions{{account="{account}",mode="{mode}"}}'] == 0
        for gauge in ("smsc_window_in_flight", "smsc_window_size", "smsc_deliveries_pending"):
            assert values[f'{gauge}{{account="{account}"}}'] == 0
    assert values["smsc_queue_messages"] == 0
    assert not [name for name in values if name.startswith("smsc_finished_messages_kept")]
    running.shutdown.set()


async def test_the_queue_holds_only_messages_still_waiting(make_config: Any, start_smsc: Any,
                                                           opened: list[Esme]) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(10):
        esme = await connect(opened, running, "transmitter")
        for number in ("447700900200", "447700900201", "447700900001"):  # 2NN: never reachable
            assert (await esme.request(SubmitSm(destination_addr=number))).command_status == OK
        while (running.metrics.value("smsc_messages_finished_total", network="default",
                                     state="DELIVERED") or 0) < 1:
            await running.committer.wait_committed()
    async with client(running) as http:
        values = samples((await http.get("/metrics")).text)
        overview = (await http.get("/v1/overview")).json()
    assert values["smsc_queue_messages"] == 2
    assert values['smsc_finished_messages_kept{state="DELIVERED"}'] == 1
    assert overview["queue"] == {"waiting": 2, "by_state": {"ENROUTE": 2}}
    assert overview["finished_kept"] == {"DELIVERED": 1}
    running.shutdown.set()


async def test_openmetrics_when_the_scraper_asks_for_it(make_config: Any,
                                                        start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    openmetrics = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"
    async with client(running) as http:
        plain = await http.get("/metrics")
        negotiated = await http.get("/metrics", headers={"Accept": openmetrics})
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert negotiated.headers["content-type"].startswith("application/openmetrics-text")
    assert negotiated.text.endswith("# EOF\n") and not plain.text.endswith("# EOF\n")
    version = importlib.metadata.version("smsc-simulator")
    for text in (plain.text, negotiated.text):
        values = samples(text)
        build = [name for name in values if name.startswith("smsc_build_info{")]
        assert len(build) == 1 and f'version="{version}"' in build[0]
        assert f'python_version="{platform.python_version()}"' in build[0]
        assert values["process_cpu_seconds_total"] > 0
        assert values["process_resident_memory_bytes"] > 0
        assert any(name.startswith("python_gc_collections_total{") for name in values)
        assert any(name.startswith("python_info{") for name in values)
        assert 'smsc_queue_messages' in values
    running.shutdown.set()


async def test_unknown_codes_share_one_label(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    metrics = running.metrics
    for status in (0x7777, 0x8888, 0x9999):
        metrics.count_received(0x00000005 | 0x80000000, status)
    metrics.count_received(0x0BADBAD0)
    async with client(running) as http:
        values = samples((await http.get("/metrics")).text)
    assert values['smsc_pdus_received_total{command="deliver_sm_resp",status="unknown"}'] == 3
    assert values['smsc_pdus_received_total{command="unknown",status="ESME_ROK"}'] == 1
    running.shutdown.set()


async def test_status_sessions_unbind_and_drop(make_config: Any, start_smsc: Any,
                                               opened: list[Esme]) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(10):
        first = await connect(opened, running)
        second = await connect(opened, running, "receiver", system_id="other", password="secret")
        async with client(running) as http:
            status = (await http.get("/v1/status")).json()
            assert status["smpp_port"] == running.smpp_port
            assert status["http_port"] == running.http_port
            assert status["store"] == "memory"
            sessions = (await http.get("/v1/sessions")).json()["sessions"]
            assert [(s["system_id"], s["bind_type"]) for s in sessions] == [
                ("smppclient1", "transceiver"), ("other", "receiver")]
            first_id, second_id = sessions[0]["id"], sessions[1]["id"]
            one = (await http.get(f"/v1/sessions/{second_id}")).json()
            assert one["peer"] == sessions[1]["peer"] and one["window"] == 10

            assert (await http.post(f"/v1/sessions/{first_id}/unbind")).status_code == 202
            # the ESME's session answers the unbind itself and closes
            assert (await first.closed()).reason == "unbind received"

            dropped = await http.delete(f"/v1/sessions/{second_id}")
            assert dropped.status_code == 200 and dropped.json() == {"dropped": second_id}
            await second.closed()

            # the links leave the set as their tasks finish
            await until(lambda: not running.links, trio.testing.wait_all_tasks_blocked)
            assert (await http.get("/v1/sessions")).json()["sessions"] == []
            assert (await http.get(f"/v1/sessions/{first_id}")).status_code == 404
            assert (await http.delete("/v1/sessions/999")).status_code == 404
            assert (await http.post("/v1/sessions/999/unbind")).status_code == 404
    running.shutdown.set()


async def test_message_lookups(make_config: Any, start_smsc: Any,
                               opened: list[Esme]) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(10):
        esme = await connect(opened, running, "transmitter")
        ids = []
        for number in ("4915100000001", "4915100000002", "4915100000002"):
            resp = await esme.request(SubmitSm(source_addr="100", destination_addr=number,
                                               short_message=b"hello"))
            ids.append(resp.message_id)
        other = await connect(opened, running, "transmitter", system_id="other", password="secret")
        await other.request(SubmitSm(destination_addr="4915100000003",
                                     schedule_delivery_time="000001000000000R"))
        await running.committer.wait_idle()
        async with client(running) as http:
            one = (await http.get(f"/v1/messages/{ids[0]}")).json()
            assert one["id"] == ids[0] and one["destination_addr"] == "4915100000001"
            assert one["text"] == "hello" and one["account"] == "smppclient1"

            async def listed(**params: Any) -> list[str]:
                response = await http.get("/v1/messages", params=params)
                assert response.status_code == 200, response.text
                return [m["id"] for m in response.json()["messages"]]

            assert await listed(number="4915100000002") == [ids[2], ids[1]]
            assert await listed(number="100", account="smppclient1") == ids[::-1]
            assert len(await listed(account="other")) == 1
            assert len(await listed(state="ENROUTE")) == 1
            assert await listed(state="delivered", number="4915100000001") == [ids[0]]
            assert await listed(id=ids[1]) == [ids[1]]
            for written in ("+4915100000002", "004915100000002"):  # one number, three forms
                assert await listed(number=written) == [ids[2], ids[1]]
            plus = await esme.request(SubmitSm(destination_addr="+4915100000002"))
            await running.committer.wait_idle()
            for written in ("4915100000002", "+4915100000002", "004915100000002"):
                assert await listed(number=written) == [plus.message_id, ids[2], ids[1]]
            assert await listed(number="4915100000002", limit=2) == [plus.message_id, ids[2]]
            assert len(await listed(limit=2)) == 2
            for bad in ({"state": "LOST"}, {"limit": "0"}, {"limit": "x"}, {"id": "zz"},
                        {"colour": "red"}):
                assert (await http.get("/v1/messages", params=bad)).status_code == 400
            assert (await http.get("/v1/messages/ffffff")).status_code == 404
            assert (await http.get("/v1/messages/not-an-id")).status_code == 404
    running.shutdown.set()


async def test_inject_mo_text_encoding_and_long(make_config: Any, start_smsc: Any,
                                                opened: list[Esme]) -> None:
    accounts = (AccountConfig(mo_addresses=("4242",)),)
    running = await start_smsc(make_config(control=ControlConfig(port=0), accounts=accounts))
    with trio.fail_after(10):
        receiver = await connect(opened, running, "receiver")
        async with client(running) as http:
            created = await http.post("/v1/mo", json={
                "source_addr": "4915100000001", "destination_addr": "4242", "text": "STOP"})
            assert created.status_code == 201
            [mo_id] = created.json()["message_ids"]
            pdu = await receiver.next_request()
            assert isinstance(pdu, DeliverSm)
            assert (pdu.source_addr, pdu.destination_addr) == ("4915100000001", "4242")
            assert pdu.short_message == b"STOP" and pdu.data_coding == 0

            forced = await http.post("/v1/mo", json={
                "source_addr": "491", "destination_addr": "4242", "text": "hi",
                "data_coding": 8})
            assert forced.status_code == 201
            pdu = await receiver.next_request()
            assert pdu.data_coding == 8 and pdu.short_message == "hi".encode("utf-16-be")

            long = await http.post("/v1/mo", json={
                "source_addr": "491", "destination_addr": "4242", "text": "x" * 200})
            assert len(long.json()["message_ids"]) == 2
            parts = [await receiver.next_request() for _ in range(2)]
            assert all(p.esm_class & 0x40 for p in parts)  # UDH: concatenated parts
            assert parts[0].short_message[:3] == b"\x05\x00\x03"

            found = (await http.get(f"/v1/messages/{mo_id}")).json()
            assert found["direction"] == "mo" and found["text"] == "STOP"

            for body, status in [
                ({"source_addr": "1", "destination_addr": "9999", "text": "x"}, 422),
                ({"source_addr": "1", "destination_addr": "4242", "text": "€",
                  "data_coding": 3}, 422),
                ({"source_addr": "1", "destination_addr": "4242", "text": "x",
                  "data_coding": 4}, 422),
                ({"source_addr": "", "destination_addr": "4242", "text": "x"}, 422),
                ({"destination_addr": "4242", "text": "x"}, 422),
                ([1, 2], 400),
            ]:
                response = await http.post("/v1/mo", json=body)
                assert response.status_code == status, (body, response.text)
            assert (await http.post("/v1/mo", content=b"{not json")).status_code == 400
    running.shutdown.set()


async def test_dashboard_openapi_and_overview(make_config: Any, start_smsc: Any,
                                              opened: list[Esme]) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        await esme.request(SubmitSm(destination_addr="4915100000001"))
        await running.committer.wait_idle()
        async with client(running) as http:
            page = await http.get("/")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert 'id="submitted-total"' in page.text
            document = (await http.get("/openapi.json")).json()
            assert document["openapi"].startswith("3.")
            assert {"/metrics", "/v1/status", "/v1/sessions", "/v1/messages", "/v1/mo"} <= set(
                document["paths"])
            overview = (await http.get("/v1/overview")).json()
    assert overview["totals"]["submitted"] == 1
    finished = overview["finished_kept"].get("DELIVERED", 0)
    assert (overview["queue"]["waiting"], finished) in ((0, 1), (1, 0))
    assert overview["queue"]["by_state"] == ({"ENROUTE": 1} if not finished else {})
    assert overview["totals"]["delivered"] == finished
    assert overview["deliveries_pending"] == {"smppclient1": 0, "other": 0}
    assert overview["totals"]["failed"] == 0
    assert [m["destination_addr"] for m in overview["recent_messages"]] == ["4915100000001"]
    assert len(overview["sessions"]) == 1
    running.shutdown.set()


async def test_unknown_paths_and_methods_answer_in_the_error_schema(
        make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0)))
    async with client(running) as http:
        missing = await http.get("/v1/nothing-here")
        wrong = await http.put("/metrics")
        wrong_on_a_handset = await http.post("/v1/handsets/4915100000001")
    assert missing.status_code == 404
    assert missing.json() == {"error": "not found: GET /v1/nothing-here"}
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert wrong.json() == {"error": "method not allowed: PUT /metrics"}
    assert wrong_on_a_handset.status_code == 405
    assert set(wrong_on_a_handset.json()) == {"error"}
    running.shutdown.set()


async def test_bearer_token_protects_the_api(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(control=ControlConfig(port=0, token="t0ken")))
    async with client(running) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/v1/status")).status_code == 401
    async with client(running, token="wrong") as http:
        assert (await http.get("/metrics")).status_code == 401
    async with client(running, token="t0ken") as http:
        assert (await http.get("/metrics")).status_code == 200
        assert (await http.get("/v1/sessions")).status_code == 200
    async with client(running) as http:
        assert (await http.get("/")).status_code == 200  # the page itself holds no data
    running.shutdown.set()


async def test_metrics_can_be_switched_off(make_config: Any, start_smsc: Any,
                                           opened: list[Esme]) -> None:
    control = ControlConfig(port=0, metrics=False)
    running = await start_smsc(make_config(control=control))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        await esme.request(SubmitSm(destination_addr="4915100000001"))
    assert running.metrics.submits == {} and running.metrics.pdus_received == {}
    running.shutdown.set()


def test_control_config_defaults_to_loopback() -> None:
    control = ControlConfig()
    assert (control.host, control.port, control.allow_remote) == ("127.0.0.1", 8775, False)
    assert dataclasses.replace(control, metrics=False).metrics is False
