"""The dashboard in a real browser: headless Chromium loads the page after traffic and the DOM
it renders (after its scripts ran against the live API) shows the numbers.

Chromium is driven with `--headless --dump-dom`: no WebDriver, no extra Python package, one
process that prints the DOM once the page's scripts have run (`--virtual-time-budget` lets
them). `make test` installs Debian's chromium when it is missing and we are root; elsewhere
the test skips and says why.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile

import pytest
import trio

from smsc.config import AccountConfig
from smsc.embed import open_smsc
from smsc.pdu import SubmitSm

from ..esme import Esme

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def value_of(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert match is not None, f"no #{element_id} in the page"
    return match.group(1)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs "
                    "Debian's chromium package when run as root)")
async def test_dashboard_renders_live_numbers_after_traffic() -> None:
    assert CHROMIUM is not None
    accounts = (AccountConfig(mo_addresses=("4242",)),)
    async with open_smsc(accounts=accounts) as smsc:
        stream = await trio.open_tcp_stream("127.0.0.1", smsc.smpp_port)
        esme = Esme(stream)
        with trio.fail_after(10):
            await esme.bind("transceiver")
            for n in range(3):
                await esme.request(SubmitSm(source_addr="100",
                                            destination_addr=f"491510000010{n}",
                                            short_message=b"hi", registered_delivery=1))
            await smsc.wait_for_message(number="4915100000102")
            for _ in range(3):
                await esme.next_request()  # the receipts, answered
            await smsc.inject_mo("4915100000100", "4242", "REPLY")
            await esme.next_request()
        with tempfile.TemporaryDirectory() as profile:
            with trio.fail_after(60):
                result = await trio.run_process(
                    [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}",
                     "--virtual-time-budget=5000", "--dump-dom", f"{smsc.http_url}/"],
                    capture_stdout=True, capture_stderr=True, check=False,
                    env={**os.environ, "HOME": profile},
                )
        await stream.aclose()
    dom = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert value_of(dom, "error") == ""
    assert value_of(dom, "sessions-count") == "1"
    assert value_of(dom, "submitted-total") == "3"
    assert value_of(dom, "delivered-total") == "3"
    assert value_of(dom, "receipts-total") == "4"  # three receipts and the MO message
    for n in range(3):
        assert f"<td>491510000010{n}</td>" in dom  # the recent messages table
    assert "<td>DELIVERED</td>" in dom
    assert "series-submitted" in dom  # the chart was drawn
    assert "+4915100000101 (online)" in dom  # the handsets' inboxes
    assert '<li class="inbox-message">100: hi</li>' in dom
