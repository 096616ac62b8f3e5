"""Receipt dialect and MO traffic settings: mistakes are one line naming file, key, problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from smsc.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parent.parent
OWNS_4242 = [{"mo_addresses": ["4242"]}]


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"receipt_dialects": [{"name": "a"}, {"name": "a"}]}, "receipt_dialects[1].name",
         "repeated"),
        ({"receipt_dialects": [{"fields": ["id", "colour"]}]}, "receipt_dialects[0].fields[1]",
         "one of"),
        ({"receipt_dialects": [{"fields": ["stat", "err"]}]}, "receipt_dialects[0].fields",
         "id field"),
        ({"receipt_dialects": [{"fields": ["id", "id"]}]}, "receipt_dialects[0].fields",
         "twice"),
        ({"receipt_dialects": [{"text": False, "tlvs": ["message_state"]}]},
         "receipt_dialects[0].tlvs", "receipted_message_id"),
        ({"receipt_dialects": [{"id_format": "octal"}]}, "receipt_dialects[0].id_format",
         "one of"),
        ({"receipt_dialects": [{"pdu": "submit_sm"}]}, "receipt_dialects[0].pdu", "one of"),
        ({"receipt_dialects": [{"err_codes": {"delivered": -2}}]},
         "receipt_dialects[0].err_codes.delivered", "at least -1"),
        ({"accounts": [{"receipt_dialect": "nope"}]}, "accounts[0].receipt_dialect",
         "no receipt dialect named 'nope'"),
        ({"networks": [{"receipt_dialect": "nope"}]}, "networks[0].receipt_dialect",
         "no receipt dialect"),
        ({"mo_traffic": [{"destination": "5555"}]}, "mo_traffic[0].destination",
         "no account's mo_addresses claims '5555'"),
        ({"accounts": OWNS_4242, "mo_traffic": [{"destination": "4242", "rate": 0}]},
         "mo_traffic[0].rate", "at least"),
        ({"accounts": OWNS_4242, "mo_traffic": [{"destination": "4242", "texts": ["{x}"]}]},
         "mo_traffic[0].texts[0]", "bad template"),
        ({"accounts": OWNS_4242, "mo_traffic": [{"destination": "4242", "texts": ["zz"],
                                                 "encoding": "binary"}]},
         "mo_traffic[0].texts[0]", "hex"),
        ({"accounts": OWNS_4242, "mo_traffic": [{"destination": "4242", "sources": []}]},
         "mo_traffic[0].sources", "at least one"),
    ],
)
def test_dialect_and_mo_mistakes(data: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "my.toml")
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"my.toml: {key}: ")
    assert problem in message


def test_appendix_b_is_always_a_known_dialect() -> None:
    config = parse_config({"accounts": [{"receipt_dialect": "appendix_b"}]}, "my.toml")
    assert config.accounts[0].receipt_dialect == "appendix_b"


def test_the_dialect_example_passes_check_config() -> None:
    path = ROOT / "configs" / "examples" / "receipt-dialects.toml"
    done = subprocess.run([sys.executable, "-m", "smsc", "check-config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: ok"


def test_route_rules_name_known_dialects_only() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"routing": {"rules": [{"prefix": "+49", "receipt_dialect": "x"}]}},
                     "my.toml")
    assert str(caught.value) == (
        "my.toml: routing.rules[0].receipt_dialect: no receipt dialect named 'x'")
