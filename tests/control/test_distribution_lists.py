"""Distribution lists in submit_multi (dest_flag 2): configured per account, changed over
the control API, expanded at submit with each member's own result.

The whole SMSC over real TCP on 127.0.0.1, the API over real HTTP."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
import trio

from smsc.config import (
    AccountConfig,
    ConfigError,
    ControlConfig,
    DistributionListConfig,
    RouteConfig,
    RoutingConfig,
    parse_config,
)
from smsc.distribution_lists import check_list
from smsc.pdu import DistributionListDest, SmeDest, SubmitMulti, SubmitMultiResp, UnsuccessSme
from smsc.pdu.constants import CommandStatus
from smsc.store import MessageQuery

from ..esme import Esme
from .helpers import client, connect

S = CommandStatus
STAFF = DistributionListConfig(name="staff", members=("4915100000002", "4915100000003",
                                                      "3312345678"))


def config_with(make_config: Any, *lists: DistributionListConfig, **sections: Any) -> Any:
    return make_config(
        accounts=(AccountConfig(distribution_lists=lists),
                  AccountConfig(system_id="other", password="secret")),
        # only German numbers have a route: a French member is refused on its own
        routing=RoutingConfig(default_network="none", rules=(RouteConfig(prefix="49"),)),
        control=ControlConfig(port=0), **sections)


def to_list(*names: str, extra: tuple[SmeDest, ...] = ()) -> SubmitMulti:
    return SubmitMulti(source_addr="4242", short_message=b"to the list", registered_delivery=1,
                       dest_address=(*(DistributionListDest(n) for n in names), *extra))


async def test_a_list_is_expanded_with_each_members_own_result(
        make_config: Any, start_smsc: Any, opened: list[Esme]) -> None:
    running = await start_smsc(config_with(make_config, STAFF))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        resp = await esme.request(to_list(
            "staff", "nobody", extra=(SmeDest(1, 1, "4915100000002"),)))  # listed twice
        assert isinstance(resp, SubmitMultiResp) and resp.command_status == S.ESME_ROK
        assert set(resp.unsuccess_sme) == {
            UnsuccessSme(0, 0, "nobody", S.ESME_RINVDLNAME),
            UnsuccessSme(1, 1, "3312345678", S.ESME_RINVDSTADR)}
        receipts = [await esme.next_request() for _ in range(2)]
    assert sorted(r.source_addr for r in receipts) == ["4915100000002", "4915100000003"]
    assert {r.receipted_message_id for r in receipts} == {resp.message_id}  # type: ignore[attr-defined]
    stored = running.store.find(MessageQuery(system_id="smppclient1"))
    assert sorted(m.fields.destination_addr for m in stored) == [
        "4915100000002", "4915100000003"]  # the address reached twice is sent to once


async def test_unknown_lists_only_are_refused_with_esme_rinvdlname(
        make_config: Any, start_smsc: Any, opened: list[Esme]) -> None:
    running = await start_smsc(config_with(make_config, STAFF))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        assert (await esme.request(to_list("nobody"))).command_status == S.ESME_RINVDLNAME
        # lists are the account's own: another account's "staff" is unknown to it
        other = await connect(opened, running, system_id="other", password="secret")
        assert (await other.request(to_list("staff"))).command_status == S.ESME_RINVDLNAME


async def test_more_than_254_destinations_after_expansion_are_refused(
        make_config: Any, start_smsc: Any, opened: list[Esme]) -> None:
    big = DistributionListConfig(name="big", members=tuple(
        f"49151{n:08d}" for n in range(200)))
    more = DistributionListConfig(name="more", members=tuple(
        f"49152{n:08d}" for n in range(60)))
    running = await start_smsc(config_with(make_config, big, more))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        assert (await esme.request(to_list("big", "more"))).command_status \
            == S.ESME_RINVNUMDESTS
        after = tuple(SmeDest(1, 1, f"49153{n:08d}") for n in range(55))
        assert (await esme.request(to_list("big", extra=after))).command_status \
            == S.ESME_RINVNUMDESTS  # 200 members and 55 addresses
        assert (await esme.request(to_list("big", extra=after[:54]))).command_status \
            == S.ESME_ROK


async def test_lists_are_created_replaced_and_deleted_over_the_api(
        make_config: Any, start_smsc: Any, opened: list[Esme]) -> None:
    running = await start_smsc(config_with(make_config, STAFF))
    base = "/v1/accounts/smppclient1/distribution-lists"
    with trio.fail_after(10):
        async with client(running) as http:
            listed = (await http.get(base)).json()["distribution_lists"]
            assert [dl["name"] for dl in listed] == ["staff"]
            assert listed[0]["members"][0] == {"address": "4915100000002", "ton": 1, "npi": 1}
            made = await http.put(f"{base}/night", json={"members": ["4915100000009"]})
            assert made.status_code == 201, made.text
            esme = await connect(opened, running)
            resp = await esme.request(to_list("night"))
            assert resp.command_status == S.ESME_ROK and resp.unsuccess_sme == ()
            assert (await esme.next_request()).source_addr == "4915100000009"
            replaced = await http.put(f"{base}/night", json={
                "members": ["4915100000010", "4915100000011"]})
            assert replaced.status_code == 200
            resp = await esme.request(to_list("night"))
            for _ in range(2):
                await esme.next_request()
            listed = (await http.get("/v1/messages", params={"number": "4915100000011"})
                      ).json()["messages"] + (await http.get(
                          "/v1/messages", params={"number": "4915100000010"})).json()["messages"]
            assert {m["submit_id"] for m in listed} == {resp.message_id}
            assert len({m["id"] for m in listed}) == 2  # each destination its own row
            assert len((await http.get(f"{base}/night")).json()["members"]) == 2
            assert (await http.delete(f"{base}/night")).status_code == 204
            assert (await http.get(f"{base}/night")).status_code == 404
            assert (await esme.request(to_list("night"))).command_status == S.ESME_RINVDLNAME
            assert (await http.delete(f"{base}/night")).status_code == 404


@pytest.mark.parametrize(("path", "body", "status", "error"), [
    ("/v1/accounts/nobody/distribution-lists/x", {"members": ["1"]}, 404, "no account"),
    ("/v1/accounts/smppclient1/distribution-lists/x", {"members": []}, 422, "1 to 254"),
    ("/v1/accounts/smppclient1/distribution-lists/x", {"members": ["1" * 21]}, 422,
     "1 to 20"),
    ("/v1/accounts/smppclient1/distribution-lists/x", {"members": "1"}, 422, "an array"),
    ("/v1/accounts/smppclient1/distribution-lists/x", {"members": ["1"], "colour": 1}, 422,
     "unknown field 'colour'"),
    ("/v1/accounts/smppclient1/distribution-lists/" + "n" * 21, {"members": ["1"]}, 422,
     "name must be"),
])
async def test_bad_lists_get_json_errors(make_config: Any, start_smsc: Any, path: str,
                                         body: Any, status: int, error: str) -> None:
    running = await start_smsc(config_with(make_config))
    with trio.fail_after(10):
        async with client(running) as http:
            answer = await http.put(path, json=body)
    assert answer.status_code == status and error in answer.json()["error"]


def load_config_text(text: str) -> Any:
    return parse_config(tomllib.loads(text), "test.toml")


def test_lists_are_read_from_the_config_and_checked() -> None:
    config = load_config_text("""
