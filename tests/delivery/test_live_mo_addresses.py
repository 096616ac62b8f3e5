"""An account's mo_addresses apply while the SMSC runs: an account created through
/v1/accounts receives MO and ESME-to-ESME messages to its addresses at once, a deleted one no
longer does (MO to them has no route, MT to them goes to the simulated networks), and a
reload that moves an address routes the next message to its new owner.

Real ESMEs (esme_client) on 127.0.0.1, the control API over real HTTP, the SMSC in process."""

from __future__ import annotations

import dataclasses

import httpx
import trio

import esme_client
from smsc.app import reload_config
from smsc.config import ESME_NETWORK, AccountConfig, ReceiptDialectConfig
from smsc.embed import EmbeddedSmsc, open_smsc, smsc_in_thread

CAROL = "4915100007777"
HANDSET = "4915100001111"
ACCOUNTS = (
    AccountConfig(system_id="alice", password="alice"),
    AccountConfig(system_id="bob", password="bob", mo_addresses=(CAROL,)),
)


def api(smsc: EmbeddedSmsc) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=smsc.http_url, timeout=10)


async def inject(http: httpx.AsyncClient, destination: str, text: str) -> httpx.Response:
    return await http.post("/v1/mo", json={"source_addr": HANDSET,
                                           "destination_addr": destination, "text": text})


async def test_an_account_made_at_run_time_owns_its_addresses_until_it_is_deleted() -> None:
    accounts = (ACCOUNTS[0],)  # nobody owns CAROL yet
    async with open_smsc(accounts=accounts) as smsc, api(smsc) as http, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="alice",
                                password="alice") as alice:
        with trio.fail_after(10):
            refused = await inject(http, CAROL, "too early")
            assert refused.status_code == 422, refused.text
            created = await http.post("/v1/accounts", json={
                "system_id": "carol", "password": "carol", "mo_addresses": [CAROL]})
            assert created.status_code == 201, created.text
            assert created.json()["mo_addresses"] == [CAROL]
            async with esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="carol",
                                           password="carol", mode="receiver") as carol:
                sent = await inject(http, CAROL, "hello carol")
                assert sent.status_code == 201, sent.text
                mo = await carol.next_delivery()
                assert (mo.source_addr, mo.destination_addr, mo.text) == (
                    HANDSET, CAROL, "hello carol")
                await alice.submit_text(CAROL, "from alice")
                mo = await carol.next_delivery()
                assert (mo.destination_addr, mo.text) == (CAROL, "from alice")

                deleted = await http.delete("/v1/accounts/carol")
                assert deleted.json() == {"deleted": "carol", "unbinding": 1}
                await carol.wait_disconnected()  # unbound by the SMSC
            refused = await inject(http, CAROL, "too late")
            assert refused.status_code == 422, refused.text
            assert refused.json()["error"] == f"no account receives MO messages for '{CAROL}'"
            await alice.submit_text(CAROL, "after carol")
            delivered = await smsc.wait_for_message(number=CAROL, account="alice",
                                                    count=2)  # the second to a handset
    assert [(m["text"], m["network"]) for m in delivered] == [
        ("after carol", smsc.config.networks[0].name), ("from alice", ESME_NETWORK + "carol")]


async def test_a_changed_account_takes_new_addresses_and_leaves_the_old() -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, api(smsc) as http, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="bob",
                                password="bob", mode="receiver") as bob:
        with trio.fail_after(10):
            changed = await http.patch("/v1/accounts/bob", json={"mo_addresses": ["4243"]})
            assert changed.status_code == 200, changed.text
            assert (await inject(http, CAROL, "old")).status_code == 422
            assert (await inject(http, "4243", "new")).status_code == 201
            mo = await bob.next_delivery()
    assert (mo.destination_addr, mo.text) == ("4243", "new")


