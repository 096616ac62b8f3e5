"""The machinery behind the import table: a module's imports and clock reads from its AST,
checked against the one row that covers it, and the table as docs/architecture.md writes it.

The table itself, and the project's prohibitions, live in tests/test_layering.py.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

LAYERS = ("core", "shell", "esme")


@dataclass(frozen=True)
class Row:
    """What the modules under `name` (a package, or one module) may import.

    A package's `__init__` is the module `package.__init__`, so a row for `smsc.__init__`
    covers that file alone while a row for `smsc.pdu` covers everything under smsc/pdu/.
    """

    name: str
    layer: str
    imports: frozenset[str] = frozenset()  # our packages and modules, besides its own
    libraries: frozenset[str] = frozenset()  # restricted libraries (top-level names)


def within(name: str, prefix: str) -> bool:
    """Whether `name` is the module or package `prefix` or lies inside it."""
    return name == prefix or name.startswith(prefix + ".")


def row_for(rows: Iterable[Row], module: str) -> Row | None:
    """The row that covers `module`: the longest one that is it or contains it."""
    best: Row | None = None
    for row in rows:
        if within(module, row.name) and (best is None or len(row.name) > len(best.name)):
            best = row
    return best


@dataclass(frozen=True)
class Import:
    """One imported name as written, with the absolute names it may stand for.

    `from P import x` stands for the module P.x when x is a submodule, else for P itself: it
    is allowed when either is. `import P.x` stands for P.x only.
    """

    line: int
    statement: str
    names: tuple[str, ...]


def imports_of(module: str, tree: ast.Module) -> list[Import]:
    """Every import anywhere in the module (functions, TYPE_CHECKING blocks), relative ones
    resolved against `module`'s package (`module` is `pkg.__init__` for a package)."""
    package = module.rpartition(".")[0].split(".")
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(node.lineno, f"import {alias.name}", (alias.name,)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level > len(package):
                    raise ValueError(f"{module}:{node.lineno}: relative import beyond the top")
                base = package[: len(package) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            written = "." * node.level + (node.module or "")
            for alias in node.names:
                found.append(
                    Import(
                        node.lineno,
                        f"from {written} import {alias.name}",
                        (f"{source}.{alias.name}", source),
                    )
                )
    return found


def clock_reads(tree: ast.Module, reads: Collection[str]) -> list[tuple[int, str]]:
    """Every use (call or reference) of a clock-reading function in `reads`, however the
    module imported it: `time.time`, `from time import monotonic`, `import time as t`,
    `from datetime import datetime` then `datetime.now`."""
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.partition(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Name) and isinstance(node.ctx, ast.Load):
            name = qualified_name(node, bound)
            if name is not None and name in reads:
                found.append((node.lineno, name))
    return found


def qualified_name(node: ast.expr, bound: Mapping[str, str]) -> str | None:
    """`a.b.c` with `a` replaced by what the module's imports bound it to, else None."""
    attributes: list[str] = []
    while isinstance(node, ast.Attribute):
        attributes.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    return ".".join([bound[node.id], *reversed(attributes)])


@dataclass(frozen=True)
class Checker:
    """Checks modules against the rows of an import table.

    `ours` are the top-level packages the rows speak of. A library is any other top-level
    name; those of the standard library are free to use except `restricted_stdlib`, every
    other one only where a row lists it. `clock_reads` may not appear in the core layer.
    """

    rows: Sequence[Row]
    ours: frozenset[str]
    restricted_stdlib: frozenset[str]
    clock_reads: frozenset[str]

    def row_for(self, module: str) -> Row | None:
        return row_for(self.rows, module)

    def violations(self, module: str, source: str) -> list[str]:
        """What in `source` (the text of `module`) its row does not allow, one line each."""
        row = self.row_for(module)
        if row is None:
            return [f"{module} has no row in the import table"]
        tree = ast.parse(source)
        problems: list[str] = []
        for found in imports_of(module, tree):
            top = found.names[-1].partition(".")[0]
            if top in self.ours:
                if not any(self.allows(row, name) for name in found.names):
                    problems.append(
                        f"{found.line}: {found.statement}: {row.name} may not import "
                        f"{found.names[-1]}"
                    )
            elif self.restricted(top) and top not in row.libraries:
                problems.append(f"{found.line}: {found.statement}: {row.name} may not use {top}")
        if row.layer == "core":
            problems.extend(
                f"{line}: {row.name} is core and reads the clock: {name}"
                for line, name in clock_reads(tree, self.clock_reads)
            )
        return problems

    @staticmethod
    def allows(row: Row, name: str) -> bool:
        return within(name, row.name) or any(within(name, granted) for granted in row.imports)

    def restricted(self, top: str) -> bool:
        return top not in sys.stdlib_module_names or top in self.restricted_stdlib


def table_problems(
    rows: Sequence[Row],
    never: Mapping[str, Collection[str]],
    core_never_uses: Collection[str],
) -> list[str]:
    """What is wrong with the table itself: a grant that names no row, a core row granted
    anything outside the core (an esme row likewise), a grant `never` forbids, a core row
    granted a library of `core_never_uses`, a duplicate or unknown layer."""
    problems: list[str] = []
    names = [row.name for row in rows]
    problems.extend(
        f"{name}: more than one row" for name in sorted(set(names)) if names.count(name) > 1
    )
    for row in rows:
        if row.layer not in LAYERS:
            problems.append(f"{row.name}: unknown layer {row.layer!r}")
        for granted in sorted(row.imports):
            target = row_for(rows, granted)
            if target is None:
                problems.append(f"{row.name} may import {granted}, which has no row")
            elif row.layer in ("core", "esme") and target.layer != "core":
                problems.append(
                    f"{row.name} is {row.layer} but may import {target.layer} {granted}"
                )
            problems.extend(
                f"{row.name} may import {granted}, which {package} never imports"
                for package, banned in never.items()
                if within(row.name, package)
                for ban in banned
                if within(granted, ban) or within(ban, granted)
            )
        if row.layer == "core":
            problems.extend(
                f"{row.name} is core but may use {library}"
                for library in sorted(row.libraries & frozenset(core_never_uses))
            )
    return problems


TABLE_HEADER = ("row", "layer", "may import (besides itself)", "restricted libraries it may use")
_NAME = re.compile(r"`([A-Za-z_][\w.]*)`")


def parse_markdown_table(markdown: str, heading: str) -> list[Row]:
    """The rows of the first table under `heading`; a cell lists names in backticks,
    separated by commas, or says `nothing`. Anything else in a cell is an error."""
    lines = markdown.splitlines()
    start = lines.index(heading) + 1
    table: list[str] = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append(line)
        elif table:
            break
    if len(table) < 2:
        raise ValueError(f"no table under {heading!r}")
    header = tuple(cell.strip() for cell in table[0].strip().strip("|").split("|"))
    if header != TABLE_HEADER:
        raise ValueError(f"table header {header} is not {TABLE_HEADER}")
    rows = []
    for line in table[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != len(TABLE_HEADER):
            raise ValueError(f"not {len(TABLE_HEADER)} cells: {line}")
        named = _names(cells[0], line)
        if len(named) != 1:
            raise ValueError(f"a row names one package or module: {line}")
        rows.append(
            Row(
                named[0],
                cells[1],
                frozenset(_names(cells[2], line)),
                frozenset(_names(cells[3], line)),
            )
        )
    return rows


def _names(cell: str, line: str) -> tuple[str, ...]:
    if cell == "nothing":
        return ()
    parts = [part.strip() for part in cell.split(",")]
    matches = [_NAME.fullmatch(part) for part in parts]
    if not all(matches):
        raise ValueError(f"a cell is neither `nothing` nor names in backticks: {line}")
    return tuple(match.group(1) for match in matches if match)


def format_markdown_table(rows: Iterable[Row]) -> str:
    """The rows as docs/architecture.md writes them (names sorted within a cell)."""

    def cell(names: frozenset[str]) -> str:
        return ", ".join(f"`{name}`" for name in sorted(names)) or "nothing"

    lines = ["| " + " | ".join(TABLE_HEADER) + " |", "|" + "---|" * len(TABLE_HEADER)]
    lines.extend(
        f"| `{row.name}` | {row.layer} | {cell(row.imports)} | {cell(row.libraries)} |"
        for row in rows
    )
    return "\n".join(lines)