[[accounts]]
system_id = "acme"
[[accounts.distribution_lists]]
name = "staff"
members = ["4915100000002", "4915100000003"]
dest_addr_ton = 2
""")
    (dl,) = config.accounts[0].distribution_lists
    assert (dl.name, dl.members, dl.dest_addr_ton, dl.dest_addr_npi) == (
        "staff", ("4915100000002", "4915100000003"), 2, 1)
    with pytest.raises(ConfigError, match="repeated"):
        load_config_text("""
[[accounts]]
[[accounts.distribution_lists]]
name = "a"
members = ["1"]
[[accounts.distribution_lists]]
name = "a"
members = ["2"]
""")


@pytest.mark.parametrize(("name", "members", "key"), [
    ("caf\u00e9", '["1"]', "accounts[0].distribution_lists[0].name"),
    ("a\tb", '["1"]', "accounts[0].distribution_lists[0].name"),
    ("a", '["1", "caf\u00e9"]', "accounts[0].distribution_lists[0].members[1]"),
    ("a", "[]", "accounts[0].distribution_lists[0].members"),
])
def test_the_config_checks_a_list_by_the_apis_rules(name: str, members: str,
                                                     key: str) -> None:
    # the same list the control API refuses (check_list) the config file refuses too
    assert check_list(name, [(1, 1, m) for m in json.loads(members)])
    with pytest.raises(ConfigError) as refused:
        load_config_text(f"""
[[accounts]]
[[accounts.distribution_lists]]
name = {json.dumps(name)}
members = {members}
""")
    assert refused.value.key == key


async def test_a_deleted_accounts_lists_go_with_it(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(config_with(make_config, STAFF))
    with trio.fail_after(10):
        async with client(running) as http:
            made = await http.put("/v1/accounts/other/distribution-lists/night",
                                  json={"members": ["4915100000010"]})
            assert made.status_code == 201, made.text
            for system_id in ("other", "smppclient1"):
                assert (await http.delete(f"/v1/accounts/{system_id}")).status_code == 200
                again = await http.post("/v1/accounts", json={"system_id": system_id,
                                                              "password": "secret"})
                assert again.status_code == 201, again.text
                listed = await http.get(f"/v1/accounts/{system_id}/distribution-lists")
                assert listed.status_code == 200 and listed.json() == {"distribution_lists": []}, (
                    listed.text)
