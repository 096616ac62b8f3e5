"""node-smpp (npm "smpp" 0.5.1, an SMPP 5.0 implementation binding at 0x50) against the SMSC
over TCP on 127.0.0.1: a second, independent 5.0 client. Skipped unless node and the package
are installed (`make test` installs the package into .venv/node when npm is there)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.config import NetworkConfig
from smsc.pdu.constants import CommandStatus, MessageState

ROOT = Path(__file__).resolve().parent.parent.parent
MODULES = ROOT / ".venv" / "node" / "node_modules"
SCRIPT = Path(__file__).with_name("node_smpp50.js")
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (MODULES / "smpp").is_dir(),
    reason="node or node-smpp not installed (npm install --prefix .venv/node smpp@0.5.1)")
S = CommandStatus


async def test_node_smpp_binds_at_5_0_broadcasts_queries_cancels_and_submits(
    make_config: Any, start_smsc: Any
) -> None:
    running = await start_smsc(make_config(networks=(
        NetworkConfig(name="uk", broadcast_areas=("London",), broadcast_success=0.8),)))
    with trio.fail_after(60):
        done = await trio.run_process(
            ["node", str(SCRIPT), str(running.smpp_port)], capture_stdout=True,
            capture_stderr=True, check=False, env={**os.environ, "NODE_PATH": str(MODULES)})
    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout)
    assert out["bind"] == {"command_status": 0, "system_id": "SMSC",
                           "sc_interface_version": 0x50}
    broadcast = out["broadcast"]
    assert broadcast["command_status"] == S.ESME_ROK and broadcast["message_id"]
    assert broadcast["failed_broadcast_area_identifier"] == [{"format": 0, "data": "Atlantis"}]
    assert broadcast["broadcast_error_status"] == [S.ESME_RINVBCASTALIAS_NAME]
    query = out["query"]
    assert query["message_id"] == broadcast["message_id"]
    assert query["message_state"] == MessageState.ENROUTE
    assert query["broadcast_area_identifier"] == [{"format": 0, "data": "London"},
                                                  {"format": 0, "data": "Atlantis"}]
    assert query["broadcast_area_success"] == 0  # (node-smpp keeps the last of the two: 80, 0)
    assert "broadcast_end_time" not in query
    assert out["cancel"] == {"command_status": 0}
    assert out["after"] == {"command_status": 0, "message_state": MessageState.DELETED}
    assert out["submit"]["command_status"] == 0 and out["submit"]["message_id"]
    assert 0 <= out["submit"]["congestion_state"] <= 100
    running.shutdown.set()


def test_the_script_is_what_node_can_parse() -> None:
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    subprocess.run(["node", "--check", str(SCRIPT)], check=True, timeout=60)
