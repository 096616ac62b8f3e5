"""README.md's examples, run as written against real servers.

Every ```python block and every line of the ```sh blocks is taken from the README and either
run or skipped here for a stated reason, so a new example cannot go untested unnoticed. The
commands run against `smsc serve --config configs/default.toml` (what `make run` starts) on
free ports: `--port` is added to the `esme` commands and 2775 becomes that port in the Python
client's example; nothing else is changed.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from tests.processes import launched

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README) if kind == language]


def commands() -> list[list[str]]:
    """Every command of the README's shell blocks, split as the shell would (comments off)."""
    return [shlex.split(line, comments=True) for block in blocks("sh")
            for line in block.splitlines() if line.strip()]


# why a command is not run here; every other one is
SKIPPED = {
    ("make", "run"): "`smsc serve --config configs/default.toml`, which `served` runs",
    ("make", "test"): "runs this very suite",
    ("smsc", "serve"): "a synopsis ([--config FILE] ...), a capture run and workers; `served` "
                       "runs the real thing, tests/capture/test_replay.py a chaos.toml "
                       "capture, tests/cluster/test_managed.py workers on a managed server",
    ("esme", "replay"): "needs a capture of a run first: tests/capture/test_replay.py replays "
                        "a chaos.toml capture with this command against a fresh SMSC",
    ("esme", "bench"): "a load test of 100,000 messages; tests/esme_client covers the command",
}


@dataclass
class Served:
    banner: str
    smpp_port: int
    http_url: str
    data_dir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`make run`'s server, on free ports and its own data directory."""
    data_dir = tmp_path_factory.mktemp("var")
    with open(data_dir / "stderr.log", "wb") as log:
        process = subprocess.Popen(
            [BIN / "smsc", "serve", "--config", "configs/default.toml", "--port", "0",
             "--http-port", "0", "--data-dir", str(data_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            found = re.search(r"SMPP on 127\.0\.0\.1:(\d+), dashboard (http://[^/]+)/", banner)
            assert found, banner + (data_dir / "stderr.log").read_text()
            yield Served(banner, int(found[1]), found[2], data_dir)
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()  # type: ignore[union-attr]


def name(command: list[str]) -> tuple[str, str]:
    program = command[0].removeprefix(".venv/bin/")
    return program, command[1]


def test_every_shell_command_is_run_or_skipped_for_a_reason() -> None:
    known = {("smsc", "check-config"), ("smsc", "--version"), ("esme", "send"),
             ("esme", "listen"), *SKIPPED}
    assert commands(), "the README has no shell commands"
    assert {name(command) for command in commands()} <= known


def test_the_banner_is_as_shown(served: Served) -> None:
    [shown] = [line for block in blocks("text") for line in block.splitlines()
               if line.startswith("smsc: SMPP on")]
    expected = (shown.replace("2775", str(served.smpp_port))
                .replace("http://127.0.0.1:8775", served.http_url)
                .replace("in ./var", f"in {served.data_dir}"))
    assert served.banner.rstrip("\n") == expected


def test_smsc_commands() -> None:
    ran = 0
    for command in commands():
        if name(command)[0] != "smsc" or name(command) in SKIPPED:
            continue
        done = subprocess.run([BIN / "smsc", *command[1:]], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, (command, done.stderr)
        ran += 1
    assert ran == 2


def test_esme_send_commands(served: Served) -> None:
    sends = [command for command in commands() if name(command) == ("esme", "send")]
    assert len(sends) == 2
    for command in sends:
        done = subprocess.run([BIN / "esme", *command[1:], "--port", str(served.smpp_port)],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, (command, done.stderr)
        if "--json" in command:
            assert json.loads(done.stdout)["message_ids"]
        if "--wait-receipt" in command:
            assert "DELIVRD (DELIVERED)" in done.stdout


async def test_esme_listen_gets_mo_posted_to_the_api_on_the_defaults(served: Served) -> None:
    [listen] = [command for command in commands() if name(command) == ("esme", "listen")]
    mo = {"source_addr": "4915100000001", "destination_addr": "4242", "text": "STOP"}
    with trio.fail_after(60):
        async with launched([BIN / "esme", *listen[1:], "--port", served.smpp_port]) as process:
            await process.stderr.until(b"bound as receiver")
            posted = await trio.to_thread.run_sync(
                lambda: httpx.post(f"{served.http_url}/v1/mo", json=mo))
            assert posted.is_success, posted.text
            line = await process.stdout.until(b"\n")
            process.process.send_signal(signal.SIGTERM)
            assert await process.finish() == 0
    event = json.loads(line)
    assert (event["type"], event["source_addr"], event["text"]) == ("mo", "4915100000001", "STOP")


def test_every_python_block_is_run() -> None:
    kinds = [block_kind(block) for block in blocks("python")]
    assert sorted(kinds) == ["client", "embedding", "plugin"]


def block_kind(block: str) -> str:
    if "smpplib" in block:
        return "plugin"
    if "open_smsc" in block:
        return "embedding"
    assert 'esme_client.connect("127.0.0.1", 2775' in block, block
    return "client"


def the_block(kind: str) -> str:
    [block] = [block for block in blocks("python") if block_kind(block) == kind]
    return block


def test_the_embedding_example() -> None:
    namespace: dict[str, object] = {}
    exec(compile(the_block("embedding"), "README.md (embedding)", "exec"), namespace)
    trio.run(namespace["test_with_trio"])  # type: ignore[arg-type]
    namespace["test_without_trio"]()  # type: ignore[operator]


def test_the_pytest_plugin_example(tmp_path: Path) -> None:
    (tmp_path / "test_readme_example.py").write_text(the_block("plugin"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "test_readme_example.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


async def test_the_client_example(served: Served, tmp_path: Path) -> None:
    script = tmp_path / "client_example.py"
    script.write_text(the_block("client").replace("2775", str(served.smpp_port)))
    mo = {"source_addr": "4915100000001", "destination_addr": "4242", "text": "STOP"}
    with trio.fail_after(60):
        async with launched([sys.executable, script]) as process:
            receipt = await process.stdout.until(b"\n")
            assert re.fullmatch(rb"\S+ DELIVERED \d+\.\d{3} s\n", receipt), receipt
            posted = await trio.to_thread.run_sync(
                lambda: httpx.post(f"{served.http_url}/v1/mo", json=mo))
            assert posted.is_success, posted.text
            assert await process.finish() == 0, process.stderr.text
    assert process.stdout.text.splitlines()[-1] == "4915100000001 STOP None"
