"""One SMSC process per SQLite data directory: a second is refused before it touches it."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
import trio

from smsc.data_dir import DataDirInUse, DataDirLock

from .interop.test_crash import ROOT, start_server


def test_a_second_lock_on_the_directory_names_the_holder(tmp_path: Path) -> None:
    with DataDirLock(tmp_path / "var"):
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock(tmp_path / "var").acquire()
        message = str(refused.value)
        assert str(tmp_path / "var") in message and f"pid {os.getpid()}" in message
        assert "\n" not in message
    with DataDirLock(tmp_path / "var"):  # released: taken again
        pass


async def test_a_second_server_on_one_data_directory_exits_2_with_one_line(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    config = tmp_path / "one.toml"
    config.write_text(
        f'[server]\nport = 0\n[store]\nkind = "sqlite"\ndata_dir = "{data_dir}"\n'
        f'[control]\nenabled = false\n'
    )
    first, _ = await start_server(config)
    try:
        with trio.fail_after(60):
            second = await trio.run_process(
                [sys.executable, "-m", "smsc", "serve", "--config", str(config)],
                cwd=ROOT, capture_stdout=True, capture_stderr=True, check=False,
            )
        assert second.returncode == 2
        lines = second.stderr.decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert str(data_dir) in lines[0] and f"pid {first.pid}" in lines[0]
    finally:
        first.send_signal(signal.SIGTERM)
        with trio.fail_after(60):
            assert await first.wait() == 0
