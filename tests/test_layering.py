"""The import table of docs/architecture.md, and every module of smsc/ and esme_client/ kept to it.

Each package or top-level module has one row: its layer and what it may import. Nothing else
is allowed, so a new module needs a row, and a new import a grant the prohibitions below
permit. The machinery (AST walking, the markdown table) is in tests/import_rules.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from .import_rules import (
    Checker,
    Row,
    format_markdown_table,
    parse_markdown_table,
    table_problems,
)

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"
HEADING = "## Import rules"


def names(text: str) -> frozenset[str]:
    return frozenset(text.split())


def row(name: str, layer: str, imports: str = "", libraries: str = "") -> Row:
    return Row(name, layer, names(imports), names(libraries))


# THE table, mirrored row by row in docs/architecture.md under "Import rules". A row covers
# a package (all its modules) or one module; `smsc.__init__` is the package's own file.
TABLE: tuple[Row, ...] = (
    row("smsc.__init__", "core", "smsc.pdu.constants"),
    row("smsc.constructors", "core"),
    row("smsc.config", "core"),
    row("smsc.pdu.constants", "core"),
    row("smsc.pdu", "core", "", "construct"),
    row("smsc.session", "core", "smsc.constructors smsc.pdu"),
    row("smsc.store", "core", "smsc.constructors smsc.pdu.constants", "sqlite3 psycopg"),
    row("smsc.routing", "core", "smsc.config smsc.pdu", "phonenumbers"),
    row("smsc.simulation", "core", "smsc.config smsc.pdu smsc.routing"),
    row("smsc.accounts", "core", "smsc.config smsc.pdu.constants"),
    row("smsc.distribution_lists", "core", "smsc.config"),
    row("smsc.receipts", "core", "smsc.config smsc.pdu smsc.store.models"),
    row("smsc.submit", "core",
        "smsc.accounts smsc.config smsc.constructors smsc.distribution_lists smsc.pdu"
        " smsc.routing smsc.store.models"),
    row("smsc.capture.formats", "core", "smsc.pdu"),
    row("smsc.clock", "shell", "", "trio"),
    row("smsc.capture", "shell", "smsc.clock smsc.pdu smsc.session", "trio"),
    row("smsc.logs", "shell", "smsc.capture smsc.config smsc.pdu smsc.session"),
    row("smsc.metrics", "shell", "smsc.pdu.constants smsc.store.models", "prometheus_client"),
    row(
        "smsc.delivery",
        "shell",
        "smsc.accounts smsc.clock smsc.config smsc.pdu smsc.receipts smsc.routing"
        " smsc.session smsc.simulation smsc.store",
        "outcome threading trio",
    ),
    row(
        "smsc.server",
        "shell",
        "smsc.accounts smsc.clock smsc.config smsc.constructors smsc.delivery smsc.logs"
        " smsc.metrics smsc.pdu smsc.routing smsc.session smsc.simulation smsc.store"
        " smsc.submit",
        "ssl trio",
    ),
    row("smsc.server.link_writer", "shell", "smsc.session", "trio"),
    row("smsc.server.sockets", "shell", "", "socket trio"),
    row("smsc.cluster", "shell", "smsc.config smsc.delivery smsc.server smsc.store",
        "psycopg signal subprocess trio"),
    row(
        "smsc.control",
        "shell",
        "smsc.clock smsc.config smsc.delivery smsc.distribution_lists smsc.metrics smsc.pdu"
        " smsc.routing smsc.server smsc.simulation smsc.store",
        "hypercorn starlette trio",
    ),
    row(
        "smsc.app",
        "shell",
        "smsc.accounts smsc.capture smsc.clock smsc.cluster smsc.config smsc.control"
        " smsc.data_dir smsc.delivery smsc.distribution_lists smsc.logs smsc.metrics smsc.pdu"
        " smsc.receipts"
        " smsc.routing smsc.server smsc.session smsc.simulation smsc.store smsc.submit",
        "ssl trio",
    ),
    row(
        "smsc.embed",
        "shell",
        "smsc.app smsc.config smsc.control smsc.delivery smsc.pdu smsc.routing smsc.simulation"
        " smsc.store",
        "threading trio",
    ),
    row("smsc.pytest_plugin", "shell", "smsc.config smsc.embed", "pytest"),
    row("smsc.data_dir", "shell", ""),
    row("smsc.cli", "shell", "smsc.app smsc.cluster smsc.config smsc.data_dir smsc.logs smsc.store",
        "socket trio"),
    row("smsc.__main__", "shell", "smsc.cli"),
    row("esme_client", "esme", "smsc.pdu smsc.session", "multiprocessing ssl tqdm trio"),
)

# What no version of the table may grant: the shell's direction (besides "the core imports
# no shell module", which table_problems checks by layer).
NEVER = {
    "smsc.delivery": ("smsc.server", "smsc.control", "smsc.app"),
    "smsc.server": ("smsc.control", "smsc.app"),
    "smsc.control": ("smsc.app",),
}
# The standard library's I/O and concurrency: like any library outside the standard
# library, only where a row lists them.
RESTRICTED_STDLIB = names(
    "sqlite3 socket ssl select selectors threading multiprocessing subprocess asyncio concurrent"
)
CORE_NEVER_USES = (RESTRICTED_STDLIB - {"sqlite3"}) | names(
    "trio hypercorn starlette prometheus_client outcome pytest"
)
CLOCK_READS = frozenset(
    [
        *(f"time.{f}{ns}" for f in ("time", "monotonic", "perf_counter") for ns in ("", "_ns")),
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
    ]
)

CHECKER = Checker(
    rows=TABLE,
    ours=frozenset({"smsc", "esme_client"}),
    restricted_stdlib=RESTRICTED_STDLIB,
    clock_reads=CLOCK_READS,
)


def module_name(path: Path) -> str:
    """`smsc/pdu/codec.py` → `smsc.pdu.codec`; a package's file stays `smsc.pdu.__init__`."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


