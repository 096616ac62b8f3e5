"""Simulated time driven by the test: an smpplib ESME (blocking, in the test's thread) against
the `smsc` fixture's server (its own trio loop in another thread), the clock advanced through
the HTTP API and the embedding helper. No test waits for simulated time to pass."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import smpplib.client

from smsc import MessageState
from smsc.config import AccountConfig, Config, StoreConfig
from smsc.embed import ThreadedSmsc, embedded_config
from smsc.pdu.smpp_time import parse_smpp_time

OFFLINE = "4915100000201"
TWO_DAYS = "000002000000000R"
"""validity_period: two days after the submit (SMPP relative time)."""
ONE_DAY = "000001000000000R"


@pytest.fixture
def smsc_config(smsc_config: Config) -> Config:
    return dataclasses.replace(smsc_config, accounts=(AccountConfig(
        system_id="shop", password="secret"),))


@pytest.fixture
def esme(smsc: ThreadedSmsc) -> Iterator[smpplib.client.Client]:
    client = smpplib.client.Client("127.0.0.1", smsc.smpp_port, timeout=5,
                                   allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id="shop", password="secret")
    try:
        yield client
    finally:
        client.disconnect()


def submit(client: smpplib.client.Client, destination: str, **fields: Any) -> str:
    """Submit and read the submit_sm_resp; returns the message id."""
    responses: list[Any] = []
    client.set_message_sent_handler(lambda pdu: responses.append(pdu))
    client.send_message(source_addr="4242", destination_addr=destination,
                        short_message=b"hello", registered_delivery=1, **fields)
    client.read_once()
    assert responses and responses[-1].status == 0
    return str(responses[-1].message_id.decode())


def read_receipt(client: smpplib.client.Client) -> Any:
    received: list[Any] = []
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.read_once()  # (smpplib answers the deliver_sm)
    assert received, "no deliver_sm"
    return received[-1]


def receipt_date(receipt: Any, name: str) -> datetime:
    """A receipt's `submit date:` or `done date:` (YYMMDDhhmm, UTC)."""
    text = receipt.short_message.decode()
    digits = text.split(f"{name} date:")[1][:10]
    return datetime.strptime(digits, "%y%m%d%H%M")


def test_a_two_day_validity_expires_when_the_api_advances_two_days(
        smsc: ThreadedSmsc, esme: smpplib.client.Client) -> None:
    smsc.set_handset(OFFLINE, state="offline")
    submitted = smsc.now()
    message_id = submit(esme, OFFLINE, validity_period=TWO_DAYS)
    [waiting] = smsc.messages(number=OFFLINE)
    assert waiting["state"] is MessageState.ENROUTE
    assert datetime.fromisoformat(waiting["expires_at"]) == pytest.approx(
        submitted + timedelta(days=2), abs=timedelta(seconds=2))

    started = time.monotonic()
    answer = httpx.post(f"{smsc.http_url}/v1/clock/advance", json={"seconds": 48 * 3600},
                        timeout=10)
    receipt = read_receipt(esme)
    elapsed = time.monotonic() - started

    assert answer.status_code == 200, answer.text
    assert receipt.receipted_message_id.decode() == message_id
    assert receipt.message_state == MessageState.EXPIRED
    assert elapsed < 2.0
    # the receipt's dates are simulated ones: done some two days after submit (the last
    # attempt before the validity ends), and the clock now reads two days later
    done, sub = receipt_date(receipt, "done"), receipt_date(receipt, "submit")
    assert timedelta(hours=47) <= done - sub <= timedelta(hours=48)
    now = datetime.fromisoformat(answer.json()["now"])
    assert now - submitted >= timedelta(hours=48)
    [expired] = smsc.messages(number=OFFLINE)
    assert expired["state"] is MessageState.EXPIRED and expired["attempts"] > 20


def test_a_message_scheduled_a_day_ahead_waits_for_the_clock(
        smsc: ThreadedSmsc, esme: smpplib.client.Client) -> None:
    number = "4915100000202"
    submitted = smsc.now()
    submit(esme, number, schedule_delivery_time=ONE_DAY)
    smsc.advance(24 * 3600 - 60)
    [message] = smsc.messages(number=number)
    assert message["state"] is MessageState.ENROUTE and message["attempts"] == 0
    assert smsc.inbox(number) == []

    smsc.advance(120)
    receipt = read_receipt(esme)
    assert receipt.message_state == MessageState.DELIVERED
    [delivered] = smsc.messages(number=number)
    final = datetime.fromisoformat(delivered["final_at"])
    assert timedelta(days=1) <= final - submitted <= timedelta(days=1, seconds=120)
    assert [m.text for m in smsc.inbox(number)] == ["hello"]


def test_absolute_smpp_times_are_read_against_the_simulated_clock(
        smsc: ThreadedSmsc, esme: smpplib.client.Client) -> None:
    smsc.advance(30 * 86400)  # a month ahead of the host's clock
    number = "4915100000203"
    at = smsc.now() + timedelta(hours=3)
    absolute = at.strftime("%y%m%d%H%M%S") + "000+"  # UTC
    submit(esme, number, schedule_delivery_time=absolute)
    [message] = smsc.messages(number=number)
    assert message["state"] is MessageState.ENROUTE
    assert datetime.fromisoformat(message["next_attempt_at"]) == parse_smpp_time(absolute, at)
    smsc.advance(3 * 3600 + 1)
    assert read_receipt(esme).message_state == MessageState.DELIVERED


class TestOnSqlite:
    """The same on the durable store, its commits and lookups on the committer's thread."""

    @pytest.fixture
    def smsc_config(self, smsc_config: Config, tmp_path: Any) -> Config:
        return embedded_config(smsc_config, store=StoreConfig(
            kind="sqlite", data_dir=str(tmp_path), synchronous="full"))

    def test_a_two_day_validity_expires_when_the_api_advances_two_days(
            self, smsc: ThreadedSmsc, esme: smpplib.client.Client) -> None:
        test_a_two_day_validity_expires_when_the_api_advances_two_days(smsc, esme)


class TestAScaledClock:
    @pytest.fixture
    def smsc_config(self, smsc_config: Config) -> Config:
        return embedded_config(smsc_config, time_scale=60,
                               store=StoreConfig(kind="memory", retry_schedule=(60.0,)))

    def test_a_minute_s_retry_comes_within_about_a_real_second(
            self, smsc: ThreadedSmsc, esme: smpplib.client.Client) -> None:
        assert smsc.time_scale == 60
        assert httpx.get(f"{smsc.http_url}/v1/clock", timeout=10).json()["scale"] == 60
        number = "447700900601"  # magic: absent once, delivered at the first retry
        started = time.monotonic()
        submit(esme, number)
        receipt = read_receipt(esme)  # smpplib's timeout is 5 s: the retry came sooner
        assert receipt.message_state == MessageState.DELIVERED
        assert time.monotonic() - started < 5  # at scale 1 the retry alone takes 60 s
        [delivered] = smsc.messages(number=number)
        assert delivered["attempts"] == 2  # absent, then delivered at the retry...
        took = (datetime.fromisoformat(delivered["final_at"])
                - datetime.fromisoformat(delivered["submitted_at"]))
        assert took >= timedelta(seconds=60)  # ...a simulated minute later
