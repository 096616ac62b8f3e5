"""The pytest plugin's example: smpplib is the ESME under test, `smsc` the server it talks to.

The `smsc` and `smsc_config` fixtures come from the plugin's entry point (nothing in our
conftest.py defines them), so this also proves the plugin is registered.
"""

from __future__ import annotations

import dataclasses

import pytest
import smpplib.client

from smsc import MessageState
from smsc.config import AccountConfig, Config
from smsc.embed import ThreadedSmsc


@pytest.fixture
def smsc_config(smsc_config: Config) -> Config:
    """This module's server: one account that also receives MO messages for 4242."""
    account = AccountConfig(system_id="shop", password="secret", mo_addresses=("4242",))
    return dataclasses.replace(smsc_config, accounts=(account,))


def test_an_esme_gets_its_receipt_and_an_mo_message(smsc: ThreadedSmsc) -> None:
    client = smpplib.client.Client("127.0.0.1", smsc.smpp_port, timeout=5,
                                   allow_unknown_opt_params=True)
    received = []
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.connect()
    try:
        client.bind_transceiver(system_id="shop", password="secret")
        client.send_message(source_addr="4242", destination_addr="4915100000001",
                                  short_message=b"Your code is 1234", registered_delivery=1)
        client.read_once()  # submit_sm_resp
        [message] = smsc.wait_for_message(number="4915100000001")  # the handset has it
        assert message["text"] == "Your code is 1234" and message["account"] == "shop"
        client.read_once()  # the receipt, answered by smpplib
        assert smsc.wait_for_receipt(message["id"])["state"] == MessageState.DELIVERED

        smsc.inject_mo("4915100000001", "4242", "STOP")
        client.read_once()
        mo = received[-1]
        assert (mo.source_addr, mo.destination_addr, mo.short_message) == (
            b"4915100000001", b"4242", b"STOP")
        client.unbind()
    finally:
        client.disconnect()