PATHS = sorted(p for package in ("smsc", "esme_client") for p in (ROOT / package).rglob("*.py"))


def test_every_module_has_a_row() -> None:
    missing = [module_name(p) for p in PATHS if CHECKER.row_for(module_name(p)) is None]
    assert not missing, f"no row in the import table for {missing}"


@pytest.mark.parametrize("path", PATHS, ids=module_name)
def test_module_keeps_to_its_row(path: Path) -> None:
    module = module_name(path)
    problems = CHECKER.violations(module, path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT)
    if problems:
        pytest.fail("\n".join(f"{where}:{problem}" for problem in problems), pytrace=False)


def test_table_grants_nothing_the_layering_forbids() -> None:
    assert table_problems(TABLE, NEVER, CORE_NEVER_USES) == []


def test_architecture_doc_has_the_same_table() -> None:
    documented = parse_markdown_table(ARCHITECTURE.read_text(encoding="utf-8"), HEADING)
    assert documented == list(TABLE), (
        "docs/architecture.md's import table differs from tests/test_layering.py's; it should"
        " read:\n" + format_markdown_table(TABLE)
    )


# --- the checker bites: synthetic modules that break each rule, and some that obey ---

BREAKING = [
    # the shell's direction, however the import is written
    ("smsc.delivery.outbound", "from smsc.server.link import Link", "import smsc.server.link"),
    ("smsc.delivery.committer", "from smsc.control.serve import serve_http", "smsc.control.serve"),
    ("smsc.delivery.scheduler", "import smsc.app", "smsc.delivery may not import smsc.app"),
    ("smsc.delivery.outbound", "from ..server.binds import BindRegistry", "smsc.server.binds"),
    ("smsc.delivery.outbound", "from ..server import link", "from ..server import link"),
    (
        "smsc.delivery.simulation",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from smsc.server import link",
        "smsc.delivery may not import smsc.server",
    ),
    ("smsc.delivery.mobile", "def f():\n    import smsc.server.service", "smsc.server.service"),
    ("smsc.server.service", "from smsc.control.plane import ControlPlane", "smsc.control.plane"),
    ("smsc.server.link", "from smsc.app import run", "smsc.server may not import smsc.app"),
    ("smsc.control.plane", "from ..app import RunningSmsc", "smsc.control may not import smsc.app"),
    # the core imports no shell module
    ("smsc.store.models", "from smsc.clock import Clock", "may not import smsc.clock"),
    ("smsc.routing.networks", "from smsc.delivery.committer import C", "smsc.delivery.committer"),
    ("smsc.session.session", "from smsc.logs import trace_event", "may not import smsc.logs"),
    ("smsc.pdu.codec", "from smsc.metrics import SmscMetrics", "may not import smsc.metrics"),
    ("smsc.receipts", "from .server.link import Link", "may not import smsc.server.link"),
    ("smsc.__init__", "from smsc.app import run", "smsc.__init__ may not import smsc.app"),
    # core rows among themselves
    ("smsc.simulation.inbox", "from smsc.store import Message", "may not import smsc.store"),
    ("smsc.routing.table", "from smsc.store.models import M", "may not import smsc.store.models"),
    ("smsc.config", "from smsc.pdu.constants import Tag", "may not import smsc.pdu.constants"),
    ("smsc.pdu.constants", "from .gsm7 import is_gsm", "may not import smsc.pdu.gsm7"),
    ("smsc.constructors", "from smsc.pdu import Pdu", "may not import smsc.pdu"),
    # a package is not its submodules: only `from package import submodule` is lenient
    ("smsc.receipts", "import smsc.store", "smsc.receipts may not import smsc.store"),
    ("smsc.receipts", "from smsc.store import Message", "may not import smsc.store"),
    ("smsc.receipts", "from . import store", "from . import store"),
    ("smsc.store.memory", "from smsc.pdu import MessageState", "may not import smsc.pdu"),
    ("smsc.accounts", "from smsc import pdu", "may not import smsc"),
    # the ESME side sees the core's codec and session only
    ("esme_client.client", "from smsc.store import MemoryStore", "may not import smsc.store"),
    ("esme_client.cli", "from smsc.server.listener import L", "may not import smsc.server"),
    # restricted libraries
    ("smsc.session.session", "import construct", "smsc.session may not use construct"),
    ("smsc.routing.table", "import sqlite3", "may not use sqlite3"),
    ("smsc.store.models", "import phonenumbers", "may not use phonenumbers"),
    ("smsc.accounts", "import trio", "may not use trio"),
    ("smsc.receipts", "from prometheus_client import Counter", "may not use prometheus_client"),
    ("smsc.pdu.codec", "import outcome", "may not use outcome"),
    ("smsc.routing.numbers", "import psycopg", "may not use psycopg"),
    ("smsc.delivery.worker", "import hypercorn.trio", "may not use hypercorn"),
    ("smsc.server.service", "from starlette.requests import Request", "may not use starlette"),
    ("smsc.control.api", "import requests", "smsc.control may not use requests"),
    ("smsc.store.memory", "import threading", "may not use threading"),
    ("smsc.pdu.framing", "import socket", "may not use socket"),
    ("smsc.logs", "import pytest", "may not use pytest"),
    # no clock reads in the core, however imported, called or only referred to
    ("smsc.store.memory", "import time\nnow = time.time()", "reads the clock: time.time"),
    ("smsc.session.session", "from time import monotonic\nmonotonic()", "time.monotonic"),
    ("smsc.routing.networks", "import time as t\nt.perf_counter()", "time.perf_counter"),
    ("smsc.receipts", "from datetime import datetime\ndatetime.now()", "datetime.datetime.now"),
    ("smsc.pdu.smpp_time", "import datetime\ndatetime.datetime.utcnow()", ".utcnow"),
    ("smsc.accounts", "from datetime import date\ndate.today()", "datetime.date.today"),
    (
        "smsc.store.sqlite",
        "from datetime import datetime as dt\ndef f(now=dt.now):\n    return now()",
        "datetime.datetime.now",
    ),
    ("smsc.simulation.networks", "import datetime as d\nd.date.today()", "datetime.date.today"),
    ("smsc.config", "def f():\n    from time import monotonic_ns as ns\n    ns()", "monotonic_ns"),
]