async def test_a_reload_that_moves_an_address_routes_the_next_message_to_its_new_owner(
) -> None:
    async with open_smsc(accounts=ACCOUNTS) as smsc, api(smsc) as http, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="alice",
                                password="alice", mode="receiver") as alice:
        alice_owns = dataclasses.replace(smsc.config, accounts=(
            dataclasses.replace(ACCOUNTS[0], mo_addresses=(CAROL,)),
            dataclasses.replace(ACCOUNTS[1], mo_addresses=())))
        in_force, needs_restart = reload_config(smsc.running, smsc.config, alice_owns)
        assert (in_force, needs_restart) == (alice_owns, [])
        with trio.fail_after(10):
            sent = await inject(http, CAROL, "to the new owner")
            assert sent.status_code == 201, sent.text
            mo = await alice.next_delivery()
            [stored] = await smsc.messages(number=CAROL)
    assert (mo.destination_addr, mo.text) == (CAROL, "to the new owner")
    assert stored["account"] == "alice"


async def test_the_embedding_helpers_change_accounts_at_run_time() -> None:
    async with open_smsc(accounts=(ACCOUNTS[0],)) as smsc:
        created = smsc.create_account("dave", "dave", mo_addresses=["4244"], window=3)
        assert (created.mo_addresses, created.window) == (("4244",), 3)
        async with esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="dave",
                                       password="dave", mode="receiver") as dave:
            with trio.fail_after(10):
                await smsc.inject_mo(HANDSET, "4244", "to dave")
                mo = await dave.next_delivery()
                assert mo.text == "to dave"
                assert smsc.change_account("dave", window=5).window == 5
                assert smsc.account("dave") == dataclasses.replace(created, window=5)
                assert smsc.delete_account("dave") == 1
                await dave.wait_disconnected()
        assert smsc.account("dave") is None
        for wrong, error in [(lambda: smsc.create_account("alice", "x"), ValueError),
                             (lambda: smsc.change_account("dave", window=4), KeyError),
                             (lambda: smsc.delete_account("dave"), KeyError),
                             (lambda: smsc.create_account("eve", "x", outbind_host="h"),
                              ValueError),
                             (lambda: smsc.create_account("eve", "x", receipt_dialect="y"),
                              ValueError)]:
            try:
                wrong()
            except error:
                continue
            raise AssertionError(f"no {error.__name__}")


def test_the_blocking_helpers_change_accounts_too() -> None:
    with smsc_in_thread(accounts=(ACCOUNTS[0],)) as smsc:
        created = smsc.create_account("erin", "erin", mo_addresses=["4245"])
        assert smsc.change_account("erin", window=7).window == 7
        assert smsc.account("erin") == dataclasses.replace(created, window=7)
        [mo_id] = smsc.inject_mo(HANDSET, "4245", "to erin, unbound")
        assert smsc.message(mo_id)["account"] == "erin"
        assert smsc.delete_account("erin") == 0
        assert smsc.account("erin") is None


async def test_a_changed_receipt_dialect_writes_the_next_receipt() -> None:
    upper = ReceiptDialectConfig(name="upper", label_case="upper")
    async with open_smsc(accounts=ACCOUNTS, receipt_dialects=(upper,)) as smsc, \
            api(smsc) as http, \
            esme_client.connect("127.0.0.1", smsc.smpp_port, system_id="alice",
                                password="alice") as alice:
        with trio.fail_after(10):
            unknown = await http.patch("/v1/accounts/alice", json={"receipt_dialect": "x"})
            assert unknown.status_code == 422, unknown.text
            assert unknown.json()["error"] == "receipt_dialect: no receipt dialect named 'x'"
            sent = await alice.submit_text("4915100000002", "before", registered_delivery=1)
            before = await alice.next_delivery()
            changed = await http.patch("/v1/accounts/alice", json={"receipt_dialect": "upper"})
            assert changed.status_code == 200, changed.text
            sent = await alice.submit_text("4915100000003", "after", registered_delivery=1)
            after = await alice.next_delivery()
    assert before.is_receipt and after.is_receipt
    assert (before.text or "").startswith("id:")
    assert (after.text or "").startswith("ID:") and sent.message_id in (after.text or "")
