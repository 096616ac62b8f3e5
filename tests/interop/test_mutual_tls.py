"""Mutual TLS: client certificates asked for (required or optional) and accounts tied to
certificate subjects, with real certificates (trustme) over real TLS connections."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

from smsc.accounts import certificate_subject
from smsc.config import AccountConfig, Config, ConfigError, parse_config
from smsc.pdu import BindTransceiver
from smsc.pdu.constants import CommandStatus

from ..certificates import (
    ClientCertificate,
    ServerCertificate,
    authority_file,
    client_certificate,
    server_certificate,
)
from ..esme import Esme
from ..esme_client.test_cli import esme


@pytest.fixture
def server_cert(tmp_path: Path) -> ServerCertificate:
    return server_certificate(tmp_path)


@pytest.fixture
def clients_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def gateway(clients_ca: trustme.CA, tmp_path: Path) -> ClientCertificate:
    return client_certificate(clients_ca, tmp_path, "gateway-1")


ACCOUNTS = (
    AccountConfig(),  # smppclient1: any certificate, or none
    AccountConfig(system_id="gateway", password="gw", allowed_cert_subjects=("CN=gateway-1",)),
)


def mutual_tls_config(make_config: Any, server_cert: ServerCertificate, client_ca: Path, *,
                      required: bool, **server: Any) -> Config:
    config: Config = make_config(accounts=ACCOUNTS)
    tls = server_cert.tls(plain_enabled=False, client_ca=str(client_ca),
                          require_client_cert=required)
    return dataclasses.replace(config, server=dataclasses.replace(config.server, tls=tls,
                                                                  **server))


Connect = Callable[..., Any]


@pytest.fixture
async def tls_connect(server_cert: ServerCertificate) -> AsyncIterator[Connect]:
    """Opens an Esme over TLS to a port, with a client certificate or none."""
    opened: list[trio.abc.Stream] = []

    async def connect(port: int, certificate: ClientCertificate | None = None) -> Esme:
        context = ssl.create_default_context()
        server_cert.authority.configure_trust(context)
        if certificate is not None:
            certificate.load_into(context)
        stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context)
        opened.append(stream)
        return Esme(stream)

    yield connect
    for stream in opened:
        with trio.move_on_after(5):
            await trio.aclose_forcefully(stream)


async def test_required_client_certificate_binds_when_its_subject_is_allowed(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, gateway: ClientCertificate, tls_connect: Connect,
) -> None:
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=True)
    running = await start_smsc(config)
    other = client_certificate(clients_ca, tmp_path, "gateway-2")
    with trio.fail_after(10):
        allowed = await tls_connect(running.tls_port, gateway)
        assert (await allowed.bind(system_id="gateway", password="gw")).command_status == 0
        refused = await tls_connect(running.tls_port, other)
        answer = await refused.bind(system_id="gateway", password="gw")
        assert answer.command_status == CommandStatus.ESME_RBINDFAIL
        await refused.closed()
        anyone = await tls_connect(running.tls_port, other)  # an account without subjects
        assert (await anyone.bind()).command_status == CommandStatus.ESME_ROK
    running.shutdown.set()


async def test_required_client_certificate_refuses_the_handshake_without_one(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, tls_connect: Connect,
) -> None:
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=True)
    running = await start_smsc(config)
    stranger = client_certificate(trustme.CA(), tmp_path, "gateway-1")  # another authority
    for certificate in (None, stranger):
        with trio.fail_after(10):
            client = await tls_connect(running.tls_port, certificate)
            try:
                # TLS 1.3: the client's side of the handshake ends first; the server's
                # alert comes with the first read
                await client.send(BindTransceiver(system_id="smppclient1", password="password"))
            except trio.BrokenResourceError:
                continue  # refused within the handshake
            await client.closed()
            assert not client.events  # no bind_resp came before the close
    running.shutdown.set()


async def test_optional_client_certificate(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, gateway: ClientCertificate, tls_connect: Connect,
) -> None:
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=False)
    running = await start_smsc(config)
    with trio.fail_after(10):
        plain_tls = await tls_connect(running.tls_port)  # no certificate: the handshake works
        assert (await plain_tls.bind()).command_status == CommandStatus.ESME_ROK
        no_cert = await tls_connect(running.tls_port)
        answer = await no_cert.bind(system_id="gateway", password="gw")
        assert answer.command_status == CommandStatus.ESME_RBINDFAIL  # its account wants one
        with_cert = await tls_connect(running.tls_port, gateway)
        answer = await with_cert.bind(system_id="gateway", password="gw")
        assert answer.command_status == CommandStatus.ESME_ROK
    running.shutdown.set()


async def test_a_subject_matches_in_rfc_4514_form(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, tls_connect: Connect,
) -> None:
    # the organization needs RFC 4514 escapes: our form must be cryptography's, octet for octet
    special = client_certificate(clients_ca, tmp_path, "gw+3", organization='Example, "Ltd"')
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=True)
    exact = AccountConfig(system_id="exact", password="pw",
                          allowed_cert_subjects=(special.subject,))
    config = dataclasses.replace(config, accounts=(*config.accounts, exact))
    running = await start_smsc(config)
    with trio.fail_after(10):
        client = await tls_connect(running.tls_port, special)
        answer = await client.bind(system_id="exact", password="pw")
        assert answer.command_status == CommandStatus.ESME_ROK, special.subject
    running.shutdown.set()


async def test_a_refused_certificate_counts_as_a_failed_bind(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, gateway: ClientCertificate, tls_connect: Connect,
) -> None:
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=False, bind_failures_allowed=0,
                               bind_failure_backoff=3600.0)
    running = await start_smsc(config)
    with trio.fail_after(10):
        no_cert = await tls_connect(running.tls_port)
        answer = await no_cert.bind(system_id="gateway", password="gw")
        assert answer.command_status == CommandStatus.ESME_RBINDFAIL
        # the address now waits: even the right certificate is refused for the backoff
        later = await tls_connect(running.tls_port, gateway)
        answer = await later.bind(system_id="gateway", password="gw")
        assert answer.command_status == CommandStatus.ESME_RBINDFAIL
    running.shutdown.set()


async def test_esme_send_presents_a_client_certificate(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, gateway: ClientCertificate,
) -> None:
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=True)
    running = await start_smsc(config)
    cafile = authority_file(server_cert.authority, tmp_path, "server-ca.pem")
    common = ("send", "4915100000002", "hi", "--port", running.tls_port, "--cafile", cafile,
              "--system-id", "gateway", "--password", "gw")
    done = await esme(*common, "--tls-cert", gateway.certfile, "--tls-key", gateway.keyfile)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"message_id: ")
    done = await esme(*common, "--tls")  # no certificate: no handshake, so no bind
    assert done.returncode != 0
    assert b"message_id" not in done.stdout
    running.shutdown.set()


def test_certificate_subject_is_written_last_rdn_first_with_escapes() -> None:
    certificate = {"subject": ((("countryName", "DE"),), (("organizationName", "A, B"),),
                               (("commonName", " gw#1 "), ("userId", "x+y")))}
    assert certificate_subject(certificate) == (r"CN=\ gw#1\ +UID=x\+y,O=A\, B,C=DE", " gw#1 ")
    assert certificate_subject({"subject": ((("organizationName", "#O"),),)}) == (r"O=\#O",
                                                                                   None)


def test_an_allowed_subject_must_be_a_subject() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"accounts": [{"allowed_cert_subjects": ["CN=ok", "gateway-1"]}]}, "f")
    assert raised.value.key == "accounts[0].allowed_cert_subjects[1]"


def smpplib_bind(port: int, context: ssl.SSLContext, system_id: str, password: str) -> int:
    """smpplib (blocking, in a thread) binds over TLS with `context`; returns the status."""
    import smpplib.client
    import smpplib.exceptions

    client = smpplib.client.Client("127.0.0.1", port, timeout=5, ssl_context=context,
                                   allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=system_id, password=password)
        client.unbind()
        return 0
    except smpplib.exceptions.PDUError as error:
        return int(error.args[1])
    finally:
        client.disconnect()


async def test_smpplib_binds_with_a_client_certificate(
    make_config: Any, start_smsc: Any, server_cert: ServerCertificate, tmp_path: Path,
    clients_ca: trustme.CA, gateway: ClientCertificate,
) -> None:
    config = mutual_tls_config(make_config, server_cert, authority_file(clients_ca, tmp_path),
                               required=False)
    running = await start_smsc(config)
    with_cert, without = ssl.create_default_context(), ssl.create_default_context()
    for context in (with_cert, without):
        server_cert.authority.configure_trust(context)
        context.check_hostname = False  # smpplib wraps its socket without a server name
    gateway.load_into(with_cert)
    with trio.fail_after(20):
        assert await trio.to_thread.run_sync(smpplib_bind, running.tls_port, with_cert,
                                             "gateway", "gw") == CommandStatus.ESME_ROK
        assert await trio.to_thread.run_sync(smpplib_bind, running.tls_port, without,
                                             "gateway", "gw") == CommandStatus.ESME_RBINDFAIL
    running.shutdown.set()
