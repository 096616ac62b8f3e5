"""What is the PostgreSQL store's own (the contract is test_stores.py's, run on every store):
its tables and their version, ids from blocks that no two stores share, and one line naming
the database (password masked) for a server it cannot reach or a database it cannot use."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

psycopg = pytest.importorskip("psycopg")

from smsc.pdu.constants import MessageState  # noqa: E402
from smsc.store import (  # noqa: E402
    MessageQuery,
    NewMessage,
    StoreBatch,
    StoreOpenError,
    StoreWriteError,
)
from smsc.store.postgresql import PostgresqlStore  # noqa: E402
from smsc.store.postgresql_schema import ID_BLOCK, SCHEMA_VERSION  # noqa: E402

from .test_stores import RETRY, T0, accept, message_fields, new  # noqa: E402


def refused(dsn: str) -> str:
    with pytest.raises(StoreOpenError) as refusal:
        PostgresqlStore(dsn, retry=RETRY)
    message = str(refusal.value)
    assert "\n" not in message
    return message


def test_a_new_database_gets_the_tables_and_their_version(postgresql_dsn: str) -> None:
    store = PostgresqlStore(postgresql_dsn, retry=RETRY)
    first = accept(store, new(), new())
    store.close()
    with psycopg.connect(postgresql_dsn) as connection:
        assert connection.execute("SELECT version FROM smsc_schema").fetchall() == [
            (SCHEMA_VERSION,)]
    again = PostgresqlStore(postgresql_dsn, retry=RETRY)
    assert [m.message_id for m in again.find(MessageQuery())] == first[::-1]
    later = accept(again, new())
    assert later[0] > max(first)  # the rest of the first store's block is never handed out
    again.close()


def test_a_newer_or_unknown_version_is_refused(postgresql_dsn: str) -> None:
    PostgresqlStore(postgresql_dsn, retry=RETRY).close()
    with psycopg.connect(postgresql_dsn, autocommit=True) as connection:
        connection.execute("UPDATE smsc_schema SET version = %s", (SCHEMA_VERSION + 1,))
        assert refused(postgresql_dsn).endswith(
            f"store schema version {SCHEMA_VERSION + 1} is newer; this version reads "
            f"version {SCHEMA_VERSION}")
        connection.execute("DELETE FROM smsc_schema")
        assert "store schema version None is unknown" in refused(postgresql_dsn)
        connection.execute("DROP TABLE smsc_schema")
        assert refused(postgresql_dsn).endswith(
            "not an SMSC store (tables finished, messages, nodes, outbound, requests, "
            "sessions, simulation_changes, simulation_nodes, simulation_seed without "
            "smsc_schema)")


def test_a_server_that_cannot_be_reached_is_one_line_with_the_password_masked(
    tmp_path: Path,
) -> None:
    dsn = f"host={tmp_path} dbname=smsc user=smsc password=hunter2"
    message = refused(dsn)
    assert message.startswith(
        f"postgresql host={tmp_path} dbname=smsc user=smsc password=***: cannot connect (")
    assert "hunter2" not in message
    url = refused("postgresql://smsc:hunter2@/smsc?host=" + str(tmp_path))
    assert "hunter2" not in url and ": cannot connect (" in url


def test_an_unknown_role_is_one_line(postgresql_database: str) -> None:
    message = refused(postgresql_database + " user=nobody")
    assert message.endswith('role "nobody" does not exist)'), message


def test_two_stores_on_one_database_never_give_out_the_same_id(postgresql_dsn: str) -> None:
    one = PostgresqlStore(postgresql_dsn, retry=RETRY)
    two = PostgresqlStore(postgresql_dsn, retry=RETRY)
    ids = accept(one, new()) + accept(two, new())
    big = StoreBatch(accepts=[new() for _ in range(ID_BLOCK + ID_BLOCK // 5)])
    with pytest.raises(StoreWriteError):  # its block ran into the one `two` holds
        one.apply(big, T0)
    assert len(one.find(MessageQuery(limit=10))) == 2  # nothing of it was written
    accepted = one.apply(big, T0).accepted  # from a fresh block, which the next extends
    assert all(isinstance(i, int) for i in accepted)
    ids += [i for i in accepted if isinstance(i, int)]
    ids += accept(two, new()) + accept(one, new())
    assert len(set(ids)) == len(ids)
    with psycopg.connect(postgresql_dsn) as connection:
        assert connection.execute("SELECT count(*) FROM messages").fetchone() == (len(ids),)
    one.close()
    two.close()


def test_serve_says_in_one_line_what_stops_it_from_using_postgresql(tmp_path: Path) -> None:
    config = tmp_path / "smsc.toml"
    config.write_text(
        f'[store]\nkind = "postgresql"\ndsn = "host={tmp_path} user=smsc password=hunter2"\n')
    serve = ["serve", "--config", str(config), "--port", "0", "--http-port", "0"]
    done = subprocess.run([sys.executable, "-m", "smsc", *serve], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"smsc: postgresql host={tmp_path} user=smsc password=***: cannot connect (")
    without = ("import sys; sys.modules['psycopg'] = None; from smsc.cli import main; "
               f"sys.exit(main({serve!r}))")
    done = subprocess.run([sys.executable, "-c", without], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        "smsc: store.kind = postgresql needs psycopg: pip install "
        "'smsc-simulator[postgresql]'")


def test_a_lost_connection_fails_one_write_and_the_next_connects_again(
    postgresql_dsn: str,
) -> None:
    store = PostgresqlStore(postgresql_dsn, retry=RETRY)
    first = accept(store, new())
    before = (store.depth_by_state(), store.pending_count("acme"), store.next_due_at())
    with psycopg.connect(postgresql_dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = 'smsc'")
    with pytest.raises(StoreWriteError):
        store.apply(StoreBatch(accepts=[new()]), T0)
    assert (store.depth_by_state(), store.pending_count("acme"), store.next_due_at()) == before
    assert before[0] == {MessageState.ENROUTE: 1}
    again = accept(store, new())  # connected again: the id the failed write had counted
    assert again[0] == first[0] + 1
    assert [m.message_id for m in store.find(MessageQuery())] == [again[0], first[0]]
    store.close()


def text_without_nul(max_size: int) -> st.SearchStrategy[str]:
    """Strings PostgreSQL's text holds: any but NUL (which no SMPP C-octet string has)."""
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=max_size)


