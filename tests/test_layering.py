"""The import-direction rules of the architecture, checked by walking every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# module prefix → project prefixes it may import (besides itself and its own package)
ALLOWED: dict[str, tuple[str, ...]] = {
    "smsc.pdu.constants": ("smsc.pdu.constants",),
    "smsc.pdu.errors": ("smsc.pdu.constants",),
    "smsc.pdu": ("smsc.pdu",),
    "smsc.session": ("smsc.pdu", "smsc.constructors"),
    "smsc.config": ("smsc.pdu.constants",),
    "smsc.accounts": ("smsc.config", "smsc.pdu.constants"),
    "smsc.store": ("smsc.store", "smsc.pdu.constants", "smsc.constructors"),
    "smsc.routing": ("smsc.routing", "smsc.config", "smsc.pdu"),
    "smsc.receipts": ("smsc.pdu", "smsc.store.models", "smsc.config"),
    "smsc.submit": ("smsc.accounts", "smsc.config", "smsc.constructors", "smsc.pdu",
                    "smsc.routing.table", "smsc.store.models"),
    "smsc.metrics": ("smsc.pdu.constants", "smsc.store.models"),
    "smsc.clock": (),
    "smsc.constructors": (),
    "esme_client": ("esme_client", "smsc.pdu", "smsc.session", "smsc.receipts"),
}
# third-party modules that the sans-IO core must never import
FORBIDDEN_IN_CORE = ("trio", "prometheus_client")
CORE = ("smsc.pdu", "smsc.session", "smsc.store", "smsc.routing", "smsc.accounts", "smsc.receipts",
        "smsc.submit")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def rule_for(module: str) -> tuple[str, tuple[str, ...]] | None:
    best = None
    for prefix in ALLOWED:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best)
        ):
            best = prefix
    # a package may always import its own modules
    return None if best is None else (best, (*ALLOWED[best], best))


MODULES = sorted(
    p for pkg in ("smsc", "esme_client") for p in (ROOT / pkg).rglob("*.py")
)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_follow_the_layering(path: Path) -> None:
    module = module_name(path)
    rule = rule_for(module)
    imports = imported_names(path)
    if any(within(module, c) for c in CORE):
        bad = [n for n in imports if any(within(n, f) for f in FORBIDDEN_IN_CORE)]
        assert not bad, f"{module} is sans-IO but imports {bad}"
    if rule is None:
        return
    _, allowed = rule
    project = [n for n in imports if within(n, "smsc") or within(n, "esme_client")]
    # `from smsc.pdu import constants` yields both "smsc.pdu" and "smsc.pdu.constants";
    # a package import is allowed when something inside it is allowed.
    bad = [
        n
        for n in project
        if not any(within(n, a) or within(a, n) for a in allowed)
    ]
    assert not bad, f"{module} may import only {allowed}, but imports {bad}"


def test_store_and_routing_do_not_import_each_other() -> None:
    for path in MODULES:
        module = module_name(path)
        imports = imported_names(path)
        if within(module, "smsc.store"):
            assert not any(within(n, "smsc.routing") for n in imports), module
        if within(module, "smsc.routing"):
            assert not any(within(n, "smsc.store") for n in imports), module
