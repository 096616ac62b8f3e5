"""Serve the control API with hypercorn's trio worker inside the SMSC's nursery."""

from __future__ import annotations

from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve


async def serve_http(
    app: Any, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve `app` until cancelled; reports the bound port through task_status."""
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None

    async def run_hypercorn(
        *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await serve(app, config, task_status=task_status)

    async with trio.open_nursery() as nursery:
        addresses: list[str] = await nursery.start(run_hypercorn)
        task_status.started(int(addresses[0].rsplit(":", 1)[1]))
