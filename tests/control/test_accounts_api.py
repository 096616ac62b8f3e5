"""/v1/accounts over real HTTP, with real SMPP sessions: accounts created, changed and
deleted while the SMSC runs, new binds and live sessions following."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio

from smsc.config import ControlConfig, HandsetConfig, StoreConfig
from smsc.pdu import Pdu, SubmitSm
from smsc.pdu.constants import CommandStatus

from ..esme import Esme
from .helpers import client, connect


@pytest.fixture
async def running(make_config: Any, start_smsc: Any) -> Any:
    return await start_smsc(make_config(control=ControlConfig(port=0, max_body_bytes=4096)))


@pytest.fixture
async def api(running: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client(running) as http:
        yield http


async def bind(running: Any, opened: list[Esme], system_id: str, password: str) -> Pdu:
    stream = await trio.open_tcp_stream("127.0.0.1", running.smpp_port)
    esme = Esme(stream)
    opened.append(esme)
    with trio.fail_after(10):
        return await esme.bind(system_id=system_id, password=password)


def submit(destination: str = "4915100000002") -> SubmitSm:
    return SubmitSm(destination_addr=destination, short_message=b"hi")


async def test_create_list_get_and_bind(running: Any, api: httpx.AsyncClient,
                                        opened: list[Esme]) -> None:
    answer = await bind(running, opened, "newcomer", "pw1")
    assert answer.command_status == CommandStatus.ESME_RINVSYSID
    created = await api.post("/v1/accounts", json={"system_id": "newcomer", "password": "pw1",
                                                  "window": 3, "allowed_ips": ["127.0.0.0/8"]})
    assert created.status_code == 201, created.text
    assert created.json()["window"] == 3 and "password" not in created.json()
    answer = await bind(running, opened, "newcomer", "pw1")
    assert answer.command_status == CommandStatus.ESME_ROK
    listed = (await api.get("/v1/accounts")).json()["accounts"]
    assert [a["system_id"] for a in listed] == ["smppclient1", "other", "newcomer"]
    assert not any("password" in a or "outbind_password" in a for a in listed)
    one = (await api.get("/v1/accounts/newcomer")).json()
    assert one["binds"] == 1 and one["allowed_ips"] == ["127.0.0.0/8"]
    metrics = (await api.get("/metrics")).text
    assert 'account="newcomer"' in metrics  # a configured account for the gauges


async def test_refusals_are_json(api: httpx.AsyncClient) -> None:
    cases = [
        (api.get("/v1/accounts/nobody"), 404, "no account 'nobody'"),
        (api.post("/v1/accounts", json={"system_id": "other", "password": "x"}), 409, "exists"),
        (api.post("/v1/accounts", json={"system_id": "x"}), 422, "required"),
        (api.post("/v1/accounts", json={"system_id": "x", "password": "x", "window": 0}), 422,
         "window: must be at least 1"),
        (api.post("/v1/accounts", json={"system_id": "x", "password": "x",
                                        "allowed_source_addrs": ["("]}), 422, "bad regex"),
        (api.post("/v1/accounts", json={"system_id": "x", "password": "x",
                                        "receipt_dialect": "d"}), 422,
         "receipt_dialect: no receipt dialect named 'd'"),
        (api.post("/v1/accounts", json={"system_id": "x", "password": "x",
                                        "outbind_port": 1}), 422,
         "outbind_port cannot change at run time"),
        (api.post("/v1/accounts", json={"system_id": "x", "password": "x",
                                        "mo_addresses": ["("]}), 422, "bad regex"),
        (api.patch("/v1/accounts/other", json={"outbind_host": "h"}), 422, "restart"),
        (api.patch("/v1/accounts/other", json={"system_id": "y"}), 422, "unknown field"),
        (api.patch("/v1/accounts/other", content=b"[1]"), 400, "JSON object"),
        (api.post("/v1/accounts", content=b"{" + b" " * 5000 + b"}"), 413, "larger than"),
    ]
    for request, status, words in cases:
        answer = await request
        assert answer.status_code == status, answer.text
        assert words in answer.json()["error"]


async def test_a_changed_password_applies_to_the_next_bind_only(
    running: Any, api: httpx.AsyncClient, opened: list[Esme]
) -> None:
    live = await connect(opened, running, system_id="other", password="secret")
    changed = await api.patch("/v1/accounts/other", json={"password": "new"})
    assert changed.status_code == 200 and "password" not in changed.json()
    with trio.fail_after(10):
        assert (await live.request(submit())).command_status == CommandStatus.ESME_ROK
    old = await bind(running, opened, "other", "secret")
    assert old.command_status == CommandStatus.ESME_RINVPASWD
    new = await bind(running, opened, "other", "new")
    assert new.command_status == CommandStatus.ESME_ROK


async def test_throttle_and_window_apply_to_live_sessions(
    running: Any, api: httpx.AsyncClient, opened: list[Esme]
) -> None:
    live = await connect(opened, running, system_id="other", password="secret")
    (session,) = (await api.get("/v1/sessions")).json()["sessions"]
    assert session["window"] == 10
    changed = await api.patch("/v1/accounts/other", json={
        "submit_rate": 0.001, "submit_burst": 1, "window": 2})
    assert changed.status_code == 200
    session = (await api.get(f"/v1/sessions/{session['id']}")).json()
    assert session["window"] == 2
    with trio.fail_after(10):
        assert (await live.request(submit())).command_status == CommandStatus.ESME_ROK
        assert (await live.request(submit())).command_status == CommandStatus.ESME_RTHROTTLED


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_max_pending_applies_to_live_sessions(
    kind: str, make_config: Any, start_smsc: Any, opened: list[Esme], tmp_path: Any
) -> None:
    running = await start_smsc(make_config(
        control=ControlConfig(port=0),
        store=StoreConfig(kind=kind, data_dir=str(tmp_path / "var")),
        handsets=(HandsetConfig(prefix="49170", state="offline"),)))  # messages wait
    live = await connect(opened, running, system_id="other", password="secret")
    async with client(running) as api:
        changed = await api.patch("/v1/accounts/other", json={"max_pending": 1})
        assert changed.status_code == 200
    with trio.fail_after(10):
        first = await live.request(submit("4917000000001"))
        assert first.command_status == CommandStatus.ESME_ROK
        second = await live.request(submit("4917000000002"))
        assert second.command_status == CommandStatus.ESME_RMSGQFUL
    running.shutdown.set()


async def test_deleting_an_account_unbinds_its_sessions(
    running: Any, api: httpx.AsyncClient, opened: list[Esme]
) -> None:
    live = await connect(opened, running, system_id="other", password="secret")
    bystander = await connect(opened, running)
    deleted = await api.delete("/v1/accounts/other")
    assert deleted.json() == {"deleted": "other", "unbinding": 1}
    with trio.fail_after(10):
        closed = await live.closed()  # the ESME's session answers the unbind itself
        assert closed.reason == "unbind received"
        assert (await bystander.request(submit())).command_status == CommandStatus.ESME_ROK
    assert (await api.get("/v1/accounts/other")).status_code == 404
    again = await bind(running, opened, "other", "secret")
    assert again.command_status == CommandStatus.ESME_RINVSYSID

