"""Configuration: defaults, the shipped files, and one-line errors naming file, key, problem."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from smsc.config import Config, ConfigError, load_config, parse_config, with_overrides

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"


def test_default_toml_is_exactly_the_embedded_defaults() -> None:
    assert load_config(CONFIGS / "default.toml") == Config()


def walk_keys(cls: type, prefix: str = "", *, unset: bool | None = None) -> set[str]:
    """Every key of the configuration; with `unset` True only those whose default is None
    (TOML has no null: default.toml shows them commented out), with False the others."""
    keys: set[str] = set()
    for field in dataclasses.fields(cls):
        sample = getattr(cls(), field.name)
        key = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(sample):
            keys |= walk_keys(type(sample), key + ".", unset=unset)
        elif isinstance(sample, tuple) and sample and dataclasses.is_dataclass(sample[0]):
            keys |= walk_keys(type(sample[0]), key + "[].", unset=unset)
        elif unset is None or unset == (sample is None):
            keys.add(key)
    return keys


def toml_keys(data: Any, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        if isinstance(value, dict):
            keys |= toml_keys(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            keys |= toml_keys(value[0], f"{prefix}{key}[].")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def test_default_toml_names_every_field() -> None:
    text = (CONFIGS / "default.toml").read_text()
    assert toml_keys(tomllib.loads(text)) == walk_keys(Config, unset=False)
    for key in walk_keys(Config, unset=True):  # commented out, under their section
        section, _, name = key.rpartition(".")
        assert f"# {name} =" in text.partition(f"[{section}]")[2].partition("\n[")[0], key


@pytest.mark.parametrize("path", sorted((CONFIGS / "examples").glob("*.toml")),
                         ids=lambda p: p.name)
def test_example_configs_load(path: Path) -> None:
    assert isinstance(load_config(path), Config)


@pytest.mark.parametrize(
    ("data", "key", "problem"),
    [
        ({"server": {"bogus": 1}}, "server.bogus", "unknown key"),
        ({"server": {"port": "2775"}}, "server.port", "must be an integer"),
        ({"server": {"port": True}}, "server.port", "must be an integer"),
        ({"server": {"port": 70000}}, "server.port", "at most 65535"),
        ({"server": {"response_timer": -1}}, "server.response_timer", "at least"),
        ({"store": {"kind": "redis"}}, "store.kind", "one of sqlite, memory"),
        ({"store": {"retry_schedule": [5, "x"]}}, "store.retry_schedule[1]", "a number"),
        ({"store": {"retry_schedule": [0]}}, "store.retry_schedule[0]", "positive"),
        ({"accounts": [{"system_id": "a"}, {"system_id": "a"}]}, "accounts[1].system_id",
         "repeated"),
        ({"accounts": [{"allowed_ips": ["10.0.0.300/8"]}]}, "accounts[0].allowed_ips[0]", ""),
        ({"accounts": [{"allowed_source_addrs": ["("]}]},
         "accounts[0].allowed_source_addrs[0]", "bad regex"),
        ({"accounts": [{"bind_modes": ["sender"]}]}, "accounts[0].bind_modes[0]", "one of"),
        ({"accounts": [{"password": "waytoolongpassword"}]}, "accounts[0].password",
         "at most 8 characters"),
        ({"accounts": {"system_id": "x"}}, "accounts", "must be an array"),
        ({"control": {"host": "0.0.0.0"}}, "control.host", "allow_remote"),
        ({"control": {"host": "0.0.0.0", "allow_remote": True}}, "control.allow_remote",
         "needs control.token"),
        ({"control": {"max_body_bytes": 100}}, "control.max_body_bytes", "at least 1024"),
        ({"server": {"max_connections": -1}}, "server.max_connections", "at least 0"),
        ({"server": {"max_connections_per_address": "10"}},
         "server.max_connections_per_address", "must be an integer"),
        ({"server": {"tls": {"enabled": True}}}, "server.tls", "certfile"),
        ({"networks": []}, "networks", "at least one"),
        ({"networks": [{"faults": {"throttled": 0.6, "disconnect": 0.6}}]},
         "networks[0].faults", "more than 1"),
        ({"networks": [{"faults": {"throttled": 1.5}}]}, "networks[0].faults.throttled",
         "at most 1"),
        ({"networks": [{"latency_distribution": "pareto"}]},
         "networks[0].latency_distribution", "one of"),
        ({"networks": [{"outcomes": {"delivered": -1}}]}, "networks[0].outcomes.delivered",
         "at least 0"),
        ({"networks": [{"outages": [{"duration": 60, "every": 30}]}]},
         "networks[0].outages[0].every", "at least the duration"),
        ({"networks": [{"error_codes": {"absent": []}}]}, "networks[0].error_codes.absent",
         "at least one"),
        ({"networks": [{"error_codes": {"rejected": [70000]}}]},
         "networks[0].error_codes.rejected[0]", "at most 65535"),
        ({"handsets": [{"prefix": "+49"}]}, "handsets[0].prefix", "digits only"),
        ({"handsets": [{"state": "asleep"}]}, "handsets[0].state", "one of"),
        ({"handsets": [{"online_for": 10}]}, "handsets[0].online_for", "go together"),
        ({"handsets": [{"regex": "("}]}, "handsets[0].regex[0]", "bad regex"),
        ({"simulation": {"inbox_size": -1}}, "simulation.inbox_size", "at least 0"),
        ({"store": {"kind": "postgres"}}, "store.kind", "one of"),
        ({"store": {"postgresql": {"synchronous_commit": "off"}}},
         "store.postgresql.synchronous_commit", "must be"),
    ],
)
def test_mistakes_give_one_line_naming_file_key_and_problem(
    data: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "my.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"my.toml: {key}: ")
    assert problem in message
    assert "waytoolongpassword" not in message


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_passwords_stay_out_of_reprs() -> None:
    assert "password" not in repr(Config().accounts[0]).replace("password=", "")


def test_overrides_apply_over_the_file() -> None:
    config = with_overrides(Config(), host="::1", port=0, http_port=9000, data_dir="/tmp/x")
    assert (config.server.host, config.server.port) == ("::1", 0)
    assert (config.control.port, config.store.data_dir) == (9000, "/tmp/x")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsc", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=60, check=False,
    )


def test_check_config_exit_codes(tmp_path: Path) -> None:
    good = run_cli("check-config", str(CONFIGS / "default.toml"))
    assert good.returncode == 0 and good.stdout.strip().endswith(": ok")
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("[accounts]\nsystem_id = 3\n")
    bad = run_cli("check-config", str(bad_file))
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"{bad_file}: accounts: must be an array"
    assert "Traceback" not in bad.stderr
    serve = run_cli("serve", "--config", str(bad_file))
    assert serve.returncode == 2 and len(serve.stderr.strip().splitlines()) == 1


def test_check_config_refuses_a_remote_control_api_without_a_token(tmp_path: Path) -> None:
    exposed = tmp_path / "exposed.toml"
    exposed.write_text('[control]\nhost = "0.0.0.0"\nallow_remote = true\n')
    done = run_cli("check-config", str(exposed))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"{exposed}: control.allow_remote: a control API open to other hosts needs "
        "control.token")
    exposed.write_text('[control]\nhost = "0.0.0.0"\nallow_remote = true\ntoken = "s3cret"\n')
    assert run_cli("check-config", str(exposed)).returncode == 0


def test_serve_on_a_store_of_a_newer_layout_exits_2_with_one_line(tmp_path: Path) -> None:
    database = tmp_path / "var" / "smsc.db"
    database.parent.mkdir()
    newer = sqlite3.connect(database)
    newer.execute("PRAGMA user_version = 99")
    newer.close()
    serve = run_cli("serve", "--config", str(CONFIGS / "default.toml"), "--port", "0",
                    "--http-port", "0", "--data-dir", str(database.parent))
    assert serve.returncode == 2
    assert serve.stderr.strip().splitlines() == [
        f"smsc: {database}: written in store layout 99 by a newer version; this one reads "
        "layouts up to 4"]


def test_the_postgresql_store_takes_a_dsn_kept_out_of_the_config_repr() -> None:
    config = parse_config({"store": {
        "kind": "postgresql", "dsn": "host=db user=smsc password=hunter2",
        "postgresql": {"synchronous_commit": False}}}, "my.toml")
    assert config.store.kind == "postgresql"
    assert config.store.dsn == "host=db user=smsc password=hunter2"
    assert config.store.postgresql.synchronous_commit is False
    assert "hunter2" not in repr(config)