EXAMPLES = itertools.count()


@settings(max_examples=30, deadline=None)
@given(fields=message_fields(text_without_nul))
def test_every_field_reads_back_from_the_database_as_written(
    postgresql_database: str, fields: dict[str, object]
) -> None:
    system_id = f"acme{next(EXAMPLES)}"  # (the examples share the database: none replaces
    message = NewMessage(system_id=system_id, **fields)  # type: ignore[arg-type] # another's)
    store = PostgresqlStore(postgresql_database, retry=RETRY)
    result = store.apply(StoreBatch(accepts=[message]), T0)
    store.close()
    (message_id,) = result.accepted
    again = PostgresqlStore(postgresql_database, retry=RETRY)  # nothing cached: read the row
    found = again.query(message_id, system_id)  # type: ignore[arg-type]
    again.close()
    assert found is not None and found.fields == message


def test_a_version_1_database_gets_the_nodes_and_keeps_its_messages(
        postgresql_dsn: str) -> None:
    store = PostgresqlStore(postgresql_dsn, retry=RETRY)
    (kept,) = accept(store, new())
    store.close()
    with psycopg.connect(postgresql_dsn, autocommit=True) as connection:  # as version 1 was
        for statement in ("DROP TABLE nodes", "DROP TABLE sessions", "DROP TABLE requests",
                          "DROP TABLE simulation_changes", "DROP TABLE simulation_seed",
                          "DROP TABLE simulation_nodes", "DROP SEQUENCE simulation_change_ids",
                          "ALTER TABLE messages DROP COLUMN node",
                          "ALTER TABLE messages DROP COLUMN moved",
                          "ALTER TABLE outbound DROP COLUMN node",
                          "ALTER TABLE outbound DROP COLUMN moved",
                          "UPDATE smsc_schema SET version = 1"):
            connection.execute(statement)
    again = PostgresqlStore(postgresql_dsn, retry=RETRY)
    assert [m.message_id for m in again.claim_due(T0 + timedelta(seconds=1), 10)] == [kept]
    again.close()
    with psycopg.connect(postgresql_dsn) as connection:
        assert connection.execute("SELECT version FROM smsc_schema").fetchall() == [
            (SCHEMA_VERSION,)]


class CountedIndex(list[tuple[float, int]]):
    """A due index that counts the entries read through it (a scan of the whole index)."""

    visited = 0

    def __iter__(self) -> Iterator[tuple[float, int]]:
        for entry in super().__iter__():
            self.visited += 1
            yield entry


def test_messages_handed_to_another_node_are_never_claimed_again_and_cost_what_is_handed(
        postgresql_dsn: str) -> None:
    one = PostgresqlStore(postgresql_dsn, retry=RETRY)
    two = PostgresqlStore(postgresql_dsn, retry=RETRY)
    waiting = accept(one, *[new(schedule_at=T0 + timedelta(minutes=10)) for _ in range(200)])
    handed = accept(one, *[new() for _ in range(6)])
    one.retry_now(handed, T0)  # each made due twice: two index entries
    index = one._due = CountedIndex(one._due)
    for batch in (handed[:2], handed[2:4], handed[4:]):
        assert [m.message_id for m in one.claim_due(T0, 2)] == batch
        assert one.hand_over_messages(two.node_id, batch) == batch
    assert one._due is index and index.visited <= 2 * len(handed)  # no scan of the index
    later = T0 + timedelta(minutes=11)
    assert sorted(m.message_id for m in one.claim_due(later, 1000)) == waiting  # none again
    assert one.pending_count("acme") == 200
    assert two.adopt_messages() == 6
    assert sorted(m.message_id for m in two.claim_due(T0, 100)) == handed
    assert two.hand_over_messages(one.node_id, handed[:1]) == handed[:1]  # and back again
    assert one.adopt_messages() == 1
    assert [m.message_id for m in one.claim_due(later, 1000)] == handed[:1]
    one.close()
    two.close()


def test_a_message_handed_away_is_not_made_due_again_by_its_old_node(
        postgresql_dsn: str) -> None:
    """An ESME's waiting message made due when it binds, but handed to another node since
    its id was read, and the old node's index compacted meanwhile."""
    one = PostgresqlStore(postgresql_dsn, retry=RETRY)
    two = PostgresqlStore(postgresql_dsn, retry=RETRY)
    (handed,) = accept(one, new())
    assert [m.message_id for m in one.claim_due(T0, 10)] == [handed]
    assert one.hand_over_messages(two.node_id, [handed]) == [handed]
    assert not one._handed  # (compacted: nothing left to skip)
    assert one.retry_now([handed], T0) == 0
    assert one.claim_due(T0 + timedelta(seconds=1), 10) == []
    assert two.adopt_messages() == 1
    assert [m.message_id for m in two.claim_due(T0 + timedelta(seconds=1), 10)] == [handed]
    one.close()
    two.close()