OBEYING = [
    (
        "smsc.delivery.outbound",
        "import trio\nfrom smsc.delivery.receivers import Receiver\nfrom .committer import C\n"
        "from smsc.session import ResponseReceived\nfrom smsc.receipts import ReceiptDialects",
    ),
    (
        "smsc.server.service",
        "import ssl\nfrom .link import Link\nfrom smsc.delivery.committer import Committer\n"
        "from smsc.simulation import Simulation\nfrom smsc.routing.table import RoutingTable",
    ),
    ("smsc.control.plane", "import trio\nfrom smsc.server.link import Link\nimport starlette"),
    ("smsc.app", "import signal, ssl, trio\nfrom smsc.control.serve import serve_http"),
    (
        "smsc.receipts",
        "import smsc.store.models\nfrom smsc.store import models\nfrom .store.models import M\n"
        "from smsc.pdu import constants\nfrom .pdu import DeliverSm\nfrom smsc.config import C",
    ),
    (
        "smsc.store.sqlite",
        "import sqlite3\nimport psycopg\nfrom smsc.pdu import constants\n"
        "from smsc.pdu.constants import MessageState\nfrom . import models\nfrom .models import M",
    ),
    ("smsc.pdu.__init__", "from .codec import decode\nfrom . import constants"),
    ("smsc.pdu.fields", "import construct\nfrom smsc.pdu.constants import CommandStatus"),
    ("smsc.routing.numbers", "import phonenumbers\nfrom smsc.pdu.constants import Npi"),
    ("smsc.simulation.handsets", "from smsc.routing.numbers import n\nfrom smsc.config import C"),
    (
        "smsc.store.models",
        "import heapq, json, re\nfrom datetime import datetime, timedelta\n"
        "stamp = datetime.fromtimestamp(0) + timedelta(1)",
    ),
    ("smsc.session.session", "def monotonic() -> float:\n    return 0.0\nmonotonic()"),
    ("smsc.pdu.smpp_time", "import calendar, time\ncalendar.timegm(time.gmtime(0))"),
    ("smsc.clock", "import time\nimport trio\nfrom datetime import datetime\ndatetime.now()"),
    (
        "esme_client.loadgen",
        "import multiprocessing, time, trio\ntime.perf_counter()\nfrom smsc.pdu import decode",
    ),
    ("smsc.__main__", "from smsc.cli import main"),
]


