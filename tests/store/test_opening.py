"""Opening the SQLite store: a missing or empty file starts a new store and says so; a file
that cannot be opened or is not an SMSC store's is refused with one line naming it and the
problem, left as it was, and `smsc serve` exits 2 with that line."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from smsc.store import StoreBatch, StoreOpenError
from smsc.store.sqlite import SqliteStore

from .test_stores import LAYOUT_1, RETRY, T0, accept, new

ROOT = Path(__file__).resolve().parent.parent.parent


def opened_fresh(path: Path) -> None:
    store = SqliteStore(path, retry=RETRY)
    assert accept(store, new()) == [1]
    store.close()
    again = SqliteStore(path, retry=RETRY)  # a store of ours from now on
    assert again.query(1, "acme") is not None
    again.close()


def test_a_missing_file_starts_a_new_store(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smsc.store")
    path = tmp_path / "var" / "smsc.db"
    opened_fresh(path)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", f"{path}: no database yet; starting a new store")]


def test_an_empty_file_starts_a_new_store(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smsc.store")
    path = tmp_path / "smsc.db"
    path.touch()
    opened_fresh(path)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"{path}: empty file; starting a new store")]


def refused(path: Path, same_bytes: bool = True) -> str:
    """The one line the store is refused with; the file is as it was, to the byte unless
    it is a store of ours (then in WAL mode)."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreOpenError) as refusal:
        SqliteStore(path, retry=RETRY)
    if same_bytes:
        assert (path.read_bytes() if path.is_file() else None) == before
    message = str(refusal.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message[len(f"{path}: "):]


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    path.write_text("messages, one a line\n" * 300)
    assert refused(path) == "not an SQLite database (file is not a database)"


def test_a_path_that_cannot_be_opened_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    path.mkdir()
    assert refused(path) == "cannot be opened (unable to open database file)"
    below_a_file = tmp_path / "file" / "smsc.db"
    below_a_file.parent.write_text("")
    assert refused(below_a_file).startswith("cannot be opened (")


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE users (name TEXT)")
    other.execute("CREATE TABLE orders (id INTEGER)")
    other.commit()
    other.close()
    assert refused(path) == "not an SMSC store (its tables: orders, users)"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # not made WAL
    check.close()


def test_a_database_of_this_layout_with_other_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    SqliteStore(path, retry=RETRY).close()
    changed = sqlite3.connect(path)
    changed.execute("DROP TABLE finished")
    changed.close()
    assert refused(path) == "not an SMSC store of layout 4 (table finished: missing)"
    changed = sqlite3.connect(path)
    changed.execute("CREATE TABLE finished (first INTEGER, last INTEGER)")
    changed.close()
    assert refused(path) == "not an SMSC store of layout 4 (table finished: columns first, last)"


def test_a_first_layout_database_it_cannot_upgrade_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "smsc.db"
    old = sqlite3.connect(path)
    old.executescript(LAYOUT_1.replace("direction TEXT NOT NULL, ", ""))  # a column short
    old.close()
    tables = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    check = sqlite3.connect(path)
    before = check.execute(tables).fetchall()
    check.close()
    assert refused(path, same_bytes=False) == \
        "not an SMSC store of layout 1 (no such column: direction)"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone() == (1,)
    assert check.execute(tables).fetchall() == before
    check.close()


def damaged_store(tmp_path: Path) -> Path:
    """A store of ours whose messages table has a page overwritten."""
    path = tmp_path / "smsc.db"
    store = SqliteStore(path, retry=RETRY)
    for _ in range(10):
        store.apply(StoreBatch(accepts=[new() for _ in range(200)]), T0)
    store.close()  # (the last connection: the WAL is in the file, and gone)
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = [page for (page,) in db.execute(
        "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf'")]
    db.close()
    data = bytearray(path.read_bytes())
    page = pages[len(pages) // 2]
    data[(page - 1) * page_size:page * page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    assert refused(damaged_store(tmp_path)) == "damaged (database disk image is malformed)"


def test_serve_refuses_a_damaged_store_with_exit_2_and_one_line(tmp_path: Path) -> None:
    path = damaged_store(tmp_path)
    serve = subprocess.run(
        [sys.executable, "-m", "smsc", "serve", "--config", str(ROOT / "configs/default.toml"),
         "--port", "0", "--http-port", "0", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert serve.returncode == 2
    assert serve.stderr.strip().splitlines() == [
        f"smsc: {path}: damaged (database disk image is malformed)"]
