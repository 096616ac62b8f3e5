"""Accounts: bind authentication rules and the submit token bucket, with explicit times."""

from __future__ import annotations

import pytest

from smsc.accounts import Accounts, FailedBinds, MoAddresses, TokenBucket
from smsc.config import AccountConfig
from smsc.pdu.constants import CommandStatus

ACCOUNTS = Accounts((
    AccountConfig(system_id="open", password="pw"),
    AccountConfig(system_id="strict", password="pw", system_type="VMS",
                  bind_modes=("receiver",), allowed_ips=("10.1.0.0/16", "::1/128"),
                  allowed_source_addrs=("ACME", r"\d{5}")),
))


def bind(system_id: str = "open", password: str = "pw", mode: str = "transceiver",
         system_type: str = "", ip: str = "127.0.0.1") -> object:
    return ACCOUNTS.authenticate(system_id=system_id, password=password, bind_mode=mode,
                                 system_type=system_type, peer_ip=ip)


def test_good_credentials_give_the_account() -> None:
    account = bind()
    assert not isinstance(account, CommandStatus)
    assert account.system_id == "open"


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"system_id": "nobody"}, CommandStatus.ESME_RINVSYSID),
        ({"password": "PW"}, CommandStatus.ESME_RINVPASWD),
        ({"password": ""}, CommandStatus.ESME_RINVPASWD),
        ({"system_id": "strict", "mode": "receiver", "system_type": "X", "ip": "10.1.2.3"},
         CommandStatus.ESME_RINVSYSTYP),
        ({"system_id": "strict", "mode": "transmitter", "system_type": "VMS",
          "ip": "10.1.2.3"}, CommandStatus.ESME_RBINDFAIL),
        ({"system_id": "strict", "mode": "receiver", "system_type": "VMS", "ip": "10.2.0.1"},
         CommandStatus.ESME_RBINDFAIL),
        ({"system_id": "strict", "mode": "receiver", "system_type": "VMS", "ip": "bogus"},
         CommandStatus.ESME_RBINDFAIL),
    ],
)
def test_refusals(kwargs: dict[str, str], status: CommandStatus) -> None:
    assert bind(**kwargs) == status


def test_ip_allow_list_accepts_listed_networks_and_ipv6() -> None:
    for ip in ("10.1.255.255", "::1"):
        result = bind("strict", mode="receiver", system_type="VMS", ip=ip)
        assert not isinstance(result, CommandStatus), ip


def test_source_address_rules() -> None:
    strict = ACCOUNTS.get("strict")
    assert strict is not None
    assert strict.source_allowed("ACME") and strict.source_allowed("12345")
    assert not strict.source_allowed("ACME2") and not strict.source_allowed("1234")
    open_account = ACCOUNTS.get("open")
    assert open_account is not None and open_account.source_allowed("anything")


def test_token_bucket_burst_refill_and_unlimited() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.4) is False  # 0.8 tokens
    assert bucket.take(0.5) is True  # 1.0 token
    assert bucket.take(100.0) and bucket.take(100.0) and bucket.take(100.0)
    assert not bucket.take(100.0)  # never more than the burst
    unlimited = TokenBucket(rate=0, burst=0, now=0.0)
    assert all(unlimited.take(0.0) for _ in range(1000))
    default_burst = TokenBucket(rate=5.0, burst=0, now=0.0)
    assert sum(default_burst.take(0.0) for _ in range(10)) == 5


def test_what_needs_no_password_is_decided_before_it() -> None:
    # an address the account does not allow, or every bind in use: the same answer whatever
    # the password, so a refused peer cannot guess it
    for password in ("pw", "wrong"):
        assert bind("strict", password, "receiver", "VMS", ip="192.0.2.1") == \
            CommandStatus.ESME_RBINDFAIL
        assert ACCOUNTS.authenticate(system_id="open", password=password,
                                     bind_mode="transceiver", system_type="",
                                     peer_ip="127.0.0.1", bound=10) == \
            CommandStatus.ESME_RBINDFAIL
    # one bind fewer than max_binds and the password counts again
    assert ACCOUNTS.authenticate(system_id="open", password="wrong", bind_mode="transceiver",
                                 system_type="", peer_ip="127.0.0.1", bound=9) == \
        CommandStatus.ESME_RINVPASWD


def test_failed_binds_back_off_per_address() -> None:
    guard = FailedBinds(1.0, 8.0, allowed=1)
    assert guard.failed("a", 0.0) == 0.0  # the allowed one
    assert not guard.blocked("a", 0.0)
    assert [guard.failed("a", 0.0) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert guard.blocked("a", 7.9) and not guard.blocked("a", 8.0)
    assert not guard.blocked("b", 0.0)
    guard.succeeded("a")
    assert not guard.blocked("a", 0.0) and guard.failed("a", 0.0) == 0.0


def test_failed_binds_remember_a_bounded_number_of_addresses() -> None:
    guard = FailedBinds(1.0, 60.0, max_addresses=3)
    for index in range(3):
        guard.failed(f"old{index}", 0.0)
    guard.failed("new", 100.0)  # the old ones' waits are over: forgotten
    assert guard.blocked("new", 100.5)
    for index in range(10):
        guard.failed(f"flood{index}", 100.0)
    assert len(guard._failures) == 3  # the oldest go first
    assert guard.blocked("flood9", 100.5) and not guard.blocked("new", 100.5)


def test_no_backoff_when_disabled() -> None:
    guard = FailedBinds(0.0, 60.0)
    assert guard.failed("a", 0.0) == 0.0 and not guard.blocked("a", 0.0)


def test_the_first_mo_address_that_matches_decides_literal_or_pattern() -> None:
    addresses = MoAddresses((
        AccountConfig(system_id="shop", mo_addresses=("4242", r"4915\d+")),
        AccountConfig(system_id="bank", mo_addresses=("4242", "4915100000001", "7777")),
    ))
    assert addresses.any
    assert addresses.owner("4242") == "shop"  # the first account's literal
    assert addresses.owner("4915100000001") == "shop"  # a pattern before bank's literal
    assert addresses.owner("7777") == "bank"  # a literal after a pattern, tried in order
    assert addresses.owner("4916") is None
    assert not MoAddresses((AccountConfig(system_id="none"),)).any