@pytest.mark.parametrize(("module", "source", "expected"), BREAKING)
def test_checker_reports_a_module_that_breaks_a_rule(
    module: str, source: str, expected: str
) -> None:
    problems = CHECKER.violations(module, source)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(("module", "source"), OBEYING)
def test_checker_accepts_a_module_that_keeps_the_rules(module: str, source: str) -> None:
    assert CHECKER.violations(module, source) == []


@pytest.mark.parametrize(
    ("module", "covered_by"),
    [
        ("smsc.pdu.codec", "smsc.pdu"),
        ("smsc.pdu.constants", "smsc.pdu.constants"),
        ("smsc.pdu.__init__", "smsc.pdu"),
        ("smsc.__init__", "smsc.__init__"),
        ("smsc.store.models", "smsc.store"),
        ("esme_client.__init__", "esme_client"),
        ("smsc.newcomer", None),
        ("smsc.newpackage.module", None),
    ],
)
def test_a_module_is_covered_by_its_longest_row(module: str, covered_by: str | None) -> None:
    found = CHECKER.row_for(module)
    assert (found.name if found else None) == covered_by
    if covered_by is None:
        assert CHECKER.violations(module, "") == [f"{module} has no row in the import table"]


def with_row(name: str, **changes: Any) -> list[Row]:
    return [dataclasses.replace(r, **changes) if r.name == name else r for r in TABLE]


def granted(name: str, *more: str) -> list[Row]:
    (original,) = (r for r in TABLE if r.name == name)
    return with_row(name, imports=original.imports | set(more))


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (granted("smsc.delivery", "smsc.server"), "smsc.delivery never imports"),
        (granted("smsc.delivery", "smsc.control.serve"), "smsc.delivery never imports"),
        (granted("smsc.server", "smsc.control.api"), "smsc.server never imports"),
        (granted("smsc.control", "smsc.app"), "smsc.control never imports"),
        (granted("smsc.store", "smsc.clock"), "is core but may import shell smsc.clock"),
        (granted("smsc.pdu", "smsc.delivery"), "is core but may import shell smsc.delivery"),
        (granted("esme_client", "smsc.delivery"), "is esme but may import shell"),
        (granted("smsc.routing", "smsc.rooting"), "smsc.rooting, which has no row"),
        (with_row("smsc.receipts", libraries=frozenset({"trio"})), "is core but may use trio"),
        (with_row("smsc.store", libraries=frozenset({"ssl"})), "is core but may use ssl"),
        (with_row("smsc.logs", layer="middle"), "unknown layer"),
        ([*TABLE, TABLE[0]], "more than one row"),
    ],
)
def test_table_problems_are_reported(table: list[Row], expected: str) -> None:
    problems = table_problems(table, NEVER, CORE_NEVER_USES)
    assert any(expected in problem for problem in problems), problems


def test_markdown_table_reads_back_what_it_writes() -> None:
    written = f"# Doc\n\n{HEADING}\n\n{format_markdown_table(TABLE)}\n\nProse.\n"
    assert parse_markdown_table(written, HEADING) == list(TABLE)


def test_doc_table_differing_from_the_test_is_noticed() -> None:
    doc = f"{HEADING}\n\n{format_markdown_table(TABLE)}\n"
    extra_grant = doc.replace("| `smsc.cli` | shell | ", "| `smsc.cli` | shell | `smsc.server`, ")
    assert parse_markdown_table(extra_grant, HEADING) != list(TABLE)
    without_row = "\n".join(line for line in doc.splitlines() if "`smsc.clock` |" not in line)
    assert parse_markdown_table(without_row, HEADING) != list(TABLE)
    lines = doc.splitlines()
    cli = next(i for i, line in enumerate(lines) if line.startswith("| `smsc.cli` |"))
    lines[cli], lines[-1] = lines[-1], lines[cli]
    assert parse_markdown_table("\n".join(lines), HEADING) != list(TABLE)
    prose = doc.replace("| `smsc.app`, `smsc.config`,", "| `smsc.app` (at startup), `smsc.config`,")
    with pytest.raises(ValueError, match="neither"):
        parse_markdown_table(prose, HEADING)
