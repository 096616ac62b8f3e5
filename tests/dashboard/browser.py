"""Headless Chromium driven over the DevTools protocol on a pipe, for the dashboard's tests.

`--remote-debugging-pipe` makes Chromium read protocol messages (JSON, each ended by a NUL
byte) on its fd 3 and write answers and events on its fd 4: no WebDriver, no websocket client,
no package to install beyond Debian's chromium. One request at a time is enough here, so
answers are read in order and events are skipped.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import trio

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 1600


class BrowserError(Exception):
    """Chromium answered a request with an error, or a script threw."""


class Page:
    """One tab: navigate, evaluate scripts (awaiting their promises), take screenshots."""

    def __init__(self, send: trio.abc.SendStream, receive: trio.abc.ReceiveStream) -> None:
        self._send = send
        self._receive = receive
        self._buffer = b""
        self._ids = iter(range(1, 1 << 30))
        self._events: list[str] = []
        self.session = ""

    async def _next_message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = await self._receive.receive_some(1 << 16)
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        request_id = next(self._ids)
        message: dict[str, Any] = {"id": request_id, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        await self._send.send_all(json.dumps(message).encode() + b"\0")
        while True:
            answer = await self._next_message()
            if "method" in answer:
                self._events.append(answer["method"])
            elif answer.get("id") == request_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    async def wait_event(self, method: str) -> None:
        """Return once Chromium has sent the event `method` (since the last wait for it)."""
        while method not in self._events:
            message = await self._next_message()
            if "method" in message:
                self._events.append(message["method"])
        self._events.remove(method)

    async def evaluate(self, expression: str) -> Any:
        """The value of a script expression; a promise is awaited."""
        result = await self.call("Runtime.evaluate", expression=expression,
                                 awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description", str(details)))
        return result["result"].get("value")

    async def wait_for(self, condition: str) -> Any:
        """Wait until the script expression `condition` is truthy, re-checked whenever the
        document changes (a MutationObserver: no polling); returns its value. Bound it with
        trio.fail_after."""
        return await self.evaluate(f"""new Promise(resolve => {{
            const check = () => {{
                const value = ({condition});
                if (value) {{ observer.disconnect(); resolve(value); }}
                return value;
            }};
            const observer = new MutationObserver(check);
            observer.observe(document, {{subtree: true, childList: true, attributes: true,
                                         characterData: true}});
            check();
        }})""")

    async def screenshot(self) -> bytes:
        """The whole page as PNG."""
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(shot["data"])


@asynccontextmanager
async def open_page(url: str) -> AsyncIterator[Page]:
    """A headless Chromium showing `url`, closed on exit."""
    assert CHROMIUM is not None
    to_browser_read, to_browser_write = os.pipe()
    from_browser_read, from_browser_write = os.pipe()
    # copies numbered 5 and up, so that placing them at 3 and 4 cannot clobber one another
    child_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 5)
    child_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 5)

    def give_pipes() -> None:  # runs in the child, before exec
        os.dup2(child_read, 3)
        os.dup2(child_write, 4)

    with tempfile.TemporaryDirectory() as profile:
        process = await trio.lowlevel.open_process(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--hide-scrollbars", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
            close_fds=False, preexec_fn=give_pipes,  # every other fd is close-on-exec
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": profile},
        )
        for fd in (to_browser_read, from_browser_write, child_read, child_write):
            os.close(fd)
        send = trio.lowlevel.FdStream(to_browser_write)
        receive = trio.lowlevel.FdStream(from_browser_read)
        page = Page(send, receive)
        try:
            target = await page.call("Target.createTarget", url="about:blank")
            attached = await page.call("Target.attachToTarget", targetId=target["targetId"],
                                       flatten=True)
            page.session = attached["sessionId"]
            await page.call("Page.enable")
            await page.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                            deviceScaleFactor=1, mobile=False)
            await page.call("Page.navigate", url=url)
            await page.wait_event("Page.loadEventFired")
            yield page
        finally:
            page.session = ""
            with trio.CancelScope(shield=True):  # close Chromium even when the test failed
                with trio.move_on_after(10):
                    with suppress(BrowserError, trio.BrokenResourceError):
                        await page.call("Browser.close")
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                await send.aclose()
                await receive.aclose()
