"""The dashboard in a real browser: headless Chromium loads the page against a live SMSC, and
the DOM it renders (after its scripts ran against the API) and its screenshots show the
numbers, a readable chart, only waiting messages as the queue, and working controls.

Chromium is driven over the DevTools protocol on a pipe (`browser.py`): no WebDriver, no
extra Python package. `make test` installs Debian's chromium when it is missing and we are
root; elsewhere these tests skip and say why. Screenshots are left in the test's tmp_path.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import pytest
import trio

from smsc.config import AccountConfig, ControlConfig, SimulationConfig
from smsc.pdu import DeliverSm, SubmitSm
from smsc.pdu.constants import CommandStatus
from smsc.session import ResponseReceived

from ..control.helpers import client, connect
from ..esme import Esme
from .browser import CHROMIUM, Page, open_page

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (make test installs Debian's chromium package when run "
           "as root)")

CLOCK = re.compile(r"\d\d:\d\d:\d\d")
BULK = 1200


async def texts(page: Page, selector: str) -> list[str]:
    found: list[str] = await page.evaluate(
        f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)")
    return found


async def colours_in(page: Page, png: bytes, selector: str) -> dict[str, int]:
    """Pixels of the screenshot inside the element: blue-ish (submits), orange-ish
    (delivered), and how many distinct colours (a blank image has one or two)."""
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    result: dict[str, int] = await page.evaluate(f"""(async () => {{
        const box = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
        const image = new Image();
        image.src = {json.dumps(data_url)};
        await image.decode();
        const canvas = document.createElement("canvas");
        canvas.width = image.width;
        canvas.height = image.height;
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0);
        const data = context.getImageData(box.x + scrollX, box.y + scrollY, box.width,
                                          box.height).data;
        let blue = 0, orange = 0;
        const colours = new Set();
        for (let i = 0; i < data.length; i += 4) {{
            const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
            colours.add(r << 16 | g << 8 | b);
            if (b > r + 50 && b > g + 10) blue++;
            if (r > 200 && g > 90 && g < 190 && b < 90) orange++;
        }}
        return {{blue, orange, colours: colours.size, width: image.width,
                 height: image.height}};
    }})()""")
    return result


def keep(tmp_path: Path, name: str, png: bytes) -> None:
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    (tmp_path / name).write_bytes(png)


async def submit_many(esme: Esme, count: int) -> None:
    """`count` submits written at once, then their responses read (all accepted)."""
    for n in range(count):
        esme.session.send(SubmitSm(source_addr="100", destination_addr=f"49151000002{n % 10}",
                                   short_message=b"bulk"), trio.current_time())
    await esme.flush()
    statuses = []
    while len(statuses) < count:
        event = await esme.next_event()
        if isinstance(event, ResponseReceived):
            statuses.append(event.message.command_status)
    assert set(statuses) == {CommandStatus.ESME_ROK}


async def test_dashboard_renders_live_numbers_after_traffic(
        make_config: Any, start_smsc: Any, opened: list[Esme], tmp_path: Path) -> None:
    accounts = (AccountConfig(mo_addresses=("4242",)),)
    running = await start_smsc(make_config(control=ControlConfig(port=0), accounts=accounts,
                                           simulation=SimulationConfig(inbox_size=10)))
    with trio.fail_after(30):
        esme = await connect(opened, running)
        for n in range(3):
            await esme.request(SubmitSm(source_addr="100", destination_addr=f"491510000010{n}",
                                        short_message=b"hi", registered_delivery=1))
        for _ in range(3):
            await esme.next_request()  # the receipts, answered
        await running.control.inject_mo("4915100000100", "4242", "REPLY")
        await esme.next_request()
        for _ in range(4):  # traffic over a few of the chart's one-second samples
            await submit_many(esme, BULK // 4)
            await trio.sleep(0.4)  # pacing the load, not waiting for anything
        await running.committer.wait_idle()
    url = f"http://127.0.0.1:{running.http_port}/"
    with trio.fail_after(60):
        async with open_page(url) as page:
            await page.wait_for("document.body.dataset.updated")  # one refresh done
            assert await texts(page, "#error") == [""]
            assert await texts(page, "#submitted-total") == [f"{BULK + 3:,}"]
            assert await texts(page, "#sessions-count") == ["1"]
            assert await texts(page, "#delivered-total") == [f"{BULK + 3:,}"]
            assert await texts(page, "#acknowledged-total") == ["4"]  # 3 receipts, 1 MO
            assert await texts(page, "#waiting-total") == ["0"]
            # the chart: axes, ticks and grid both ways, clock times on x, a legend
            assert len(await texts(page, "#chart .axis-x")) == 1
            assert len(await texts(page, "#chart .axis-y")) == 1
            y_ticks = await texts(page, "#chart .tick-y")
            x_ticks = await texts(page, "#chart .tick-x")
            assert len(y_ticks) >= 3 and y_ticks[0] == "0"
            assert len(x_ticks) >= 3 and all(CLOCK.fullmatch(t) for t in x_ticks), x_ticks
            assert len(await texts(page, "#chart .grid-x")) == len(x_ticks)
            assert len(await texts(page, "#chart .grid-y")) == len(y_ticks)
            legend = await texts(page, "#chart-legend .legend-item")
            assert [re.sub(r" [\d,.]+$", "", t) for t in legend] == [
                "submits/s", "delivered/s", "failed/s"]
            assert await page.evaluate(
                "document.querySelector('#chart .series-submitted').getAttribute('points')"
                ".split(' ').length") >= 2
            # the queue holds only what waits: no finished states
            queue = " ".join(await texts(page, "#queue tbody tr"))
            assert "DELIVERED" not in queue and "receipts and MO owed to smppclient1" in queue
            assert await texts(page, "#finished-kept") == [
                f"{BULK + 4:,} finished messages kept for lookups (not queued)"]
            # recent messages: short local times, the ISO time on hover
            submitted = await page.evaluate(
                "[...document.querySelectorAll('#messages tbody tr')].map(r => "
                "[r.lastChild.textContent, r.lastChild.title])")
            assert submitted and all(CLOCK.fullmatch(text) for text, _ in submitted)
            assert all(datetime.fromisoformat(title) for _, title in submitted)
            handsets = await page.evaluate(
                "[...document.querySelectorAll('#handsets tbody tr')].map(r => "
                "[...r.children].map(td => td.textContent))")
            assert ["+4915100000101", "online", "1", "100: hi", "Switch off"] in handsets
            assert ["+491510000020", "online", "10", "100: bulk" * 3, "Switch off"] \
                in handsets
            png = await page.screenshot()
            keep(tmp_path, "dashboard.png", png)
            chart = await colours_in(page, png, "#chart")
            # simulated time shows in the header once it is not the host's
            assert await texts(page, "#clock") == [""]
            await running.clock.advance(86400)
            shown = await page.wait_for(
                "document.getElementById('clock').textContent.includes('simulated') && "
                "document.getElementById('clock').textContent")
            # a day ahead: not today, so the date is shown too
            assert re.fullmatch(r"· simulated time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown)
    assert chart["colours"] > 20 and chart["blue"] > 20 and chart["orange"] > 10, chart
    running.shutdown.set()


def history(seconds: int, spike_until: int) -> list[dict[str, float]]:
    """Totals each second: 15,000 submits/s until `spike_until`, then 2,000/s, every one
    delivered at once (the two rates equal)."""
    points, total = [], 0
    for at in range(seconds + 1):
        points.append({"at": at, "submitted": total, "delivered": total, "failed": 0,
                       "acknowledged": 0})
        total += 15_000 if at < spike_until else 2_000
    return points


async def test_the_chart_rescales_to_its_window_and_shows_equal_rates_apart(
        tmp_path: Path) -> None:
    """Drawn from a history in the page itself (no server: its fetches fail and it waits):
    a spike minutes ago does not flatten the last minute, and submits equal to deliveries
    still show both lines."""
    with as_file(files("smsc.control").joinpath("dashboard.html")) as page_file, \
            trio.fail_after(60):
        async with open_page(page_file.as_uri()) as page:
            now = "Date.UTC(2026, 0, 5, 12, 0, 0)"
            data = json.dumps(history(300, 10))
            draw = (f"drawChart({data}, 300, {now}); "
                    "[...document.querySelectorAll('#chart .tick-y')].map(e => e.textContent)")
            assert (await page.evaluate(draw))[-1] == "2,500"
            png = await page.screenshot()
            keep(tmp_path, "chart-last-minute.png", png)
            chart = await colours_in(page, png, "#chart")
            await page.evaluate("document.querySelector('[data-window=\"300\"]').click()")
            assert await page.evaluate(
                "document.querySelector('[data-window=\"300\"]').getAttribute('aria-pressed')"
            ) == "true"
            assert (await page.evaluate(draw))[-1] == "20,000"
            keep(tmp_path, "chart-five-minutes.png", await page.screenshot())
            legend = await texts(page, "#chart-legend .legend-item")
    assert legend == ["submits/s 2,000", "delivered/s 2,000", "failed/s 0"]
    # the submits line, under the dashed deliveries, is still plainly there
    assert chart["blue"] > 1000 and chart["orange"] > 500, chart


async def test_the_controls_inject_mo_and_switch_handsets_and_networks(
        make_config: Any, start_smsc: Any, opened: list[Esme]) -> None:
    accounts = (AccountConfig(mo_addresses=("4242",)),)
    running = await start_smsc(make_config(control=ControlConfig(port=0), accounts=accounts,
                                           simulation=SimulationConfig(inbox_size=10)))
    number = "4915100000077"
    with trio.fail_after(60):
        esme = await connect(opened, running)
        await esme.request(SubmitSm(source_addr="100", destination_addr=number,
                                    short_message=b"hello"))
        await running.committer.wait_idle()
        async with client(running) as http, \
                open_page(f"http://127.0.0.1:{running.http_port}/") as page:
            await page.wait_for("document.querySelector('.handset-toggle')")
            # MO from the form
            await page.evaluate("""
                document.getElementById('mo-from').value = '4915100000001';
                document.getElementById('mo-to').value = '4242';
                document.getElementById('mo-text').value = 'Grüße';
                document.getElementById('mo-send').click();""")
            result = await page.wait_for(
                "document.getElementById('mo-result').textContent")
            assert result.startswith("stored as "), result
            mo = await esme.next_request()
            assert isinstance(mo, DeliverSm) and mo.source_addr == "4915100000001"
            [mo_id] = result.removeprefix("stored as ").split(", ")
            assert (await http.get(f"/v1/messages/{mo_id}")).json()["text"] == "Grüße"
            # a refusal shows the API's error
            await page.evaluate("""
                document.getElementById('mo-to').value = '9999';
                document.getElementById('mo-send').click();""")
            assert "no account receives" in await page.wait_for(
                "document.querySelector('#mo-result.failed')?.textContent")

            async def handset_state() -> str:
                return str((await http.get(f"/v1/handsets/{number}")).json()["state"])

            # the handset form, then the inbox's toggle
            await page.evaluate(f"""
                document.getElementById('handset-number').value = '+{number}';
                document.getElementById('handset-state').value = 'memory_full';
                document.getElementById('handset-apply').click();""")
            assert await page.wait_for(
                "document.getElementById('handset-result').textContent") == \
                f"+{number} is memory_full"
            assert await handset_state() == "memory_full"
            await page.wait_for("document.querySelector('#handsets tbody td:nth-child(2)')"
                                "?.textContent === 'memory_full'")
            toggle = "document.querySelector('.handset-toggle')"
            await page.wait_for(f"{toggle}.textContent === 'Switch on'")
            await page.evaluate(f"{toggle}.click()")
            await page.wait_for("document.getElementById('handset-result').textContent"
                                f" === '+{number} is online'")
            assert await handset_state() == "online"
            await page.wait_for(f"{toggle}.textContent === 'Switch off'")
            await page.evaluate(f"{toggle}.click()")
            await page.wait_for("document.getElementById('handset-result').textContent"
                                f" === '+{number} is offline'")
            assert await handset_state() == "offline"
            await page.evaluate("document.getElementById('handset-reset').click()")
            await page.wait_for("document.getElementById('handset-result').textContent"
                                ".includes('follows its profile')")
            assert await handset_state() == "online"
            # the network's outage button, both ways
            await page.evaluate("[...document.querySelectorAll('#networks button')]"
                                ".find(b => b.textContent === 'Start outage').click()")
            await page.wait_for("[...document.querySelectorAll('#networks td')]"
                                ".some(td => td.textContent === 'outage')")
            assert (await http.get("/v1/networks/default")).json()["out"] is True
            await page.evaluate("[...document.querySelectorAll('#networks button')]"
                                ".find(b => b.textContent === 'End outage').click()")
            await page.wait_for("[...document.querySelectorAll('#networks td')]"
                                ".some(td => td.textContent === 'up')")
            assert (await http.get("/v1/networks/default")).json()["out"] is False
    running.shutdown.set()
