"""benchmarks/cluster_load.py (the load of e2e.py --nodes): every submit answered and every
receipt counted, whether the receipts come back on the node they were submitted on or are
handed over to another."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.app import RunningSmsc
from tests.cluster.test_nodes import node_config

pytestmark = pytest.mark.usefixtures("postgresql_server")
LOAD = Path(__file__).resolve().parents[2] / "benchmarks" / "cluster_load.py"


@pytest.mark.parametrize("receipts_on", ["same", "other"])
async def test_the_load_over_two_nodes_gets_every_receipt(
        make_config: Any, start_smsc: Any, postgresql_dsn: str, receipts_on: str) -> None:
    config = node_config(make_config, postgresql_dsn)
    with trio.fail_after(60):
        a: RunningSmsc = await start_smsc(config)
        b: RunningSmsc = await start_smsc(config)
        done = await trio.run_process(
            [sys.executable, str(LOAD), "--ports", f"{a.smpp_port},{b.smpp_port}",
             "--receipts-on", receipts_on, "--connections", "2", "--count", "300"],
            capture_stdout=True, capture_stderr=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["statuses"] == {"ESME_ROK": 300}
    assert (report["receipts"], report["receipts_missing"]) == (300, 0)
    assert report["errors"] == []
