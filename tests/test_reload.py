"""SIGHUP re-reads the config file of a real `smsc serve` process: accounts and the logging
level change at once, other keys wait for a restart, an invalid file is refused."""

from __future__ import annotations

import dataclasses
import re
import signal
from pathlib import Path
from typing import Any

import trio

from smsc.app import reload_config
from smsc.config import ReceiptDialectConfig
from smsc.pdu.constants import CommandStatus

from .esme import Esme
from .processes import launched
from .test_cli import serve

CONFIG = """\
[server]
enquire_link_timer = 0

[[server.listeners]]
name = "{first}"
port = 0
accounts = ["tester"]

[[server.listeners]]
name = "spare"
port = 0

[control]
port = 0

[store]
retention = {retention}

[logging]
level = "{level}"

[[accounts]]
system_id = "tester"
password = "{password}"
window = {window}
{more}
"""
GONE = '[[accounts]]\nsystem_id = "gone"\npassword = "gone"\n'
LATE = '[[accounts]]\nsystem_id = "late"\npassword = "late"\n'


def config_text(*, password: str = "first", window: int = 10, retention: float = 3600.0,
                level: str = "info", more: str = GONE, first: str = "main") -> str:
    return CONFIG.format(password=password, window=window, retention=retention, level=level,
                         more=more, first=first)


async def test_sighup_reloads_accounts_and_refuses_a_bad_file(tmp_path: Path) -> None:
    opened: list[Esme] = []

    async def bind(port: int, system_id: str, password: str) -> tuple[Esme, CommandStatus]:
        esme = Esme(await trio.open_tcp_stream("127.0.0.1", port))
        opened.append(esme)
        answer = await esme.bind(system_id=system_id, password=password)
        return esme, CommandStatus(answer.command_status)

    try:
        await reload_and_bind(tmp_path, bind)
    finally:
        for esme in opened:
            await esme.stream.aclose()


async def reload_and_bind(tmp_path: Path, bind: Any) -> None:
    path = tmp_path / "smsc.toml"
    path.write_text(config_text())
    with trio.fail_after(60):
        async with launched(serve(tmp_path, "--config", path)) as server:
            banner = (await server.stdout.until(b"\n")).decode()
            found = re.search(r"SMPP listener main on 127\.0\.0\.1:(\d+), "
                              r"SMPP listener spare on 127\.0\.0\.1:(\d+)", banner)
            assert found, banner
            port, spare = int(found[1]), int(found[2])
            gone, status = await bind(spare, "gone", "gone")
            assert status == CommandStatus.ESME_ROK
            _, status = await bind(spare, "late", "late")
            assert status == CommandStatus.ESME_RINVSYSID
            _, status = await bind(port, "gone", "gone")  # not on this listener
            assert status == CommandStatus.ESME_RBINDFAIL

            path.write_text(config_text(password="second", retention=60.0, level="debug",
                                        more=LATE))
            server.process.send_signal(signal.SIGHUP)
            await server.stderr.until(b"SIGHUP: configuration reloaded; a restart is needed "
                                      b"for: store\n")
            assert (await gone.closed()).reason == "unbind received"  # its account went
            _, status = await bind(port, "tester", "first")
            assert status == CommandStatus.ESME_RINVPASWD
            _, status = await bind(port, "tester", "second")
            assert status == CommandStatus.ESME_ROK
            _, status = await bind(spare, "late", "late")  # any account on "spare"
            assert status == CommandStatus.ESME_ROK
            await server.stderr.until(b"logging level now debug")  # a debug record

            path.write_text(config_text(password="third", window=0))
            server.process.send_signal(signal.SIGHUP)
            await server.stderr.until(
                f"SIGHUP: configuration refused, the running one stays: {path}: "
                f"accounts[0].window: must be at least 1\n".encode())
            _, status = await bind(port, "tester", "second")
            assert status == CommandStatus.ESME_ROK

            path.write_text(config_text(password="second", first="renamed"))
            server.process.send_signal(signal.SIGHUP)
            # the retention is back to the one that never stopped running: only server differs
            await server.stderr.until(b"a restart is needed for: server\n")
            _, status = await bind(port, "tester", "second")  # the listener did not change
            assert status == CommandStatus.ESME_ROK
            server.process.send_signal(signal.SIGTERM)
            assert await server.finish() == 0, server.stderr.text


async def test_reload_applies_fault_mixes_and_names_what_needs_a_restart(
    make_config: Any, start_smsc: Any
) -> None:
    config = make_config()
    running = await start_smsc(config)
    network = config.networks[0]
    faults = dataclasses.replace(network.faults, throttled=0.5)
    new = dataclasses.replace(config, networks=(dataclasses.replace(network, faults=faults),))
    assert reload_config(running, config, new) == (new, [])
    assert running.simulation.network(network.name).faults == faults
    slower = dataclasses.replace(new, networks=(dataclasses.replace(new.networks[0],
                                                                    latency=1.0),))
    outbound = dataclasses.replace(new, accounts=(
        dataclasses.replace(new.accounts[0], outbind_host="127.0.0.1", mo_addresses=("99",),
                            window=5),
        *new.accounts[1:]))
    assert reload_config(running, new, slower) == (new, ["networks"])  # nothing of it applied
    in_force, needs_restart = reload_config(running, new, outbound)
    assert needs_restart == ["accounts[0].outbind_host"]
    # the accounts in force: the file's, but for the outbind the running account did not take
    taken = dataclasses.replace(outbound.accounts[0], outbind_host="")
    assert in_force == dataclasses.replace(outbound, accounts=(taken, *outbound.accounts[1:]))
    assert reload_config(running, in_force, outbound)[1] == ["accounts[0].outbind_host"]

    account = running.accounts.get(config.accounts[0].system_id)
    assert (account.window, account.mo_addresses) == (5, ("99",))  # the rest applies
    assert account.outbind_host == ""

    dialect = ReceiptDialectConfig(name="later")  # a dialect the SMSC did not start with
    later = dataclasses.replace(config, receipt_dialects=(dialect,), accounts=(
        dataclasses.replace(config.accounts[0], receipt_dialect="later", window=6),
        *config.accounts[1:]))
    in_force, needs_restart = reload_config(running, config, later)
    assert needs_restart == ["receipt_dialects", "accounts[0].receipt_dialect"]
    account = running.accounts.get(config.accounts[0].system_id)
    assert (account.window, account.receipt_dialect) == (6, "")
    running.shutdown.set()


async def test_reset_goes_back_to_the_fault_mixes_of_the_last_reload(
    make_config: Any, start_smsc: Any
) -> None:
    config = make_config()
    running = await start_smsc(config)
    network = config.networks[0]
    reloaded = dataclasses.replace(network.faults, system_error=0.25)
    new = dataclasses.replace(config, networks=(dataclasses.replace(network,
                                                                    faults=reloaded),))
    assert reload_config(running, config, new) == (new, [])
    await running.simulation.set_faults(network.name, dataclasses.replace(reloaded, throttled=0.5))
    await running.simulation.reset()
    assert running.simulation.network(network.name).faults == reloaded
    assert reload_config(running, new, config) == (config, [])  # and back again
    await running.simulation.reset()
    assert running.simulation.network(network.name).faults == network.faults
