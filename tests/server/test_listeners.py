"""Several listeners ([[server.listeners]]): each its own address, TLS and accounts, binds
over two at once, the connection caps shared, and the config's two forms kept apart."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from smsc.app import tls_context
from smsc.cli import startup_failure
from smsc.config import (
    AccountConfig,
    Config,
    ConfigError,
    ControlConfig,
    ListenerConfig,
    ListenerTlsConfig,
    ServerConfig,
    effective_listeners,
    parse_config,
    with_overrides,
)
from smsc.pdu import SubmitSm
from smsc.pdu.constants import CommandStatus

from ..certificates import server_certificate
from ..esme import Esme

ACCOUNTS = (AccountConfig(), AccountConfig(system_id="partner", password="secret"))


def two_listeners(tmp_path: Path) -> tuple[ServerConfig, ssl.SSLContext]:
    """A plain listener for smppclient1 only and a TLS one for any account."""
    certificate = server_certificate(tmp_path)
    context = ssl.create_default_context()
    certificate.authority.configure_trust(context)
    server = ServerConfig(enquire_link_timer=0, listeners=(
        ListenerConfig(name="local", port=0, accounts=("smppclient1",)),
        ListenerConfig(name="partners", port=0, tls=ListenerTlsConfig(
            enabled=True, certfile=str(certificate.certfile),
            keyfile=str(certificate.keyfile))),
    ))
    return server, context


async def test_binds_over_two_listeners_at_once(
    make_config: Any, start_smsc: Any, tmp_path: Path
) -> None:
    server, context = two_listeners(tmp_path)
    running = await start_smsc(make_config(server=server, accounts=ACCOUNTS,
                                           control=ControlConfig(port=0)))
    local, partners = running.listeners
    assert (local.name, local.tls, partners.name, partners.tls) == ("local", False,
                                                                    "partners", True)
    assert local.port and partners.port and local.port != partners.port
    plain = Esme(await trio.open_tcp_stream("127.0.0.1", local.port))
    secure = Esme(await trio.open_ssl_over_tcp_stream("127.0.0.1", partners.port,
                                                      ssl_context=context))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:  # both binds in flight together
            answers: dict[str, Any] = {}

            async def bind(name: str, esme: Esme, system_id: str, password: str) -> None:
                answers[name] = await esme.bind(system_id=system_id, password=password)

            nursery.start_soon(bind, "plain", plain, "smppclient1", "password")
            nursery.start_soon(bind, "secure", secure, "partner", "secret")
        assert answers["plain"].command_status == CommandStatus.ESME_ROK
        assert answers["secure"].command_status == CommandStatus.ESME_ROK
        for esme in (plain, secure):
            resp = await esme.request(SubmitSm(destination_addr="4915100000002",
                                               short_message=b"hi"))
            assert resp.command_status == CommandStatus.ESME_ROK
        async with httpx.AsyncClient() as client:
            status = (await client.get(f"http://127.0.0.1:{running.http_port}/v1/status")).json()
    assert status["listeners"] == [
        {"name": "local", "host": "127.0.0.1", "port": local.port, "tls": False},
        {"name": "partners", "host": "127.0.0.1", "port": partners.port, "tls": True}]
    assert len(status["sessions"]) == 2
    await plain.stream.aclose()
    await secure.stream.aclose()
    running.shutdown.set()


async def test_a_listener_refuses_accounts_it_does_not_name(
    make_config: Any, start_smsc: Any, tmp_path: Path
) -> None:
    server, _ = two_listeners(tmp_path)
    running = await start_smsc(make_config(server=server, accounts=ACCOUNTS))
    esme = Esme(await trio.open_tcp_stream("127.0.0.1", running.listeners[0].port))
    with trio.fail_after(10):
        answer = await esme.bind(system_id="partner", password="secret")
        assert answer.command_status == CommandStatus.ESME_RBINDFAIL
        await esme.closed()
    await esme.stream.aclose()
    running.shutdown.set()


async def test_the_connection_caps_count_every_listener(
    make_config: Any, start_smsc: Any, tmp_path: Path
) -> None:
    server, context = two_listeners(tmp_path)
    server = dataclasses.replace(server, max_connections=1)
    running = await start_smsc(make_config(server=server, accounts=ACCOUNTS))
    first = Esme(await trio.open_tcp_stream("127.0.0.1", running.listeners[0].port))
    with trio.fail_after(10):
        assert (await first.bind()).command_status == CommandStatus.ESME_ROK
        second = await trio.open_tcp_stream("127.0.0.1", running.listeners[1].port)
        with pytest.raises(trio.BrokenResourceError):  # closed before the TLS handshake
            ssl_stream = trio.SSLStream(second, context, server_hostname="127.0.0.1")
            await ssl_stream.do_handshake()
    await first.stream.aclose()
    await second.aclose()
    running.shutdown.set()


def test_the_short_form_is_one_or_two_named_listeners() -> None:
    assert effective_listeners(ServerConfig(port=2775)) == (
        ListenerConfig(name="smpp", host="127.0.0.1", port=2775),)
    tls = dataclasses.replace(ServerConfig().tls, enabled=True, certfile="c", keyfile="k",
                              client_ca="ca", require_client_cert=True, plain_enabled=False)
    (only,) = effective_listeners(ServerConfig(tls=tls))
    assert (only.name, only.port, only.tls) == ("smpp-tls", 2776, ListenerTlsConfig(
        enabled=True, certfile="c", keyfile="k", client_ca="ca", require_client_cert=True))
    unnamed = ServerConfig(listeners=(ListenerConfig(port=1), ListenerConfig(port=2)))
    assert [item.name for item in effective_listeners(unnamed)] == ["listener-1", "listener-2"]


@pytest.mark.parametrize(("server", "key", "problem"), [
    ({"port": 2775, "listeners": [{"port": 2776}]}, "server.port", "cannot be given with"),
    ({"tls": {"enabled": False}, "listeners": [{"port": 2776}]}, "server.tls",
     "cannot be given with"),
    ({"listeners": [{"name": "a"}, {"name": "a", "port": 1}]}, "server.listeners[1].name",
     "'a' repeated"),
    ({"listeners": [{"accounts": ["nobody"]}]}, "server.listeners[0].accounts[0]",
     "no account 'nobody'"),
    ({"listeners": [{"tls": {"enabled": True}}]}, "server.listeners[0].tls",
     "certfile and keyfile are required"),
    ({"listeners": [{"tls": {"enabled": True, "certfile": "c", "keyfile": "k",
                             "require_client_cert": True}}]},
     "server.listeners[0].tls.require_client_cert", "needs client_ca"),
    ({"tls": {"require_client_cert": True}}, "server.tls.require_client_cert",
     "needs client_ca"),
])
def test_listener_config_errors(server: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"server": server}, "smsc.toml")
    assert raised.value.key == key and problem in raised.value.problem


def test_a_tls_file_that_cannot_be_loaded_is_one_line(tmp_path: Path) -> None:
    certificate = server_certificate(tmp_path)
    tls = ListenerTlsConfig(enabled=True, certfile=str(certificate.certfile),
                            keyfile=str(certificate.keyfile), client_ca=str(tmp_path / "no.pem"))
    with pytest.raises(ConfigError) as raised:
        tls_context(tls, "server.listeners[1].tls")
    line = startup_failure(ExceptionGroup("nursery", [raised.value]), Config())
    assert line == (f"smsc: server.listeners[1].tls.client_ca: cannot load {tmp_path}/no.pem: "
                    "no such file or directory")
    with pytest.raises(ConfigError) as raised:
        tls_context(dataclasses.replace(tls, keyfile=str(certificate.certfile)))
    assert raised.value.key == "server.tls.certfile"


def test_host_and_port_flags_apply_to_the_first_listener() -> None:
    config = Config(server=ServerConfig(listeners=(ListenerConfig(name="a", port=1),
                                                   ListenerConfig(name="b", port=2))))
    changed = with_overrides(config, host="::1", port=0)
    first, second = changed.server.listeners
    assert (first.name, first.host, first.port) == ("a", "::1", 0)
    assert second == config.server.listeners[1]
    assert changed.server.port == ServerConfig().port  # the short form is left alone
