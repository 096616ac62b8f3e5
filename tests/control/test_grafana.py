"""The Grafana dashboard and the alert rules in docs/grafana/ name only metrics that /metrics
really exposes: each PromQL expression's metric names (and the labels its selectors match on)
are checked against a live scrape of an SMSC that has carried traffic. With promtool on the
PATH the rules, and the dashboard's expressions as recording rules, are checked by it too."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from smsc.config import AccountConfig, ControlConfig
from smsc.pdu import DeliverSm, SubmitSm
from smsc.pdu.constants import CommandStatus

from ..esme import Esme
from .helpers import client, connect

GRAFANA = Path(__file__).parents[2] / "docs" / "grafana"
DASHBOARD = GRAFANA / "smsc-dashboard.json"
ALERTS = GRAFANA / "alerts.yml"
PROMETHEUS_OWN = {"up"}
"""Series Prometheus makes itself for every scrape target, never in an exposition."""
TARGET_LABELS = {"instance", "job"}
"""Labels Prometheus adds to every scraped series."""
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$instance": ".*", "$account": ".*"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}
NAME = r"[A-Za-z_:][A-Za-z0-9_:]*"


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label names and
    numbers left out)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\$\w+", "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"(?<![\w:])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "0", expr)
    names = set()
    for match in re.finditer(NAME, expr):
        if expr[match.end():].lstrip().startswith("(") or match.group() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def matched_labels(expr: str) -> Iterator[tuple[str, str]]:
    """(metric, label) for every label matcher written after a metric name."""
    for selector in re.finditer(rf"({NAME})\{{([^}}]*)\}}", expr):
        for label in re.finditer(r"(\w+)\s*(?:=~|!~|!=|=)", selector.group(2)):
            yield selector.group(1), label.group(1)


def test_metric_names_are_read_out_of_promql() -> None:
    expr = ('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="b c"}[5m]))) '
            '/ on(i) group_left(j) b:rule > 1e-9 and sum without (k) (c{l=~"$account"}) '
            '+ clamp_min(d, 1)')
    assert metric_names(expr) == {"a_bucket", "b:rule", "c", "d"}
    assert list(matched_labels(expr)) == [("a_bucket", "x"), ("c", "l")]


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, expr) of every panel target and template variable of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = [(f"panel {panel['title']!r}", target["expr"])
             for panel in dashboard["panels"] for target in panel.get("targets", ())]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            match = re.fullmatch(r"label_values\((.*), *(\w+)\)", query)
            assert match is not None, query
            found.append((f"variable {variable['name']}", match.group(1)))
    return found


def alert_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [(f"alert {rule['alert']}", rule["expr"])
            for group in rules["groups"] for rule in group["rules"]]


def test_the_dashboard_is_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel["gridPos"]["w"] <= 24
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(metric_names(target["expr"]) for target in panel["targets"]), panel["title"]
    assert len(alert_expressions()) >= 5


async def scrape_after_traffic(make_config: Any, start_smsc: Any,
                               opened: list[Esme]) -> dict[str, set[str]]:
    """metric sample name → its label names, from an SMSC that carried submits (accepted,
    refused, throttled), deliveries (delivered, undeliverable), receipts and an MO message."""
    accounts = (AccountConfig(mo_addresses=("4242",)),
                AccountConfig(system_id="slow", password="secret", submit_rate=0.001,
                              submit_burst=1))
    running = await start_smsc(make_config(control=ControlConfig(port=0), accounts=accounts))
    with trio.fail_after(10):
        esme = await connect(opened, running)
        for number in ("4915100000001", "447700900100", "447700900200"):  # 1NN undeliverable
            resp = await esme.request(SubmitSm(destination_addr=number, registered_delivery=1))
            assert resp.command_status == CommandStatus.ESME_ROK
        await esme.request(SubmitSm(destination_addr=""))  # refused
        for _ in range(2):
            assert isinstance(await esme.next_request(), DeliverSm)  # receipts, answered
        async with client(running) as http:
            created = await http.post("/v1/mo", json={"source_addr": "4915100000001",
                                                      "destination_addr": "4242", "text": "hi"})
            assert created.status_code == 201
        assert isinstance(await esme.next_request(), DeliverSm)
        slow = await connect(opened, running, "transmitter", system_id="slow",
                             password="secret")
        for _ in range(2):
            await slow.request(SubmitSm(destination_addr="4915100000002"))
        await running.committer.wait_idle()
    async with client(running) as http:
        text = (await http.get("/metrics")).text
    running.shutdown.set()
    exposed: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    return exposed


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
async def test_every_query_names_exposed_metrics(source: str, make_config: Any,
                                                 start_smsc: Any, opened: list[Esme]) -> None:
    exposed = await scrape_after_traffic(make_config, start_smsc, opened)
    expressions = dashboard_expressions() if source == "dashboard" else alert_expressions()
    allowed = PROMETHEUS_OWN if source == "alerts" else set()
    missing = [(where, name) for where, expr in expressions
               for name in sorted(metric_names(expr)) if name not in exposed.keys() | allowed]
    assert missing == []
    wrong_labels = [(where, name, label) for where, expr in expressions
                    for name, label in matched_labels(expr)
                    if name in exposed and label not in exposed[name] | TARGET_LABELS]
    assert wrong_labels == []
    # the checks can fail: the scrape is the real thing, not every name under the sun
    assert "smsc_store_messages" not in exposed and "smpp_pdus_received_total" not in exposed


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian's prometheus "
                    "package has it)")
async def test_promtool_accepts_the_rules_and_the_dashboard_queries(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    as_rules = tmp_path / "dashboard-rules.yml"
    recording = []
    for n, (_, expr) in enumerate(dashboard_expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        recording.append({"record": f"dashboard:query_{n}", "expr": expr})
    as_rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recording}]}))
    for rules in (ALERTS, as_rules):
        checked = await trio.run_process([PROMTOOL, "check", "rules", str(rules)],
                                         capture_stdout=True, capture_stderr=True, check=False)
        assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
