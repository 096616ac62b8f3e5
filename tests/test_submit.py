"""SubmitPreparation: submit_sm, data_sm and submit_multi checked, timed and stored alike.

Every case builds the preparation from a Config (a real RoutingTable, real Accounts with their
token buckets) and runs decoded PDUs through it, as the service does.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.accounts import Accounts
from smsc.config import (
    ESME_NETWORK,
    AccountConfig,
    Config,
    NetworkConfig,
    RouteConfig,
    RoutingConfig,
    load_config,
)
from smsc.pdu import DataSm, Pdu, SmeDest, SubmitMulti, SubmitSm, UnsuccessSme, decode, encode
from smsc.pdu.constants import CommandStatus, Tag
from smsc.pdu.smpp_time import format_absolute, format_relative
from smsc.routing.table import RoutingTable
from smsc.store import NewMessage
from smsc.submit import EveryDestinationRejected, Rejected, SubmitPreparation

S = CommandStatus
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SYSTEM_ID = "esme"
NETWORKS = (NetworkConfig(), NetworkConfig(name="mobile"))
ROUTINGS = (
    RoutingConfig(),  # trivial: everything to the first network
    RoutingConfig(rules=(RouteConfig(network="mobile", prefix="+4917"),)),
    RoutingConfig(rules=(RouteConfig(network="mobile", regex=r"4915\d+"),),
                  validate_numbers=True),
    RoutingConfig(default_network="none", unroutable="reject",
                  rules=(RouteConfig(network="default", regex=r"49\d+"),)),
    RoutingConfig(default_network="none", unroutable="undeliver"),
)
DATA_SM_CANNOT_CARRY = frozenset({"protocol_id", "priority_flag", "replace_if_present"})
SEGMENT_TLVS = st.fixed_dictionaries({}, optional={
    Tag.user_message_reference: st.integers(0, 0xFFFF),
    Tag.sar_msg_ref_num: st.integers(0, 0xFFFF),
    Tag.sar_total_segments: st.integers(1, 255),
    Tag.sar_segment_seqnum: st.integers(1, 255),
})
ADDRESSES = st.one_of(  # about two in three a plain mobile number
    st.sampled_from(["4915100000002", "4917612345678"]),
    st.sampled_from(["4915100000003", "4917612345679"]),
    st.sampled_from(["491510", "+4930123456", "12", "abc", "", "4915"]),
    st.text("0123456789+", max_size=20),
)


def mostly(valid: list[Any], invalid: list[Any]) -> st.SearchStrategy[Any]:
    """One of `valid` about seven times in eight, else one of `invalid`."""
    return st.sampled_from(valid * -(-7 * len(invalid) // len(valid)) + invalid)


CONFIGS = st.builds(
    lambda account, routing: Config(accounts=(account,), networks=NETWORKS, routing=routing),
    st.builds(
        AccountConfig,
        system_id=st.just(SYSTEM_ID),
        allowed_source_addrs=st.sampled_from([(), (r"49\d*",)]),
        default_validity=st.sampled_from([0.0, 3600.0, 864000.0]),
        max_validity=st.sampled_from([0.0, 1800.0, 86400.0]),
        submit_rate=st.sampled_from([0.0, 1.0]),
        submit_burst=st.sampled_from([0, 1, 2]),
    ),
    st.sampled_from(ROUTINGS),
)
SMPP_TIMES = st.one_of(  # mostly empty, else relative, absolute (past or future), malformed
    st.just(""),
    st.just(""),
    st.just(""),
    st.builds(lambda s: format_relative(timedelta(seconds=s)), st.integers(0, 20 * 86400)),
    st.builds(lambda s: format_absolute(NOW + timedelta(seconds=s)),
              st.integers(-86400, 20 * 86400)),
    st.text("0123456789R+-X", min_size=16, max_size=16),
)
UDH = st.binary(max_size=8).map(lambda header: bytes([len(header)]) + header)
ESM_CLASSES = [0x00, 0x01, 0x03, 0x08, 0x10, 0x40, 0x43, 0x48]
BAD_ESM_CLASSES = [0x04, 0x20, 0x3C, 0x80, 0x81]
FORWARD_MODE = [0x02, 0x42]  # data_sm's own
# (strategy for a submit_sm, strategy for what a data_sm can say too)
RANGES = {
    "esm_class": (mostly(ESM_CLASSES, BAD_ESM_CLASSES + FORWARD_MODE),
                  mostly(ESM_CLASSES, BAD_ESM_CLASSES)),
    "priority_flag": (mostly([0, 1, 2, 3], [4, 255]), st.integers(0, 3)),
    "replace_if_present_flag": (mostly([0, 1], [2, 255]), st.integers(0, 1)),
    "sm_default_msg_id": (mostly([0], [1, 255]), st.just(0)),
    "schedule_delivery_time": (SMPP_TIMES, st.just("")),
    "validity_period": (SMPP_TIMES, st.just("")),
    "both_payloads": (mostly([False], [True]), st.just(False)),  # ESME_RINVMSGLEN
}
SOURCE_TONS = mostly([0, 1, 5, 6], [7, 200])
DEST_TONS = mostly([0, 1, 6], [7, 9, 255])
REGISTERED_DELIVERY = mostly([0, 1, 2, 0x11, 0x1F], [0x20, 0xE1])


@st.composite
def submit_sms(draw: st.DrawFn, *, as_data_sm_can: bool) -> SubmitSm:
    """Valid and invalid submit_sm, each field mostly valid. With `as_data_sm_can`, only what
    a data_sm can say too: no schedule or validity, the payload in short_message or
    message_payload (never both), no forward mode, and the fields data_sm lacks in range."""
    pick = {name: draw(strategies[as_data_sm_can]) for name, strategies in RANGES.items()}
    esm_class = pick.pop("esm_class")
    udh = draw(UDH) if esm_class & 0x40 and draw(st.booleans()) else b""
    payload = udh + draw(st.binary(max_size=60))  # (without a UDH, one often cut short)
    tlvs = dict(draw(SEGMENT_TLVS))
    in_tlv = draw(st.booleans())
    if in_tlv:
        tlvs[Tag.message_payload] = payload
    elif pick.pop("both_payloads"):
        tlvs[Tag.message_payload] = draw(st.binary(max_size=10))
    pick.pop("both_payloads", None)
    message = SubmitSm(
        service_type=draw(st.sampled_from(["", "CMT", "WAP"])),
        source_addr_ton=draw(SOURCE_TONS),
        source_addr_npi=draw(st.integers(0, 18)),
        source_addr=draw(ADDRESSES),
        dest_addr_ton=draw(DEST_TONS),
        dest_addr_npi=draw(st.sampled_from([0, 1, 9])),
        destination_addr=draw(ADDRESSES),
        esm_class=esm_class,
        protocol_id=draw(st.integers(0, 255)),
        registered_delivery=draw(REGISTERED_DELIVERY),
        data_coding=draw(st.sampled_from([0, 1, 3, 4, 8, 0xF0])),
        short_message=b"" if in_tlv else payload,
        tlvs=tlvs,
        **pick,
    )
    return wire(message)


def wire(message: Pdu) -> Any:
    """As the service meets it: encoded and decoded again."""
    message.sequence_number = 1
    return decode(encode(message))


def data_sm_of(message: SubmitSm) -> DataSm:
    tlvs = {tag: value for tag, value in message.tlvs.items() if tag != Tag.message_payload}
    payload = message.tlvs.get(Tag.message_payload) or message.short_message
    if payload:
        tlvs[Tag.message_payload] = payload
    return wire(DataSm(
        service_type=message.service_type, source_addr_ton=message.source_addr_ton,
        source_addr_npi=message.source_addr_npi, source_addr=message.source_addr,
        dest_addr_ton=message.dest_addr_ton, dest_addr_npi=message.dest_addr_npi,
        destination_addr=message.destination_addr, esm_class=message.esm_class,
        registered_delivery=message.registered_delivery, data_coding=message.data_coding,
        tlvs=tlvs,
    ))


def submit_multi_of(message: SubmitSm) -> SubmitMulti:
    return wire(SubmitMulti(
        service_type=message.service_type, source_addr_ton=message.source_addr_ton,
        source_addr_npi=message.source_addr_npi, source_addr=message.source_addr,
        dest_address=(SmeDest(message.dest_addr_ton, message.dest_addr_npi,
                              message.destination_addr),),
        esm_class=message.esm_class, protocol_id=message.protocol_id,
        priority_flag=message.priority_flag,
        schedule_delivery_time=message.schedule_delivery_time,
        validity_period=message.validity_period,
        registered_delivery=message.registered_delivery,
        replace_if_present_flag=message.replace_if_present_flag,
        data_coding=message.data_coding, sm_default_msg_id=message.sm_default_msg_id,
        short_message=message.short_message, tlvs=dict(message.tlvs),
    ))


class Outcome:
    """One request through a preparation of its own (fresh token bucket, `spent` tokens
    already taken at `received`): the stored message, or the status it was refused with."""

    def __init__(self, config: Config, message: SubmitSm | DataSm | SubmitMulti,
                 received: float, spent: int) -> None:
        accounts = Accounts(config.accounts, 0.0)
        account = accounts.get(SYSTEM_ID)
        assert account is not None
        for _ in range(spent):
            account.bucket.take(received)
        preparation = SubmitPreparation(
            RoutingTable(config.routing, tuple(n.name for n in config.networks)),
            config.store)
        self.message: NewMessage | None = None
        self.status = S.ESME_ROK
        self.unsuccess: list[UnsuccessSme] = []
        try:
            if isinstance(message, SubmitMulti):
                prepared = preparation.prepare_multi(account, message, received, NOW)
                [(_, self.message)] = prepared.accepted
                self.unsuccess = prepared.unsuccess
            else:
                self.message = preparation.prepare(account, message, received, NOW)
        except EveryDestinationRejected as rejected:
            self.status = rejected.status
            self.unsuccess = rejected.unsuccess
        except Rejected as rejected:
            self.status = rejected.status

    def stored(self, leave_out: frozenset[str] = frozenset()) -> dict[str, Any] | None:
        """Every field of the stored message but those left out (None: nothing stored)."""
        if self.message is None:
            return None
        return {f.name: getattr(self.message, f.name)
                for f in dataclasses.fields(self.message) if f.name not in leave_out}


COMMON = (CONFIGS, st.floats(0.0, 3.0), st.sampled_from([0, 0, 0, 1, 2, 3]))


@settings(max_examples=300, deadline=None)
@given(*COMMON, submit_sms(as_data_sm_can=True))
def test_data_sm_stores_what_the_same_submit_sm_stores(
    config: Config, received: float, spent: int, message: SubmitSm
) -> None:
    by_submit_sm = Outcome(config, message, received, spent)
    by_data_sm = Outcome(config, data_sm_of(message), received, spent)
    assert by_data_sm.status == by_submit_sm.status
    assert (by_data_sm.stored(DATA_SM_CANNOT_CARRY)
            == by_submit_sm.stored(DATA_SM_CANNOT_CARRY))
    if by_data_sm.message is not None:
        assert (by_data_sm.message.protocol_id, by_data_sm.message.priority_flag,
                by_data_sm.message.replace_if_present) == (0, 0, False)


@settings(max_examples=300, deadline=None)
@given(*COMMON, submit_sms(as_data_sm_can=False))
def test_a_one_destination_submit_multi_stores_what_submit_sm_stores(
    config: Config, received: float, spent: int, message: SubmitSm
) -> None:
    by_submit_sm = Outcome(config, message, received, spent)
    by_multi = Outcome(config, submit_multi_of(message), received, spent)
    if by_multi.status == S.ESME_RSUBMITFAIL:  # its one destination refused, and listed
        assert by_multi.unsuccess == [UnsuccessSme(
            message.dest_addr_ton, message.dest_addr_npi, message.destination_addr,
            by_submit_sm.status)]
        assert by_submit_sm.message is None
        return
    assert by_multi.status == by_submit_sm.status
    assert by_multi.unsuccess == []
    assert by_multi.stored() == by_submit_sm.stored()


def preparation_for(**account: Any) -> tuple[SubmitPreparation, Accounts]:
    config = Config(accounts=(AccountConfig(system_id=SYSTEM_ID, **account),),
                    networks=NETWORKS)
    routes = RoutingTable(config.routing, tuple(n.name for n in config.networks))
    return SubmitPreparation(routes, config.store), Accounts(config.accounts, 0.0)


def plain_submit(**fields: Any) -> SubmitSm:
    values: dict[str, Any] = {"source_addr": "4915100000001",
                              "destination_addr": "4915100000002", "short_message": b"hi"}
    values.update(fields)
    return wire(SubmitSm(**values))


def test_a_chunks_submits_share_their_time_and_expiry_objects() -> None:
    preparation, accounts = preparation_for(default_validity=3600.0)
    account = accounts.get(SYSTEM_ID)
    assert account is not None
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = preparation.prepare(account, plain_submit(), 1.0, now)
    second = preparation.prepare(account, data_sm_of(plain_submit()), 1.0, now)
    assert first.submitted_at is second.submitted_at is now
    assert first.expires_at is second.expires_at
    assert first.expires_at == now + timedelta(hours=1)
    later = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # equal, but another chunk's object
    third = preparation.prepare(account, plain_submit(), 2.0, later)
    assert third.expires_at == first.expires_at and third.expires_at is not first.expires_at


@pytest.mark.parametrize(("account", "store", "validity"), [
    ({}, {}, 172800.0),
    ({"default_validity": 3600.0}, {}, 3600.0),
    ({"default_validity": 7200.0, "max_validity": 1800.0}, {}, 1800.0),
    ({}, {"default_validity": 600.0, "max_validity": 300.0}, 300.0),
])
def test_a_submit_without_times_is_valid_for_the_default_within_the_maximum(
    account: dict[str, Any], store: dict[str, float], validity: float
) -> None:
    config = Config(accounts=(AccountConfig(system_id=SYSTEM_ID, **account),))
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, **store))
    preparation = SubmitPreparation(RoutingTable(config.routing, ("default",)), config.store)
    found = Accounts(config.accounts, 0.0).get(SYSTEM_ID)
    assert found is not None
    new = preparation.prepare(found, plain_submit(), 0.0, NOW)
    assert (new.expires_at, new.schedule_at) == (NOW + timedelta(seconds=validity), None)
    times = preparation.times(found, "", "", NOW)  # as replace_sm resolves them
    assert (times.expires_at, times.schedule_at) == (new.expires_at, None)


def test_submit_multi_takes_one_token_and_lists_the_refused_destinations() -> None:
    preparation, accounts = preparation_for(submit_rate=1.0, submit_burst=1)
    account = accounts.get(SYSTEM_ID)
    assert account is not None
    good = (SmeDest(1, 1, "4915100000002"), SmeDest(1, 1, "4915100000003"))
    bad = SmeDest(9, 1, "4915100000004")
    message = wire(SubmitMulti(source_addr="100", dest_address=(good[0], bad, good[1]),
                               short_message=b"to many"))
    prepared = preparation.prepare_multi(account, message, 0.0, NOW)
    assert [dest for dest, _ in prepared.accepted] == list(good)
    assert [new.destination_addr for _, new in prepared.accepted] == [
        d.destination_addr for d in good]
    assert prepared.unsuccess == [UnsuccessSme(9, 1, "4915100000004", S.ESME_RINVDSTTON)]
    with pytest.raises(Rejected) as throttled:  # the one token is spent
        preparation.prepare_multi(account, message, 0.5, NOW)
    assert throttled.value.status == S.ESME_RTHROTTLED
    nobody = wire(SubmitMulti(source_addr="100", dest_address=(bad,), short_message=b"x"))
    with pytest.raises(EveryDestinationRejected) as failed:  # before the bucket: no token
        preparation.prepare_multi(account, nobody, 0.5, NOW)
    assert failed.value.status == S.ESME_RSUBMITFAIL
    assert failed.value.unsuccess == [UnsuccessSme(9, 1, "4915100000004", S.ESME_RINVDSTTON)]
    assert preparation.prepare_multi(account, message, 1.0, NOW).accepted


def test_submit_multi_sends_to_an_address_named_twice_once() -> None:
    preparation, accounts = preparation_for()
    account = accounts.get(SYSTEM_ID)
    assert account is not None
    a, b = SmeDest(1, 1, "4915100000002"), SmeDest(1, 1, "4915100000003")
    other_ton = SmeDest(0, 1, "4915100000002")  # another address: kept
    message = wire(SubmitMulti(source_addr="100", dest_address=(b, a, b, other_ton, a),
                               short_message=b"to many"))
    assert preparation.destinations(account, message, []) == [b, a, other_ton]
    prepared = preparation.prepare_multi(account, message, 0.0, NOW)
    assert [new.destination_addr for _, new in prepared.accepted] == [
        "4915100000003", "4915100000002", "4915100000002"]
    single = wire(SubmitMulti(source_addr="100", dest_address=(a,), short_message=b"x"))
    assert preparation.destinations(account, single, []) == [a]


def test_rejected_is_still_importable_from_the_service() -> None:
    from smsc.server import service

    assert service.Rejected is Rejected


EXAMPLES = Path(__file__).resolve().parent.parent / "configs" / "examples"


def esme_routing(config: Config) -> tuple[SubmitPreparation, Accounts]:
    routes = RoutingTable(config.routing, tuple(n.name for n in config.networks))
    return (SubmitPreparation(routes, config.store, accounts=config.accounts),
            Accounts(config.accounts, 0.0))


def network_of(preparation: SubmitPreparation, accounts: Accounts, system_id: str,
               destination: str, ton: int = 1) -> str:
    account = accounts.get(system_id)
    assert account is not None
    message = plain_submit(destination_addr=destination, dest_addr_ton=ton, dest_addr_npi=1)
    return preparation.prepare(account, message, 0.0, NOW).network


def test_a_routing_rule_that_matches_wins_over_another_accounts_mo_addresses() -> None:
    # receipt-dialects.toml: the gateway claims 49151000\d{4}, and partner's own rule sends
    # +4915 numbers to the simulated network "default"
    preparation, accounts = esme_routing(load_config(EXAMPLES / "receipt-dialects.toml"))
    assert network_of(preparation, accounts, "partner", "491510001234") == "default"
    # the short code no rule matches still goes to the gateway
    assert network_of(preparation, accounts, "partner", "4242", ton=0) == (
        ESME_NETWORK + "gateway")


def test_mo_addresses_take_the_place_of_the_default_network_when_no_rule_matches() -> None:
    config = Config(
        accounts=(AccountConfig(system_id="alice", password="a"),
                  AccountConfig(system_id="bob", password="b",
                                mo_addresses=("4915100009999", r"4916\d+"))),
        networks=(NetworkConfig(name="default"), NetworkConfig(name="other")),
        routing=RoutingConfig(rules=(RouteConfig(network="other", prefix="+4917"),
                                     RouteConfig(network="other", account="carol"))))
    preparation, accounts = esme_routing(config)
    assert network_of(preparation, accounts, "alice", "4915100009999") == ESME_NETWORK + "bob"
    assert network_of(preparation, accounts, "alice", "491600001") == ESME_NETWORK + "bob"
    assert network_of(preparation, accounts, "alice", "4917100000000") == "other"
    assert network_of(preparation, accounts, "alice", "4918100000000") == "default"
    assert network_of(preparation, accounts, "bob", "4915100009999") == "default"
