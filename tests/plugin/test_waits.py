"""The embedding helpers' waits: a timeout is an AssertionError saying what was awaited and
what was there instead, and states are the MessageState enum esme_client uses too."""

from __future__ import annotations

import re
import traceback

import pytest
import trio

import esme_client
import smsc as smsc_package
from smsc.embed import ThreadedSmsc, WaitTimeout, open_smsc


def test_timeouts_say_what_was_awaited_and_what_was_seen(smsc: ThreadedSmsc) -> None:
    [mo] = smsc.inject_mo("4915100000001", "4242", "hi")
    with pytest.raises(AssertionError) as caught:
        smsc.wait_for_message(number="4915100000001", state="EXPIRED", timeout=0.2)
    assert isinstance(caught.value, WaitTimeout)
    assert str(caught.value) == (
        f"waited 0.2 s for 1 message(s) to or from 4915100000001 in state EXPIRED; there are "
        f"1 in any state: {mo} DELIVERED 4915100000001 -> 4242")
    shown = "".join(traceback.format_exception(caught.value))
    assert "trio" not in shown and len(shown.splitlines()) < 12, shown
    with pytest.raises(WaitTimeout, match=(
            f"acknowledge the receipt of {mo}; the message is DELIVERED after 0 attempt.*"
            "bound: nobody")):
        smsc.wait_for_receipt(mo, timeout=0.2)
    with pytest.raises(WaitTimeout, match=re.escape(
            "for 1 message(s) in the inbox of 4915100000009; it holds 0; stored to or from "
            "it: no message")):
        smsc.wait_for_inbox("4915100000009", timeout=0.2)


async def test_one_message_state_for_the_smsc_and_the_client() -> None:
    assert smsc_package.MessageState is esme_client.MessageState
    async with open_smsc() as smsc:
        async with esme_client.connect("127.0.0.1", smsc.smpp_port) as client:
            sent = await client.submit_text("4915100000002", "hi", registered_delivery=1)
            receipt = await client.wait_receipt(sent.message_id, timeout=10)
            message = await smsc.wait_for_receipt(sent.message_id)
        assert receipt.state is message["state"] is esme_client.MessageState.DELIVERED
        [found] = await smsc.wait_for_message(number="4915100000002",
                                              state=esme_client.MessageState.DELIVERED)
        assert found["id"] == message["id"]
        with pytest.raises(WaitTimeout, match="in state EXPIRED; there are 1 in any state"):
            await smsc.wait_for_message(number="4915100000002", state="expired", timeout=0.2)
        with trio.move_on_after(0):  # a caller's own deadline is not turned into one
            await smsc.wait_for_inbox("4915100000002", count=2)
